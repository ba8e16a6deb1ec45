//! planaudit: audit a city's land-use and road layers against the spatial targets of its plan.
//!
//! Data flows through five stages; see ARCHITECTURE.md for the full code map.
//! - [`ingest`]: the only GDAL code: read any OGR layer into plain `geo` geometries and attributes.
//! - [`normalise`]: the only CRS code (PROJ, GCJ-02/BD-09), measurement, and lookup tables.
//! - [`index`]: R-trees over the normalised features.
//! - [`indicators`]: the plan indicators (road density, ...).
//! - [`output`]: RFC 7946 GeoJSON, summaries, atomic writes.
//!
//! [`demo_city`] generates a small synthetic city (layers as a planning bureau keeps them) for
//! demonstrations and tests.

pub mod demo_city;
pub mod error;
pub mod ingest;
pub mod units;

pub use error::{Error, Result};
