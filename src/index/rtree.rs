//! A bulk-loaded R-tree of bounding boxes that answers "which items may touch this box".
//!
//! Items are referred to by their index in the caller's slice, so the tree holds no copies of the
//! geometries.
//!
//! [`candidates`] answers the same question for a few query boxes over many items (parks over
//! parcels, built-up areas over roads) the other way round: the few boxes go into the tree and the
//! many items are scanned in parallel, so no tree over the many items is built.

use geo::{BoundingRect, Rect};
use rayon::prelude::*;
use rstar::primitives::{GeomWithData, Rectangle};
use rstar::{RTree, AABB};

/// An R-tree over item bounding boxes; the payload is the item's index.
pub struct BoxIndex {
    tree: RTree<GeomWithData<Rectangle<[f64; 2]>, usize>>,
}

impl BoxIndex {
    /// Bulk-loads the boxes of items; items without a box (empty geometries) are not indexed.
    pub fn new<'a, G: BoundingRect<f64, Output = Option<Rect<f64>>> + 'a>(
        items: impl IntoIterator<Item = &'a G>,
    ) -> BoxIndex {
        BoxIndex::of_boxes(items.into_iter().map(BoundingRect::bounding_rect))
    }

    /// Bulk-loads boxes themselves, the `i`th box item `i`; `None` is not indexed.
    pub fn of_boxes(boxes: impl IntoIterator<Item = Option<Rect<f64>>>) -> BoxIndex {
        let entries =
            boxes.into_iter().enumerate().filter_map(|(i, r)| r.map(|r| GeomWithData::new(rectangle(&r), i))).collect();
        BoxIndex { tree: RTree::bulk_load(entries) }
    }

    /// Indexes of the items whose box intersects `rect`, in ascending order.
    pub fn query(&self, rect: &Rect<f64>) -> Vec<usize> {
        let mut out: Vec<usize> = self.tree.locate_in_envelope_intersecting(&envelope(rect)).map(|e| e.data).collect();
        out.sort_unstable();
        out
    }

    /// Whether `meets` holds for some item whose box intersects `rect`.
    pub fn any_touching(&self, rect: &Rect<f64>, mut meets: impl FnMut(usize) -> bool) -> bool {
        self.tree.locate_in_envelope_intersecting(&envelope(rect)).any(|e| meets(e.data))
    }

    /// Whether some item's box intersects `rect`: whether [`BoxIndex::query`] would find any.
    pub fn touches(&self, rect: &Rect<f64>) -> bool {
        self.tree.locate_in_envelope_intersecting(&envelope(rect)).next().is_some()
    }
}

/// For each query box, the indexes of the items whose box intersects it, in ascending order: what
/// [`BoxIndex::query`] gives for each query on a `BoxIndex` of the items (a box test is symmetric),
/// without building a tree over the items. Queries and items without a box (empty geometries)
/// match nothing. The answer does not depend on the number of threads.
pub fn candidates<G>(
    queries: &[Option<Rect<f64>>],
    items: &[G],
    box_of: impl Fn(&G) -> Option<Rect<f64>> + Sync,
) -> Vec<Vec<usize>>
where
    G: Sync,
{
    let tree: RTree<GeomWithData<Rectangle<[f64; 2]>, usize>> = RTree::bulk_load(
        queries.iter().enumerate().filter_map(|(q, r)| r.map(|r| GeomWithData::new(rectangle(&r), q))).collect(),
    );
    // (query, item) pairs, chunk by chunk in item order.
    const CHUNK: usize = 4096;
    let pairs: Vec<Vec<(usize, usize)>> = items
        .par_chunks(CHUNK)
        .enumerate()
        .map(|(c, chunk)| {
            let mut out = Vec::new();
            for (k, item) in chunk.iter().enumerate() {
                let Some(r) = box_of(item) else { continue };
                for q in tree.locate_in_envelope_intersecting(&envelope(&r)) {
                    out.push((q.data, c * CHUNK + k));
                }
            }
            out
        })
        .collect();
    // Bucketed by query; items stay in ascending order within each bucket.
    let mut counts = vec![0usize; queries.len()];
    for &(q, _) in pairs.iter().flatten() {
        counts[q] += 1;
    }
    let mut out: Vec<Vec<usize>> = counts.into_iter().map(Vec::with_capacity).collect();
    for &(q, i) in pairs.iter().flatten() {
        out[q].push(i);
    }
    out
}

fn rectangle(r: &Rect<f64>) -> Rectangle<[f64; 2]> {
    Rectangle::from_corners([r.min().x, r.min().y], [r.max().x, r.max().y])
}

/// The box as the tree's query envelope.
fn envelope(r: &Rect<f64>) -> AABB<[f64; 2]> {
    AABB::from_corners([r.min().x, r.min().y], [r.max().x, r.max().y])
}

#[cfg(test)]
mod tests {
    use super::*;
    use geo::{coord, Intersects, LineString};

    /// Uniform numbers in [0, 1000).
    fn uniform_0_1000(seed: u64) -> impl FnMut() -> f64 {
        let mut next = crate::testing::uniform(seed);
        move || next() * 1000.0
    }

    /// Seeded random segments: the tree returns exactly what a brute-force box test returns.
    #[test]
    fn query_matches_brute_force() {
        let mut next = uniform_0_1000(0x9e3779b97f4a7c15);
        let lines: Vec<LineString<f64>> = (0..500)
            .map(|_| {
                let (x, y) = (next(), next());
                LineString::from(vec![coord! {x: x, y: y}, coord! {x: x + next() / 20.0, y: y + next() / 20.0}])
            })
            .collect();
        let index = BoxIndex::new(&lines);
        for _ in 0..50 {
            let (x, y) = (next(), next());
            let q = Rect::new(coord! {x: x, y: y}, coord! {x: x + 80.0, y: y + 80.0});
            let brute: Vec<usize> =
                (0..lines.len()).filter(|&i| lines[i].bounding_rect().unwrap().intersects(&q)).collect();
            assert_eq!(index.query(&q), brute);
        }
    }

    /// Seeded random boxes and segments, some segments empty: `candidates` gives, for every box,
    /// what the tree over the segments gives, and what a brute-force box test gives.
    #[test]
    fn candidates_match_the_tree_and_brute_force() {
        let mut next = uniform_0_1000(0x2545f4914f6cdd1d);
        // More than one chunk of items, so that chunk offsets are exercised.
        let lines: Vec<LineString<f64>> = (0..9000)
            .map(|i| {
                if i % 97 == 0 {
                    return LineString::new(vec![]);
                }
                let (x, y) = (next(), next());
                LineString::from(vec![coord! {x: x, y: y}, coord! {x: x + next() / 50.0, y: y + next() / 50.0}])
            })
            .collect();
        let queries: Vec<Option<Rect<f64>>> = (0..40)
            .map(|q| {
                if q == 7 {
                    return None;
                }
                let (x, y) = (next(), next());
                let (w, h) = (next() / 5.0, next() / 5.0);
                Some(Rect::new(coord! {x: x, y: y}, coord! {x: x + w, y: y + h}))
            })
            .collect();
        let index = BoxIndex::new(&lines);
        let found = candidates(&queries, &lines, |l| l.bounding_rect());
        assert_eq!(found.len(), queries.len());
        let mut total = 0;
        assert!(found[7].is_empty());
        for (q, got) in queries.iter().zip(&found) {
            let Some(q) = q else { continue };
            let brute: Vec<usize> =
                (0..lines.len()).filter(|&i| lines[i].bounding_rect().is_some_and(|b| b.intersects(q))).collect();
            assert_eq!(got, &brute);
            assert_eq!(got, &index.query(q));
            total += got.len();
        }
        assert!(total > 100, "the boxes should catch many segments, caught {total}");
    }
}
