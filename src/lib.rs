//! planaudit: audit a city's land-use and road layers against the spatial targets of its plan.
//!
//! Data flows through five stages; see ARCHITECTURE.md for the full code map.
//! - [`ingest`]: the only GDAL code: read any OGR layer into plain `geo` geometries and attributes.
//! - [`normalise`]: the only CRS code (PROJ, GCJ-02/BD-09), measurement, and lookup tables (road
//!   grades, kinds of area, facility types, living-circle tiers).
//! - [`index`]: R-trees over the normalised features; the walking network (graph, snapping,
//!   multi-source Dijkstra).
//! - [`indicators`]: the plan indicators (road density, 15-minute living circle, ...).
//! - [`output`]: RFC 7946 GeoJSON, summaries, atomic writes.
//!
//! Around them: [`model`] (domain types after normalisation), [`units`] (compensated sums),
//! [`error`], and the command line: [`cli`] (clap definitions) and [`cmd`] (one file per subcommand).

pub mod cli;
pub mod cmd;
pub mod error;
pub mod index;
pub mod indicators;
pub mod ingest;
pub mod model;
pub mod normalise;
pub mod output;
pub mod units;

pub use error::{Error, Result};
