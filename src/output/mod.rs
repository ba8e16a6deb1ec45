//! Output: RFC 7946 GeoJSON, summaries, map styles, the HTML report, atomic file writes.

pub mod atomic;
pub mod geojson;
pub mod living_circle;
pub mod park_mix;
pub mod report;
pub mod road_density;
pub mod styles;
pub mod summary;

/// Rounds a reported number to 6 decimals (1 m in km, 1 m² in km², a millionth of a share), so
/// that outputs are stable and every file states the same figure.
pub fn round6(v: f64) -> f64 {
    if v.is_finite() {
        (v * 1e6).round() / 1e6
    } else {
        v
    }
}

/// Rounds a distance in metres to 2 decimals (1 cm), the precision of the data behind it.
pub fn round2(v: f64) -> f64 {
    if v.is_finite() {
        (v * 100.0).round() / 100.0
    } else {
        v
    }
}
