//! One integration binary: every test runs the real `planaudit` executable on real files.

mod common;

// road-density on hand-made layers, the demo city and Liechtenstein, cross-checked with SpatiaLite
mod road_density;
// bad inputs: each with its exit code and the words its message must contain
mod bad_input;
// living-circle on a hand-made town, and on OSM extracts against networkx
mod living_circle;
