//! Degenerate and broken geometries: repaired or skipped and counted by ingest and normalise,
//! the same for every command; never an abort of the whole run, never a panic.

use serde_json::{json, Value};

use super::world::*;

/// A polygon feature of a role (with that role's attributes) for a bad geometry.
fn polygon_feature(role: Role, g: Value) -> Feat {
    let props = match role {
        Role::Area => json!({"id": 9, "park_id": "P9", "name": "坏", "kind": "县城"}),
        Role::Parcel => json!({"dlbm": "0701"}),
        Role::Origin => json!({"id": "o9", "pop": 1}),
        _ => json!({}),
    };
    (g, props)
}

fn poly(rings: &[Vec<(f64, f64)>]) -> Value {
    json!({"type": "Polygon", "coordinates": rings.iter().map(|r| ring(r)).collect::<Vec<_>>()})
}

/// The polygon cases, each with what it must give.
fn polygon_cases(role: Role) -> Vec<(&'static str, Value, Expect)> {
    let sq = |x: f64| vec![(x, 0.0), (x + 500.0, 0.0), (x + 500.0, 500.0), (x, 500.0), (x, 0.0)];
    vec![
        (
            "self-intersecting polygon (bow tie)",
            poly(&[vec![(4000.0, 0.0), (4500.0, 500.0), (4500.0, 0.0), (4000.0, 500.0), (4000.0, 0.0)]]),
            repaired(role, "invalid polygon repaired with make-valid"),
        ),
        (
            "unclosed ring",
            poly(&[vec![(4000.0, 0.0), (4500.0, 0.0), (4500.0, 500.0), (4000.0, 500.0)]]),
            repaired(role, "unclosed polygon ring closed"),
        ),
        (
            "zero-area polygon (collinear ring)",
            poly(&[vec![(4000.0, 0.0), (4500.0, 0.0), (4800.0, 0.0), (4000.0, 0.0)]]),
            skipped(role, "no area"),
        ),
        (
            "zero-area polygon (closed way of two points)",
            poly(&[vec![(4000.0, 0.0), (4500.0, 0.0), (4000.0, 0.0)]]),
            skipped(role, "no area"),
        ),
        (
            "polygon too small to have an area in the frame",
            poly(&[vec![(4000.0, 0.0), (4000.0 + 1e-8, 0.0), (4000.0 + 1e-8, 1e-8), (4000.0, 1e-8), (4000.0, 0.0)]]),
            skipped(role, "no area"),
        ),
        (
            "spike",
            poly(&[vec![
                (4000.0, 0.0),
                (4500.0, 0.0),
                (4500.0, 200.0),
                (4900.0, 200.0),
                (4500.0, 200.0),
                (4500.0, 500.0),
                (4000.0, 500.0),
                (4000.0, 0.0),
            ]]),
            repaired(role, "invalid polygon repaired with make-valid"),
        ),
        (
            "hole outside the shell",
            poly(&[sq(4000.0), sq(5000.0)]),
            repaired(role, "invalid polygon repaired with make-valid"),
        ),
        (
            "duplicate consecutive vertices in a ring",
            poly(&[vec![(4000.0, 0.0), (4500.0, 0.0), (4500.0, 0.0), (4500.0, 500.0), (4000.0, 500.0), (4000.0, 0.0)]]),
            repaired(role, "duplicate consecutive vertices removed"),
        ),
        (
            "absurd coordinates (1e300)",
            poly(&[vec![(4000.0, 0.0), (1e300, 0.0), (4500.0, 500.0), (4000.0, 0.0)]]),
            skipped(role, "out of range"),
        ),
        ("null geometry", Value::Null, skipped(role, "empty geometry")),
        ("empty geometry", json!({"type": "Polygon", "coordinates": []}), skipped(role, "empty geometry")),
    ]
}

/// Line cases for roads.
fn line_cases() -> Vec<(&'static str, Value, Expect)> {
    let r = Role::Road;
    vec![
        ("line of one point", line(&[(4000.0, 0.0)]), skipped(r, "fewer than two distinct points")),
        (
            "line of one point repeated",
            line(&[(4000.0, 0.0), (4000.0, 0.0), (4000.0, 0.0)]),
            skipped(r, "fewer than two distinct points"),
        ),
        (
            "duplicate consecutive vertices",
            line(&[(50.0, 0.0), (50.0, 0.0), (50.0, 300.0), (50.0, 300.0), (50.0, 600.0)]),
            repaired(r, "duplicate consecutive vertices removed"),
        ),
        (
            "multi-line with a one-point part",
            json!({"type": "MultiLineString", "coordinates": [[xy(50.0, 0.0), xy(50.0, 300.0)], [xy(60.0, 0.0)]]}),
            repaired(r, "parts of fewer than two distinct points dropped"),
        ),
        ("absurd coordinates (1e300)", line(&[(50.0, 0.0), (1e300, 0.0)]), skipped(r, "out of range")),
        ("null geometry", Value::Null, skipped(r, "empty geometry")),
        ("point among lines", point(50.0, 50.0), skipped(r, "Point geometry where line geometries are expected")),
    ]
}

#[test]
fn polygons_repaired_or_skipped_and_counted() {
    let w = World::new();
    let mut cases = Vec::new();
    for role in [Role::Area, Role::Parcel, Role::Origin] {
        for (i, (name, g, expect)) in polygon_cases(role).into_iter().enumerate() {
            let file = format!("poly_{role:?}_{i}.geojson").to_lowercase();
            let bad = w.with_extra(role, &file, &[polygon_feature(role, g)]);
            cases.push((format!("{name} as {role:?}"), role, bad, expect));
        }
    }
    let runs = run_all(&w, &cases);
    assert!(runs >= 40, "{runs}");
}

#[test]
fn lines_repaired_or_skipped_and_counted() {
    let w = World::new();
    let mut cases = Vec::new();
    for (i, (name, g, expect)) in line_cases().into_iter().enumerate() {
        let bad =
            w.with_extra(Role::Road, &format!("line_{i}.geojson"), &[(g, json!({"grade": "支路", "width_m": 20}))]);
        cases.push((name.to_string(), Role::Road, bad, expect));
    }
    run_all(&w, &cases);
}

/// The hole outside its shell is dropped, not turned into land: park P9 (a 500 m square) measures
/// 0.25 km², not 0.5.
#[test]
fn hole_outside_the_shell_is_not_land() {
    let w = World::new();
    let sq = |x: f64| vec![(x, 0.0), (x + 500.0, 0.0), (x + 500.0, 500.0), (x, 500.0), (x, 0.0)];
    let bad =
        w.with_extra(Role::Area, "holes.geojson", &[polygon_feature(Role::Area, poly(&[sq(4000.0), sq(5000.0)]))]);
    let out = w.path("o.geojson");
    let args = w.args(Cmd::RoadDensity, Role::Area, &bad, &out, &["--measure", "planar", "--planar-crs", "EPSG:4527"]);
    crate::common::run_ok(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let fc = crate::common::read_collection(&out);
    let f = fc.features.iter().find(|f| crate::common::text(f, "area_id") == "9").unwrap();
    assert!((crate::common::num(f, "area_km2") - 0.25).abs() < 1e-9);
}

/// NaN and infinite coordinates cannot be written in GeoJSON; a GeoPackage written through GDAL
/// holds them.
#[test]
fn nan_and_infinite_coordinates_are_skipped() {
    use planaudit::ingest::write::{write_layer, FieldKind, FieldValue, GeometryKind, LayerData};
    let w = World::new();
    let mut cases = Vec::new();
    for (i, bad) in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY].into_iter().enumerate() {
        // Roads.
        let mut roads = LayerData::new(
            "roads",
            4527,
            GeometryKind::LineString,
            &[("grade", FieldKind::String), ("width_m", FieldKind::Real)],
        );
        for (g, p) in good(Role::Road) {
            let g: geo::Geometry<f64> = serde_json::from_value::<geojson::Geometry>(g).unwrap().try_into().unwrap();
            roads
                .features
                .push((g, vec![FieldValue::String(p["grade"].as_str().unwrap().into()), FieldValue::Real(20.0)]));
        }
        let bad_line = geo::LineString::from(vec![(X0 + 50.0, Y0), (X0 + bad, Y0 + 100.0)]);
        roads.features.push((bad_line.into(), vec![FieldValue::String("支路".into()), FieldValue::Real(20.0)]));
        let p = w.path(&format!("nan_roads_{i}.gpkg"));
        write_layer(&p, "GPKG", &roads, &[]).unwrap();
        let mut n = good(Role::Road).len() as u64;
        cases.push((
            format!("{bad} in a road"),
            Role::Road,
            p.display().to_string(),
            Expect::Counted {
                read: n + 1,
                used: n,
                skipped: Some("non-finite".into()),
                repaired: None,
                flagged: None,
                stderr: vec![],
            },
        ));
        // Areas.
        let mut areas = LayerData::new(
            "areas",
            4527,
            GeometryKind::Polygon,
            &[
                ("id", FieldKind::Integer),
                ("park_id", FieldKind::String),
                ("name", FieldKind::String),
                ("kind", FieldKind::String),
            ],
        );
        for (g, p) in good(Role::Area) {
            let g: geo::Geometry<f64> = serde_json::from_value::<geojson::Geometry>(g).unwrap().try_into().unwrap();
            areas.features.push((
                g,
                vec![
                    FieldValue::Integer(p["id"].as_i64().unwrap()),
                    FieldValue::String(p["park_id"].as_str().unwrap().into()),
                    FieldValue::String(p["name"].as_str().unwrap().into()),
                    FieldValue::String(p["kind"].as_str().unwrap().into()),
                ],
            ));
        }
        let bad_poly = geo::Polygon::new(
            geo::LineString::from(vec![
                (X0 + 4000.0, Y0),
                (X0 + bad, Y0),
                (X0 + 4500.0, Y0 + 500.0),
                (X0 + 4000.0, Y0),
            ]),
            vec![],
        );
        areas.features.push((
            bad_poly.into(),
            vec![
                FieldValue::Integer(9),
                FieldValue::String("P9".into()),
                FieldValue::String("坏区".into()),
                FieldValue::String("县城".into()),
            ],
        ));
        let p = w.path(&format!("nan_areas_{i}.gpkg"));
        write_layer(&p, "GPKG", &areas, &[]).unwrap();
        n = good(Role::Area).len() as u64;
        cases.push((
            format!("{bad} in an area"),
            Role::Area,
            p.display().to_string(),
            Expect::Counted {
                read: n + 1,
                used: n,
                skipped: Some("non-finite".into()),
                repaired: None,
                flagged: None,
                stderr: vec![],
            },
        ));
    }
    run_all(&w, &cases);
}

/// A layer whose every feature is unusable is an error naming the layer and the reasons, for
/// every command that reads it.
#[test]
fn layers_with_nothing_usable() {
    let w = World::new();
    let mut cases = Vec::new();
    for role in Role::ALL {
        let empty = w.path(&format!("empty_{role:?}.geojson").to_lowercase());
        write_geojson(&empty, Some(4527), &[]);
        let file = empty.file_name().unwrap().to_string_lossy().into_owned();
        cases.push((format!("empty {role:?} layer"), role, empty.display().to_string(), fail(1, &[&file, "empty"])));

        let nulls = w.path(&format!("nulls_{role:?}.geojson").to_lowercase());
        let feats: Vec<Feat> = good(role).into_iter().map(|(_, p)| (Value::Null, p)).collect();
        write_geojson(&nulls, Some(4527), &feats);
        let file = nulls.file_name().unwrap().to_string_lossy().into_owned();
        cases.push((
            format!("all-null {role:?} geometries"),
            role,
            nulls.display().to_string(),
            fail(1, &[&file, "skipped", "empty geometry"]),
        ));

        if matches!(role, Role::Area | Role::Parcel | Role::Origin) {
            let flat = w.path(&format!("flat_{role:?}.geojson").to_lowercase());
            let feats: Vec<Feat> = good(role)
                .into_iter()
                .map(|(_, p)| (poly(&[vec![(0.0, 0.0), (500.0, 0.0), (900.0, 0.0), (0.0, 0.0)]]), p))
                .collect();
            write_geojson(&flat, Some(4527), &feats);
            let file = flat.file_name().unwrap().to_string_lossy().into_owned();
            cases.push((
                format!("all-flat {role:?} polygons"),
                role,
                flat.display().to_string(),
                fail(1, &[&file, "no area"]),
            ));
        }
    }
    run_all(&w, &cases);
}

/// The wrong geometry type for a role: an error naming the layer, the role and the type found.
#[test]
fn wrong_geometry_type_for_the_role() {
    let w = World::new();
    let mut cases = Vec::new();
    let points: Vec<Feat> = good(Role::Facility)
        .into_iter()
        .map(|(g, _)| (g, json!({"grade": "支路", "id": 1, "park_id": "P", "dlbm": "0701"})))
        .collect();
    let pts = w.path("points.geojson");
    write_geojson(&pts, Some(4527), &points);
    let lines: Vec<Feat> = good(Role::Road)
        .into_iter()
        .map(|(g, _)| (g, json!({"type": "幼儿园", "id": 1, "park_id": "P", "dlbm": "0701"})))
        .collect();
    let lns = w.path("lines.geojson");
    write_geojson(&lns, Some(4527), &lines);
    let p = |x: &std::path::Path| x.display().to_string();
    cases.push(("points as roads".to_string(), Role::Road, p(&pts), fail(1, &["points.geojson", "roads", "line"])));
    cases.push(("points as areas".to_string(), Role::Area, p(&pts), fail(1, &["points.geojson", "polygon"])));
    cases.push(("points as parcels".to_string(), Role::Parcel, p(&pts), fail(1, &["points.geojson", "polygon"])));
    cases.push((
        "lines as origins".to_string(),
        Role::Origin,
        p(&lns),
        fail(1, &["lines.geojson", "origins", "point or polygon"]),
    ));
    cases.push((
        "lines as facilities".to_string(),
        Role::Facility,
        p(&lns),
        fail(1, &["lines.geojson", "facilities", "point or polygon"]),
    ));
    run_all(&w, &cases);
}
