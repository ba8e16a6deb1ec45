//! Tests of the GCJ-02 / BD-09 offset conversions.
//!
//! Run with `cargo test offsets -- --nocapture` to see the measured Lu'an offset and the
//! round-trip errors.

use super::{
    bd09_to_gcj02, bd09_to_wgs84, gcj02_to_bd09, gcj02_to_wgs84, outside_china, wgs84_to_bd09, wgs84_to_gcj02,
};
use std::time::{Duration, Instant};

/// Mean Earth radius (IUGG 1980 R1 = (2a + b)/3 of WGS84), metres; ample for a local
/// equirectangular distance.
const EARTH_MEAN_RADIUS_M: f64 = 6_371_008.8;

/// Local equirectangular (east, north) metres from `from` to `to`.
fn east_north_m(from: (f64, f64), to: (f64, f64)) -> (f64, f64) {
    let lat_mid = (0.5 * (from.1 + to.1)).to_radians();
    let east_m = (to.0 - from.0).to_radians() * EARTH_MEAN_RADIUS_M * lat_mid.cos();
    let north_m = (to.1 - from.1).to_radians() * EARTH_MEAN_RADIUS_M;
    (east_m, north_m)
}

fn dist_m(a: (f64, f64), b: (f64, f64)) -> f64 {
    let (e, n) = east_north_m(a, b);
    e.hypot(n)
}

/// SplitMix64: a tiny deterministic PRNG so the sample is the same on every run.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [lo, hi).
    fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
        let unit = (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        lo + (hi - lo) * unit
    }
}

/// A regular 1° grid plus 20,000 seeded random points over 73–135°E, 18–53°N.
fn china_sample() -> Vec<(f64, f64)> {
    let mut pts = Vec::new();
    for i in 0..=62 {
        for j in 0..=35 {
            pts.push((73.0 + f64::from(i), 18.0 + f64::from(j)));
        }
    }
    let mut rng = SplitMix64(0x5EED_0F6C_4A00_0002);
    for _ in 0..20_000 {
        pts.push((rng.uniform(73.0, 135.0), rng.uniform(18.0, 53.0)));
    }
    pts
}

/// A second, separately structured derivation of the published GCJ-02 forward formula:
/// the series as (amplitude, argument, frequency) tables, and the metre → degree step through
/// named meridian (M) and prime-vertical (N) radii with `to_degrees`.
mod reference {
    use std::f64::consts::PI;

    const A: f64 = 6_378_245.0;
    #[allow(clippy::excessive_precision)]
    const E2: f64 = 0.006_693_421_622_965_943_23;

    /// Σ amplitude · sin(π · frequency · argument) over a table, scaled by 2/3.
    fn harmonics(terms: &[(f64, f64, f64)]) -> f64 {
        terms.iter().map(|&(amp, arg, freq)| amp * (PI * freq * arg).sin()).sum::<f64>() * (2.0 / 3.0)
    }

    fn north_m(x: f64, y: f64) -> f64 {
        let poly = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * x.abs().sqrt();
        poly + harmonics(&[
            (20.0, x, 6.0),
            (20.0, x, 2.0),
            (20.0, y, 1.0),
            (40.0, y, 1.0 / 3.0),
            (160.0, y, 1.0 / 12.0),
            (320.0, y, 1.0 / 30.0),
        ])
    }

    fn east_m(x: f64, y: f64) -> f64 {
        let poly = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * x.abs().sqrt();
        poly + harmonics(&[
            (20.0, x, 6.0),
            (20.0, x, 2.0),
            (20.0, x, 1.0),
            (40.0, x, 1.0 / 3.0),
            (150.0, x, 1.0 / 12.0),
            (300.0, x, 1.0 / 30.0),
        ])
    }

    pub fn wgs_to_gcj(lon: f64, lat: f64) -> (f64, f64) {
        let (x, y) = (lon - 105.0, lat - 35.0);
        let phi = lat.to_radians();
        let w = 1.0 - E2 * phi.sin().powi(2);
        let m = A * (1.0 - E2) / w.powf(1.5);
        let n = A / w.sqrt();
        let d_lat = (north_m(x, y) / m).to_degrees();
        let d_lon = (east_m(x, y) / (n * phi.cos())).to_degrees();
        (lon + d_lon, lat + d_lat)
    }
}

#[test]
fn lu_an_offset_is_about_half_a_kilometre_south_east() {
    let wgs = (116.5, 31.75);
    let gcj = wgs84_to_gcj02(wgs.0, wgs.1);
    let (east_m, north_m) = east_north_m(wgs, gcj);
    let total_m = east_m.hypot(north_m);
    println!(
        "Lu'an (116.5E, 31.75N): GCJ-02 = ({:.9}, {:.9}); GCJ-02 minus WGS84 = {east_m:.1} m east, \
         {north_m:.1} m north, {total_m:.1} m total",
        gcj.0, gcj.1
    );
    assert!((400.0..=700.0).contains(&total_m), "offset {total_m} m");
    // GCJ-02 coordinates lie east and south of the true position.
    assert!(east_m > 0.0 && north_m < 0.0);
    assert!((east_m - 487.0).abs() < 15.0, "east {east_m}");
    assert!((north_m + 223.0).abs() < 15.0, "north {north_m}");

    let bd = wgs84_to_bd09(wgs.0, wgs.1);
    let (bd_east_m, bd_north_m) = east_north_m(wgs, bd);
    println!(
        "Lu'an: BD-09 minus WGS84 = {bd_east_m:.1} m east, {bd_north_m:.1} m north, {:.1} m total",
        bd_east_m.hypot(bd_north_m)
    );
}

#[test]
fn published_vectors_at_beijing() {
    // The example printed with the widely used `coordtransform` library, input (116.404, 39.915).
    let (lon, lat) = wgs84_to_gcj02(116.404, 39.915);
    assert!((lon - 116.41024449916938).abs() < 1e-12, "{lon}");
    assert!((lat - 39.91640428150164).abs() < 1e-12, "{lat}");
    let (lon, lat) = gcj02_to_bd09(116.404, 39.915);
    assert!((lon - 116.41036949371029).abs() < 1e-12, "{lon}");
    assert!((lat - 39.92133699351021).abs() < 1e-12, "{lat}");

    // The library's inverses are one-step approximations; ours are exact, so they differ a
    // little from its printout (here centimetres; up to ~0.2 m for BD-09 and ~5 m for GCJ-02
    // elsewhere in China, see the round-trip test).
    let bd_approx = (116.39762729119315, 39.90865673957631);
    let bd_exact = bd09_to_gcj02(116.404, 39.915);
    let bd_gap_m = dist_m(bd_approx, bd_exact);
    let gcj_approx = (116.39775550083061, 39.91359571849836);
    let gcj_exact = gcj02_to_wgs84(116.404, 39.915);
    let gcj_gap_m = dist_m(gcj_approx, gcj_exact);
    println!("Beijing: published one-step inverse vs iterated: BD-09 {bd_gap_m:.4} m, GCJ-02 {gcj_gap_m:.4} m");
    assert!(bd_gap_m > 0.001 && bd_gap_m < 0.3, "{bd_gap_m}");
    assert!(gcj_gap_m > 0.001 && gcj_gap_m < 10.0, "{gcj_gap_m}");
    // And ours really are inverses.
    let back = gcj02_to_bd09(bd_exact.0, bd_exact.1);
    assert!((back.0 - 116.404).abs() < 1e-12 && (back.1 - 39.915).abs() < 1e-12);
    let back = wgs84_to_gcj02(gcj_exact.0, gcj_exact.1);
    assert!((back.0 - 116.404).abs() < 1e-12 && (back.1 - 39.915).abs() < 1e-12);
}

#[test]
fn forward_matches_independent_derivation() {
    let mut max_diff = 0.0_f64;
    for (lon, lat) in china_sample() {
        let ours = wgs84_to_gcj02(lon, lat);
        let theirs = reference::wgs_to_gcj(lon, lat);
        max_diff = max_diff.max((ours.0 - theirs.0).abs().max((ours.1 - theirs.1).abs()));
    }
    println!("forward GCJ-02 vs independent derivation: max |diff| = {max_diff:e} deg");
    assert!(max_diff < 1e-12, "{max_diff}");
    // The Lu'an value specifically.
    let ours = wgs84_to_gcj02(116.5, 31.75);
    let theirs = reference::wgs_to_gcj(116.5, 31.75);
    assert!((ours.0 - theirs.0).abs() < 1e-12 && (ours.1 - theirs.1).abs() < 1e-12);
}

/// The published one-step BD-09 inverse, for comparison only.
fn bd09_to_gcj02_one_step(lon: f64, lat: f64) -> (f64, f64) {
    let x_pi = std::f64::consts::PI * 3000.0 / 180.0;
    let (x, y) = (lon - 0.0065, lat - 0.006);
    let z = (x * x + y * y).sqrt() - 0.00002 * (y * x_pi).sin();
    let theta = y.atan2(x) - 0.000003 * (x * x_pi).cos();
    (z * theta.cos(), z * theta.sin())
}

#[test]
fn round_trips_inside_china_within_a_centimetre() {
    let pts = china_sample();
    let mut max_gcj_m = 0.0_f64;
    let mut max_gcj_deg = 0.0_f64;
    let mut max_bd_wgs_m = 0.0_f64;
    let mut max_bd_gcj_m = 0.0_f64;
    let mut max_one_step_gcj_m = 0.0_f64;
    let mut max_one_step_bd_m = 0.0_f64;
    for &p in &pts {
        let g = wgs84_to_gcj02(p.0, p.1);
        let back = gcj02_to_wgs84(g.0, g.1);
        max_gcj_m = max_gcj_m.max(dist_m(p, back));
        max_gcj_deg = max_gcj_deg.max((back.0 - p.0).abs().max((back.1 - p.1).abs()));

        let b = wgs84_to_bd09(p.0, p.1);
        max_bd_wgs_m = max_bd_wgs_m.max(dist_m(p, bd09_to_wgs84(b.0, b.1)));

        // p read as a GCJ-02 point, through BD-09 and back.
        let b = gcj02_to_bd09(p.0, p.1);
        max_bd_gcj_m = max_bd_gcj_m.max(dist_m(p, bd09_to_gcj02(b.0, b.1)));

        // The one-step inverses that the iterations replace.
        let f = wgs84_to_gcj02(g.0, g.1);
        let one_step = (2.0 * g.0 - f.0, 2.0 * g.1 - f.1);
        max_one_step_gcj_m = max_one_step_gcj_m.max(dist_m(p, one_step));
        max_one_step_bd_m = max_one_step_bd_m.max(dist_m(p, bd09_to_gcj02_one_step(b.0, b.1)));
    }
    println!(
        "round trips over {} points: WGS84->GCJ-02->WGS84 max {max_gcj_m:e} m ({max_gcj_deg:e} deg), \
         WGS84->BD-09->WGS84 max {max_bd_wgs_m:e} m, GCJ-02->BD-09->GCJ-02 max {max_bd_gcj_m:e} m; \
         one-step inverses for comparison: GCJ-02 max {max_one_step_gcj_m:.3} m, \
         BD-09 max {max_one_step_bd_m:.3} m",
        pts.len()
    );
    assert!(max_gcj_m < 0.01, "{max_gcj_m}");
    assert!(max_gcj_deg < 1e-9, "{max_gcj_deg}");
    assert!(max_bd_wgs_m < 0.01, "{max_bd_wgs_m}");
    assert!(max_bd_gcj_m < 0.01, "{max_bd_gcj_m}");
    // The iteration matters: the one-step versions miss the centimetre target.
    assert!(max_one_step_gcj_m > 0.01 && max_one_step_bd_m > 0.01);
}

/// Identity means the very same bits come back, so this is the stated tolerance (zero).
fn bit_identical(a: (f64, f64), b: (f64, f64)) -> bool {
    a.0.to_bits() == b.0.to_bits() && a.1.to_bits() == b.1.to_bits()
}

#[test]
fn outside_china_is_identity() {
    let foreign = [
        (2.35, 48.86),   // Paris
        (-74.0, 40.7),   // New York
        (139.69, 35.69), // Tokyo, east of the box
        (100.5, -0.95),  // Padang, south of the box
        (37.6, 55.75),   // Moscow, west of the box
        (116.5, 60.0),   // north of the box
        (71.99, 39.0),   // just west of the box
        (0.0, 0.0),
    ];
    for &(lon, lat) in &foreign {
        assert!(outside_china(lon, lat), "({lon}, {lat})");
        assert!(bit_identical(wgs84_to_gcj02(lon, lat), (lon, lat)));
        assert!(bit_identical(gcj02_to_wgs84(lon, lat), (lon, lat)));
        // BD-09 is the Baidu shift alone there, and still round-trips.
        let b = wgs84_to_bd09(lon, lat);
        assert!(bit_identical(b, gcj02_to_bd09(lon, lat)));
        let back = bd09_to_wgs84(b.0, b.1);
        assert!((back.0 - lon).abs() < 1e-9 && (back.1 - lat).abs() < 1e-9, "{back:?}");
    }
    for &(lon, lat) in &[(116.5, 31.75), (72.01, 1.0), (137.83, 55.82), (121.47, 31.23)] {
        assert!(!outside_china(lon, lat), "({lon}, {lat})");
    }
}

type Conversion = fn(f64, f64) -> (f64, f64);

#[test]
fn non_finite_and_absurd_inputs_terminate() {
    let started = Instant::now();
    let specials = [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, 1e300, -1e300, f64::MAX, 116.5, 31.75];
    let fns: [Conversion; 6] =
        [wgs84_to_gcj02, gcj02_to_wgs84, gcj02_to_bd09, bd09_to_gcj02, wgs84_to_bd09, bd09_to_wgs84];
    for &lon in &specials {
        for &lat in &specials {
            let _ = outside_china(lon, lat);
            for f in fns {
                let (x, y) = f(lon, lat);
                if !(lon.is_finite() && lat.is_finite()) {
                    // Non-finite in: unchanged out (NaN stays NaN).
                    assert!(x.to_bits() == lon.to_bits() || (x.is_nan() && lon.is_nan()));
                    assert!(y.to_bits() == lat.to_bits() || (y.is_nan() && lat.is_nan()));
                }
            }
        }
    }
    assert!(outside_china(f64::NAN, f64::NAN));
    assert!(started.elapsed() < Duration::from_secs(5));
}
