//! Units and numerics shared by every stage: compensated summation, unit conversions, the box
//! around two boxes, the precision numbers are reported at (which the indicators also judge them
//! at, so that a reported value never contradicts its verdict).

/// Square metres in a square kilometre.
pub const M2_PER_KM2: f64 = 1.0e6;
/// Metres in a kilometre.
pub const M_PER_KM: f64 = 1.0e3;

/// Metres per degree of latitude (and of longitude at the equator) on a sphere of the mean Earth
/// radius (6,371,008.8 m, IUGG): for scale bars and rough distances, never for a reported number.
pub const M_PER_DEGREE: f64 = 111_195.08;

/// Neumaier's variant of Kahan summation: keeps the rounding error of every addition
/// so that summing many small lengths onto a large total loses nothing visible.
///
/// ```
/// use planaudit::units::KahanSum;
/// let mut s = KahanSum::default();
/// s.add(1.0e16);
/// for _ in 0..10 { s.add(1.0); }
/// s.add(-1.0e16);
/// assert!((s.total() - 10.0).abs() < 1e-9);
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct KahanSum {
    sum: f64,
    compensation: f64,
}

impl KahanSum {
    /// Adds one value.
    pub fn add(&mut self, value: f64) {
        let t = self.sum + value;
        if self.sum.abs() >= value.abs() {
            self.compensation += (self.sum - t) + value;
        } else {
            self.compensation += (value - t) + self.sum;
        }
        self.sum = t;
    }

    /// The compensated total.
    pub fn total(&self) -> f64 {
        self.sum + self.compensation
    }
}

impl std::iter::FromIterator<f64> for KahanSum {
    fn from_iter<I: IntoIterator<Item = f64>>(iter: I) -> Self {
        let mut s = KahanSum::default();
        for v in iter {
            s.add(v);
        }
        s
    }
}

/// Rounds a reported number to 6 decimals (1 m in km, 1 m² in km², a millionth of a share), so
/// that outputs are stable and every file states the same figure.
pub fn round6(v: f64) -> f64 {
    if v.is_finite() {
        (v * 1e6).round() / 1e6
    } else {
        v
    }
}

/// Whether a figure reaches its target, judged on the figure as reported ([`round6`]), so that a
/// verdict never disagrees with the number beside it.
///
/// ```
/// use planaudit::units::reaches;
/// assert!(reaches(8.2999996, 8.3)); // reported as 8.3
/// assert!(!reaches(8.299999, 8.3));
/// ```
pub fn reaches(value: f64, target: f64) -> bool {
    round6(value) >= target
}

/// A reported figure shown with `decimals` decimals (after multiplying by `scale`: 100 for a share
/// shown in percent), or with more, up to the 6 decimals verdicts are judged at ([`round6`]), when
/// fewer would show it on the other side of a target or band bound, or on it: a density of
/// 3.079959 against a target of 3.08 shows as 3.07996, not as 3.080 beside "missed".
///
/// ```
/// use planaudit::units::shown_against;
/// assert_eq!(shown_against(3.079959, &[3.08], 3, 1.0), "3.07996");
/// assert_eq!(shown_against(9.92807, &[8.3], 3, 1.0), "9.928");
/// assert_eq!(shown_against(0.199999, &[0.2, 0.3], 1, 100.0), "19.9999");
/// assert_eq!(shown_against(0.2, &[0.2, 0.3], 1, 100.0), "20.0");
/// ```
pub fn shown_against(value: f64, bounds: &[f64], decimals: usize, scale: f64) -> String {
    let judged = round6(value);
    let sides = |v: f64| bounds.iter().map(|b| v.total_cmp(b)).collect::<Vec<_>>();
    let want = sides(judged);
    let digits_of_judged = 6 + scale.log10().round().max(0.0) as usize;
    for d in decimals..=digits_of_judged.max(decimals) {
        let text = format!("{:.d$}", value * scale);
        if text.parse::<f64>().is_ok_and(|v| sides(v / scale) == want) {
            return text;
        }
    }
    format!("{:.*}", digits_of_judged.max(decimals), judged * scale)
}

/// Rounds a distance in metres to 2 decimals (1 cm), the precision of the data behind it.
pub fn round2(v: f64) -> f64 {
    if v.is_finite() {
        (v * 100.0).round() / 100.0
    } else {
        v
    }
}

/// Sums an iterator of f64 with compensation.
pub fn sum(values: impl IntoIterator<Item = f64>) -> f64 {
    values.into_iter().collect::<KahanSum>().total()
}

/// The smallest box holding both boxes.
///
/// ```
/// use geo::{coord, Rect};
/// let a = Rect::new(coord! { x: 0.0, y: 0.0 }, coord! { x: 1.0, y: 1.0 });
/// let b = Rect::new(coord! { x: 2.0, y: -1.0 }, coord! { x: 3.0, y: 0.5 });
/// let u = planaudit::units::rect_union(a, b);
/// assert_eq!((u.min(), u.max()), (coord! { x: 0.0, y: -1.0 }, coord! { x: 3.0, y: 1.0 }));
/// ```
pub fn rect_union(a: geo::Rect<f64>, b: geo::Rect<f64>) -> geo::Rect<f64> {
    geo::Rect::new(
        geo::coord! { x: a.min().x.min(b.min().x), y: a.min().y.min(b.min().y) },
        geo::coord! { x: a.max().x.max(b.max().x), y: a.max().y.max(b.max().y) },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compensated_sum_keeps_small_terms() {
        let naive: f64 = std::iter::once(1.0e8).chain(std::iter::repeat_n(1.0e-8, 1_000_000)).sum();
        let kahan = sum(std::iter::once(1.0e8).chain(std::iter::repeat_n(1.0e-8, 1_000_000)));
        assert!((kahan - (1.0e8 + 0.01)).abs() < 1e-7, "kahan {kahan}");
        assert!((naive - (1.0e8 + 0.01)).abs() > 1e-3, "naive sum should drift: {naive}");
    }
}
