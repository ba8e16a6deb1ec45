use super::*;
use crate::index::graph::Noding;
use crate::normalise::crs::Method as Measure;
use crate::normalise::facility_types::FacilityTypes;
use crate::normalise::tiers::Thresholds;
use geo::Geometry;

const X0: f64 = 39_480_000.0;
const Y0: f64 = 3_515_000.0;

fn planar() -> Frame {
    Frame::new("EPSG:4527", Measure::Planar).unwrap()
}

fn c(x: f64, y: f64) -> Coord<f64> {
    Coord { x: X0 + x, y: Y0 + y }
}

fn line(pts: &[(f64, f64)]) -> LineString<f64> {
    LineString(pts.iter().map(|&(x, y)| c(x, y)).collect())
}

/// Three cumulative tiers, one need each: kindergarten 300 m, primary school 500 m, junior middle
/// school 1000 m.
const TIERS: &str = r#"
name = "test"
cumulative = true
[[tier]]
minutes = 5
distance_m = 300
[[tier.need]]
need = "kindergarten"
[[tier]]
minutes = 10
distance_m = 500
[[tier.need]]
need = "primary_school"
[[tier]]
minutes = 15
distance_m = 1000
[[tier.need]]
need = "junior_middle_school"
"#;

struct Setup {
    types: FacilityTypes,
    tiers: Tiers,
    reqs: Vec<Requirement>,
}

fn setup() -> Setup {
    let types = FacilityTypes::load("cn").unwrap();
    let tiers = Tiers::from_toml("test", TIERS).unwrap();
    let reqs = tiers.requirements(&types, Thresholds::Table).unwrap();
    Setup { types, tiers, reqs }
}

fn origin(id: &str, x: f64, y: f64) -> Origin {
    Origin {
        id: id.into(),
        fid: 0,
        point: c(x, y),
        area_m2: 100.0,
        population: Some(10.0),
        geometry: Geometry::Point(Point(c(x, y))),
        lonlat: None,
    }
}

fn facility(s: &Setup, code: &str, x: f64, y: f64) -> Facility {
    Facility { layer: 0, fid: 0, kind: s.types.index_of(code).unwrap(), point: c(x, y) }
}

/// A 3 × 3 grid of 100 m blocks: 4 horizontal and 4 vertical lines sharing vertices.
fn grid() -> Vec<LineString<f64>> {
    let mut lines = Vec::new();
    for i in 0..4 {
        let f = i as f64 * 100.0;
        lines.push(line(&[(0.0, f), (100.0, f), (200.0, f), (300.0, f)]));
        lines.push(line(&[(f, 0.0), (f, 100.0), (f, 200.0), (f, 300.0)]));
    }
    lines
}

fn dist(lc: &LivingCircle, s: &Setup, o: usize, code: &str) -> f64 {
    let k = s.types.index_of(code).unwrap();
    lc.distances(o)[lc.types.iter().position(|&t| t == k).unwrap()]
}

/// Every distance on the grid is known by hand: on a street grid the walk is the Manhattan distance
/// between the snap points, plus the legs.
#[test]
fn hand_computed_grid() {
    let s = setup();
    let g = Graph::build(&grid(), Noding::Vertices, &planar()).unwrap();
    let facilities = vec![
        facility(&s, "kindergarten", 300.0, 300.0),   // on the corner node
        facility(&s, "primary_school", 150.0, 110.0), // 10 m north of the edge (100,100)–(200,100)
        facility(&s, "junior_middle_school", 0.0, 0.0),
    ];
    let origins = vec![
        origin("a", 50.0, -20.0),  // 20 m south of the edge (0,0)–(100,0), 50 m along
        origin("b", 250.0, 300.0), // on the edge (200,300)–(300,300)
        origin("c", 160.0, 95.0),  // same edge as the school, 10 m east of it
    ];
    let lc = compute_network(&g, &origins, &facilities, &s.tiers, &s.reqs, &Params::default()).unwrap();
    let close = |a: f64, b: f64| (a - b).abs() < 1e-9;
    // a → kindergarten: 20 leg + 50 to (100,0) + 200 + 300.
    assert!(close(dist(&lc, &s, 0, "kindergarten"), 570.0), "{}", dist(&lc, &s, 0, "kindergarten"));
    // a → school: 20 + 50 to (100,0) + 100 north to (100,100) + 50 east + 10 leg.
    assert!(close(dist(&lc, &s, 0, "primary_school"), 230.0));
    // a → junior middle school at (0,0): 20 + 50 west.
    assert!(close(dist(&lc, &s, 0, "junior_middle_school"), 70.0));
    // b is 50 m from the kindergarten along one edge, with no leg.
    assert!(close(dist(&lc, &s, 1, "kindergarten"), 50.0));
    assert!(close(lc.snaps[1].unwrap().snap_m, 0.0));
    // c and the school share an edge: 5 m leg + 10 m along + 10 m leg, not a detour via a node.
    assert!(close(dist(&lc, &s, 2, "primary_school"), 25.0));
    assert!(close(dist(&lc, &s, 2, "junior_middle_school"), 5.0 + 60.0 + 200.0));

    // Tiers: a misses the kindergarten (570 > 300) so no tier is met (cumulative); b meets all.
    assert_eq!((0..3).map(|t| lc.within_tier(0, t)).collect::<Vec<_>>(), [false, false, false]);
    assert!(lc.meets(0, 1) && lc.meets(0, 2));
    // b: kindergarten 50, school 250 + 10 ... = 50+100+100+50+10? (250,300)→(200,300)→(200,100)→(150,100).
    assert!(close(dist(&lc, &s, 1, "primary_school"), 50.0 + 200.0 + 50.0 + 10.0));
    assert!(close(dist(&lc, &s, 1, "junior_middle_school"), 550.0));
    assert_eq!((0..3).map(|t| lc.within_tier(1, t)).collect::<Vec<_>>(), [true, true, true]);
    // Coverage by count, area and population.
    let cov15 = lc.tier_coverage[2];
    assert_eq!((cov15.origins, cov15.covered), (3, 1));
    assert!((cov15.share_by_area().unwrap() - 1.0 / 3.0).abs() < 1e-12);
    assert!((cov15.covered_population - 10.0).abs() < 1e-12);
    assert_eq!(lc.need_coverage[1].covered, 3, "everyone is within 500 m of the school");
}

/// A distance is judged as it is reported, to the centimetre: 300.004 m from the kindergarten is
/// reported as 300.00 m and counts within the 300 m need; 300.006 m (300.01 m) does not.
#[test]
fn distances_are_judged_as_reported() {
    let s = setup();
    let g = Graph::build(&grid(), Noding::Vertices, &planar()).unwrap();
    // On the edge (0,0)–(100,0) and round the grid: 300.004 m and 300.006 m along the streets.
    let facilities = vec![facility(&s, "kindergarten", 300.0, 0.0)];
    let origins = vec![origin("in", -0.004, 0.0), origin("out", -0.006, 0.0)];
    let lc = compute_network(&g, &origins, &facilities, &s.tiers, &s.reqs, &Params::default()).unwrap();
    assert!((dist(&lc, &s, 0, "kindergarten") - 300.004).abs() < 1e-6, "{}", dist(&lc, &s, 0, "kindergarten"));
    assert!((dist(&lc, &s, 1, "kindergarten") - 300.006).abs() < 1e-6);
    assert!(lc.meets(0, 0), "300.004 m is reported as 300.00 m");
    assert!(!lc.meets(1, 0), "300.006 m is reported as 300.01 m");
}

/// Node snapping (OSMnx/pandana convention): the nearest node, no legs.
#[test]
fn node_snapping_has_no_legs() {
    let s = setup();
    let g = Graph::build(&grid(), Noding::Vertices, &planar()).unwrap();
    let facilities = vec![facility(&s, "kindergarten", 290.0, 305.0)]; // → node (300,300)
    let origins = vec![origin("a", 40.0, -10.0)]; // → node (0,0), 41.2 m away
    let params = Params { snap: SnapMode::Node, ..Default::default() };
    let lc = compute_network(&g, &origins, &facilities, &s.tiers, &s.reqs, &params).unwrap();
    assert!((dist(&lc, &s, 0, "kindergarten") - 600.0).abs() < 1e-9);
    assert!((lc.snaps[0].unwrap().snap_m - 1700f64.sqrt()).abs() < 1e-9);
}

/// A river with one bridge: the straight line says the school across the river is 100 m away
/// (covered); the walk over the bridge is 2100 m (not covered).
#[test]
fn river_with_one_bridge() {
    let s = setup();
    let south = line(&[(0.0, 0.0), (1000.0, 0.0)]);
    let north = line(&[(0.0, 100.0), (1000.0, 100.0)]);
    let bridge = line(&[(1000.0, 0.0), (1000.0, 100.0)]);
    let g = Graph::build(&[south, north, bridge], Noding::Vertices, &planar()).unwrap();
    let facilities = vec![
        facility(&s, "kindergarten", 0.0, 100.0),
        facility(&s, "primary_school", 0.0, 100.0),
        facility(&s, "junior_middle_school", 0.0, 100.0),
    ];
    let origins = vec![origin("home", 0.0, 0.0)];
    let net = compute_network(&g, &origins, &facilities, &s.tiers, &s.reqs, &Params::default()).unwrap();
    // 2100 m is beyond the default 2000 m search: the school is "not reached".
    assert!(dist(&net, &s, 0, "kindergarten").is_infinite());
    assert!(!net.within_tier(0, 0));
    let far = Params { max_walk_m: 5000.0, ..Default::default() };
    let net_far = compute_network(&g, &origins, &facilities, &s.tiers, &s.reqs, &far).unwrap();
    assert!((dist(&net_far, &s, 0, "junior_middle_school") - 2100.0).abs() < 1e-9);
    assert!(!net_far.within_tier(0, 2));
    let buf = compute_buffer(&planar(), &origins, &facilities, &s.tiers, &s.reqs, &Params::default()).unwrap();
    assert_eq!(buf.method.label(), "buffer");
    assert!((dist(&buf, &s, 0, "kindergarten") - 100.0).abs() < 1e-9);
    assert!(buf.within_tier(0, 2), "straight lines cross the river");
}

/// An origin 800 m off the network is unreachable (beyond --max-snap 500 m) and counted; a
/// facility on a disconnected piece is counted and reaches no one on the main network.
#[test]
fn off_network_origin_and_disconnected_facility() {
    let s = setup();
    let mut lines = grid();
    lines.push(line(&[(2000.0, 0.0), (2100.0, 0.0)])); // a piece of its own
    let g = Graph::build(&lines, Noding::Vertices, &planar()).unwrap();
    assert_eq!(g.components().len(), 2);
    let facilities = vec![
        facility(&s, "kindergarten", 2050.0, 10.0), // on the detached piece
        facility(&s, "primary_school", 100.0, 100.0),
        facility(&s, "junior_middle_school", 5000.0, 5000.0), // beyond the snap limit
    ];
    let origins = vec![origin("on", 50.0, 0.0), origin("off", 150.0, -800.0)];
    let lc = compute_network(&g, &origins, &facilities, &s.tiers, &s.reqs, &Params::default()).unwrap();
    assert_eq!(lc.unreachable_origins, 1);
    assert!(lc.snaps[1].is_none() && lc.components[1].is_none());
    assert_eq!(lc.components[0], Some(0));
    assert!(lc.distances(1).iter().all(|d| d.is_infinite()));
    assert!(!lc.within_tier(1, 0) && !lc.meets(1, 1));
    assert!(dist(&lc, &s, 0, "kindergarten").is_infinite(), "the detached kindergarten is out of reach");
    assert!((dist(&lc, &s, 0, "primary_school") - 150.0).abs() < 1e-9);
    let k = |code: &str| lc.types.iter().position(|&t| t == s.types.index_of(code).unwrap()).unwrap();
    assert_eq!(lc.facility_stats[k("kindergarten")].outside_largest_component, 1);
    assert_eq!(lc.facility_stats[k("junior_middle_school")].beyond_max_snap, 1);

    // Every origin beyond the snap limit is an error that says so.
    let e = compute_network(&g, &origins[1..], &facilities, &s.tiers, &s.reqs, &Params::default()).unwrap_err();
    assert!(e.to_string().contains("--max-snap") && e.to_string().contains("all 1 origins"), "{e}");
}

/// The service area of a corner kindergarten (300 m) on the grid: every point of the street network
/// within 300 m, 1200 m of street by hand (600 m along each direction).
#[test]
fn service_area_length() {
    let s = setup();
    let g = Graph::build(&grid(), Noding::Vertices, &planar()).unwrap();
    let facilities = vec![facility(&s, "kindergarten", 300.0, 300.0), facility(&s, "primary_school", 150.0, 100.0)];
    let origins = vec![origin("a", 0.0, 0.0)];
    let params = Params { service_areas: true, ..Default::default() };
    let lc = compute_network(&g, &origins, &facilities, &s.tiers, &s.reqs, &params).unwrap();
    let k = lc.service_areas.iter().find(|a| a.kind == s.types.index_of("kindergarten").unwrap()).unwrap();
    assert!((k.length_m - 1200.0).abs() < 1e-9, "{}", k.length_m);
    let geo_len: f64 = k.lines.0.iter().map(|l| geo::Euclidean.length(l)).sum();
    assert!((geo_len - 1200.0).abs() < 1e-6, "the drawn lines are as long: {geo_len}");
    // The school in the middle of an edge, 500 m: the whole 2400 m grid but the far corner stretches.
    let p = lc.service_areas.iter().find(|a| a.kind == s.types.index_of("primary_school").unwrap()).unwrap();
    assert_eq!(p.distance_m, 500.0);
    assert!(p.length_m > 1900.0 && p.length_m <= 2400.0, "{}", p.length_m);
}

use geo::Length;
