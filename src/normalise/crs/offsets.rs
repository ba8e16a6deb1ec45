//! The offset coordinate systems of Chinese consumer maps: GCJ-02 and BD-09.
//!
//! **GCJ-02** (国测局坐标, "Mars coordinates") is the obfuscated datum that Chinese regulation
//! requires of public online maps: AutoNavi/高德, Tencent and the Chinese editions of foreign map
//! services publish coordinates in it, and POIs, tracks and "geocoded" addresses scraped from them
//! are in it. It is WGS84 pushed through a non-linear, location-dependent shift of a few hundred
//! metres. **BD-09** (百度坐标) is Baidu's further shift of GCJ-02 (roughly +0.0065° lon,
//! +0.006° lat, plus a small wobble); Baidu map data and Baidu geocoding results are in BD-09.
//! Neither system is in the EPSG registry and PROJ knows neither, which is why they live here as
//! plain arithmetic.
//!
//! # Size of the shift
//!
//! At Lu'an (116.5°E, 31.75°N) the formula below moves a WGS84 point about **535 m**: the GCJ-02
//! coordinates of a place lie about 487 m **east** and 223 m **south** of its true (WGS84 ≈
//! CGCS2000) position; equivalently, drawing GCJ-02 data on a CGCS2000 base map shows every
//! feature ~0.5 km south-east of where it is. Baidu's BD-09 adds another ~0.65 km, so BD-09
//! coordinates at Lu'an lie about 1.1 km east and 0.47 km north of the true position. The GCJ-02
//! shift varies slowly (typically a few metres per km; the `sqrt(|lon − 105°|)` term makes it
//! steeper close to 105°E), so lengths and areas measured *within* one GCJ-02 dataset are nearly right, but overlaying
//! GCJ-02/BD-09 points on surveyed polygons without converting misplaces them by far more than a
//! typical 300 m service radius.
//!
//! # Source and status of the algorithm
//!
//! The official GCJ-02 algorithm is a state secret and is not published. This module implements
//! the widely circulated **reverse-engineered GCJ-02 algorithm** (the one found in essentially
//! every open-source "eviltransform"/"coordtransform" style library, said to derive from a leaked
//! snippet; provenance unverified): a Krasovsky 1940 ellipsoid (`a = 6378245.0`,
//! `e² = 0.00669342162296594323`), two trigonometric series `transform_lat`/`transform_lon` in
//! `(lon − 105°, lat − 35°)` with 20·sin(6πx)-type terms giving the shift in metres, converted to
//! degrees with the ellipsoid's meridian and prime-vertical radii. The BD-09 step is the equally
//! widely circulated **Baidu shift** (`x_pi = π·3000/180`, a polar-coordinate wobble of
//! 2·10⁻⁵·sin(y·x_pi) in radius and 3·10⁻⁶·cos(x·x_pi) in angle, then +0.0065° lon, +0.006° lat).
//! Both are **unofficial**: they are commonly reported to match the online services to about a
//! metre (not verified here), nobody outside the issuing bodies can certify them, and the official
//! implementation is reported (unverified) to add small noise that no public formula reproduces.
//! The forward formulae here are checked against the example values printed with the
//! `coordtransform` library and against a separately written derivation in the tests.
//!
//! # Preconditions
//!
//! - Longitude first, latitude second, both in decimal degrees.
//! - "WGS84" here means any modern geocentric datum; CGCS2000 and WGS84 differ by cm–dm, far
//!   below the accuracy of the offset formula, so CGCS2000 geographic coordinates (EPSG:4490)
//!   can be passed as WGS84.
//!
//! # Limitations
//!
//! - The GCJ-02 shift is applied only inside the published rough bounding box of China
//!   ([`outside_china`]); outside it the conversion is the identity. The box is crude: it
//!   includes neighbouring countries (Mongolia, the Korean peninsula, western Japan, much of
//!   South-East Asia) and the sea, and its edges are discontinuities (a point within one shift,
//!   i.e. a few hundred metres, of an edge may not round-trip). All mainland cities are far from
//!   the edges.
//! - The BD-09 shift has no such box in the published formula and is applied everywhere, so
//!   [`wgs84_to_bd09`] outside the box is the Baidu shift alone. Coordinates that are not
//!   in China should not be labelled BD-09 in the first place.
//! - [`gcj02_to_wgs84`] and [`bd09_to_gcj02`] have no closed form; they are fixed-point
//!   iterations on the forward formulae, converged to a step below 10⁻¹⁰° (≈ 0.01 mm) within at
//!   most 30 iterations. The popular one-step inverses are off by up to ~5 m (GCJ-02,
//!   `2·gcj − forward(gcj)`) and ~0.2 m (BD-09) and are used only as starting points.
//! - Non-finite inputs (NaN, ±∞) are returned unchanged; absurd finite inputs (e.g. 1e300)
//!   return finite or NaN garbage without panicking and in bounded time.

use std::f64::consts::PI;

/// Semi-major axis of the Krasovsky 1940 ellipsoid used by the GCJ-02 formula, metres.
const KRASOVSKY_A: f64 = 6_378_245.0;
/// First eccentricity squared of the Krasovsky 1940 ellipsoid, as published with the formula.
#[allow(clippy::excessive_precision)]
const KRASOVSKY_EE: f64 = 0.006_693_421_622_965_943_23;
/// Baidu's angular constant, π·3000/180.
const X_PI: f64 = PI * 3000.0 / 180.0;
/// Baidu's constant shift, degrees of longitude.
const BD_SHIFT_LON: f64 = 0.0065;
/// Baidu's constant shift, degrees of latitude.
const BD_SHIFT_LAT: f64 = 0.006;

/// The iterative inverses stop once a correction step is below this many degrees (≈ 0.01 mm).
const INVERSE_TOLERANCE_DEG: f64 = 1.0e-10;
/// Hard cap on the iterations of the inverses (they normally converge in 3–5).
const INVERSE_MAX_ITERATIONS: usize = 30;

/// The published rough bounding box of China used by the GCJ-02 formula.
const CHINA_LON_MIN: f64 = 72.004;
const CHINA_LON_MAX: f64 = 137.8347;
const CHINA_LAT_MIN: f64 = 0.8293;
const CHINA_LAT_MAX: f64 = 55.8271;

/// True when the point lies outside the rough box (lon 72.004–137.8347°E, lat 0.8293–55.8271°N)
/// inside which the GCJ-02 shift is applied. NaN coordinates count as outside.
///
/// ```
/// use planaudit::normalise::crs::offsets::outside_china;
/// assert!(!outside_china(116.5, 31.75)); // Lu'an
/// assert!(outside_china(2.35, 48.86)); // Paris
/// assert!(outside_china(f64::NAN, 31.75));
/// ```
pub fn outside_china(lon: f64, lat: f64) -> bool {
    // Written as "not inside" so that NaN compares as outside.
    !((CHINA_LON_MIN..=CHINA_LON_MAX).contains(&lon) && (CHINA_LAT_MIN..=CHINA_LAT_MAX).contains(&lat))
}

/// Northward component of the GCJ-02 shift, in metres (approximately), at
/// `x = lon − 105°`, `y = lat − 35°`.
fn transform_lat(x: f64, y: f64) -> f64 {
    let mut ret = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * x.abs().sqrt();
    ret += (20.0 * (6.0 * x * PI).sin() + 20.0 * (2.0 * x * PI).sin()) * 2.0 / 3.0;
    ret += (20.0 * (y * PI).sin() + 40.0 * (y / 3.0 * PI).sin()) * 2.0 / 3.0;
    ret += (160.0 * (y / 12.0 * PI).sin() + 320.0 * (y * PI / 30.0).sin()) * 2.0 / 3.0;
    ret
}

/// Eastward component of the GCJ-02 shift, in metres (approximately), at
/// `x = lon − 105°`, `y = lat − 35°`.
fn transform_lon(x: f64, y: f64) -> f64 {
    let mut ret = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * x.abs().sqrt();
    ret += (20.0 * (6.0 * x * PI).sin() + 20.0 * (2.0 * x * PI).sin()) * 2.0 / 3.0;
    ret += (20.0 * (x * PI).sin() + 40.0 * (x / 3.0 * PI).sin()) * 2.0 / 3.0;
    ret += (150.0 * (x / 12.0 * PI).sin() + 300.0 * (x / 30.0 * PI).sin()) * 2.0 / 3.0;
    ret
}

/// The GCJ-02 shift (Δlon, Δlat) in degrees at a WGS84 point, without the box test.
fn gcj02_delta(lon: f64, lat: f64) -> (f64, f64) {
    let d_lat_m = transform_lat(lon - 105.0, lat - 35.0);
    let d_lon_m = transform_lon(lon - 105.0, lat - 35.0);
    let rad_lat = lat / 180.0 * PI;
    let magic = 1.0 - KRASOVSKY_EE * rad_lat.sin() * rad_lat.sin();
    let sqrt_magic = magic.sqrt();
    // Meridian radius a(1−e²)/(1−e²sin²φ)^{3/2} and parallel radius N·cosφ.
    let d_lat = (d_lat_m * 180.0) / ((KRASOVSKY_A * (1.0 - KRASOVSKY_EE)) / (magic * sqrt_magic) * PI);
    let d_lon = (d_lon_m * 180.0) / (KRASOVSKY_A / sqrt_magic * rad_lat.cos() * PI);
    (d_lon, d_lat)
}

/// Converts WGS84 (≈ CGCS2000) to GCJ-02. Identity outside [`outside_china`]'s box and for
/// non-finite input.
///
/// ```
/// use planaudit::normalise::crs::offsets::wgs84_to_gcj02;
/// let (lon, lat) = wgs84_to_gcj02(116.404, 39.915);
/// assert!((lon - 116.41024449916938).abs() < 1e-11);
/// assert!((lat - 39.91640428150164).abs() < 1e-11);
/// ```
pub fn wgs84_to_gcj02(lon: f64, lat: f64) -> (f64, f64) {
    if outside_china(lon, lat) {
        return (lon, lat);
    }
    let (d_lon, d_lat) = gcj02_delta(lon, lat);
    (lon + d_lon, lat + d_lat)
}

/// Fixed-point inverse: finds `p` with `forward(p) == target`, starting from `start`, by
/// `p ← p − (forward(p) − target)` until the step is below [`INVERSE_TOLERANCE_DEG`] or
/// [`INVERSE_MAX_ITERATIONS`] steps were taken. Converges because both forward maps are the
/// identity plus a shift whose gradient is ~10⁻³.
fn invert(forward: impl Fn(f64, f64) -> (f64, f64), target: (f64, f64), start: (f64, f64)) -> (f64, f64) {
    let (mut lon, mut lat) = start;
    for _ in 0..INVERSE_MAX_ITERATIONS {
        let (f_lon, f_lat) = forward(lon, lat);
        let step_lon = f_lon - target.0;
        let step_lat = f_lat - target.1;
        lon -= step_lon;
        lat -= step_lat;
        // A NaN step fails this test and runs into the iteration cap, never forever.
        if step_lon.abs() < INVERSE_TOLERANCE_DEG && step_lat.abs() < INVERSE_TOLERANCE_DEG {
            break;
        }
    }
    (lon, lat)
}

/// Converts GCJ-02 to WGS84 (≈ CGCS2000) by iterating the forward formula (error < 10⁻⁹°,
/// i.e. far below 0.01 m, inside the box). Identity outside [`outside_china`]'s box and for
/// non-finite input.
///
/// ```
/// use planaudit::normalise::crs::offsets::{gcj02_to_wgs84, wgs84_to_gcj02};
/// let (glon, glat) = wgs84_to_gcj02(116.5, 31.75);
/// let (lon, lat) = gcj02_to_wgs84(glon, glat);
/// assert!((lon - 116.5).abs() < 1e-9 && (lat - 31.75).abs() < 1e-9);
/// ```
pub fn gcj02_to_wgs84(lon: f64, lat: f64) -> (f64, f64) {
    if outside_china(lon, lat) {
        return (lon, lat);
    }
    invert(wgs84_to_gcj02, (lon, lat), (lon, lat))
}

/// Converts GCJ-02 to BD-09 (the Baidu shift). Applied everywhere (the published formula has no
/// box); non-finite input is returned unchanged.
///
/// ```
/// use planaudit::normalise::crs::offsets::gcj02_to_bd09;
/// let (lon, lat) = gcj02_to_bd09(116.404, 39.915);
/// assert!((lon - 116.41036949371029).abs() < 1e-11);
/// assert!((lat - 39.92133699351021).abs() < 1e-11);
/// ```
pub fn gcj02_to_bd09(lon: f64, lat: f64) -> (f64, f64) {
    if !(lon.is_finite() && lat.is_finite()) {
        return (lon, lat);
    }
    let z = lon.hypot(lat) + 0.00002 * (lat * X_PI).sin();
    let theta = lat.atan2(lon) + 0.000003 * (lon * X_PI).cos();
    (z * theta.cos() + BD_SHIFT_LON, z * theta.sin() + BD_SHIFT_LAT)
}

/// Converts BD-09 to GCJ-02 as the exact inverse of [`gcj02_to_bd09`].
///
/// The published inverse evaluates the wobble at the shifted instead of the GCJ-02 point and is
/// therefore off by centimetres to about 0.2 m over China; it is used here only as the starting
/// point of the fixed-point iteration. Non-finite input is returned unchanged.
///
/// ```
/// use planaudit::normalise::crs::offsets::{bd09_to_gcj02, gcj02_to_bd09};
/// let (lon, lat) = bd09_to_gcj02(116.41036949371029, 39.92133699351021);
/// assert!((lon - 116.404).abs() < 1e-11 && (lat - 39.915).abs() < 1e-11);
/// let (b_lon, b_lat) = gcj02_to_bd09(lon, lat);
/// assert!((b_lon - 116.41036949371029).abs() < 1e-12);
/// assert!((b_lat - 39.92133699351021).abs() < 1e-12);
/// ```
pub fn bd09_to_gcj02(lon: f64, lat: f64) -> (f64, f64) {
    if !(lon.is_finite() && lat.is_finite()) {
        return (lon, lat);
    }
    let x = lon - BD_SHIFT_LON;
    let y = lat - BD_SHIFT_LAT;
    let z = x.hypot(y) - 0.00002 * (y * X_PI).sin();
    let theta = y.atan2(x) - 0.000003 * (x * X_PI).cos();
    let start = (z * theta.cos(), z * theta.sin());
    invert(gcj02_to_bd09, (lon, lat), start)
}

/// Converts WGS84 (≈ CGCS2000) to BD-09: [`wgs84_to_gcj02`] then [`gcj02_to_bd09`].
///
/// ```
/// use planaudit::normalise::crs::offsets::wgs84_to_bd09;
/// // Lu'an: Baidu coordinates lie about 1.1 km east-north-east of the true position.
/// let (lon, lat) = wgs84_to_bd09(116.5, 31.75);
/// assert!((lon - 116.5 - 0.0115).abs() < 0.001 && (lat - 31.75 - 0.0042).abs() < 0.001);
/// ```
pub fn wgs84_to_bd09(lon: f64, lat: f64) -> (f64, f64) {
    let (g_lon, g_lat) = wgs84_to_gcj02(lon, lat);
    gcj02_to_bd09(g_lon, g_lat)
}

/// Converts BD-09 to WGS84 (≈ CGCS2000): [`bd09_to_gcj02`] then [`gcj02_to_wgs84`].
///
/// ```
/// use planaudit::normalise::crs::offsets::{bd09_to_wgs84, wgs84_to_bd09};
/// let (b_lon, b_lat) = wgs84_to_bd09(116.5, 31.75);
/// let (lon, lat) = bd09_to_wgs84(b_lon, b_lat);
/// assert!((lon - 116.5).abs() < 1e-9 && (lat - 31.75).abs() < 1e-9);
/// ```
pub fn bd09_to_wgs84(lon: f64, lat: f64) -> (f64, f64) {
    let (g_lon, g_lat) = bd09_to_gcj02(lon, lat);
    gcj02_to_wgs84(g_lon, g_lat)
}

#[cfg(test)]
#[path = "offsets_tests.rs"]
mod tests;
