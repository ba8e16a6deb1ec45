//! One integration binary: every test runs the real `planaudit` executable on real files.

mod common;

// the demo city generator: files, fields, CRS, GBK encoding, determinism, planar design
mod demo_city;

// `planaudit demo` end to end, against SpatiaLite
mod demo;

// city files: audit, check, init, config errors, exit codes
mod audit;

// many cities: parallel, one broken, up-to-date skipping
mod batch;

// road-density on hand-made layers, the demo city and Liechtenstein, cross-checked with SpatiaLite
mod road_density;
// bad inputs: each with its exit code and the words its message must contain
mod bad_input;
// the corpus of bad inputs, run against every command that reads each kind of layer
mod bad_inputs;
// identical bytes across runs and input order; runs killed at any moment leave old or new files
mod determinism;
// property tests: parsers, GCJ-02/BD-09 round trips, the GeoJSON writer, clipping and measurement
mod properties;
// no network: no network crate, URLs and web services refused; outputs stay where asked
mod security;
// park-mix on hand-made layers, derived parks, bad input, and Baltimore cross-checked with SpatiaLite
mod park_mix;
// living-circle on a hand-made town, and on OSM extracts against networkx
mod living_circle;

// map styles: MapLibre styles against the style-spec validator, QGIS styles as XML, fields in the outputs
mod styles;

// report.html from the demo audit, in headless Chromium
mod report;
