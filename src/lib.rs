//! planaudit: audit a city's land-use and road layers against the spatial targets of its plan.
//!
//! Data flows through five stages; see ARCHITECTURE.md for the full code map.
//! - [`ingest`]: the only GDAL code: read any OGR layer into plain `geo` geometries and attributes.
//! - [`normalise`]: the only CRS code (PROJ, GCJ-02/BD-09), measurement, and lookup tables (road
//!   grades, kinds of area, land-use classes, facility types, living-circle tiers).
//! - [`index`]: R-trees over the normalised features; the walking network (graph, snapping,
//!   multi-source Dijkstra).
//! - [`indicators`]: the plan indicators (road density, residential and service land in industrial
//!   parks, 15-minute living circle).
//! - [`output`]: RFC 7946 GeoJSON, summaries, map styles, the HTML report, atomic writes.
//!
//! Around them: [`model`] (domain types after normalisation), [`units`] (compensated sums),
//! [`demo_city`] (the built-in demo city generator), [`error`], and the command line: [`cli`] (clap definitions) and [`cmd`] (one file per subcommand).

pub mod cli;
pub mod cmd;
pub mod config;
pub mod demo_city;
pub mod error;
pub mod index;
pub mod indicators;
pub mod ingest;
pub mod model;
pub mod normalise;
pub mod output;
pub mod timing;
pub mod units;

#[cfg(test)]
mod testing;

pub use error::{Error, Result};
