//! Attaching points (homes, facilities) to the walking network.
//!
//! - [`SnapMode::Edge`] (default): the nearest point on the nearest edge. The walk then starts with the
//!   snap leg (point → edge) and goes along the edge to either end node.
//! - [`SnapMode::Node`]: the nearest graph node, with no leg added to distances, as OSMnx
//!   (`nearest_nodes`) and pandana (`get_node_ids`) do. Results then equal theirs on the same graph.
//!
//! Both use a packed R-tree ([`super::packed`]) of edge segments or nodes, queried once per point;
//! node snapping asks a grid of the nodes ([`super::grid`]) first, which answers a point among
//! the nodes from a few cells, and the tree only for the points it is not sure of (far from any
//! node, outside the network's box): the same node either way. A point farther than the snap
//! limit is not snapped; the caller counts it as unreachable.
//!
//! # Units
//! Distances are taken in the frame and turned into metres with the scale of the edge concerned
//! ([`Edge::scale`](super::graph::Edge::scale)): exact for planar measurement, and within about
//! 1e-6 of the geodesic for ellipsoidal measurement over the few hundred metres of a snap.

use geo::Coord;
use rayon::prelude::*;

use super::graph::Graph;
use super::grid::PointGrid;
use super::packed::{Bbox, PackedRTree};

/// How points attach to the network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SnapMode {
    #[default]
    Edge,
    Node,
}

/// Where a point is attached.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Anchor {
    /// On an edge, `along_m` metres from its `from` node.
    Edge { edge: u32, along_m: f64 },
    /// At a node.
    Node(u32),
}

/// A snapped point.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Snap {
    pub anchor: Anchor,
    /// Metres from the point to where it is attached.
    pub snap_m: f64,
}

impl Snap {
    /// The metres the snap adds to every walk from or to this point: the leg for edge snapping,
    /// nothing for node snapping.
    pub fn leg_m(&self) -> f64 {
        match self.anchor {
            Anchor::Edge { .. } => self.snap_m,
            Anchor::Node(_) => 0.0,
        }
    }

    /// The component the point is attached to.
    pub fn component(&self, graph: &Graph) -> u32 {
        match self.anchor {
            Anchor::Edge { edge, .. } => graph.component_of(graph.edge(edge).from),
            Anchor::Node(n) => graph.component_of(n),
        }
    }
}

/// A segment of an edge, as an item of the segment tree.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SegmentRef {
    pub edge: u32,
    /// Frame distance from the edge's `from` node to the segment's start.
    pub start_planar_m: f64,
    /// Its ends, in the edge's direction (kept here: a query reads them for every segment it
    /// meets).
    pub from: Coord<f64>,
    pub to: Coord<f64>,
}

/// The point of segment `a`–`b` nearest `p`, and where it lies as the fraction of the way from
/// `a` to `b`: `b` itself at 1 (as `a` at 0), so that a point nearest a vertex two segments
/// share is as far from either.
/// The point is kept within the segment's box, which rounding could leave by an ulp: the box's
/// distance then never exceeds the segment's, as the tree's search needs.
fn nearest_on(p: Coord<f64>, a: Coord<f64>, b: Coord<f64>) -> (Coord<f64>, f64) {
    let d = b - a;
    let len_sq = d.x * d.x + d.y * d.y;
    let t = if len_sq > 0.0 { (((p.x - a.x) * d.x + (p.y - a.y) * d.y) / len_sq).clamp(0.0, 1.0) } else { 0.0 };
    if t >= 1.0 {
        return (b, t);
    }
    let on = a + d * t;
    (Coord { x: on.x.clamp(a.x.min(b.x), a.x.max(b.x)), y: on.y.clamp(a.y.min(b.y), a.y.max(b.y)) }, t)
}

fn dist2(a: Coord<f64>, b: Coord<f64>) -> f64 {
    let d = a - b;
    d.x * d.x + d.y * d.y
}

enum Tree {
    Segments {
        tree: PackedRTree,
        segments: Vec<SegmentRef>,
    },
    /// The nodes in a grid, for the points near them, and in a tree, for the others.
    Nodes {
        tree: PackedRTree,
        grid: Option<PointGrid>,
    },
}

/// Rings of grid cells a node snap reads before it asks the tree.
const GRID_RINGS: usize = 2;

/// A tree over the network for one snap mode.
pub struct Snapper {
    tree: Tree,
}

/// Why a point was not snapped.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Unsnapped {
    /// The nearest edge or node is this many metres away, beyond the limit.
    TooFar { nearest_m: f64 },
    /// The network is empty.
    NoNetwork,
}

impl Snapper {
    /// Builds the tree for `mode`.
    pub fn new(graph: &Graph, mode: SnapMode) -> Snapper {
        let tree = match mode {
            SnapMode::Edge => {
                let segments: Vec<SegmentRef> = (0..graph.edge_count() as u32)
                    .into_par_iter()
                    .flat_map_iter(|edge| {
                        let mut start_planar_m = 0.0;
                        graph.edge_coords(edge).windows(2).map(move |w| {
                            let s = SegmentRef { edge, start_planar_m, from: w[0], to: w[1] };
                            start_planar_m += (w[1].x - w[0].x).hypot(w[1].y - w[0].y);
                            s
                        })
                    })
                    .collect();
                let boxes: Vec<Bbox> = segments
                    .par_iter()
                    .map(|s| [s.from.x.min(s.to.x), s.from.y.min(s.to.y), s.from.x.max(s.to.x), s.from.y.max(s.to.y)])
                    .collect();
                Tree::Segments { tree: PackedRTree::new(&boxes), segments }
            }
            SnapMode::Node => {
                // The nodes are numbered along the Hilbert curve already.
                let boxes: Vec<Bbox> = graph.nodes().par_iter().map(|c| [c.x, c.y, c.x, c.y]).collect();
                Tree::Nodes { tree: PackedRTree::new_in_order(&boxes), grid: PointGrid::new(graph.nodes()) }
            }
        };
        Snapper { tree }
    }

    /// The mode this snapper serves.
    pub fn mode(&self) -> SnapMode {
        match self.tree {
            Tree::Segments { .. } => SnapMode::Edge,
            Tree::Nodes { .. } => SnapMode::Node,
        }
    }

    /// Snaps one frame point, within `max_snap_m` metres. Among edges or nodes at the same
    /// distance, the first segment (in edge order) or the lowest node.
    pub fn snap(&self, graph: &Graph, p: Coord<f64>, max_snap_m: f64) -> Result<Snap, Unsnapped> {
        if !(p.x.is_finite() && p.y.is_finite()) {
            return Err(Unsnapped::TooFar { nearest_m: f64::INFINITY });
        }
        let snap = match &self.tree {
            Tree::Segments { tree, segments } => {
                let near = |i: u32| {
                    let s = &segments[i as usize];
                    dist2(p, nearest_on(p, s.from, s.to).0)
                };
                let (i, _) = tree.nearest(p, near).ok_or(Unsnapped::NoNetwork)?;
                let s = &segments[i as usize];
                let (a, b) = (s.from, s.to);
                let (on, t) = nearest_on(p, a, b);
                let edge = graph.edge(s.edge);
                let scale = edge.scale();
                let d = b - a;
                let along_m =
                    ((s.start_planar_m + t * (d.x * d.x + d.y * d.y).sqrt()) * scale).clamp(0.0, edge.length_m);
                Snap { anchor: Anchor::Edge { edge: s.edge, along_m }, snap_m: (p.x - on.x).hypot(p.y - on.y) * scale }
            }
            Tree::Nodes { tree, grid } => {
                let to = |n: u32| dist2(p, graph.node(n));
                let near = grid.as_ref().and_then(|g| g.nearest(p, GRID_RINGS, to));
                let (node, _) = near.or_else(|| tree.nearest(p, to)).ok_or(Unsnapped::NoNetwork)?;
                let scale = graph.adjacent_edges(node).first().map(|&e| graph.edge(e).scale()).unwrap_or(1.0);
                let c = graph.node(node);
                Snap { anchor: Anchor::Node(node), snap_m: (p.x - c.x).hypot(p.y - c.y) * scale }
            }
        };
        if snap.snap_m > max_snap_m {
            return Err(Unsnapped::TooFar { nearest_m: snap.snap_m });
        }
        Ok(snap)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::graph::Noding;
    use crate::normalise::crs::{Frame, Method};
    use geo::LineString;

    use crate::testing::uniform as rng;

    /// Distance from p to segment ab, and the point on it.
    fn to_segment(p: Coord<f64>, a: Coord<f64>, b: Coord<f64>) -> (f64, Coord<f64>) {
        let d = b - a;
        let t = (((p - a).x * d.x + (p - a).y * d.y) / (d.x * d.x + d.y * d.y)).clamp(0.0, 1.0);
        let q = a + d * t;
        ((p - q).x.hypot((p - q).y), q)
    }

    /// Seeded random polylines and points: the R-tree answer equals a brute-force scan of every
    /// segment of every edge, in distance and in the position along the edge.
    #[test]
    fn edge_snap_matches_brute_force() {
        let frame = Frame::new("EPSG:4527", Method::Planar).unwrap();
        let mut next = rng(0x2545f4914f6cdd1d);
        let (x0, y0) = (39_480_000.0, 3_515_000.0);
        let lines: Vec<LineString<f64>> = (0..300)
            .map(|_| {
                let mut c = Coord { x: x0 + next() * 2000.0, y: y0 + next() * 2000.0 };
                let mut v = vec![c];
                for _ in 0..(1 + (next() * 4.0) as usize) {
                    c = Coord { x: c.x + (next() - 0.5) * 200.0, y: c.y + (next() - 0.5) * 200.0 };
                    v.push(c);
                }
                LineString(v)
            })
            .collect();
        let g = Graph::build(&lines, Noding::Planar, &frame).unwrap();
        let snapper = Snapper::new(&g, SnapMode::Edge);
        for _ in 0..400 {
            let p = Coord { x: x0 - 300.0 + next() * 2600.0, y: y0 - 300.0 + next() * 2600.0 };
            let mut best = (f64::INFINITY, 0u32, 0.0);
            for e in 0..g.edge_count() as u32 {
                let mut along = 0.0;
                for w in g.edge_coords(e).windows(2) {
                    let (d, q) = to_segment(p, w[0], w[1]);
                    if d < best.0 {
                        best = (d, e, along + (q - w[0]).x.hypot((q - w[0]).y));
                    }
                    along += (w[1] - w[0]).x.hypot((w[1] - w[0]).y);
                }
            }
            let s = snapper.snap(&g, p, 1e9).unwrap();
            assert!((s.snap_m - best.0).abs() < 1e-6, "snap {} brute {}", s.snap_m, best.0);
            let Anchor::Edge { edge, along_m } = s.anchor else { panic!("edge mode") };
            if edge == best.1 {
                assert!((along_m - best.2).abs() < 1e-6, "along {along_m} brute {}", best.2);
            }
        }
        // Beyond the limit: not snapped, with the distance.
        let far = Coord { x: x0 - 5000.0, y: y0 };
        assert!(matches!(snapper.snap(&g, far, 500.0), Err(Unsnapped::TooFar { nearest_m }) if nearest_m > 2000.0));
        // On a node, every edge that ends there is at distance 0: the first edge is taken.
        let mut ties = 0;
        for n in 0..g.node_count() as u32 {
            let Some(&first) = g.adjacent_edges(n).iter().min() else { continue };
            ties += usize::from(g.adjacent_edges(n).len() > 1);
            let s = snapper.snap(&g, g.node(n), 1.0).unwrap();
            let Anchor::Edge { edge, .. } = s.anchor else { panic!("edge mode") };
            assert_eq!(edge, first, "node {n}");
            assert_eq!(s.snap_m, 0.0);
        }
        assert!(ties > 50, "nodes where edges meet: {ties}");
        // A point that is not a number is beyond any limit.
        let nan = Coord { x: f64::NAN, y: y0 };
        assert!(
            matches!(snapper.snap(&g, nan, 500.0), Err(Unsnapped::TooFar { nearest_m }) if nearest_m.is_infinite())
        );
    }

    #[test]
    fn node_snap_matches_brute_force() {
        let frame = Frame::new("EPSG:4527", Method::Planar).unwrap();
        let mut next = rng(0x9e3779b97f4a7c15);
        let (x0, y0) = (39_480_000.0, 3_515_000.0);
        let lines: Vec<LineString<f64>> = (0..200)
            .map(|_| {
                let a = Coord { x: x0 + next() * 1000.0, y: y0 + next() * 1000.0 };
                LineString(vec![a, Coord { x: a.x + next() * 100.0, y: a.y + next() * 100.0 }])
            })
            .collect();
        let g = Graph::build(&lines, Noding::Vertices, &frame).unwrap();
        let snapper = Snapper::new(&g, SnapMode::Node);
        for _ in 0..300 {
            let p = Coord { x: x0 + next() * 1000.0, y: y0 + next() * 1000.0 };
            let brute = (0..g.node_count() as u32)
                .map(|n| (p - g.node(n)).x.hypot((p - g.node(n)).y))
                .fold(f64::INFINITY, f64::min);
            let s = snapper.snap(&g, p, 1e9).unwrap();
            assert!((s.snap_m - brute).abs() < 1e-9);
            assert_eq!(s.leg_m(), 0.0);
        }
    }
}
