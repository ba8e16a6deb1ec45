//! Spatial indexes over normalised features.

pub mod rtree;
