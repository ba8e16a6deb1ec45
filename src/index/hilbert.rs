//! Order along a Hilbert curve: points near each other on the curve are near each other on the
//! map, so arrays kept in this order touch few cache lines in a local search, and runs of them
//! make tight boxes ([`super::packed`]).

use geo::Coord;
use rayon::prelude::*;

/// The indices of `points` in the order of a Hilbert curve of order 16 over their bounding box;
/// points in one cell keep their order. The same on any number of threads.
///
/// ```
/// use geo::Coord;
/// use planaudit::index::hilbert::hilbert_order;
/// let pts = [Coord { x: 1.0, y: 1.0 }, Coord { x: 0.0, y: 0.0 }, Coord { x: 1.0, y: 0.0 }, Coord { x: 0.0, y: 1.0 }];
/// // The curve of order 1 visits (0,0), (0,1), (1,1), (1,0).
/// assert_eq!(hilbert_order(&pts), [1, 3, 0, 2]);
/// ```
pub fn hilbert_order(points: &[Coord<f64>]) -> Vec<u32> {
    let (mut lo, mut hi) =
        (Coord { x: f64::INFINITY, y: f64::INFINITY }, Coord { x: f64::NEG_INFINITY, y: f64::NEG_INFINITY });
    for c in points {
        (lo.x, lo.y, hi.x, hi.y) = (lo.x.min(c.x), lo.y.min(c.y), hi.x.max(c.x), hi.y.max(c.y));
    }
    const SIDE: f64 = 65535.0;
    let cell = |v: f64, lo: f64, hi: f64| if hi > lo { ((v - lo) / (hi - lo) * SIDE).round() as u32 } else { 0 };
    let mut order: Vec<(u32, u32)> = points
        .par_iter()
        .enumerate()
        .map(|(i, c)| (hilbert_d(cell(c.x, lo.x, hi.x), cell(c.y, lo.y, hi.y)), i as u32))
        .collect();
    // Plain values: an unstable sort gives one order whatever the threads.
    order.par_sort_unstable();
    order.into_iter().map(|(_, i)| i).collect()
}

/// The distance along a Hilbert curve of order 16 of the cell `(x, y)`, each below 2^16.
pub fn hilbert_d(mut x: u32, mut y: u32) -> u32 {
    let mut d = 0u32;
    let mut s = 1u32 << 15;
    while s > 0 {
        let rx = u32::from(x & s > 0);
        let ry = u32::from(y & s > 0);
        d += s * s * ((3 * rx) ^ ry);
        // Rotate the quadrant.
        if ry == 0 {
            if rx == 1 {
                (x, y) = (0xffff - x, 0xffff - y);
            }
            std::mem::swap(&mut x, &mut y);
        }
        s /= 2;
    }
    d
}

#[cfg(test)]
mod tests {
    /// The curve: its first 4^8 cells are the 256 × 256 square at the origin, each
    /// once, and each cell is next to the one before it.
    #[test]
    fn hilbert_curve_visits_neighbouring_cells() {
        let mut cells: Vec<(u32, u32, u32)> =
            (0..256u32).flat_map(|x| (0..256u32).map(move |y| (super::hilbert_d(x, y), x, y))).collect();
        cells.sort_unstable();
        for (i, &(d, _, _)) in cells.iter().enumerate() {
            assert_eq!(d, i as u32);
        }
        for w in cells.windows(2) {
            let step = w[0].1.abs_diff(w[1].1) + w[0].2.abs_diff(w[1].2);
            assert_eq!(step, 1, "{:?} to {:?}", w[0], w[1]);
        }
        assert_eq!(super::hilbert_d(65535, 0), u32::MAX);
    }
}
