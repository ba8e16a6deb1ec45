//! Spatial indexes over normalised features, and the walking network.
//!
//! - [`rtree`]: a bulk-loaded R-tree of bounding boxes.
//! - [`packed`]: a static R-tree packed along a Hilbert curve, for nearest-item queries.
//! - [`hilbert`]: order along a Hilbert curve.
//! - [`graph`]: the walking network (noding, CSR adjacency, components).
//! - [`snap`]: attaching points to the network (nearest edge or node).
//! - [`routing`]: multi-source, distance-bounded Dijkstra.
//! - [`radix_heap`]: the monotone priority queue of that Dijkstra.

pub mod graph;
pub mod grid;
pub mod hilbert;
pub mod packed;
pub mod radix_heap;
pub mod routing;
pub mod rtree;
pub mod snap;
