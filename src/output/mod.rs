//! Output: RFC 7946 GeoJSON, summaries, map styles, the HTML report, atomic file writes.

pub mod atomic;
pub mod geojson;
pub mod living_circle;
pub mod park_mix;
pub mod report;
pub mod road_density;
pub mod styles;
pub mod summary;

pub use crate::units::{round2, round6};
