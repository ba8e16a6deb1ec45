//! The corpus of bad inputs: every case with its exit code (1 data, 2 usage) and the words its
//! message must contain, or with the repairs and skips it must be counted under; run against
//! every command that reads a layer of its role (road-density, park-mix, living-circle, audit).
//! No run may panic, and a failed run leaves no output file. Inputs are generated here; shared
//! data is copied only into temporary folders.

pub mod world;

// broken files: truncated or corrupt GeoPackage, GeoJSON and .osm.pbf; Shapefiles missing parts; encodings
mod files;
// degenerate geometries: self-intersecting, unclosed, zero-area, spikes, holes outside, one-point lines, NaN
mod geometry;
// coordinate systems: latitude first, projected data labelled WGS84, GCJ-02 mixed with CGCS2000
mod crs;
// attribute values: unknown facility types and classes, empty strings, numbers where text was expected
mod fields;
// city files: unknown keys, wrong types, missing paths, outputs that would overwrite an input
mod config;
