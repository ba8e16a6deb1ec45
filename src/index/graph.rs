//! The walking network as a compact graph: integer node ids, edges with their geometry and length in
//! metres, adjacency in compressed sparse row (CSR) arrays, and connected components.
//!
//! # Noding
//! - [`Noding::Vertices`] (default): lines are joined where they share a vertex. A node is every line
//!   end and every vertex used more than once (by two lines, or twice by one line). This is right for
//!   OpenStreetMap, where ways that meet share a node and a bridge does not meet the road under it.
//! - [`Noding::Planar`]: lines are also split where they cross or touch (T junctions, overlaps), for
//!   data drawn without shared vertices. A vertex within [`NODE_TOLERANCE_M`] of another line
//!   touches it (a T junction drawn by snapping an end onto a road lands a hair to either side).
//!   Crossing candidates come from an R-tree of segments, so the cost is O(S log S) for S segments
//!   plus the crossings found, never a comparison of every pair.
//!
//! Vertices closer than [`NODE_TOLERANCE_M`] are one node: coordinates are keyed on a 0.01 m grid
//! (rounded to the nearest grid point), so two vertices in one grid cell are the same vertex. Two
//! vertices a hair apart on either side of a cell boundary stay two vertices (a grid key cannot avoid
//! that); the tolerance is far below drawing precision, so such a pair is a drawing error either way.
//!
//! # Lengths
//! Every edge carries its length in metres measured by the frame ([`Frame::line_length_m`]: on the
//! ellipsoid, or planar with `--measure planar`) and its planar length in the frame.
//! Their ratio is the projection's scale along the edge; snapping uses it to turn frame distances
//! into metres ([`Edge::scale`]).
//!
//! # Components
//! Connected components are computed once and numbered by size (0 = the largest, by nodes, then by
//! length). Nothing is dropped: small pieces stay in the graph and are reported.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};

use geo::line_intersection::{line_intersection, LineIntersection};
use geo::{Coord, Line, LineString};
use rayon::prelude::*;

use super::hilbert::hilbert_order;
use rstar::primitives::{GeomWithData, Rectangle};
use rstar::{RTree, RTreeObject};

use crate::normalise::crs::Frame;
use crate::{Error, Result};

/// Vertices closer than this are one node (metres, in the frame).
pub const NODE_TOLERANCE_M: f64 = 0.01;

/// How lines become a network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Noding {
    /// Join lines at shared vertices only.
    #[default]
    Vertices,
    /// Also split lines where they cross or touch.
    Planar,
}

/// One edge: a piece of a line between two nodes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Edge {
    pub from: u32,
    pub to: u32,
    /// Length in metres, measured by the frame's method.
    pub length_m: f64,
    /// Length in the frame's plane (frame units, metres of the projection).
    pub planar_m: f64,
    /// Index of the input line the edge comes from.
    pub line: u32,
    first: u32,
    count: u32,
}

impl Edge {
    /// Metres per frame unit along this edge (1 for planar measurement; the projection's scale
    /// for ellipsoidal measurement, constant to about 1e-6 over an edge).
    pub fn scale(&self) -> f64 {
        if self.planar_m > 0.0 {
            self.length_m / self.planar_m
        } else {
            1.0
        }
    }
}

/// A neighbour in the adjacency arrays: the node across an edge, the edge, and the edge's length.
///
/// The length is a copy of [`Edge::length_m`] kept next to the neighbour so that a shortest-path
/// search reads a node's neighbours and their lengths from one contiguous run instead of jumping
/// into the edge array (in input-line order, unrelated to node order, 40 bytes an edge) once per
/// neighbour: on a province network that jump was a cache miss and a quarter of the search time.
/// An entry is 12 bytes, five to a cache line (the edge ids are kept apart, [`Graph::adjacent_edges`]).
#[derive(Debug, Clone, Copy, PartialEq)]
#[repr(C, packed(4))]
pub struct Adjacent {
    pub node: u32,
    /// Length of the edge in metres, the same value as `Edge::length_m`.
    pub length_m: f64,
}

/// The size of one connected component.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Component {
    pub nodes: u32,
    pub edges: u32,
    pub length_m: f64,
}

/// What building the graph did with its input.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct BuildStats {
    /// Input lines (parts of multi-lines count one each).
    pub lines: u64,
    /// Lines with fewer than two distinct vertices (after the 0.01 m key): no edge, counted here.
    pub degenerate_lines: u64,
    /// Points added where lines cross or touch (planar noding only).
    pub crossing_points: u64,
}

/// The walking network.
#[derive(Debug, Clone)]
pub struct Graph {
    nodes: Vec<Coord<f64>>,
    edges: Vec<Edge>,
    coords: Vec<Coord<f64>>,
    offsets: Vec<u32>,
    adjacent: Vec<Adjacent>,
    /// The edge of each entry of `adjacent`.
    adjacent_edge: Vec<u32>,
    node_component: Vec<u32>,
    components: Vec<Component>,
    pub stats: BuildStats,
}

type Key = (i64, i64);

fn key(c: Coord<f64>) -> Key {
    ((c.x / NODE_TOLERANCE_M).round() as i64, (c.y / NODE_TOLERANCE_M).round() as i64)
}

/// A line's clean vertices, with their keys: of consecutive vertices with one key, the first.
fn clean(line: &[Coord<f64>]) -> impl Iterator<Item = (Coord<f64>, Key)> + '_ {
    let mut last = None;
    line.iter().filter_map(move |&c| {
        let k = key(c);
        (last != Some(k)).then(|| {
            last = Some(k);
            (c, k)
        })
    })
}

/// Lines per task of the network's parallel passes: enough that a task's own bookkeeping is
/// nothing beside its work. The unit tests take a handful, so that the networks they build are cut
/// into blocks too (`blocks_build_what_one_pass_builds` in `graph_tests.rs` compares them with a
/// plain serial build).
const SPANS_PER_BLOCK: usize = if cfg!(test) { 7 } else { 4096 };

/// Sorted vertex keys per task of the network's node numbering; a handful in the unit tests, as
/// for [`SPANS_PER_BLOCK`].
const KEYS_PER_BLOCK: usize = if cfg!(test) { 5 } else { 16_384 };

/// `sorted` (vertices sorted by key) cut into blocks of about `n` (at least 1) vertices, each
/// beginning with the first vertex of its key: a key's vertices all lie in one block.
fn key_blocks(sorted: &[(u64, u32)], n: usize) -> Vec<&[(u64, u32)]> {
    let mut blocks = Vec::with_capacity(sorted.len() / n.max(1) + 1);
    let mut rest = sorted;
    while !rest.is_empty() {
        let mut end = n.max(1).min(rest.len());
        while end < rest.len() && rest[end].0 == rest[end - 1].0 {
            end += 1;
        }
        let (block, tail) = rest.split_at(end);
        blocks.push(block);
        rest = tail;
    }
    blocks
}

/// Where each of consecutive parts of the given lengths starts.
fn starts(lengths: &[usize]) -> Vec<usize> {
    lengths
        .iter()
        .scan(0, |start, &n| {
            let at = *start;
            *start += n;
            Some(at)
        })
        .collect()
}

/// `n` copies of `value`, written by every thread of the pool at once: the kernel gives the
/// vector's pages on their first touch, which is then shared too.
fn filled<T: Copy + Send + Sync>(n: usize, value: T) -> Vec<T> {
    let mut v = Vec::with_capacity(n);
    v.par_extend(rayon::iter::repeat_n(value, n));
    v
}

/// `v` cut into consecutive parts of the given lengths.
fn split_at_lengths<T>(mut v: &mut [T], lengths: impl IntoIterator<Item = usize>) -> Vec<&mut [T]> {
    let mut parts = Vec::new();
    for n in lengths {
        let (part, rest) = std::mem::take(&mut v).split_at_mut(n);
        parts.push(part);
        v = rest;
    }
    debug_assert!(v.is_empty());
    parts
}

impl Graph {
    /// Builds the graph of frame lines. Edge lengths are measured by `frame`.
    ///
    /// ```
    /// use geo::line_string;
    /// use planaudit::index::graph::{Graph, Noding};
    /// use planaudit::normalise::crs::{Frame, Method};
    /// let frame = Frame::new("EPSG:4527", Method::Planar).unwrap();
    /// let (x, y) = (39_480_000.0, 3_515_000.0);
    /// // Two lines crossing without a shared vertex.
    /// let lines = vec![
    ///     line_string![(x: x, y: y + 50.0), (x: x + 100.0, y: y + 50.0)],
    ///     line_string![(x: x + 50.0, y: y), (x: x + 50.0, y: y + 100.0)],
    /// ];
    /// let g = Graph::build(&lines, Noding::Vertices, &frame).unwrap();
    /// assert_eq!((g.node_count(), g.edge_count(), g.components().len()), (4, 2, 2));
    /// let g = Graph::build(&lines, Noding::Planar, &frame).unwrap();
    /// assert_eq!((g.node_count(), g.edge_count(), g.components().len()), (5, 4, 1));
    /// # assert!((g.edge(0).length_m - 50.0).abs() < 1e-9);
    /// ```
    pub fn build<L: Borrow<LineString<f64>>>(lines: &[L], noding: Noding, frame: &Frame) -> Result<Graph> {
        Self::build_levelled(lines, noding, &[], frame)
    }

    /// [`Graph::build`], each line at a level (`levels`, one a line, or none: all at one level):
    /// planar noding splits lines where they cross or touch only when both are at one level (a
    /// bridge crosses the street under it without meeting it); lines still meet where they share a
    /// vertex, whatever their levels.
    ///
    /// ```
    /// # use planaudit::index::graph::{Graph, Noding};
    /// # use planaudit::normalise::crs::{Frame, Method};
    /// # use geo::LineString;
    /// let frame = Frame::new("EPSG:4527", Method::Planar).unwrap();
    /// let street = LineString::from(vec![(39_500_000.0, 3_500_000.0), (39_500_100.0, 3_500_000.0)]);
    /// let bridge = LineString::from(vec![(39_500_050.0, 3_499_950.0), (39_500_050.0, 3_500_050.0)]);
    /// let lines = [street, bridge];
    /// let apart = Graph::build_levelled(&lines, Noding::Planar, &[0, 1], &frame).unwrap();
    /// assert_eq!((apart.node_count(), apart.stats.crossing_points), (4, 0));
    /// let met = Graph::build_levelled(&lines, Noding::Planar, &[0, 0], &frame).unwrap();
    /// assert_eq!((met.node_count(), met.stats.crossing_points), (5, 2));
    /// ```
    pub fn build_levelled<L: Borrow<LineString<f64>>>(
        lines: &[L],
        noding: Noding,
        levels: &[i32],
        frame: &Frame,
    ) -> Result<Graph> {
        let mut stats = BuildStats { lines: lines.len() as u64, ..Default::default() };
        let lines: Vec<&[Coord<f64>]> = lines.iter().map(|l| l.borrow().0.as_slice()).collect();
        let noded;
        let input: Vec<&[Coord<f64>]> = match noding {
            Noding::Vertices => lines,
            Noding::Planar => {
                let (n, added) = split_at_crossings(&lines, levels);
                stats.crossing_points = added;
                noded = n;
                noded.iter().map(Vec::as_slice).collect()
            }
        };

        // Clean lines: consecutive vertices with one key are one vertex. First each line's count
        // (in parallel), then where each clean line starts (in line order), then the vertices
        // themselves, a block of lines per task, each block into its own part of `pts`.
        let clean_counts: Vec<usize> = input.par_iter().map(|line| clean(line).count()).collect();
        let mut spans: Vec<(u32, usize, usize)> = Vec::with_capacity(input.len());
        let mut vertex_count = 0usize;
        for (i, &n) in clean_counts.iter().enumerate() {
            if n < 2 {
                stats.degenerate_lines += 1;
                continue;
            }
            spans.push((i as u32, vertex_count, vertex_count + n));
            vertex_count += n;
        }
        drop(clean_counts);
        let mut pts: Vec<Coord<f64>> = filled(vertex_count, Coord { x: 0.0, y: 0.0 });
        let span_blocks: Vec<&[(u32, usize, usize)]> = spans.chunks(SPANS_PER_BLOCK).collect();
        let (low, high) = split_at_lengths(&mut pts, span_blocks.iter().map(|b| b[b.len() - 1].2 - b[0].1))
            .into_par_iter()
            .zip(&span_blocks)
            .map(|(out, block)| {
                let (mut low, mut high) = ((i64::MAX, i64::MAX), (i64::MIN, i64::MIN));
                let mut at = 0;
                for &(line, _, _) in block.iter() {
                    for (c, k) in clean(input[line as usize]) {
                        out[at] = c;
                        at += 1;
                        low = (low.0.min(k.0), low.1.min(k.1));
                        high = (high.0.max(k.0), high.1.max(k.1));
                    }
                }
                (low, high)
            })
            .reduce(
                || ((i64::MAX, i64::MAX), (i64::MIN, i64::MIN)),
                |(l1, h1), (l2, h2)| ((l1.0.min(l2.0), l1.1.min(l2.1)), (h1.0.max(h2.0), h1.1.max(h2.1))),
            );

        // Nodes: line ends, and keys used more than once, first numbered in key order. Vertices sorted by
        // (key, index): plain values, so a parallel sort gives the same order on any number of
        // threads; the runs of equal keys, taken in order (a block of them per task, below), give
        // every vertex its node, if any. Keys are
        // packed into one u64, x above y, each from the lowest of its axis: the same order, half
        // the bytes to sort.
        if pts.len() >= u32::MAX as usize {
            return Err(Error::Usage(format!(
                "the walking network has {} vertices, more than this tool handles",
                pts.len()
            )));
        }
        let fits = |lo: i64, hi: i64| hi.checked_sub(lo).is_some_and(|d| d <= i64::from(u32::MAX));
        let spans_fit = fits(low.0, high.0) && fits(low.1, high.1);
        if !pts.is_empty() && !spans_fit {
            return Err(Error::Usage(format!(
                "the walking network spans more than {:.2} km in the frame (or has infinite coordinates), more than this tool handles",
                f64::from(u32::MAX) * NODE_TOLERANCE_M / 1000.0
            )));
        }
        let packed = |c: Coord<f64>| {
            let (x, y) = key(c);
            ((x - low.0) as u64) << 32 | (y - low.1) as u64
        };
        let mut is_end = vec![false; pts.len()];
        for &(_, s, e) in &spans {
            is_end[s] = true;
            is_end[e - 1] = true;
        }
        let mut by_key: Vec<(u64, u32)> = pts.par_iter().enumerate().map(|(i, &c)| (packed(c), i as u32)).collect();
        by_key.par_sort_unstable();
        const NO_NODE: u32 = u32::MAX;
        // Node coordinates: the first vertex met with the node's key. The sorted vertices are cut
        // into blocks that each begin with a key's first vertex; each block counts its nodes, then
        // numbers them from where the blocks before it end, the blocks in parallel.
        let is_node = |run: &[(u64, u32)]| run.len() >= 2 || is_end[run[0].1 as usize];
        let key_blocks = key_blocks(&by_key, KEYS_PER_BLOCK);
        let block_nodes: Vec<usize> =
            key_blocks.par_iter().map(|b| b.chunk_by(|a, b| a.0 == b.0).filter(|r| is_node(r)).count()).collect();
        let first_node = starts(&block_nodes);
        let mut nodes: Vec<Coord<f64>> = filled(block_nodes.iter().sum(), Coord { x: 0.0, y: 0.0 });
        let mut vertex_node: Vec<AtomicU32> = (0..pts.len()).into_par_iter().map(|_| AtomicU32::new(NO_NODE)).collect();
        split_at_lengths(&mut nodes, block_nodes.iter().copied())
            .into_par_iter()
            .zip(&key_blocks)
            .zip(&first_node)
            .for_each(|((out, block), &first)| {
                for (k, run) in block.chunk_by(|a, b| a.0 == b.0).filter(|r| is_node(r)).enumerate() {
                    out[k] = pts[run[0].1 as usize];
                    // Fewer nodes than vertices, so fewer than u32::MAX (checked above).
                    let n = (first + k) as u32;
                    for &(_, v) in run {
                        vertex_node[v as usize].store(n, Ordering::Relaxed);
                    }
                }
            });
        drop(by_key);
        drop(is_end);
        // Nodes renumbered along a Hilbert curve: a search's front then touches few cache lines of
        // the node and adjacency arrays (key order is by x alone, so its neighbours lie far apart).
        let key_order = hilbert_renumber(&mut nodes);
        vertex_node.par_iter_mut().map(AtomicU32::get_mut).filter(|v| **v != NO_NODE).for_each(|v| {
            *v = key_order[*v as usize];
        });
        // The same memory as plain numbers (an atomic has its integer's layout; collected in place).
        let vertex_node: Vec<u32> = vertex_node.into_iter().map(AtomicU32::into_inner).collect();
        let node_of = |v: usize| Some(vertex_node[v]).filter(|&n| n != NO_NODE);

        // Edges: split each clean line at its nodes; a line's edges are one fewer than its nodes,
        // and each node inside a line starts the next edge's coordinates with a copy. Counted per
        // line, then made a block of lines per task, each block into its own parts of `edges` and
        // `coords`.
        let edges_per_span: Vec<u32> = spans
            .par_iter()
            .map(|&(_, s, e)| vertex_node[s..e].iter().filter(|&&n| n != NO_NODE).count() as u32 - 1)
            .collect();
        let block_edges: Vec<usize> =
            edges_per_span.chunks(SPANS_PER_BLOCK).map(|b| b.iter().map(|&k| k as usize).sum()).collect();
        let edge_count: usize = block_edges.iter().sum();
        let coord_count = pts.len() + edge_count - spans.len();
        let no_edge = Edge { from: 0, to: 0, length_m: f64::NAN, planar_m: 0.0, line: 0, first: 0, count: 0 };
        let mut edges: Vec<Edge> = filled(edge_count, no_edge);
        let mut coords: Vec<Coord<f64>> = filled(coord_count, Coord { x: 0.0, y: 0.0 });
        // A block's coordinates: its lines' clean vertices, and a copy of each node inside them.
        let block_coords: Vec<usize> = span_blocks
            .iter()
            .zip(&block_edges)
            .map(|(b, &edges)| b[b.len() - 1].2 - b[0].1 + edges - b.len())
            .collect();
        let coords_start = starts(&block_coords);
        let edge_parts = split_at_lengths(&mut edges, block_edges.iter().copied());
        let coord_parts = split_at_lengths(&mut coords, block_coords.iter().copied());
        edge_parts.into_par_iter().zip(coord_parts).zip(&span_blocks).zip(&coords_start).for_each(
            |(((edge_out, coord_out), block), &base)| {
                let (mut at_edge, mut at) = (0, 0);
                for &(line, s, e) in block.iter() {
                    let mut from = node_of(s).expect("a line end is a node");
                    let mut first = at;
                    coord_out[at] = nodes[from as usize];
                    at += 1;
                    for (v, &pt) in pts.iter().enumerate().take(e).skip(s + 1) {
                        match node_of(v) {
                            None => {
                                coord_out[at] = pt;
                                at += 1;
                            }
                            Some(to) => {
                                coord_out[at] = nodes[to as usize];
                                at += 1;
                                let piece = &coord_out[first..at];
                                let planar_m = piece.windows(2).map(|w| planar(w[0], w[1])).sum::<f64>();
                                edge_out[at_edge] = Edge {
                                    from,
                                    to,
                                    // Measured below, all edges at once.
                                    length_m: f64::NAN,
                                    planar_m,
                                    line,
                                    first: (base + first) as u32,
                                    count: piece.len() as u32,
                                };
                                at_edge += 1;
                                if v + 1 < e {
                                    from = to;
                                    first = at;
                                    coord_out[at] = nodes[to as usize];
                                    at += 1;
                                }
                            }
                        }
                    }
                }
                debug_assert_eq!((at_edge, at), (edge_out.len(), coord_out.len()));
            },
        );
        if edges.len() >= u32::MAX as usize || coords.len() >= u32::MAX as usize {
            return Err(Error::Usage(format!(
                "the walking network has {} edges, more than this tool handles",
                edges.len()
            )));
        }
        // Edge lengths by the frame's method, each node taken to longitude/latitude once.
        let lengths = frame.edge_lengths_m(&nodes, &edges, |e| {
            (e.from, e.to, &coords[e.first as usize..(e.first + e.count) as usize])
        })?;
        for (e, length_m) in edges.iter_mut().zip(lengths) {
            e.length_m = length_m;
        }

        let (offsets, adjacent, adjacent_edge) = csr(nodes.len(), &edges);
        let mut g = Graph {
            nodes,
            edges,
            coords,
            offsets,
            adjacent,
            adjacent_edge,
            node_component: Vec::new(),
            components: Vec::new(),
            stats,
        };
        g.find_components(&key_order);
        Ok(g)
    }

    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    pub fn edge_count(&self) -> usize {
        self.edges.len()
    }

    /// A node's frame coordinate.
    pub fn node(&self, n: u32) -> Coord<f64> {
        self.nodes[n as usize]
    }

    /// Every node's frame coordinate, by node number.
    pub fn nodes(&self) -> &[Coord<f64>] {
        &self.nodes
    }

    pub fn edge(&self, e: u32) -> &Edge {
        &self.edges[e as usize]
    }

    pub fn edges(&self) -> &[Edge] {
        &self.edges
    }

    /// The frame vertices of an edge, from its `from` node to its `to` node.
    pub fn edge_coords(&self, e: u32) -> &[Coord<f64>] {
        let edge = &self.edges[e as usize];
        &self.coords[edge.first as usize..(edge.first + edge.count) as usize]
    }

    /// The neighbours of a node (an edge that loops back to the node appears twice).
    pub fn adjacent(&self, n: u32) -> &[Adjacent] {
        &self.adjacent[self.offsets[n as usize] as usize..self.offsets[n as usize + 1] as usize]
    }

    /// The edges of a node's [`Graph::adjacent`] entries, in the same order.
    pub fn adjacent_edges(&self, n: u32) -> &[u32] {
        &self.adjacent_edge[self.offsets[n as usize] as usize..self.offsets[n as usize + 1] as usize]
    }

    /// The component of a node (0 = the largest).
    pub fn component_of(&self, n: u32) -> u32 {
        self.node_component[n as usize]
    }

    /// Component sizes, largest first.
    pub fn components(&self) -> &[Component] {
        &self.components
    }

    /// Total edge length in metres.
    pub fn length_m(&self) -> f64 {
        crate::units::sum(self.edges.iter().map(|e| e.length_m))
    }

    /// Components, found from the nodes in key order (`key_order[k]` is the `k`th node in key
    /// order), so that equal components are numbered as in key order.
    fn find_components(&mut self, key_order: &[u32]) {
        const UNSEEN: u32 = u32::MAX;
        let n = self.nodes.len();
        let mut comp = vec![UNSEEN; n];
        let mut count = 0u32;
        let mut stack: Vec<u32> = Vec::new();
        for &start in key_order {
            if comp[start as usize] != UNSEEN {
                continue;
            }
            comp[start as usize] = count;
            stack.push(start);
            while let Some(v) = stack.pop() {
                for a in self.adjacent(v) {
                    if comp[a.node as usize] == UNSEEN {
                        comp[a.node as usize] = count;
                        stack.push(a.node);
                    }
                }
            }
            count += 1;
        }
        let mut sizes =
            vec![(Component { nodes: 0, edges: 0, length_m: 0.0 }, crate::units::KahanSum::default()); count as usize];
        for &c in &comp {
            sizes[c as usize].0.nodes += 1;
        }
        for e in &self.edges {
            let s = &mut sizes[comp[e.from as usize] as usize];
            s.0.edges += 1;
            s.1.add(e.length_m);
        }
        // Number by size: most nodes first, then longest, then first found.
        let mut order: Vec<u32> = (0..count).collect();
        order.sort_by(|&a, &b| {
            let (sa, sb) = (&sizes[a as usize], &sizes[b as usize]);
            sb.0.nodes.cmp(&sa.0.nodes).then(sb.1.total().total_cmp(&sa.1.total())).then(a.cmp(&b))
        });
        let mut rank = vec![0u32; count as usize];
        for (r, &c) in order.iter().enumerate() {
            rank[c as usize] = r as u32;
        }
        self.node_component = comp.into_iter().map(|c| rank[c as usize]).collect();
        self.components =
            order.iter().map(|&c| Component { length_m: sizes[c as usize].1.total(), ..sizes[c as usize].0 }).collect();
    }
}

fn planar(a: Coord<f64>, b: Coord<f64>) -> f64 {
    (b.x - a.x).hypot(b.y - a.y)
}

/// Reorders `nodes` along a Hilbert curve over their bounding box (ties kept in their order); returns
/// the new id of every old one.
fn hilbert_renumber(nodes: &mut Vec<Coord<f64>>) -> Vec<u32> {
    let order = hilbert_order(nodes);
    let mut new_of = vec![0u32; nodes.len()];
    for (new, &old) in order.iter().enumerate() {
        new_of[old as usize] = new as u32;
    }
    *nodes = order.iter().map(|&old| nodes[old as usize]).collect();
    new_of
}

/// Adjacency in CSR form: `offsets[n]..offsets[n + 1]` indexes the neighbours of node `n` in the
/// second array and their edges in the third.
fn csr(n: usize, edges: &[Edge]) -> (Vec<u32>, Vec<Adjacent>, Vec<u32>) {
    let mut offsets = vec![0u32; n + 1];
    for e in edges {
        offsets[e.from as usize + 1] += 1;
        offsets[e.to as usize + 1] += 1;
    }
    for i in 0..n {
        offsets[i + 1] += offsets[i];
    }
    let mut fill = offsets.clone();
    let mut adjacent = vec![Adjacent { node: 0, length_m: 0.0 }; offsets[n] as usize];
    let mut adjacent_edge = vec![0u32; offsets[n] as usize];
    for (i, e) in edges.iter().enumerate() {
        let (edge, length_m) = (i as u32, e.length_m);
        for (at, node) in [(e.from, e.to), (e.to, e.from)] {
            let slot = fill[at as usize] as usize;
            adjacent[slot] = Adjacent { node, length_m };
            adjacent_edge[slot] = edge;
            fill[at as usize] += 1;
        }
    }
    (offsets, adjacent, adjacent_edge)
}

/// A segment of an input line, as the payload of the crossing R-tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct SegmentId {
    line: u32,
    seg: u32,
}

/// A point to insert into a segment: its squared distance from the segment start orders it.
struct Insert {
    at: SegmentId,
    from_start_sq: f64,
    point: Coord<f64>,
}

/// Whether `p` lies within [`NODE_TOLERANCE_M`] of the segment `s`, beside its interior rather than
/// at one of its ends.
fn near_interior(p: Coord<f64>, s: Line<f64>) -> bool {
    let d = s.delta();
    let length_sq = d.x * d.x + d.y * d.y;
    if length_sq <= 0.0 {
        return false;
    }
    let v = p - s.start;
    let t = (v.x * d.x + v.y * d.y) / length_sq;
    let foot = s.start + d * t;
    (0.0..=1.0).contains(&t)
        && planar(p, foot) < NODE_TOLERANCE_M
        && planar(p, s.start) >= NODE_TOLERANCE_M / 10.0
        && planar(p, s.end) >= NODE_TOLERANCE_M / 10.0
}

/// Splits lines where they cross or touch, when both are at one level (`levels`, one a line, or
/// none): returns the lines with the crossing points inserted as vertices (the same coordinate in
/// both lines), and how many points were inserted.
fn split_at_crossings(lines: &[&[Coord<f64>]], levels: &[i32]) -> (Vec<Vec<Coord<f64>>>, u64) {
    let level = |line: u32| levels.get(line as usize).copied().unwrap_or(0);
    let segment =
        |s: SegmentId| Line::new(lines[s.line as usize][s.seg as usize], lines[s.line as usize][s.seg as usize + 1]);
    let mut entries = Vec::new();
    for (li, l) in lines.iter().enumerate() {
        for si in 0..l.len().saturating_sub(1) {
            let (a, b) = (l[si], l[si + 1]);
            let rect = Rectangle::from_corners([a.x.min(b.x), a.y.min(b.y)], [a.x.max(b.x), a.y.max(b.y)]);
            entries.push(GeomWithData::new(rect, SegmentId { line: li as u32, seg: si as u32 }));
        }
    }
    let tree = RTree::bulk_load(entries);
    let mut inserts: Vec<Insert> = Vec::new();
    let mut add = |at: SegmentId, s: Line<f64>, p: Coord<f64>| {
        if p != s.start && p != s.end {
            let d = p - s.start;
            inserts.push(Insert { at, from_start_sq: d.x * d.x + d.y * d.y, point: p });
        }
    };
    for entry in tree.iter() {
        let a = entry.data;
        let sa = segment(a);
        // Widened by the node tolerance, for the ends that stop a hair short of the segment.
        let env = entry.geom().envelope();
        let (lo, hi) = (env.lower(), env.upper());
        let t = NODE_TOLERANCE_M;
        let env = rstar::AABB::from_corners([lo[0] - t, lo[1] - t], [hi[0] + t, hi[1] + t]);
        for other in tree.locate_in_envelope_intersecting(&env) {
            let b = other.data;
            if b <= a || level(a.line) != level(b.line) {
                continue;
            }
            let sb = segment(b);
            match line_intersection(sa, sb) {
                None => {
                    // A line end drawn onto another road ("snap to line") is computed on it and
                    // lands a hair to either side: an end within the node tolerance of the other
                    // segment's interior is put into that segment, as the same coordinate.
                    for (p, at, s) in [(sb.start, a, sa), (sb.end, a, sa), (sa.start, b, sb), (sa.end, b, sb)] {
                        if near_interior(p, s) {
                            add(at, s, p);
                        }
                    }
                }
                Some(LineIntersection::SinglePoint { intersection, .. }) => {
                    // A point computed next to a segment end is that end, exactly, so that both lines
                    // get the same coordinate and the grid key joins them.
                    let p = [sa.start, sa.end, sb.start, sb.end]
                        .into_iter()
                        .find(|e| planar(*e, intersection) < NODE_TOLERANCE_M / 10.0)
                        .unwrap_or(intersection);
                    add(a, sa, p);
                    add(b, sb, p);
                }
                Some(LineIntersection::Collinear { intersection }) => {
                    for p in [intersection.start, intersection.end] {
                        add(a, sa, p);
                        add(b, sb, p);
                    }
                }
            }
        }
    }
    let added = inserts.len() as u64;
    inserts.sort_by(|x, y| x.at.cmp(&y.at).then(x.from_start_sq.total_cmp(&y.from_start_sq)));
    let mut by_line: HashMap<u32, Vec<Insert>> = HashMap::new();
    for ins in inserts {
        by_line.entry(ins.at.line).or_default().push(ins);
    }
    let out = lines
        .iter()
        .enumerate()
        .map(|(li, l)| match by_line.get(&(li as u32)) {
            None => l.to_vec(),
            Some(ins) => {
                let mut v = Vec::with_capacity(l.len() + ins.len());
                let mut k = 0;
                for (si, c) in l.iter().enumerate() {
                    v.push(*c);
                    while k < ins.len() && ins[k].at.seg as usize == si {
                        v.push(ins[k].point);
                        k += 1;
                    }
                }
                v
            }
        })
        .collect();
    (out, added)
}

#[cfg(test)]
#[path = "graph_tests.rs"]
mod tests;
