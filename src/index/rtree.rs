//! A bulk-loaded R-tree of bounding boxes that answers "which items may touch this box".
//!
//! Items are referred to by their index in the caller's slice, so the tree holds no copies of the
//! geometries.

use geo::{BoundingRect, Rect};
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
        let entries = items
            .into_iter()
            .enumerate()
            .filter_map(|(i, g)| g.bounding_rect().map(|r| GeomWithData::new(rectangle(&r), i)))
            .collect();
        BoxIndex { tree: RTree::bulk_load(entries) }
    }

    /// Indexes of the items whose box intersects `rect`, in ascending order.
    pub fn query(&self, rect: &Rect<f64>) -> Vec<usize> {
        let env = AABB::from_corners([rect.min().x, rect.min().y], [rect.max().x, rect.max().y]);
        let mut out: Vec<usize> = self.tree.locate_in_envelope_intersecting(&env).map(|e| e.data).collect();
        out.sort_unstable();
        out
    }
}

fn rectangle(r: &Rect<f64>) -> Rectangle<[f64; 2]> {
    Rectangle::from_corners([r.min().x, r.min().y], [r.max().x, r.max().y])
}

#[cfg(test)]
mod tests {
    use super::*;
    use geo::{coord, Intersects, LineString};

    /// Seeded random segments: the tree returns exactly what a brute-force box test returns.
    #[test]
    fn query_matches_brute_force() {
        let mut state = 0x9e3779b97f4a7c15u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 11) as f64 / (1u64 << 53) as f64 * 1000.0
        };
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
}
