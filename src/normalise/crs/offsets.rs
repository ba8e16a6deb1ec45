//! Placeholder replaced by the GCJ-02/BD-09 implementation.
pub fn gcj02_to_wgs84(lon: f64, lat: f64) -> (f64, f64) { (lon, lat) }
pub fn bd09_to_wgs84(lon: f64, lat: f64) -> (f64, f64) { (lon, lat) }
