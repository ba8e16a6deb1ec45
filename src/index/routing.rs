//! Shortest walking distances: one multi-source, distance-bounded Dijkstra per facility type.
//!
//! All facilities of a type are sources at once, each node starting at the walk from its nearest
//! facility to it (snap leg plus the way along the facility's edge). One search over the graph then
//! gives, at every node, the distance to the nearest facility of the type, so the cost grows with the
//! number of types, not with the number of homes; a home reads its distance off its edge's two end
//! nodes ([`distance_to`]). The search stops at `max_m`: nodes farther than that keep `f64::INFINITY`.
//!
//! With edge snapping a home and a facility on the same edge may be closer along the edge than
//! through either end node; [`EdgeSources`] keeps the facilities by edge for that direct walk.
//!
//! Edges are walked both ways (walking ignores one-way streets).

use rayon::prelude::*;

use super::graph::{Adjacent, Graph};
use super::radix_heap::RadixHeap;
use super::snap::{Anchor, Snap};

/// What a search walks: each node's neighbours, with the lengths to them, on a graph's nodes and
/// components.
pub trait Walk: Sync {
    fn graph(&self) -> &Graph;
    fn neighbours(&self, node: u32) -> &[Adjacent];
}

impl Walk for Graph {
    fn graph(&self) -> &Graph {
        self
    }
    fn neighbours(&self, node: u32) -> &[Adjacent] {
        self.adjacent(node)
    }
}

/// A graph with its chains of pass-through nodes bypassed: a node that no search starts from or
/// reads (not `kept`) and that has two edges, neither a loop, is left out of the walk, and each
/// chain of such nodes between two others is walked as one edge, its length the chain's edges
/// summed from the node it leaves. Distances at the other nodes are those of the whole graph
/// (up to the rounding of the sums: a path's lengths are added in another grouping); the
/// left-out nodes are never reached. On a province network a third of the nodes pass through.
pub struct Bypass<'g> {
    graph: &'g Graph,
    /// `offsets[n]..offsets[n + 1]` indexes node `n`'s neighbours in `adjacent` (none for a node
    /// left out).
    offsets: Vec<u32>,
    adjacent: Vec<Adjacent>,
}

impl<'g> Bypass<'g> {
    /// `kept[n]`: node `n` is a source or a target of some search, and stays.
    pub fn new(graph: &'g Graph, kept: &[bool]) -> Bypass<'g> {
        let passes = |n: u32| {
            let around = graph.adjacent(n);
            !kept[n as usize] && around.len() == 2 && around.iter().all(|a| a.node != n)
        };
        // Each node that stays keeps its number of neighbours: a chain that comes back to it is a
        // loop, never shorter than staying.
        let mut offsets: Vec<u32> = Vec::with_capacity(graph.node_count() + 1);
        offsets.push(0);
        let mut total = 0u32;
        for n in 0..graph.node_count() as u32 {
            if !passes(n) {
                total += graph.adjacent(n).len() as u32;
            }
            offsets.push(total);
        }
        let adjacent: Vec<Adjacent> = (0..graph.node_count() as u32)
            .into_par_iter()
            .filter(|&n| !passes(n))
            .flat_map_iter(|n| {
                graph.adjacent(n).iter().zip(graph.adjacent_edges(n)).map(move |(first, &first_edge)| {
                    let (mut at, mut came_by, mut length_m) = (first.node, first_edge, first.length_m);
                    while passes(at) {
                        // The node's other edge (its two are distinct: a loop would not pass).
                        let i = usize::from(graph.adjacent_edges(at)[0] == came_by);
                        let next = graph.adjacent(at)[i];
                        length_m += next.length_m;
                        came_by = graph.adjacent_edges(at)[i];
                        at = next.node;
                    }
                    Adjacent { node: at, length_m }
                })
            })
            .collect();
        debug_assert_eq!(adjacent.len(), total as usize);
        Bypass { graph, offsets, adjacent }
    }
}

impl Walk for Bypass<'_> {
    fn graph(&self) -> &Graph {
        self.graph
    }
    fn neighbours(&self, node: u32) -> &[Adjacent] {
        &self.adjacent[self.offsets[node as usize] as usize..self.offsets[node as usize + 1] as usize]
    }
}

/// A search source: a node and the walk already done to reach it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Source {
    pub node: u32,
    pub dist_m: f64,
}

/// Reusable buffers for repeated searches on one graph.
#[derive(Debug, Default)]
pub struct Search {
    dist: Vec<f64>,
    /// A monotone queue suffices: lengths are non-negative, so a search never pushes a distance
    /// below the last one popped.
    heap: RadixHeap,
    /// The sources of a search, by component.
    by_component: Vec<Source>,
    /// Nodes settled by the last search.
    settled: usize,
}

/// The nodes whose distances a search must give (the ends of the homes' edges, or their nodes).
/// A search given them stops in a component once all of the component's are settled, and skips a
/// component without any: the distances of those nodes are the same as a full search's, those of
/// the others are left unfinished.
#[derive(Debug, Clone)]
pub struct Targets {
    is_target: Vec<bool>,
    /// Target nodes by component.
    per_component: Vec<u32>,
}

impl Targets {
    pub fn new(graph: &Graph, nodes: impl IntoIterator<Item = u32>) -> Targets {
        let mut is_target = vec![false; graph.node_count()];
        let mut per_component = vec![0u32; graph.components().len()];
        for n in nodes {
            if !std::mem::replace(&mut is_target[n as usize], true) {
                per_component[graph.component_of(n) as usize] += 1;
            }
        }
        Targets { is_target, per_component }
    }

    /// The nodes a snapped point reads its distance from.
    pub fn of_snap(graph: &Graph, snap: &Snap) -> impl Iterator<Item = u32> {
        let (a, b) = match snap.anchor {
            Anchor::Node(n) => (n, None),
            Anchor::Edge { edge, .. } => (graph.edge(edge).from, Some(graph.edge(edge).to)),
        };
        std::iter::once(a).chain(b)
    }
}

impl Search {
    pub fn new() -> Search {
        Search::default()
    }

    /// Runs one multi-source Dijkstra bounded at `max_m` metres; returns the distance of every node
    /// (`f64::INFINITY` when unreached or farther than `max_m`, and at the nodes a [`Bypass`]
    /// leaves out, whose sources must be kept).
    ///
    /// Connected components never meet, so each is searched on its own, one after another: the
    /// nodes of one front are then those of one component (a few hundred on a network cut by rivers
    /// and gaps), in cache, instead of the fronts of every source across the whole network at once.
    /// A node's distance does not depend on that order (it is the least sum over its settled
    /// neighbours, each final when settled), so the result is the same as one search over all.
    pub fn run(&mut self, walk: &(impl Walk + ?Sized), sources: &[Source], max_m: f64) -> &[f64] {
        self.run_for(walk, sources, max_m, None)
    }

    /// [`Search::run`], exact at `targets` only when they are given (see [`Targets`]).
    pub fn run_for(
        &mut self,
        walk: &(impl Walk + ?Sized),
        sources: &[Source],
        max_m: f64,
        targets: Option<&Targets>,
    ) -> &[f64] {
        let graph = walk.graph();
        self.dist.clear();
        self.dist.resize(graph.node_count(), f64::INFINITY);
        self.settled = 0;
        self.by_component.clear();
        self.by_component.extend(sources.iter().filter(|s| s.dist_m <= max_m).copied());
        self.by_component.sort_by_key(|s| graph.component_of(s.node));
        for run in self.by_component.chunk_by(|a, b| graph.component_of(a.node) == graph.component_of(b.node)) {
            // Target nodes of the component not yet settled.
            let mut left = match targets {
                None => u32::MAX,
                Some(t) => match t.per_component[graph.component_of(run[0].node) as usize] {
                    0 => continue,
                    n => n,
                },
            };
            self.heap.clear();
            for s in run {
                if s.dist_m < self.dist[s.node as usize] {
                    self.dist[s.node as usize] = s.dist_m;
                    self.heap.push(s.dist_m, s.node);
                }
            }
            while let Some((dist_m, node)) = self.heap.pop() {
                if dist_m > self.dist[node as usize] {
                    continue; // a stale entry: the node was settled closer
                }
                // Settled: each node once, its distance final.
                self.settled += 1;
                if targets.is_some_and(|t| t.is_target[node as usize]) {
                    left -= 1;
                    if left == 0 {
                        break;
                    }
                }
                for a in walk.neighbours(node) {
                    let d = dist_m + a.length_m;
                    if d <= max_m && d < self.dist[a.node as usize] {
                        self.dist[a.node as usize] = d;
                        self.heap.push(d, a.node);
                    }
                }
            }
        }
        &self.dist
    }

    /// The nodes the last search settled.
    pub fn settled(&self) -> usize {
        self.settled
    }
}

/// Facilities of one type by the edge they are snapped to, for the walk along a shared edge.
#[derive(Debug, Default, Clone)]
pub struct EdgeSources {
    /// (edge, metres from its `from` node, snap leg), sorted by edge.
    on_edge: Vec<(u32, f64, f64)>,
}

/// The sources of one search: the end nodes of every snapped facility with the walk to each, and
/// the facilities by edge.
pub fn sources<'a>(graph: &Graph, snaps: impl IntoIterator<Item = &'a Snap>) -> (Vec<Source>, EdgeSources) {
    let mut out = Vec::new();
    let mut on_edge = Vec::new();
    for s in snaps {
        match s.anchor {
            Anchor::Node(node) => out.push(Source { node, dist_m: 0.0 }),
            Anchor::Edge { edge, along_m } => {
                let e = graph.edge(edge);
                out.push(Source { node: e.from, dist_m: s.snap_m + along_m });
                out.push(Source { node: e.to, dist_m: s.snap_m + (e.length_m - along_m) });
                on_edge.push((edge, along_m, s.snap_m));
            }
        }
    }
    on_edge.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.total_cmp(&b.1)));
    (out, EdgeSources { on_edge })
}

impl EdgeSources {
    /// The shortest direct walk along `edge` from `along_m` to a facility on the same edge
    /// (facility leg included, the home's leg not), or infinity.
    pub fn direct(&self, edge: u32, along_m: f64) -> f64 {
        self.on(edge).map(|(a, leg)| (along_m - a).abs() + leg).fold(f64::INFINITY, f64::min)
    }

    /// The facilities on `edge`: metres from its `from` node, and snap leg.
    pub fn on(&self, edge: u32) -> impl Iterator<Item = (f64, f64)> + '_ {
        let start = self.on_edge.partition_point(|x| x.0 < edge);
        self.on_edge[start..].iter().take_while(move |x| x.0 == edge).map(|&(_, a, leg)| (a, leg))
    }
}

/// The walking distance from a snapped point to the nearest source of a search, given the node
/// distances `dist` of that search; infinity when none is within `max_m`.
pub fn distance_to(graph: &Graph, dist: &[f64], same_edge: &EdgeSources, snap: &Snap, max_m: f64) -> f64 {
    let d = match snap.anchor {
        Anchor::Node(n) => dist[n as usize],
        Anchor::Edge { edge, along_m } => {
            let e = graph.edge(edge);
            let via_from = along_m + dist[e.from as usize];
            let via_to = (e.length_m - along_m) + dist[e.to as usize];
            snap.snap_m + via_from.min(via_to).min(same_edge.direct(edge, along_m))
        }
    };
    if d <= max_m {
        d
    } else {
        f64::INFINITY
    }
}

#[cfg(test)]
#[path = "routing_tests.rs"]
mod tests;
