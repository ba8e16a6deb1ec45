//! Coordinate reference systems.

pub mod offsets;
