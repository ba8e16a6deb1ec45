use super::*;
use crate::index::graph::{Graph, Noding};
use crate::normalise::crs::{Frame, Method};
use geo::{Coord, LineString};

const X0: f64 = 39_480_000.0;
const Y0: f64 = 3_515_000.0;

use crate::testing::uniform as rng;

/// A random graph: `n` points in a 1 km square joined by `m` straight or bent lines between random
/// pairs, joined where they share an end (vertex noding). Pieces are usually disconnected.
fn random_graph(frame: &Frame, next: &mut impl FnMut() -> f64, n: usize, m: usize) -> Graph {
    let pts: Vec<Coord<f64>> = (0..n).map(|_| Coord { x: X0 + next() * 1000.0, y: Y0 + next() * 1000.0 }).collect();
    let lines: Vec<LineString<f64>> = (0..m)
        .map(|_| {
            let a = pts[(next() * n as f64) as usize % n];
            let b = pts[(next() * n as f64) as usize % n];
            if next() < 0.3 {
                // A bent line: its middle vertex is a shape point, not a node.
                let mid = Coord { x: (a.x + b.x) / 2.0 + (next() - 0.5) * 80.0, y: (a.y + b.y) / 2.0 + 31.0 };
                LineString(vec![a, mid, b])
            } else {
                LineString(vec![a, b])
            }
        })
        .collect();
    Graph::build(&lines, Noding::Vertices, frame).unwrap()
}

/// All-pairs shortest paths by Floyd–Warshall over an explicit edge list.
fn floyd_warshall(n: usize, edges: &[(usize, usize, f64)]) -> Vec<Vec<f64>> {
    let mut d = vec![vec![f64::INFINITY; n]; n];
    for (i, row) in d.iter_mut().enumerate() {
        row[i] = 0.0;
    }
    for &(a, b, w) in edges {
        d[a][b] = d[a][b].min(w);
        d[b][a] = d[b][a].min(w);
    }
    for k in 0..n {
        for i in 0..n {
            if d[i][k].is_infinite() {
                continue;
            }
            for j in 0..n {
                let via = d[i][k] + d[k][j];
                if via < d[i][j] {
                    d[i][j] = via;
                }
            }
        }
    }
    d
}

#[test]
fn dijkstra_matches_floyd_warshall() {
    let frame = Frame::new("EPSG:4527", Method::Planar).unwrap();
    let mut next = rng(0x5eed_0001);
    let mut compared = 0;
    for round in 0..40 {
        let g = random_graph(&frame, &mut next, 12 + round % 20, 10 + round * 2);
        let n = g.node_count();
        let edges: Vec<(usize, usize, f64)> =
            g.edges().iter().map(|e| (e.from as usize, e.to as usize, e.length_m)).collect();
        let all = floyd_warshall(n, &edges);
        let sources: Vec<Source> = (0..1 + round % 4)
            .map(|_| Source { node: (next() * n as f64) as u32 % n as u32, dist_m: next() * 100.0 })
            .collect();
        let max_m = if round % 3 == 0 { f64::INFINITY } else { 200.0 + next() * 1500.0 };
        let mut search = Search::new();
        let got = search.run(&g, &sources, max_m).to_vec();
        for v in 0..n {
            let want = sources.iter().map(|s| s.dist_m + all[s.node as usize][v]).fold(f64::INFINITY, f64::min);
            let want = if want <= max_m { want } else { f64::INFINITY };
            if want.is_infinite() {
                assert!(got[v].is_infinite(), "round {round} node {v}: got {} want unreached", got[v]);
            } else {
                assert!((got[v] - want).abs() < 1e-9, "round {round} node {v}: got {} want {want}", got[v]);
                compared += 1;
            }
        }
    }
    assert!(compared > 300, "the random graphs must give many reachable pairs ({compared})");
}

/// The search with a binary heap and the lengths read from the edge array, as it was before the
/// radix heap and the lengths in the adjacency arrays: the reference for bit-identical distances.
fn binary_heap_search(g: &Graph, sources: &[Source], max_m: f64) -> Vec<f64> {
    use std::cmp::Reverse;
    use std::collections::BinaryHeap;
    /// A distance ordered by `f64::total_cmp`, so that the heap can hold it.
    #[derive(PartialEq)]
    struct Total(f64);
    impl Eq for Total {}
    impl Ord for Total {
        fn cmp(&self, other: &Self) -> std::cmp::Ordering {
            self.0.total_cmp(&other.0)
        }
    }
    impl PartialOrd for Total {
        fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
            Some(self.cmp(other))
        }
    }
    let mut dist = vec![f64::INFINITY; g.node_count()];
    let mut heap = BinaryHeap::new();
    for s in sources {
        if s.dist_m <= max_m && s.dist_m < dist[s.node as usize] {
            dist[s.node as usize] = s.dist_m;
            heap.push(Reverse((Total(s.dist_m), s.node)));
        }
    }
    while let Some(Reverse((Total(dist_m), node))) = heap.pop() {
        if dist_m > dist[node as usize] {
            continue;
        }
        for (a, &edge) in g.adjacent(node).iter().zip(g.adjacent_edges(node)) {
            let (next, d) = (a.node, dist_m + g.edge(edge).length_m);
            if d <= max_m && d < dist[next as usize] {
                dist[next as usize] = d;
                heap.push(Reverse((Total(d), next)));
            }
        }
    }
    dist
}

/// `count` sources on random nodes of `n`, each at `dist(u)` metres for a uniform `u` in [0, 1).
fn random_sources(next: &mut impl FnMut() -> f64, n: u32, count: usize, dist: impl Fn(f64) -> f64) -> Vec<Source> {
    (0..count)
        .map(|_| {
            let node = (next() * n as f64) as u32 % n;
            Source { node, dist_m: dist(next()) }
        })
        .collect()
}

/// Bit for bit the distances of the binary-heap search, on random graphs with ellipsoidal lengths
/// (not round numbers), many sources (some on one node, some at equal distances), and bounds that
/// cut the search; one `Search` reused across graphs of different sizes.
#[test]
fn same_bits_as_a_binary_heap_search() {
    let frame = Frame::new("EPSG:4527", Method::Ellipsoidal).unwrap();
    let mut next = rng(0x5eed_0005);
    let mut search = Search::new();
    let (mut reached, mut several_components) = (0, 0);
    for round in 0..40 {
        let g = random_graph(&frame, &mut next, 30 + round * 3, 40 + round * 5);
        let n = g.node_count() as u32;
        let mut sources = random_sources(&mut next, n, 1 + round % 9, |u| (u * 8.0).floor() * 12.5);
        sources.push(sources[0]);
        // A source in each of the next two components too, when the graph has them.
        for c in 1..3 {
            if let Some(node) = (0..n).find(|&v| g.component_of(v) == c) {
                sources.push(Source { node, dist_m: (next() * 8.0).floor() * 12.5 });
            }
        }
        let max_m = [f64::INFINITY, 150.0, 400.0 + next() * 600.0][round % 3];
        let want = binary_heap_search(&g, &sources, max_m);
        let got = search.run(&g, &sources, max_m);
        assert_eq!(got.len(), want.len());
        for (v, (a, b)) in got.iter().zip(&want).enumerate() {
            assert_eq!(a.to_bits(), b.to_bits(), "round {round} node {v}: {a} != {b}");
        }
        reached += want.iter().filter(|d| d.is_finite()).count();
        // Searches whose sources lie in several components, each searched on its own.
        let mut comps: Vec<u32> = sources.iter().map(|s| g.component_of(s.node)).collect();
        comps.sort_unstable();
        comps.dedup();
        several_components += usize::from(comps.len() > 1);
    }
    assert!(reached > 1000, "the searches must reach many nodes ({reached})");
    assert!(several_components >= 10, "sources in several components in {several_components} rounds");
}

/// A search given targets: bit for bit the full search's distance at every target; a component
/// without a target is not searched; the search settles fewer nodes than the full one, once it
/// has settled every target of a component.
#[test]
fn targets_get_the_full_distances() {
    let frame = Frame::new("EPSG:4527", Method::Ellipsoidal).unwrap();
    let mut next = rng(0x5eed_0009);
    let mut search = Search::new();
    let (mut fewer, mut skipped) = (0, 0);
    for round in 0..40 {
        let g = random_graph(&frame, &mut next, 40 + round * 3, 25 + round * 2);
        let n = g.node_count() as u32;
        let mut sources = random_sources(&mut next, n, 2 + round % 5, |u| u * 30.0);
        // A source in the second component, which has no target.
        let second = (0..n).find(|&v| g.component_of(v) == 1);
        sources.extend(second.map(|node| Source { node, dist_m: 0.0 }));
        let targets: Vec<u32> =
            (0..1 + round % 6).map(|_| (next() * n as f64) as u32 % n).filter(|&v| g.component_of(v) != 1).collect();
        let max_m = [f64::INFINITY, 300.0 + next() * 700.0][round % 2];
        let full = search.run(&g, &sources, max_m).to_vec();
        let settled_full = search.settled();
        let got = search.run_for(&g, &sources, max_m, Some(&Targets::new(&g, targets.iter().copied()))).to_vec();
        for &t in &targets {
            assert_eq!(got[t as usize].to_bits(), full[t as usize].to_bits(), "round {round} target {t}");
        }
        if let Some(node) = second {
            assert!(got[node as usize].is_infinite(), "round {round}: the component without a target was searched");
            skipped += 1;
        }
        assert!(search.settled() <= settled_full);
        fewer += usize::from(search.settled() < settled_full);
    }
    assert!(skipped >= 20, "a second component in {skipped} rounds");
    assert!(fewer >= 30, "fewer nodes settled in {fewer} rounds");
}

/// Random streets on a 10 m lattice, each step a line of its own (so that a lattice point on one
/// street only is a node with two edges), some stepping back on themselves or closing a loop, some
/// steps with a longer way beside them or a loop of their own, with a ring of its own that no
/// kept node touches. Every length is a whole number of metres, so the
/// sums along a chain are exact whatever their grouping.
fn lattice_streets(frame: &Frame, next: &mut impl FnMut() -> f64, streets: usize) -> Graph {
    let mut lines: Vec<LineString<f64>> = Vec::new();
    for _ in 0..streets {
        let mut at = Coord { x: X0 + (next() * 20.0).floor() * 10.0, y: Y0 + (next() * 20.0).floor() * 10.0 };
        for _ in 0..2 + (next() * 12.0) as usize {
            let step = 10.0 * (1.0 + (next() * 3.0).floor());
            let to = match (next() * 4.0) as usize {
                0 => Coord { x: at.x + step, ..at },
                1 => Coord { x: at.x - step, ..at },
                2 => Coord { y: at.y + step, ..at },
                _ => Coord { y: at.y - step, ..at },
            };
            lines.push(LineString(vec![at, to]));
            // Now and then a longer way beside the step (two edges between the same nodes, of
            // other lengths), or a loop back to the step's start, through points off the lattice.
            // (Legs of 3-4-5 triangles: whole metres still.)
            let (off, back) = (Coord { x: 3.0, y: 4.0 }, Coord { x: -3.0, y: 4.0 });
            match (next() * 8.0) as usize {
                0 => lines.push(LineString(vec![at, at + off, to + off, to])),
                1 => lines.push(LineString(vec![at, at + off, at + back, at])),
                _ => {}
            }
            at = to;
        }
    }
    // A ring of pass-through nodes only, far from the rest.
    let r = |x: f64, y: f64| Coord { x: X0 + 5_000.0 + x, y: Y0 + y };
    for (a, b) in [(r(0.0, 0.0), r(10.0, 0.0)), (r(10.0, 0.0), r(10.0, 10.0)), (r(10.0, 10.0), r(0.0, 0.0))] {
        lines.push(LineString(vec![a, b]));
    }
    Graph::build(&lines, Noding::Vertices, frame).unwrap()
}

/// Searches over the bypassed graph give, at every kept node, the very bits of the search over
/// the whole graph (whole-metre lengths: exact sums), with and without targets and a bound; the
/// nodes left out are never reached, and a third or more of the nodes are left out in all.
#[test]
fn bypassed_chains_give_the_same_distances() {
    let frame = Frame::new("EPSG:4527", Method::Planar).unwrap();
    let mut next = rng(0x5eed_000b);
    let mut search = Search::new();
    let (mut nodes, mut left_out) = (0, 0);
    for round in 0..60 {
        let g = lattice_streets(&frame, &mut next, 3 + round % 20);
        let n = g.node_count() as u32;
        let kept: Vec<bool> = (0..n).map(|_| next() < 0.15).collect();
        let kept_nodes: Vec<u32> = (0..n).filter(|&v| kept[v as usize]).collect();
        if kept_nodes.is_empty() {
            continue;
        }
        let bypass = Bypass::new(&g, &kept);
        let sources: Vec<Source> = (0..1 + round % 4)
            .map(|_| Source {
                node: kept_nodes[(next() * kept_nodes.len() as f64) as usize % kept_nodes.len()],
                dist_m: (next() * 5.0).floor(),
            })
            .collect();
        let max_m = [f64::INFINITY, 40.0 + (next() * 30.0).floor() * 10.0][round % 2];
        let targets = Targets::new(&g, kept_nodes.iter().copied());
        let full = search.run(&g, &sources, max_m).to_vec();
        for t in [None, Some(&targets)] {
            let got = search.run_for(&bypass, &sources, max_m, t).to_vec();
            for v in 0..n as usize {
                if kept[v] {
                    assert_eq!(got[v].to_bits(), full[v].to_bits(), "round {round} node {v}");
                } else if bypass.neighbours(v as u32).is_empty() && !g.adjacent(v as u32).is_empty() {
                    assert!(got[v].is_infinite(), "round {round}: node {v} was left out, yet reached");
                }
            }
        }
        nodes += n;
        left_out += (0..n).filter(|&v| bypass.neighbours(v).is_empty() && !g.adjacent(v).is_empty()).count() as u32;
    }
    assert!(left_out * 3 >= nodes, "{left_out} of {nodes} nodes left out");
}

/// On random graphs with lengths that are not whole numbers, the bypassed searches agree with the
/// whole graph's at every kept node within 1e-9 m (the sums along a chain are grouped otherwise).
#[test]
fn bypassed_chains_agree_on_any_lengths() {
    let frame = Frame::new("EPSG:4527", Method::Ellipsoidal).unwrap();
    let mut next = rng(0x5eed_000c);
    let mut search = Search::new();
    let mut compared = 0;
    for round in 0..40 {
        let g = random_graph(&frame, &mut next, 30 + round * 2, 30 + round * 3);
        let n = g.node_count() as u32;
        let kept: Vec<bool> = (0..n).map(|_| next() < 0.3).collect();
        let bypass = Bypass::new(&g, &kept);
        let sources: Vec<Source> = random_sources(&mut next, n, 1 + round % 4, |u| u * 20.0)
            .into_iter()
            .filter(|s| kept[s.node as usize])
            .collect();
        let full = search.run(&g, &sources, f64::INFINITY).to_vec();
        let got = search.run(&bypass, &sources, f64::INFINITY).to_vec();
        for v in (0..n as usize).filter(|&v| kept[v]) {
            assert_eq!(got[v].is_finite(), full[v].is_finite(), "round {round} node {v}");
            if full[v].is_finite() {
                assert!((got[v] - full[v]).abs() <= 1e-9, "round {round} node {v}: {} vs {}", got[v], full[v]);
                compared += 1;
            }
        }
    }
    assert!(compared > 200, "{compared} distances compared");
}

/// Random snaps on random edges (some homes on a facility's edge): the distance read off the node
/// distances equals Floyd–Warshall on a graph in which every snap point is a real node, with its
/// edge split there and its leg a real edge.
#[test]
fn edge_snaps_match_a_split_graph() {
    let frame = Frame::new("EPSG:4527", Method::Planar).unwrap();
    let mut next = rng(0x5eed_0002);
    let mut same_edge_cases = 0;
    for round in 0..30 {
        let g = random_graph(&frame, &mut next, 10 + round % 15, 12 + round);
        let n = g.node_count();
        let m = g.edge_count() as u32;
        let random_snap = |next: &mut dyn FnMut() -> f64, edge: Option<u32>| {
            let edge = edge.unwrap_or_else(|| (next() * m as f64) as u32 % m);
            let along_m = next() * g.edge(edge).length_m;
            Snap { anchor: Anchor::Edge { edge, along_m }, snap_m: next() * 40.0 }
        };
        let facilities: Vec<Snap> = (0..1 + round % 3).map(|_| random_snap(&mut next, None)).collect();
        let mut origins: Vec<Snap> = (0..8).map(|_| random_snap(&mut next, None)).collect();
        // Two homes on the first facility's edge, one on each side of it.
        let Anchor::Edge { edge: fe, .. } = facilities[0].anchor else { unreachable!() };
        origins.push(random_snap(&mut next, Some(fe)));
        origins.push(random_snap(&mut next, Some(fe)));

        // The split graph: node ids n.. are the snap points on their edges, then the points themselves.
        let all_snaps: Vec<&Snap> = facilities.iter().chain(&origins).collect();
        let k = all_snaps.len();
        let mut edges: Vec<(usize, usize, f64)> = Vec::new();
        for e in 0..m {
            let edge = g.edge(e);
            let mut cuts: Vec<(f64, usize)> = all_snaps
                .iter()
                .enumerate()
                .filter_map(|(i, s)| match s.anchor {
                    Anchor::Edge { edge, along_m } if edge == e => Some((along_m, n + i)),
                    _ => None,
                })
                .collect();
            cuts.sort_by(|a, b| a.0.total_cmp(&b.0));
            let (mut at, mut node) = (0.0, edge.from as usize);
            for (along, cut) in cuts {
                edges.push((node, cut, along - at));
                at = along;
                node = cut;
            }
            edges.push((node, edge.to as usize, edge.length_m - at));
        }
        for (i, s) in all_snaps.iter().enumerate() {
            edges.push((n + i, n + k + i, s.snap_m));
        }
        let all = floyd_warshall(n + 2 * k, &edges);

        let (srcs, same) = sources(&g, &facilities);
        let mut search = Search::new();
        let dist = search.run(&g, &srcs, f64::INFINITY).to_vec();
        for (j, o) in origins.iter().enumerate() {
            let oi = n + k + facilities.len() + j;
            let want = (0..facilities.len()).map(|f| all[n + k + f][oi]).fold(f64::INFINITY, f64::min);
            let got = distance_to(&g, &dist, &same, o, f64::INFINITY);
            if want.is_infinite() {
                assert!(got.is_infinite(), "round {round} origin {j}: got {got}, want unreachable");
            } else {
                assert!((got - want).abs() < 1e-9, "round {round} origin {j}: got {got} want {want}");
            }
            if matches!(o.anchor, Anchor::Edge { edge, .. } if edge == fe) {
                same_edge_cases += 1;
            }
        }
    }
    assert!(same_edge_cases >= 60);
}

/// A home and a facility on one long edge: the direct walk along the edge, not a detour through an
/// end node, and the bound applies to the total.
#[test]
fn same_edge_walk_is_direct() {
    let frame = Frame::new("EPSG:4527", Method::Planar).unwrap();
    let line = LineString(vec![Coord { x: X0, y: Y0 }, Coord { x: X0 + 1000.0, y: Y0 }]);
    let g = Graph::build(&[line], Noding::Vertices, &frame).unwrap();
    let fac = Snap { anchor: Anchor::Edge { edge: 0, along_m: 500.0 }, snap_m: 10.0 };
    let home = Snap { anchor: Anchor::Edge { edge: 0, along_m: 450.0 }, snap_m: 5.0 };
    let (srcs, same) = sources(&g, [&fac]);
    let mut search = Search::new();
    let dist = search.run(&g, &srcs, 2000.0).to_vec();
    assert!((distance_to(&g, &dist, &same, &home, 2000.0) - 65.0).abs() < 1e-9);
    // Through the nodes it would be 5 + 450 + 510 = 965 m.
    assert!((dist[0] - 510.0).abs() < 1e-9);
    assert!(distance_to(&g, &dist, &same, &home, 60.0).is_infinite());
}
