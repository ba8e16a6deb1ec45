use super::*;
use crate::normalise::crs::Method;
use geo::polygon;

const X0: f64 = 39_480_000.0;
const Y0: f64 = 3_515_000.0;

fn planar() -> Frame {
    Frame::new("EPSG:4527", Method::Planar).unwrap()
}

/// A road of one line; its grade and line live for the rest of the test run (roads borrow them
/// from the layer read in the product).
fn road(fid: u64, grade: &str, width: Option<f64>, pts: &[(f64, f64)]) -> Road<'static> {
    let line = LineString::from(pts.iter().map(|&(x, y)| (X0 + x, Y0 + y)).collect::<Vec<_>>());
    Road {
        fid,
        grade_value: Box::leak(grade.to_string().into_boxed_str()),
        width_m: width,
        line: Box::leak(vec![line].into_boxed_slice()),
    }
}

/// A 1 km × 1 km area.
fn square_area(kind: &str) -> Area {
    Area {
        id: "a1".into(),
        fid: 0,
        name: Some("test".into()),
        kind: Some(kind.into()),
        polygon: MultiPolygon(vec![polygon![
            (x: X0, y: Y0), (x: X0 + 1000.0, y: Y0), (x: X0 + 1000.0, y: Y0 + 1000.0), (x: X0, y: Y0 + 1000.0), (x: X0, y: Y0)
        ]]),
    }
}

fn fixture_roads() -> Vec<Road<'static>> {
    vec![
        // Crosses the whole square and sticks out 300 m on each side: 1 km inside.
        road(1, "主干路", Some(50.0), &[(-300.0, 500.0), (1300.0, 500.0)]),
        // Lies on the southern boundary: counts in full (1 km).
        road(2, "支路", Some(15.0), &[(0.0, 0.0), (1000.0, 0.0)]),
        // Half inside: 0.5 km.
        road(3, "次干路", Some(30.0), &[(250.0, 500.0), (250.0, 1500.0)]),
        // A motorway through the middle: known, not counted.
        road(4, "高速公路", Some(60.0), &[(500.0, -100.0), (500.0, 1100.0)]),
        // A value no table knows: reported, not counted.
        road(5, "乡道", None, &[(700.0, 100.0), (700.0, 300.0)]),
        // Entirely outside.
        road(6, "支路", None, &[(2000.0, 2000.0), (3000.0, 2000.0)]),
        // Empty grade.
        road(7, " ", None, &[(100.0, 900.0), (200.0, 900.0)]),
    ]
}

fn run(kind: &str, params: &Params) -> RoadDensity {
    let grades = GradeTable::load("cn").unwrap();
    let kinds = Kinds::builtin().unwrap();
    compute(&[square_area(kind)], &fixture_roads(), &grades, &kinds, &planar(), params).unwrap()
}

#[test]
fn hand_computed_square() {
    let r = run("县城", &Params { has_width: true, ..Default::default() });
    let a = &r.areas[0];
    assert!((a.area_km2 - 1.0).abs() < 1e-9);
    assert!((a.road_length_km - 2.5).abs() < 1e-9, "length {}", a.road_length_km);
    assert!((a.density_km_per_km2 - 2.5).abs() < 1e-9);
    assert!((a.by_grade["arterial"] - 1.0).abs() < 1e-9);
    assert!((a.by_grade["branch"] - 1.0).abs() < 1e-9);
    assert!((a.by_grade["secondary"] - 0.5).abs() < 1e-9);
    assert!((a.excluded_by_value["高速公路"] - 1.0).abs() < 1e-9);
    assert!((a.unknown_grades["乡道"] - 0.2).abs() < 1e-9);
    assert!((a.unknown_grades[EMPTY_GRADE] - 0.1).abs() < 1e-9);
    // County-town target 7.0 from the table: 4.5 km short.
    assert_eq!(a.kind.as_deref(), Some("county_town"));
    assert!((a.target_km_per_km2.unwrap() - 7.0).abs() < 1e-12);
    assert_eq!(a.meets_target, Some(false));
    assert!((a.shortfall_km.unwrap() - 4.5).abs() < 1e-9);
    // The 50 m 主干路 breaks the 40 m county-town cap; the motorway is not an urban road.
    assert!((a.roads_over_max_width_km.unwrap() - 1.0).abs() < 1e-9);
    assert_eq!(r.wide_roads.len(), 1);
    assert_eq!(r.wide_roads[0].road_fid, 1);
}

#[test]
fn targets_from_options() {
    let params = Params { targets: vec![("county_town".into(), 2.0)], ..Default::default() };
    let a = &run("县城", &params).areas[0];
    assert_eq!(a.meets_target, Some(true));
    assert!(a.shortfall_km.unwrap().abs() < 1e-12);
    // Without a width field there is no width check.
    assert!(a.roads_over_max_width_km.is_none());

    let unknown_kind = run("开发区", &Params::default());
    assert!(unknown_kind.areas[0].target_km_per_km2.is_none());
    assert!(unknown_kind.areas[0].meets_target.is_none());
    let with_default = run("开发区", &Params { default_target: Some(3.0), ..Default::default() });
    assert_eq!(with_default.areas[0].meets_target, Some(false));
    // Central city has no width cap unless --max-width is given.
    let central = run("中心城区", &Params { has_width: true, ..Default::default() });
    assert!(central.areas[0].roads_over_max_width_km.is_none());
    let capped = run("中心城区", &Params { has_width: true, max_width_m: Some(20.0), ..Default::default() });
    assert!((capped.areas[0].roads_over_max_width_km.unwrap() - 1.5).abs() < 1e-9);
}

#[test]
fn density_is_judged_as_reported() {
    let grades = GradeTable::load("cn").unwrap();
    let kinds = Kinds::builtin().unwrap();
    let params = Params { targets: vec![("county_town".into(), 1.0)], ..Default::default() };
    // 0.4 mm short of 1 km in 1 km²: reported as 1.000000 km/km², which meets 1.0; 0.6 mm short is
    // reported as 0.999999 and does not.
    for (short_m, meets) in [(0.0004, true), (0.0006, false)] {
        let roads = vec![road(1, "支路", None, &[(0.0, 500.0), (1000.0 - short_m, 500.0)])];
        let r = compute(&[square_area("县城")], &roads, &grades, &kinds, &planar(), &params).unwrap();
        let a = &r.areas[0];
        assert!((a.density_km_per_km2 - (1.0 - short_m / 1000.0)).abs() < 1e-9, "{}", a.density_km_per_km2);
        assert_eq!(a.meets_target, Some(meets), "{short_m} m short");
        // A target met as reported has no shortfall.
        assert_eq!(a.shortfall_km.unwrap() > 0.0, !meets, "{:?}", a.shortfall_km);
    }
}

#[test]
fn roads_drawn_over_one_another_count_once() {
    let grades = GradeTable::load("cn").unwrap();
    let kinds = Kinds::builtin().unwrap();
    let params = Params { has_width: true, grid_cell_m: Some(500.0), ..Default::default() };
    let line = [(100.0, 100.0), (900.0, 100.0)];
    let back = [(900.0, 100.0), (100.0, 100.0)];
    // A diagonal of two segments, and the same drawn back in one (through the same middle point).
    let diagonal = [(0.0, 0.0), (400.0, 300.0), (800.0, 600.0)];
    let diagonal_back = [(800.0, 600.0), (0.0, 0.0)];
    // Up a line of constant x, and down it.
    let (up, down) = ([(300.0, 50.0), (300.0, 850.0)], [(300.0, 850.0), (300.0, 50.0)]);
    let cases = [
        // The same road twice, and once more as another grade: 0.8 km of road.
        (vec![road(1, "支路", None, &line), road(2, "支路", None, &line), road(3, "次干路", None, &line)], 0.8),
        // Two wide roads on one another (the county-town cap is 40 m): 0.8 km, and 0.8 km too wide.
        (vec![road(1, " 支路 ", Some(50.0), &line), road(2, "支路", Some(50.0), &line)], 0.8),
        // 800 m, and 500 m inside the area overlapping it by 400 m: 0.9 km.
        (vec![road(1, "支路", None, &line), road(2, "主干路", None, &[(500.0, 100.0), (1200.0, 100.0)])], 0.9),
        // The same road drawn both ways, of one grade and of two: 0.8 km.
        (vec![road(1, "支路", None, &line), road(2, "支路", None, &back), road(3, "次干路", None, &back)], 0.8),
        // Two wide roads on one another, drawn opposite ways: 0.8 km, and 0.8 km too wide.
        (vec![road(1, "支路", Some(50.0), &line), road(2, "支路", Some(50.0), &back)], 0.8),
        // 800 m, and 700 m drawn back from outside the area, overlapping it by 400 m: 0.9 km.
        (vec![road(1, "支路", None, &line), road(2, "主干路", None, &[(1200.0, 100.0), (500.0, 100.0)])], 0.9),
        // A diagonal of 1 km, drawn back in one segment: 1 km.
        (vec![road(1, "支路", None, &diagonal), road(2, "主干路", None, &diagonal_back)], 1.0),
        // Up and down a line of constant x: 0.8 km.
        (vec![road(1, "支路", None, &up), road(2, "支路", None, &down)], 0.8),
        // One wide road drawn out and back: 0.8 km, and 0.8 km too wide.
        (vec![road(1, "支路", Some(50.0), &[(100.0, 100.0), (900.0, 100.0), (100.0, 100.0)])], 0.8),
    ];
    for (i, (roads, want_km)) in cases.into_iter().enumerate() {
        let r = compute(&[square_area("县城")], &roads, &grades, &kinds, &planar(), &params).unwrap();
        let a = &r.areas[0];
        assert!((a.road_length_km - want_km).abs() < 1e-9, "case {i}: {}", a.road_length_km);
        let cells = crate::units::sum(r.grid.iter().map(|c| c.road_length_km));
        assert!((cells - want_km).abs() < 1e-9, "case {i}: cells {cells}");
        // Each grade on its own: every grade listed has its own length, none is listed at zero.
        assert!(a.by_grade.values().all(|&km| km > 0.0 && km <= want_km + 1e-9), "case {i}: {:?}", a.by_grade);
        if i == 1 || i == 4 {
            assert!((a.roads_over_max_width_km.unwrap() - 0.8).abs() < 1e-9, "{:?}", a.roads_over_max_width_km);
            assert_eq!(r.wide_roads.len(), 2);
            assert_eq!(r.wide_roads[0].grade, "支路", "grade values are trimmed");
            // Each wide road is listed as it was drawn, with its own length.
            for (w, first) in r.wide_roads.iter().zip([line[0], if i == 1 { line[0] } else { back[0] }]) {
                assert!((w.length_km - 0.8).abs() < 1e-9, "{}", w.length_km);
                let start = w.line.0[0].0[0];
                assert!((start.x - X0 - first.0).abs() < 1e-6, "road {} starts at {start:?}", w.road_fid);
            }
        }
        if i == 8 {
            // Listed once, as drawn (out and back), with the length it covers.
            assert!((a.roads_over_max_width_km.unwrap() - 0.8).abs() < 1e-9, "{:?}", a.roads_over_max_width_km);
            assert_eq!(r.wide_roads.len(), 1);
            assert!((r.wide_roads[0].length_km - 0.8).abs() < 1e-9, "{}", r.wide_roads[0].length_km);
            assert_eq!(r.wide_roads[0].line.0[0].0.len(), 3);
        }
    }
}

#[test]
fn grid_cells_sum_to_the_area() {
    let r = run("县城", &Params { grid_cell_m: Some(300.0), ..Default::default() });
    let cell_area: f64 = crate::units::sum(r.grid.iter().map(|c| c.area_km2));
    assert!((cell_area - 1.0).abs() < 1e-9, "cells cover {cell_area}");
    // Every sub-segment goes to exactly one cell: the cells add up to the area.
    let cell_km: f64 = crate::units::sum(r.grid.iter().map(|c| c.road_length_km));
    assert!((cell_km - r.areas[0].road_length_km).abs() < 1e-9, "{cell_km}");
    let mut ids: Vec<&str> = r.grid.iter().map(|c| c.cell_id.as_str()).collect();
    ids.dedup();
    assert_eq!(ids.len(), r.grid.len(), "cell ids are unique");
}

#[test]
fn boundary_roads_on_grid_lines_stay_in_the_grid() {
    // Squares whose right edge lies on a grid line, with roads along their top and right edges and
    // one road from outside that ends inside: clipping moves the edge roads by a fraction of a
    // micrometre, outside the cells of the area for some squares.
    let grades = GradeTable::load("cn").unwrap();
    let kinds = Kinds::builtin().unwrap();
    let mut seed = 7u64;
    let mut uniform = |lo: f64, hi: f64| {
        seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        lo + (hi - lo) * (seed >> 11) as f64 / (1u64 << 53) as f64
    };
    let mut areas = Vec::new();
    let mut roads = Vec::new();
    for i in 0..40 {
        let ox = i as f64 * 5000.0;
        let mut a = square_area("县城");
        a.id = format!("a{i}");
        a.polygon = MultiPolygon(vec![polygon![
            (x: X0 + ox, y: Y0), (x: X0 + ox + 1000.0, y: Y0), (x: X0 + ox + 1000.0, y: Y0 + 1000.0), (x: X0 + ox, y: Y0 + 1000.0), (x: X0 + ox, y: Y0)
        ]]);
        areas.push(a);
        let fid = 3 * i as u64;
        roads.push(road(fid, "支路", None, &[(ox, 1000.0), (ox + 1000.0, 1000.0)]));
        roads.push(road(fid + 1, "支路", None, &[(ox + 1000.0, 0.0), (ox + 1000.0, 1000.0)]));
        let from = (ox - uniform(1.0, 700.0), uniform(100.0, 900.0));
        roads.push(road(fid + 2, "支路", None, &[from, (ox + uniform(100.0, 900.0), uniform(100.0, 900.0))]));
    }
    let params = Params { grid_cell_m: Some(500.0), ..Default::default() };
    let r = compute(&areas, &roads, &grades, &kinds, &planar(), &params).unwrap();
    for a in &r.areas {
        let cells = crate::units::sum(r.grid.iter().filter(|c| c.area_id == a.area_id).map(|c| c.road_length_km));
        assert!(a.road_length_km > 2.0, "{}: {}", a.area_id, a.road_length_km);
        assert!(
            (cells - a.road_length_km).abs() < 1e-9,
            "{}: cells {cells} km, area {} km",
            a.area_id,
            a.road_length_km
        );
    }
}

#[test]
fn road_on_the_boundary_vertices_of_a_rotated_area_counts_in_full() {
    let grades = GradeTable::load("cn").unwrap();
    let kinds = Kinds::builtin().unwrap();
    for degrees in [10.0f64, 30.0, 45.0, 61.0] {
        let (sin, cos) = degrees.to_radians().sin_cos();
        let corner = |x: f64, y: f64| (x * cos - y * sin + 100.0, x * sin + y * cos + 100.0);
        let corners = [corner(0.0, 0.0), corner(1000.0, 0.0), corner(1000.0, 1000.0), corner(0.0, 1000.0)];
        let mut area = square_area("县城");
        let ring: Vec<(f64, f64)> = corners.iter().chain(&corners[..1]).map(|&(x, y)| (X0 + x, Y0 + y)).collect();
        area.polygon = MultiPolygon(vec![Polygon::new(LineString::from(ring), vec![])]);
        // Along three edges, on the area's own vertices.
        let roads = vec![road(1, "支路", None, &[corners[0], corners[1], corners[2], corners[3]])];
        let r = compute(&[area], &roads, &grades, &kinds, &planar(), &Params::default()).unwrap();
        assert!((r.areas[0].road_length_km - 3.0).abs() < 1e-9, "{degrees}°: {}", r.areas[0].road_length_km);
    }
}

#[test]
fn boundary_road_counts_once_per_area_it_bounds() {
    let grades = GradeTable::load("cn").unwrap();
    let kinds = Kinds::builtin().unwrap();
    let left = square_area("县城");
    let mut right = square_area("县城");
    right.id = "a2".into();
    right.polygon = MultiPolygon(vec![polygon![
        (x: X0 + 1000.0, y: Y0), (x: X0 + 2000.0, y: Y0), (x: X0 + 2000.0, y: Y0 + 1000.0), (x: X0 + 1000.0, y: Y0 + 1000.0), (x: X0 + 1000.0, y: Y0)
    ]]);
    let shared = vec![road(1, "支路", None, &[(1000.0, 0.0), (1000.0, 1000.0)])];
    let r = compute(&[left, right], &shared, &grades, &kinds, &planar(), &Params::default()).unwrap();
    for a in &r.areas {
        assert!((a.road_length_km - 1.0).abs() < 1e-9, "{}: {}", a.area_id, a.road_length_km);
    }
    // Sanity on a diagonal road: clipping agrees with the hand value 1000·√2 m.
    let diag = vec![road(1, "支路", None, &[(-100.0, -100.0), (1100.0, 1100.0)])];
    let r = compute(&[square_area("县城")], &diag, &grades, &kinds, &planar(), &Params::default()).unwrap();
    assert!((r.areas[0].road_length_km - 2f64.sqrt()).abs() < 1e-9);
}

#[test]
fn grid_split_is_exact_on_edges() {
    let cuts = split_at_grid(geo::coord! { x: -50.0, y: 100.0 }, geo::coord! { x: 650.0, y: 100.0 }, 300.0);
    let xs: Vec<(f64, f64)> = cuts.iter().map(|(a, b)| (a.x, b.x)).collect();
    assert_eq!(xs.len(), 4);
    for ((a, b), (ea, eb)) in xs.iter().zip([(-50.0, 0.0), (0.0, 300.0), (300.0, 600.0), (600.0, 650.0)]) {
        assert!((a - ea).abs() < 1e-9 && (b - eb).abs() < 1e-9, "{xs:?}");
    }
    // A road on the area's outer edge (x = X0) goes to the cell inside the area.
    let grades = GradeTable::load("cn").unwrap();
    let kinds = Kinds::builtin().unwrap();
    let edge = vec![
        road(1, "支路", None, &[(0.0, 0.0), (0.0, 1000.0)]),
        road(2, "支路", None, &[(1000.0, 0.0), (1000.0, 1000.0)]),
    ];
    let params = Params { grid_cell_m: Some(500.0), ..Default::default() };
    let r = compute(&[square_area("县城")], &edge, &grades, &kinds, &planar(), &params).unwrap();
    let total: f64 = crate::units::sum(r.grid.iter().map(|c| c.road_length_km));
    assert!((total - 2.0).abs() < 1e-9, "grid total {total}");
    assert_eq!(r.grid.len(), 4);
}
