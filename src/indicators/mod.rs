//! The plan indicators. Each takes normalised features in the frame and returns per-feature rows
//! plus what the summary needs.

pub mod living_circle;
pub mod park_mix;
pub mod road_density;
