//! A uniform grid of points for nearest-point queries close to the points, as snapping homes and
//! facilities to the walking network's nodes is: a query reads the few cells around it instead
//! of descending a tree with a priority queue.
//!
//! [`PointGrid::nearest`] answers only when it is sure: the nearest point by squared distance,
//! ties to the lowest item, as [`PackedRTree::nearest`](super::packed::PackedRTree::nearest)
//! gives it. A query outside the grid's box, or whose nearest point lies beyond a few rings of
//! cells, gets `None`, and the caller asks the tree.

use geo::Coord;

/// Cells per point at most: the grid's size stays within a few bytes a point, however the points
/// cluster.
const CELLS_PER_POINT: usize = 4;

/// The points in cells of one size over their bounding box.
pub struct PointGrid {
    /// The box's lowest corner.
    origin: Coord<f64>,
    cell_m: f64,
    cols: usize,
    rows: usize,
    /// The items of cell `c` (row by row) are `items[starts[c]..starts[c + 1]]`.
    starts: Vec<u32>,
    /// Item numbers, cell by cell, ascending within a cell.
    items: Vec<u32>,
    /// Below this, a distance to a cell's edge is not trusted (the rounding of cell positions).
    margin: f64,
}

impl PointGrid {
    /// Puts item `i`, at `points[i]`, in its cell. `None` without points, with more than
    /// `u32::MAX` of them, or with one that is not a finite number.
    pub fn new(points: &[Coord<f64>]) -> Option<PointGrid> {
        let n = points.len();
        if n == 0 || n >= u32::MAX as usize {
            return None;
        }
        let (mut lo, mut hi) = (points[0], points[0]);
        for c in points {
            if !(c.x.is_finite() && c.y.is_finite()) {
                return None;
            }
            (lo.x, lo.y, hi.x, hi.y) = (lo.x.min(c.x), lo.y.min(c.y), hi.x.max(c.x), hi.y.max(c.y));
        }
        let (w, h) = (hi.x - lo.x, hi.y - lo.y);
        // About one point a cell over the box: denser where the points cluster, never more than
        // CELLS_PER_POINT cells a point.
        let mut cell_m = (w * h / n as f64).sqrt().max(w.max(h) / n as f64);
        if !(cell_m.is_finite() && cell_m > 0.0) {
            cell_m = 1.0;
        }
        let dims = |cell_m: f64| (((w / cell_m) as usize).saturating_add(1), ((h / cell_m) as usize).saturating_add(1));
        let (mut cols, mut rows) = dims(cell_m);
        while cols.saturating_mul(rows) > CELLS_PER_POINT * n {
            cell_m *= 1.5;
            (cols, rows) = dims(cell_m);
        }
        let mut grid = PointGrid {
            origin: lo,
            cell_m,
            cols,
            rows,
            starts: vec![0; cols * rows + 1],
            items: vec![0; n],
            margin: 1e-9 + 1e-12 * (lo.x.abs() + lo.y.abs() + hi.x.abs() + hi.y.abs()),
        };
        // A counting sort by cell: counts, then starts, then items in ascending order.
        let cells: Vec<u32> = points.iter().map(|&c| grid.cell_of(c) as u32).collect();
        for &c in &cells {
            grid.starts[c as usize + 1] += 1;
        }
        for c in 0..cols * rows {
            grid.starts[c + 1] += grid.starts[c];
        }
        let mut next = grid.starts.clone();
        for (i, &c) in cells.iter().enumerate() {
            grid.items[next[c as usize] as usize] = i as u32;
            next[c as usize] += 1;
        }
        Some(grid)
    }

    /// The column and row of the cell holding `c`, clamped to the grid.
    fn col_row(&self, c: Coord<f64>) -> (usize, usize) {
        let at = |v: f64, lo: f64, n: usize| (((v - lo) / self.cell_m).floor().max(0.0) as usize).min(n - 1);
        (at(c.x, self.origin.x, self.cols), at(c.y, self.origin.y, self.rows))
    }

    fn cell_of(&self, c: Coord<f64>) -> usize {
        let (col, row) = self.col_row(c);
        row * self.cols + col
    }

    /// The item nearest `p` by `dist2(item)`, the squared distance from `p` to the item's point,
    /// and that squared distance; ties go to the lowest item. `None` when `p` lies outside the
    /// grid's box or is not a number, or when no point within `max_rings` rings of cells around
    /// `p`'s cell is sure to be the nearest: then ask a tree.
    pub fn nearest(&self, p: Coord<f64>, max_rings: usize, dist2: impl Fn(u32) -> f64) -> Option<(u32, f64)> {
        let inside = |v: f64, lo: f64, n: usize| v >= lo && v <= lo + n as f64 * self.cell_m;
        if !(inside(p.x, self.origin.x, self.cols) && inside(p.y, self.origin.y, self.rows)) {
            return None;
        }
        let (col, row) = self.col_row(p);
        let mut best: Option<(u32, f64)> = None;
        let visit = |c: usize, r: usize, best: &mut Option<(u32, f64)>| {
            let cell = r * self.cols + c;
            for &item in &self.items[self.starts[cell] as usize..self.starts[cell + 1] as usize] {
                let d = dist2(item);
                // Items ascend within a cell, not across cells: ties are settled by number.
                if best.is_none_or(|(b, bd)| d < bd || (d == bd && item < b)) {
                    *best = Some((item, d));
                }
            }
        };
        for ring in 0..=max_rings {
            // The cells at Chebyshev distance `ring` from (col, row), within the grid.
            let (c0, c1) = (col.saturating_sub(ring), (col + ring).min(self.cols - 1));
            let (r0, r1) = (row.saturating_sub(ring), (row + ring).min(self.rows - 1));
            for r in r0..=r1 {
                if r.abs_diff(row) == ring {
                    for c in c0..=c1 {
                        visit(c, r, &mut best);
                    }
                } else {
                    if col >= ring {
                        visit(col - ring, r, &mut best);
                    }
                    if ring > 0 && col + ring < self.cols {
                        visit(col + ring, r, &mut best);
                    }
                }
            }
            // Every point not yet read lies beyond the block of cells read so far: at least the
            // distance from `p` to the block's nearest side that has cells beyond it.
            let mut beyond = f64::INFINITY;
            if col > ring {
                beyond = beyond.min(p.x - (self.origin.x + (col - ring) as f64 * self.cell_m));
            }
            if col + ring + 1 < self.cols {
                beyond = beyond.min(self.origin.x + (col + ring + 1) as f64 * self.cell_m - p.x);
            }
            if row > ring {
                beyond = beyond.min(p.y - (self.origin.y + (row - ring) as f64 * self.cell_m));
            }
            if row + ring + 1 < self.rows {
                beyond = beyond.min(self.origin.y + (row + ring + 1) as f64 * self.cell_m - p.y);
            }
            if beyond == f64::INFINITY {
                // The whole grid read.
                return best;
            }
            let sure = beyond - self.margin;
            if let Some((item, d)) = best {
                if sure > 0.0 && d < sure * sure {
                    return Some((item, d));
                }
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::uniform as rng;

    fn d2(a: Coord<f64>, b: Coord<f64>) -> f64 {
        let d = a - b;
        d.x * d.x + d.y * d.y
    }

    /// Against a scan of every point, on clustered points with many exact ties (points on a
    /// lattice, repeated points) and queries inside, on the edges of and outside the box.
    #[test]
    fn nearest_is_the_scan_s_answer_or_none() {
        let mut next = rng(0x51_7cc1_b727_220a);
        let (x0, y0) = (39_480_000.0, 3_515_000.0);
        let mut points = Vec::new();
        // Three clusters of lattice points (ties everywhere), some repeated, and a few strays.
        for (cx, cy) in [(0.0, 0.0), (5000.0, 200.0), (2500.0, 4000.0)] {
            for _ in 0..400 {
                let x = x0 + cx + (next() * 40.0).floor() * 25.0;
                let y = y0 + cy + (next() * 40.0).floor() * 25.0;
                points.push(Coord { x, y });
            }
        }
        for _ in 0..20 {
            points.push(Coord { x: x0 + next() * 6000.0, y: y0 + next() * 6000.0 });
        }
        let grid = PointGrid::new(&points).unwrap();
        let (mut answered, mut none) = (0, 0);
        for k in 0..3000 {
            let p = match k % 4 {
                // On a lattice point or halfway between two: exact ties.
                0 => points[(next() * points.len() as f64) as usize],
                1 => {
                    let a = points[(next() * points.len() as f64) as usize];
                    Coord { x: a.x + 12.5, y: a.y + 12.5 }
                }
                _ => Coord { x: x0 - 500.0 + next() * 7000.0, y: y0 - 500.0 + next() * 7000.0 },
            };
            let scan = (0..points.len() as u32)
                .map(|i| (d2(p, points[i as usize]), i))
                .min_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)))
                .unwrap();
            match grid.nearest(p, 3, |i| d2(p, points[i as usize])) {
                Some((i, d)) => {
                    answered += 1;
                    assert_eq!((i, d), (scan.1, scan.0), "at {p:?}");
                }
                None => none += 1,
            }
        }
        assert!(answered > 2000 && none > 0, "{answered} answered, {none} left to the tree");
    }

    /// Sparse points, a few to a cell and many cells empty: the nearest point is often some rings
    /// away, and every side of the block read so far bounds what is left.
    #[test]
    fn sparse_points_against_a_scan() {
        let mut next = rng(0x2f1d_93a5_c1b0_4e77);
        let points: Vec<Coord<f64>> = (0..300).map(|_| Coord { x: next() * 1000.0, y: next() * 1000.0 }).collect();
        let grid = PointGrid::new(&points).unwrap();
        let mut answered = 0;
        for _ in 0..20_000 {
            let p = Coord { x: next() * 1000.0, y: next() * 1000.0 };
            let scan = (0..points.len() as u32)
                .map(|i| (d2(p, points[i as usize]), i))
                .min_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)))
                .unwrap();
            if let Some((i, d)) = grid.nearest(p, 3, |i| d2(p, points[i as usize])) {
                answered += 1;
                assert_eq!((i, d), (scan.1, scan.0), "at {p:?}");
            }
        }
        assert!(answered > 15_000, "{answered} answered");
    }

    /// One point, points on a line (a box without height), and points that are not numbers.
    #[test]
    fn degenerate_boxes() {
        let one = PointGrid::new(&[Coord { x: 5.0, y: 5.0 }]).unwrap();
        assert_eq!(one.nearest(Coord { x: 5.0, y: 5.0 }, 0, |_| 0.0), Some((0, 0.0)));
        // Within the grid's one cell (a metre square): the whole grid is read, the answer sure.
        assert_eq!(one.nearest(Coord { x: 6.0, y: 5.0 }, 0, |_| 1.0), Some((0, 1.0)));
        assert_eq!(one.nearest(Coord { x: 7.0, y: 5.0 }, 3, |_| 4.0), None);
        let line: Vec<Coord<f64>> = (0..100).map(|i| Coord { x: i as f64, y: 7.0 }).collect();
        let grid = PointGrid::new(&line).unwrap();
        let p = Coord { x: 41.2, y: 7.0 };
        assert_eq!(grid.nearest(p, 3, |i| d2(p, line[i as usize])).map(|(i, _)| i), Some(41));
        // A box too wide for a grid of metre cells: the cells grow until they are few enough.
        let wide = [Coord { x: 0.0, y: 0.0 }, Coord { x: 1e300, y: 1e300 }];
        let grid_wide = PointGrid::new(&wide).unwrap();
        assert!(grid_wide.cols * grid_wide.rows <= CELLS_PER_POINT * wide.len());
        assert_eq!(
            grid_wide
                .nearest(Coord { x: 1.0, y: 0.0 }, 3, |i| d2(Coord { x: 1.0, y: 0.0 }, wide[i as usize]))
                .map(|(i, _)| i),
            Some(0)
        );
        assert!(PointGrid::new(&[Coord { x: f64::NAN, y: 0.0 }]).is_none());
        assert!(PointGrid::new(&[]).is_none());
        assert_eq!(grid.nearest(Coord { x: f64::NAN, y: 7.0 }, 3, |_| 0.0), None);
    }
}
