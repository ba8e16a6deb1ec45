use super::*;
use crate::normalise::crs::Method;
use geo::line_string;

const X0: f64 = 39_480_000.0;
const Y0: f64 = 3_515_000.0;

fn planar() -> Frame {
    Frame::new("EPSG:4527", Method::Planar).unwrap()
}

fn line(pts: &[(f64, f64)]) -> LineString<f64> {
    LineString::from(pts.iter().map(|&(x, y)| (X0 + x, Y0 + y)).collect::<Vec<_>>())
}

/// A 3 × 3 grid of 100 m blocks drawn as 4 horizontal and 4 vertical lines that share vertices at
/// every crossing: 16 nodes, 24 edges of 100 m, one component.
#[test]
fn grid_of_shared_vertices() {
    let mut lines = Vec::new();
    for i in 0..4 {
        let f = i as f64 * 100.0;
        lines.push(line(&[(0.0, f), (100.0, f), (200.0, f), (300.0, f)]));
        lines.push(line(&[(f, 0.0), (f, 100.0), (f, 200.0), (f, 300.0)]));
    }
    let g = Graph::build(&lines, Noding::Vertices, &planar()).unwrap();
    assert_eq!(g.node_count(), 16);
    assert_eq!(g.edge_count(), 24);
    assert!(g.edges().iter().all(|e| (e.length_m - 100.0).abs() < 1e-9 && (e.scale() - 1.0).abs() < 1e-12));
    assert_eq!(g.components().len(), 1);
    assert_eq!(g.components()[0], Component { nodes: 16, edges: 24, length_m: 2400.0 });
    // Every inner node has four neighbours, corners two.
    let degrees: Vec<usize> = (0..16).map(|n| g.adjacent(n).len()).collect();
    assert_eq!(degrees.iter().filter(|&&d| d == 4).count(), 4);
    assert_eq!(degrees.iter().filter(|&&d| d == 2).count(), 4);
}

/// Shape points are not nodes; a vertex shared by two lines is, and so is a vertex one line visits
/// twice.
#[test]
fn shape_points_and_shared_vertices() {
    let lines = vec![
        line(&[(0.0, 0.0), (50.0, 10.0), (100.0, 0.0)]),
        // Crosses the first line's middle shape point: now a node.
        line(&[(50.0, -40.0), (50.0, 10.0), (50.0, 60.0)]),
        // A figure of eight through (200, 0).
        line(&[(200.0, 0.0), (250.0, 50.0), (300.0, 0.0), (250.0, -50.0), (200.0, 0.0)]),
    ];
    let g = Graph::build(&lines, Noding::Vertices, &planar()).unwrap();
    // Nodes: 4 line ends + the shared vertex (50, 10) + (200, 0).
    assert_eq!(g.node_count(), 6);
    assert_eq!(g.edge_count(), 5);
    assert_eq!(g.components().len(), 2);
    assert_eq!(g.components()[0].nodes, 5);
    let loop_edge = g.edges().iter().find(|e| e.from == e.to).expect("the ring is a loop edge");
    assert!((loop_edge.length_m - 4.0 * 50.0 * 2f64.sqrt()).abs() < 1e-9);
    assert_eq!(g.edge_coords(g.edges().iter().position(|e| e.from == e.to).unwrap() as u32).len(), 5);
}

/// Vertices 4 mm apart are one node; 4 cm apart they are two.
#[test]
fn tolerance_joins_close_vertices() {
    let near = vec![line(&[(0.0, 0.0), (100.0, 0.0)]), line(&[(100.004, 0.002), (100.0, 100.0)])];
    let g = Graph::build(&near, Noding::Vertices, &planar()).unwrap();
    assert_eq!((g.node_count(), g.components().len()), (3, 1));
    let apart = vec![line(&[(0.0, 0.0), (100.0, 0.0)]), line(&[(100.04, 0.0), (100.0, 100.0)])];
    let g = Graph::build(&apart, Noding::Vertices, &planar()).unwrap();
    assert_eq!((g.node_count(), g.components().len()), (4, 2));
}

/// A bridge over a road: joined only with planar noding. T junctions and overlaps are split too.
#[test]
fn planar_noding_splits_crossings_touches_and_overlaps() {
    let road = line(&[(0.0, 0.0), (200.0, 0.0)]);
    let bridge = line(&[(100.0, -100.0), (100.0, 100.0)]);
    let g = Graph::build(&[road.clone(), bridge.clone()], Noding::Vertices, &planar()).unwrap();
    assert_eq!((g.node_count(), g.edge_count(), g.components().len()), (4, 2, 2));
    let g = Graph::build(&[road.clone(), bridge], Noding::Planar, &planar()).unwrap();
    assert_eq!((g.node_count(), g.edge_count(), g.components().len()), (5, 4, 1));
    assert_eq!(g.stats.crossing_points, 2);
    assert!((g.length_m() - 400.0).abs() < 1e-9);

    // A T: the stem ends on the road's interior.
    let stem = line(&[(50.0, 0.0), (50.0, 80.0)]);
    let g = Graph::build(&[road.clone(), stem], Noding::Planar, &planar()).unwrap();
    assert_eq!((g.node_count(), g.edge_count(), g.components().len()), (4, 3, 1));

    // An overlap: two lines drawn on top of each other for 50 m.
    let other = line(&[(150.0, 0.0), (250.0, 0.0), (250.0, 50.0)]);
    let g = Graph::build(&[road, other], Noding::Planar, &planar()).unwrap();
    assert_eq!(g.components().len(), 1);
    // Nodes: the line ends 0, 200 (also an overlap end), 250/50, and the other overlap end 150; the
    // bend at 250/0 stays a shape point. The overlap is two parallel edges.
    assert_eq!((g.node_count(), g.edge_count()), (4, 4));
    assert_eq!(g.stats.crossing_points, 2);
}

/// T junctions drawn by snapping a line's end onto another road: the end is computed on the road
/// and lands a hair to either side of it. Every one joins the road.
#[test]
fn planar_noding_joins_ends_snapped_onto_a_road() {
    let (x1, y1) = (X0 + 300.0, Y0 + 100.0);
    let mut lines = vec![LineString::from(vec![(X0, Y0), (x1, y1)])];
    // At sevenths and thirteenths of the road, none of which a double holds exactly.
    let ts: Vec<f64> = (1..7).map(|k| k as f64 / 7.0).chain((1..13).map(|k| k as f64 / 13.0)).collect();
    for t in &ts {
        let (x, y) = (X0 + (x1 - X0) * t, Y0 + (y1 - Y0) * t);
        lines.push(LineString::from(vec![(x, y + 50.0), (x, y)]));
    }
    let stems = ts.len();
    let vertices = Graph::build(&lines, Noding::Vertices, &planar()).unwrap();
    assert_eq!(vertices.components().len(), stems + 1);
    let g = Graph::build(&lines, Noding::Planar, &planar()).unwrap();
    assert_eq!(g.components().len(), 1);
    assert_eq!(g.stats.crossing_points, stems as u64);
    // The road in stems + 1 pieces, and the stems.
    assert_eq!(g.edge_count(), 2 * stems + 1);
    assert!((g.length_m() - (300f64.hypot(100.0) + 50.0 * stems as f64)).abs() < 1e-6, "{}", g.length_m());
    // An end 2 cm from the road is a gap in the drawing, not a junction.
    let apart = [lines[0].clone(), LineString::from(vec![(X0 + 150.0, Y0 + 100.0), (X0 + 150.0, Y0 + 50.02)])];
    assert_eq!(Graph::build(&apart, Noding::Planar, &planar()).unwrap().components().len(), 2);
}

/// Degenerate lines are counted, not silently lost; disconnected pieces are kept and sized.
#[test]
fn degenerate_lines_and_components() {
    let lines = vec![
        line(&[(0.0, 0.0), (100.0, 0.0), (100.0, 100.0)]),
        line(&[(0.0, 0.0), (0.0, 0.001)]),
        line(&[(500.0, 500.0), (600.0, 500.0)]),
        line(&[(900.0, 900.0), (900.0, 900.0)]),
    ];
    let g = Graph::build(&lines, Noding::Vertices, &planar()).unwrap();
    assert_eq!(g.stats.lines, 4);
    assert_eq!(g.stats.degenerate_lines, 2);
    assert_eq!(g.components().len(), 2);
    assert_eq!(g.components()[0], Component { nodes: 2, edges: 1, length_m: 200.0 });
    assert_eq!(g.components()[1], Component { nodes: 2, edges: 1, length_m: 100.0 });
    assert_eq!(g.component_of(g.edge(g.edges().iter().position(|e| e.line == 2).unwrap() as u32).from), 1);
}

/// Ellipsoidal lengths: the frame's geodesic, and the scale is the projection's (≠ 1 off the
/// central meridian of the zone).
#[test]
fn ellipsoidal_lengths_carry_the_scale() {
    let f = Frame::new("EPSG:4527", Method::Ellipsoidal).unwrap();
    let l = line_string![(x: X0, y: Y0), (x: X0 + 1000.0, y: Y0)];
    let g = Graph::build(std::slice::from_ref(&l), Noding::Vertices, &f).unwrap();
    let e = g.edge(0);
    assert!((e.length_m - f.line_length_m(&l).unwrap()).abs() < 1e-9);
    assert!((e.planar_m - 1000.0).abs() < 1e-9);
    assert!((e.scale() - 1.0).abs() > 1e-6 && (e.scale() - 1.0).abs() < 1e-3, "scale {}", e.scale());
}

/// Each adjacency entry carries its edge's length, the very value of `Edge::length_m` (searches
/// read it there), and leads to the edge's other end; a loop appears twice at its node.
#[test]
fn adjacency_carries_edge_lengths() {
    let f = Frame::new("EPSG:4527", Method::Ellipsoidal).unwrap();
    let lines = vec![
        line(&[(0.0, 0.0), (130.0, 7.0), (260.0, 0.0)]),
        line(&[(130.0, 7.0), (140.0, 300.0)]),
        line(&[(260.0, 0.0), (300.0, 40.0), (250.0, 60.0), (260.0, 0.0)]),
        line(&[(0.0, 0.0), (-3.3, 77.7)]),
    ];
    let g = Graph::build(&lines, Noding::Vertices, &f).unwrap();
    let mut seen = vec![0; g.edge_count()];
    for n in 0..g.node_count() as u32 {
        assert_eq!(g.adjacent(n).len(), g.adjacent_edges(n).len());
        for (a, &edge) in g.adjacent(n).iter().zip(g.adjacent_edges(n)) {
            let e = g.edge(edge);
            let (node, length_m) = (a.node, a.length_m);
            assert_eq!(length_m.to_bits(), e.length_m.to_bits());
            assert!((e.from, e.to) == (n, node) || (e.to, e.from) == (n, node));
            seen[edge as usize] += 1;
        }
    }
    assert!(seen.iter().all(|&k| k == 2), "every edge twice: {seen:?}");
    assert!(g.edges().iter().any(|e| e.from == e.to), "the test has a loop");
}

/// Seeded random straight lines in general position: planar noding finds exactly the crossings a
/// brute-force test of every pair finds (2 nodes and 2 edges more per crossing), and the components
/// are those of a union-find over the crossing pairs.
#[test]
fn planar_noding_matches_brute_force_crossings() {
    let mut next = crate::testing::uniform(0x853c49e6748fea9b);
    let n = 150;
    let lines: Vec<LineString<f64>> = (0..n)
        .map(|_| {
            let (x, y) = (next() * 1000.0, next() * 1000.0);
            line(&[(x, y), (x + (next() - 0.5) * 300.0, y + (next() - 0.5) * 300.0)])
        })
        .collect();
    let cross = |a: &LineString<f64>, b: &LineString<f64>| {
        let o = |p: Coord<f64>, q: Coord<f64>, r: Coord<f64>| (q.x - p.x) * (r.y - p.y) - (q.y - p.y) * (r.x - p.x);
        let (p1, p2, q1, q2) = (a.0[0], a.0[1], b.0[0], b.0[1]);
        o(p1, p2, q1) * o(p1, p2, q2) < 0.0 && o(q1, q2, p1) * o(q1, q2, p2) < 0.0
    };
    let mut parent: Vec<usize> = (0..n).collect();
    fn root(p: &mut [usize], mut i: usize) -> usize {
        while p[i] != i {
            p[i] = p[p[i]];
            i = p[i];
        }
        i
    }
    let mut k = 0;
    for i in 0..n {
        for j in i + 1..n {
            if cross(&lines[i], &lines[j]) {
                k += 1;
                let (a, b) = (root(&mut parent, i), root(&mut parent, j));
                parent[a] = b;
            }
        }
    }
    let groups = (0..n).filter(|&i| root(&mut parent, i) == i).count();
    assert!(k > 50, "the fixture must cross often ({k})");
    let g = Graph::build(&lines, Noding::Planar, &planar()).unwrap();
    assert_eq!(g.stats.crossing_points, 2 * k as u64);
    assert_eq!(g.node_count(), 2 * n + k);
    assert_eq!(g.edge_count(), n + 2 * k);
    assert_eq!(g.components().len(), groups);
    let total: f64 = lines.iter().map(|l| (l.0[1] - l.0[0]).x.hypot((l.0[1] - l.0[0]).y)).sum();
    assert!((g.length_m() - total).abs() < 1e-6);
}

/// On the ellipsoid each node is taken to longitude/latitude once for all its edges: every edge's
/// length is still, bit for bit, what the frame measures for the edge's own coordinates.
#[test]
fn ellipsoidal_edge_lengths_are_the_frames_bit_for_bit() {
    let f = Frame::new("EPSG:4527", Method::Ellipsoidal).unwrap();
    let mut next = crate::testing::uniform(0x9e3779b97f4a7c15);
    // Random polylines over a 2 km square, crossing often, some with interior vertices.
    let lines: Vec<LineString<f64>> = (0..300)
        .map(|k| {
            let n = 2 + k % 4;
            let pts: Vec<(f64, f64)> = (0..n).map(|_| (next() * 2000.0, next() * 2000.0)).collect();
            line(&pts)
        })
        .collect();
    for noding in [Noding::Vertices, Noding::Planar] {
        let g = Graph::build(&lines, noding, &f).unwrap();
        if noding == Noding::Planar {
            assert!(g.edge_count() > 2 * lines.len(), "the lines cross: their edges share nodes");
        }
        for e in 0..g.edge_count() as u32 {
            let own = f.line_length_m(&LineString(g.edge_coords(e).to_vec())).unwrap();
            assert_eq!(g.edge(e).length_m.to_bits(), own.to_bits(), "{noding:?} edge {e}");
        }
    }
}

/// Node keys are packed from the lowest key of each axis: a grid across negative and positive
/// coordinates (its lowest key negative) joins at the same vertices as anywhere else, and a network
/// wider than the packed keys reach is refused rather than joined wrongly.
#[test]
fn packed_keys_across_zero_and_their_reach() {
    let mut lines = Vec::new();
    for i in 0..4 {
        let f = i as f64 * 100.0 - 150.0;
        lines.push(LineString::from(vec![(-150.0, f), (-50.0, f), (50.0, f), (150.0, f)]));
        lines.push(LineString::from(vec![(f, -150.0), (f, -50.0), (f, 50.0), (f, 150.0)]));
    }
    let g = Graph::build(&lines, Noding::Vertices, &planar()).unwrap();
    assert_eq!((g.node_count(), g.edge_count(), g.components().len()), (16, 24, 1));

    // 0.01 m keys in 32 bits reach 42,949.67 km: lines 42,949 km apart still fit, 42,950 km not;
    // a one-point line (dropped) is no part of the span.
    let apart = |d_m: f64| vec![line(&[(0.0, 0.0), (10.0, 0.0)]), line(&[(d_m, 0.0), (d_m + 10.0, 0.0)])];
    let mut lines = apart(42_949_000.0 - 10.0);
    lines.push(line(&[(-1e9, 0.0)]));
    let g = Graph::build(&lines, Noding::Vertices, &planar()).unwrap();
    assert_eq!((g.node_count(), g.components().len(), g.stats.degenerate_lines), (4, 2, 1));
    let Err(err) = Graph::build(&apart(42_950_000.0), Noding::Vertices, &planar()) else {
        panic!("a network 42,950 km wide was built");
    };
    assert!(err.to_string().contains("spans more than 42949.67 km"), "{err}");
}

/// The graph built a block of lines per task (7 lines a block in the unit tests) is the graph of
/// one serial pass over the lines, and the same on any number of threads: random lines on a
/// coarse grid (so that many share vertices), with repeated vertices, vertices a few millimetres
/// apart, lines of one point or of one key (degenerate), closed lines and lines that visit a
/// vertex twice.
#[test]
fn blocks_build_what_one_pass_builds() {
    let mut next = crate::testing::uniform(0x5851f42d4c957f2d);
    let mut lines: Vec<LineString<f64>> = Vec::new();
    for i in 0..400 {
        let mut pts: Vec<(f64, f64)> = Vec::new();
        let n = match i % 11 {
            0 => 1,
            1 => 3,
            _ => 2 + (next() * 6.0) as usize,
        };
        for _ in 0..n {
            let p = ((next() * 12.0).floor() * 25.0, (next() * 12.0).floor() * 25.0);
            pts.push(p);
            match (next() * 8.0) as usize {
                0 => pts.push(p),
                1 => pts.push((p.0 + 0.003, p.1)),
                _ => {}
            }
        }
        if i % 11 == 1 {
            // Three vertices of one key.
            let p = pts[0];
            pts = vec![p, (p.0 + 0.002, p.1), p];
        }
        if i % 13 == 2 {
            let first = pts[0];
            pts.push(first);
        }
        if i % 7 == 3 {
            // Vertices 3 mm off those of other lines, with their keys.
            for p in &mut pts {
                p.0 += 0.003;
            }
        }
        lines.push(line(&pts));
    }
    let build = |threads: usize| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
            .install(|| Graph::build(&lines, Noding::Vertices, &planar()).unwrap())
    };
    let g = build(1);
    assert!(lines.len() > 20 * SPANS_PER_BLOCK);
    for threads in [2, 3] {
        let h = build(threads);
        assert_eq!((&g.nodes, &g.coords, &g.offsets), (&h.nodes, &h.coords, &h.offsets), "{threads} threads");
        assert_eq!(g.edges, h.edges, "{threads} threads");
    }

    // One serial pass: each line's clean vertices (of consecutive vertices with one key, the
    // first), a line of fewer than two of them degenerate.
    let clean: Vec<Vec<Coord<f64>>> = lines
        .iter()
        .map(|l| {
            let mut out: Vec<Coord<f64>> = Vec::new();
            for &c in &l.0 {
                if out.last().is_none_or(|&last| key(last) != key(c)) {
                    out.push(c);
                }
            }
            out
        })
        .collect();
    let degenerate = clean.iter().filter(|c| c.len() < 2).count() as u64;
    assert_eq!(g.stats.degenerate_lines, degenerate);
    assert!(degenerate > 20, "degenerate lines: {degenerate}");
    // A node's coordinate is the first clean vertex of its key, in line order; some keys have
    // vertices that differ (by 3 mm), so that taking another of them would show.
    let mut first_of_key: HashMap<Key, Coord<f64>> = HashMap::new();
    for c in clean.iter().filter(|c| c.len() >= 2) {
        for &v in c {
            first_of_key.entry(key(v)).or_insert(v);
        }
    }
    let bits = |c: Coord<f64>| (c.x.to_bits(), c.y.to_bits());
    for n in &g.nodes {
        assert_eq!(bits(*n), bits(first_of_key[&key(*n)]), "node at {n:?}");
    }
    let differing = g
        .nodes
        .iter()
        .filter(|n| {
            clean.iter().filter(|c| c.len() >= 2).flatten().any(|v| key(*v) == key(**n) && bits(*v) != bits(**n))
        })
        .count();
    assert!(differing > 5, "nodes whose key has differing vertices: {differing}");
    // The edges come line after line, their coordinates one after another; each line's edges,
    // joined at their shared nodes, walk its clean vertices: a node by its key (the node's
    // coordinate is the first vertex of its key), any other vertex exactly.
    let mut at = 0usize;
    let mut e = 0usize;
    for (i, c) in clean.iter().enumerate() {
        if c.len() < 2 {
            assert!(g.edges.get(e).is_none_or(|edge| edge.line as usize != i));
            continue;
        }
        let mut walked: Vec<Coord<f64>> = Vec::new();
        while let Some(edge) = g.edges.get(e).filter(|edge| edge.line as usize == i) {
            assert_eq!(edge.first as usize, at, "line {i}");
            let piece = g.edge_coords(e as u32);
            assert_eq!(key(piece[0]), key(g.node(edge.from)));
            assert_eq!(key(piece[piece.len() - 1]), key(g.node(edge.to)));
            walked.extend_from_slice(if walked.is_empty() { piece } else { &piece[1..] });
            at += piece.len();
            e += 1;
        }
        assert_eq!(walked.len(), c.len(), "line {i}");
        for (w, v) in walked.iter().zip(c) {
            assert_eq!(key(*w), key(*v), "line {i}");
            if g.nodes.iter().all(|n| key(*n) != key(*v)) {
                assert_eq!((w.x.to_bits(), w.y.to_bits()), (v.x.to_bits(), v.y.to_bits()), "line {i}");
            }
        }
    }
    assert_eq!((e, at), (g.edges.len(), g.coords.len()));
}

/// Blocks of sorted keys hold every key in one block, in order, each block but the last of at
/// least the size asked for (runs of one key, of several, and a key repeated across a block's end).
#[test]
fn key_blocks_never_split_a_key() {
    let mut next = crate::testing::xorshift(0x2545f4914f6cdd1d);
    let mut sorted: Vec<(u64, u32)> = Vec::new();
    let mut key = 0u64;
    for i in 0..2_000u32 {
        if next() % 3 == 0 {
            key += 1 + next() % 4;
        }
        sorted.push((key, i));
    }
    // A long run of one key.
    sorted.extend((2_000..2_050u32).map(|i| (key + 1, i)));
    for n in [0, 1, 2, 3, 7, 64, 5_000] {
        let blocks = key_blocks(&sorted, n);
        assert_eq!(blocks.concat(), sorted, "n = {n}");
        for (k, pair) in blocks.windows(2).enumerate() {
            assert!(!pair[0].is_empty(), "n = {n}: block {k} empty");
            assert!(pair[0].len() >= n.max(1), "n = {n}: block {k} of {}", pair[0].len());
            assert_ne!(pair[0][pair[0].len() - 1].0, pair[1][0].0, "n = {n}: a key split after block {k}");
        }
        assert!(blocks.last().is_some_and(|b| !b.is_empty()));
    }
    assert!(key_blocks(&[], 5).is_empty());
}
