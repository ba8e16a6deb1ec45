//! Normalisation: coordinate reference systems (PROJ and the Chinese offset systems),
//! measurement and lookup tables.

pub mod crs;
