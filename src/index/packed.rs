//! A static R-tree packed along a Hilbert curve, for nearest-item queries.
//!
//! The layout of flatbush and of FlatGeobuf's index: the items' boxes sorted by the Hilbert value
//! of their centres ([`hilbert_order`]), then grouped [`NODE_SIZE`] at a time into parent boxes,
//! level after level, up to one root. Building is one parallel sort and one pass, where a
//! bulk-loaded `rstar` tree partitions recursively on one thread: the walking network's
//! 700,000 nodes or two million segments are indexed in a few hundredths of a second instead of
//! some tenths, on the path every audit waits for.
//!
//! [`PackedRTree::nearest`] is a best-first search by a distance the caller computes exactly for
//! an item (a point, a segment); boxes only bound it from below. Among items at the same
//! distance it gives the lowest item number, whatever the tree's shape.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use geo::Coord;
use rayon::prelude::*;

use super::hilbert::hilbert_order;

/// A box: `[min_x, min_y, max_x, max_y]`.
pub type Bbox = [f64; 4];

/// Children per parent box.
pub const NODE_SIZE: usize = 16;

/// The tree: the boxes of every level, leaves first.
pub struct PackedRTree {
    boxes: Vec<Bbox>,
    /// For a leaf, its item; for a parent, the position of its first child.
    refs: Vec<u32>,
    /// The end of each level in `boxes`, leaves first; the last level holds the root alone.
    level_ends: Vec<usize>,
}

impl PackedRTree {
    /// Indexes items by their boxes; item `i` is `boxes[i]`. At most `u32::MAX` boxes in all.
    pub fn new(items: &[Bbox]) -> PackedRTree {
        let centres: Vec<Coord<f64>> =
            items.par_iter().map(|b| Coord { x: (b[0] + b[2]) / 2.0, y: (b[1] + b[3]) / 2.0 }).collect();
        let refs = hilbert_order(&centres);
        drop(centres);
        PackedRTree::packed(items, refs)
    }

    /// Indexes items already in the order of [`PackedRTree::new`] (points numbered along the
    /// Hilbert curve of [`hilbert_order`], as the walking network's nodes are) without sorting
    /// them again. Any order gives a correct tree, and the same answers; this one gives tight boxes.
    pub fn new_in_order(items: &[Bbox]) -> PackedRTree {
        PackedRTree::packed(items, (0..items.len() as u32).collect())
    }

    /// The tree whose leaves are `items` in the order `refs`.
    fn packed(items: &[Bbox], mut refs: Vec<u32>) -> PackedRTree {
        let n = items.len();
        // Every level's boxes: the leaves, then a parent for each NODE_SIZE of the level below,
        // up to one root.
        let (mut total, mut level) = (n, n);
        while level > 1 {
            level = level.div_ceil(NODE_SIZE);
            total += level;
        }
        assert!(total < u32::MAX as usize, "a packed R-tree holds fewer than 2^32 boxes ({n} items)");
        let mut boxes: Vec<Bbox> = Vec::with_capacity(total);
        boxes.par_extend(refs.par_iter().map(|&i| items[i as usize]));
        // Room for the upper levels' references, which follow the leaves'.
        refs.reserve_exact(total - refs.len());
        let mut level_ends = vec![n];
        let mut start = 0;
        while level_ends[level_ends.len() - 1] - start > 1 {
            let end = level_ends[level_ends.len() - 1];
            for first in (start..end).step_by(NODE_SIZE) {
                let children = &boxes[first..(first + NODE_SIZE).min(end)];
                let b = children
                    .iter()
                    .fold(children[0], |a, c| [a[0].min(c[0]), a[1].min(c[1]), a[2].max(c[2]), a[3].max(c[3])]);
                boxes.push(b);
                refs.push(first as u32);
            }
            start = end;
            level_ends.push(boxes.len());
        }
        debug_assert_eq!((boxes.len(), refs.len()), (total, total));
        PackedRTree { boxes, refs, level_ends }
    }

    /// The items indexed.
    pub fn len(&self) -> usize {
        self.level_ends[0]
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The item nearest `p` and its squared distance, by `dist2(item)`, the squared distance from
    /// `p` to the item, which must be no less than the squared distance from `p` to its box. Ties
    /// go to the lowest item. `None` when the tree is empty.
    pub fn nearest(&self, p: Coord<f64>, dist2: impl Fn(u32) -> f64) -> Option<(u32, f64)> {
        let root = self.boxes.len().checked_sub(1)?;
        let mut heap = BinaryHeap::with_capacity(4 * NODE_SIZE);
        // The nearest item seen so far: nothing farther is queued (what ties it is, for the lowest
        // number).
        let mut bound = f64::INFINITY;
        let top = (self.level_ends.len() - 1) as u8;
        // A first bound, from the items under the nearest box of each level going down.
        let (mut pos, mut level) = (root, top);
        while level > 0 {
            let first = self.refs[pos] as usize;
            let children = first..(first + NODE_SIZE).min(self.level_ends[level as usize - 1]);
            if level == 1 {
                bound = children.map(|c| dist2(self.refs[c])).fold(bound, f64::min);
                break;
            }
            pos = children.min_by(|&a, &b| box_dist2(&self.boxes[a], p).total_cmp(&box_dist2(&self.boxes[b], p)))?;
            level -= 1;
        }
        heap.push(Entry { dist2: box_dist2(&self.boxes[root], p), level: top, id: root as u32 });
        while let Some(Entry { dist2: d, level, id }) = heap.pop() {
            if level == ITEM {
                return Some((id, d));
            }
            let pos = id as usize;
            if level == 0 {
                // The root is the only item.
                let item = self.refs[pos];
                heap.push(Entry { dist2: dist2(item), level: ITEM, id: item });
                continue;
            }
            let first = self.refs[pos] as usize;
            let end = (first + NODE_SIZE).min(self.level_ends[level as usize - 1]);
            for c in first..end {
                let (d, level, id) = if level == 1 {
                    let item = self.refs[c];
                    let d = dist2(item);
                    bound = bound.min(d);
                    (d, ITEM, item)
                } else {
                    (box_dist2(&self.boxes[c], p), level - 1, c as u32)
                };
                if d <= bound {
                    heap.push(Entry { dist2: d, level, id });
                }
            }
        }
        None
    }
}

/// The squared distance from `p` to a box (0 inside it).
fn box_dist2(b: &Bbox, p: Coord<f64>) -> f64 {
    let dx = (b[0] - p.x).max(0.0).max(p.x - b[2]);
    let dy = (b[1] - p.y).max(0.0).max(p.y - b[3]);
    dx * dx + dy * dy
}

/// The level of an entry that is an item.
const ITEM: u8 = u8::MAX;

/// A search entry, popped nearest first; at one distance boxes before items (so that every item
/// at that distance is in the heap before the first is taken), items by number.
struct Entry {
    dist2: f64,
    /// The box's level (0: an item's box), or [`ITEM`].
    level: u8,
    /// A box's position, or the item.
    id: u32,
}

impl Entry {
    fn key(&self) -> (bool, u32) {
        (self.level == ITEM, self.id)
    }
}

impl Ord for Entry {
    fn cmp(&self, other: &Self) -> Ordering {
        // Reversed: BinaryHeap pops the greatest.
        other.dist2.total_cmp(&self.dist2).then_with(|| other.key().cmp(&self.key()))
    }
}

impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Entry {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::uniform as rng;

    fn point_tree(pts: &[Coord<f64>]) -> PackedRTree {
        PackedRTree::new(&pts.iter().map(|c| [c.x, c.y, c.x, c.y]).collect::<Vec<_>>())
    }

    fn d2(a: Coord<f64>, b: Coord<f64>) -> f64 {
        (a.x - b.x).powi(2) + (a.y - b.y).powi(2)
    }

    /// Seeded random points, from none to several levels of boxes: the nearest equals a scan of every
    /// point, ties to the lowest number included (the points lie on a coarse grid, so many tie).
    #[test]
    fn nearest_matches_a_scan() {
        let mut next = rng(0x853c49e6748fea9b);
        for n in [0usize, 1, 2, 15, 16, 17, 255, 256, 257, 5000] {
            let pts: Vec<Coord<f64>> = (0..n)
                .map(|_| Coord { x: (next() * 40.0).floor() * 25.0, y: (next() * 40.0).floor() * 25.0 })
                .collect();
            let tree = point_tree(&pts);
            assert_eq!(tree.len(), n);
            for _ in 0..300 {
                let p = Coord { x: next() * 1200.0 - 100.0, y: next() * 1200.0 - 100.0 };
                let got = tree.nearest(p, |i| d2(p, pts[i as usize]));
                let scan = (0..n as u32)
                    .map(|i| (i, d2(p, pts[i as usize])))
                    .min_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)));
                assert_eq!(got, scan, "n = {n}, p = {p:?}");
            }
            // A point on top of others: the lowest of them.
            if let Some(&c) = pts.last() {
                let lowest = pts.iter().position(|&q| q == c).unwrap() as u32;
                assert_eq!(tree.nearest(c, |i| d2(c, pts[i as usize])), Some((lowest, 0.0)));
            }
        }
    }

    /// Boxes only bound the distance: items are segments, whose distance is not their box's.
    #[test]
    fn nearest_segment_by_its_own_distance() {
        let mut next = rng(0x2545f4914f6cdd1d);
        let segs: Vec<[Coord<f64>; 2]> = (0..3000)
            .map(|_| {
                let a = Coord { x: next() * 5000.0, y: next() * 5000.0 };
                [a, Coord { x: a.x + (next() - 0.5) * 400.0, y: a.y + (next() - 0.5) * 400.0 }]
            })
            .collect();
        let dist2 = |p: Coord<f64>, [a, b]: [Coord<f64>; 2]| {
            let d = b - a;
            let t = (((p - a).x * d.x + (p - a).y * d.y) / (d.x * d.x + d.y * d.y)).clamp(0.0, 1.0);
            d2(p, a + d * t)
        };
        let boxes: Vec<Bbox> =
            segs.iter().map(|[a, b]| [a.x.min(b.x), a.y.min(b.y), a.x.max(b.x), a.y.max(b.y)]).collect();
        let tree = PackedRTree::new(&boxes);
        for _ in 0..500 {
            let p = Coord { x: next() * 6000.0 - 500.0, y: next() * 6000.0 - 500.0 };
            let (i, d) = tree.nearest(p, |i| dist2(p, segs[i as usize])).unwrap();
            let best = segs.iter().map(|&s| dist2(p, s)).fold(f64::INFINITY, f64::min);
            assert_eq!(d.to_bits(), best.to_bits(), "item {i}");
        }
    }

    /// The boxes and references are sized once, to the tree's exact count of boxes: no level
    /// pushed past their room (which would double a vector of the whole tree).
    #[test]
    fn arrays_sized_once() {
        for n in [0usize, 1, 2, 15, 16, 17, 240, 241, 256, 257, 4097, 5000] {
            let pts: Vec<Coord<f64>> = (0..n).map(|i| Coord { x: i as f64, y: (i % 7) as f64 }).collect();
            let boxes: Vec<Bbox> = pts.iter().map(|c| [c.x, c.y, c.x, c.y]).collect();
            for t in [PackedRTree::new(&boxes), PackedRTree::new_in_order(&boxes)] {
                let mut expected = n;
                let mut level = n;
                while level > 1 {
                    level = (0..level).step_by(NODE_SIZE).count();
                    expected += level;
                }
                assert_eq!((t.boxes.len(), t.refs.len()), (expected, expected), "n = {n}");
                assert_eq!(t.boxes.capacity(), t.boxes.len(), "n = {n}");
            }
            assert_eq!(PackedRTree::new_in_order(&boxes).refs.capacity(), PackedRTree::new_in_order(&boxes).refs.len());
        }
    }

    /// The boxes of every parent hold their children's, and every item is a leaf once.
    #[test]
    fn parents_hold_their_children() {
        let mut next = rng(0x9e3779b97f4a7c15);
        let pts: Vec<Coord<f64>> = (0..1000).map(|_| Coord { x: next(), y: next() }).collect();
        let t = point_tree(&pts);
        let mut leaves: Vec<u32> = t.refs[..t.len()].to_vec();
        leaves.sort_unstable();
        assert!(leaves.iter().copied().eq(0..1000));
        assert_eq!(t.level_ends.last(), Some(&t.boxes.len()));
        for level in 1..t.level_ends.len() {
            for pos in t.level_ends[level - 1]..t.level_ends[level] {
                let first = t.refs[pos] as usize;
                for c in first..(first + NODE_SIZE).min(t.level_ends[level - 1]) {
                    let (b, k) = (t.boxes[pos], t.boxes[c]);
                    assert!(b[0] <= k[0] && b[1] <= k[1] && b[2] >= k[2] && b[3] >= k[3]);
                }
            }
        }
    }

    /// Points numbered along the curve, as the walking network's nodes are, give the tree `new`
    /// would build, without its sort; in any other order the tree differs but answers the same.
    #[test]
    fn new_in_order_is_new_for_points_on_the_curve() {
        let mut next = rng(0xda942042e4dd58b5);
        let pts: Vec<Coord<f64>> =
            (0..3000).map(|_| Coord { x: (next() * 60.0).floor() * 10.0, y: (next() * 60.0).floor() * 10.0 }).collect();
        let boxes = |pts: &[Coord<f64>]| -> Vec<Bbox> { pts.iter().map(|c| [c.x, c.y, c.x, c.y]).collect() };
        let on_curve: Vec<Coord<f64>> = hilbert_order(&pts).iter().map(|&i| pts[i as usize]).collect();
        let (sorted, given) = (PackedRTree::new(&boxes(&on_curve)), PackedRTree::new_in_order(&boxes(&on_curve)));
        assert_eq!((&sorted.boxes, &sorted.refs, &sorted.level_ends), (&given.boxes, &given.refs, &given.level_ends));
        let unsorted = PackedRTree::new_in_order(&boxes(&pts));
        assert_ne!(unsorted.boxes, sorted.boxes);
        for _ in 0..300 {
            let p = Coord { x: next() * 700.0 - 50.0, y: next() * 700.0 - 50.0 };
            // The same squared distance, bit for bit: the same point found, or one as near.
            let sorted_d2 = sorted.nearest(p, |i| d2(p, on_curve[i as usize])).map(|(_, d)| d.to_bits());
            let unsorted_d2 = unsorted.nearest(p, |i| d2(p, pts[i as usize])).map(|(_, d)| d.to_bits());
            assert_eq!(sorted_d2, unsorted_d2);
        }
    }
}
