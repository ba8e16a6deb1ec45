//! Attribute values the tables do not expect: unknown facility types and land-use codes, empty
//! strings, numbers where text was expected, text where numbers were expected. Each is kept and
//! flagged, or skipped, and counted; never a silent drop, never an abort of the run.

use serde_json::json;

use super::world::*;

#[test]
fn unexpected_values_are_flagged_or_skipped() {
    let w = World::new();
    let mut cases = Vec::new();
    let mut add = |name: &str, role: Role, extra: Feat, expect: Expect| {
        let file = format!("field_{}.geojson", cases.len());
        let bad = w.with_extra(role, &file, &[extra]);
        cases.push((name.to_string(), role, bad, expect));
    };
    let fac = Role::Facility;
    add(
        "unknown facility type",
        fac,
        (point(200.0, 300.0), json!({"type": "网吧"})),
        flagged(fac, "facility type not in the table"),
    );
    add(
        "facility type as a number",
        fac,
        (point(200.0, 300.0), json!({"type": 42})),
        flagged(fac, "facility type not in the table"),
    );
    add(
        "empty facility type",
        fac,
        (point(200.0, 300.0), json!({"type": ""})),
        skipped(fac, "no value in the type field"),
    );
    add(
        "blank facility type",
        fac,
        (point(200.0, 300.0), json!({"type": "   "})),
        skipped(fac, "no value in the type field"),
    );
    add(
        "null facility type",
        fac,
        (point(200.0, 300.0), json!({"type": null})),
        skipped(fac, "no value in the type field"),
    );

    let par = Role::Parcel;
    add(
        "unknown land-use code",
        par,
        (rect(0.0, 0.0, 100.0, 100.0), json!({"dlbm": "9999"})),
        flagged(par, "is in no row of table tdt2023"),
    );
    add("empty land-use code", par, (rect(0.0, 0.0, 100.0, 100.0), json!({"dlbm": ""})), flagged(par, "all empty"));
    add("land-use code as a number", par, (rect(0.0, 0.0, 100.0, 100.0), json!({"dlbm": 701})), flagged(par, "'701'"));

    let ori = Role::Origin;
    add(
        "population as text",
        ori,
        (point(160.0, 250.0), json!({"id": "o9", "pop": "many"})),
        flagged(ori, "population is not a number"),
    );
    add("population empty", ori, (point(160.0, 250.0), json!({"id": "o9", "pop": ""})), flagged(ori, "no population"));
    add(
        "population negative",
        ori,
        (point(160.0, 250.0), json!({"id": "o9", "pop": -5})),
        flagged(ori, "population is negative"),
    );

    run_all(&w, &cases);

    // Only road-density (and the audit) read the width.
    let road = Role::Road;
    for (name, width, reason) in [
        ("width as text", json!("wide"), "is not a number of metres"),
        ("width null", json!(null), "no width (no width check)"),
        ("width empty", json!(" "), "no width (no width check)"),
    ] {
        let bad = w.with_extra(
            road,
            "wide.geojson",
            &[(line(&[(50.0, 0.0), (50.0, 100.0)]), json!({"grade": "支路", "width_m": width}))],
        );
        for cmd in [Cmd::RoadDensity, Cmd::Audit] {
            let f = check(&w, name, cmd, road, &bad, &[], &flagged(road, reason));
            assert!(f.is_none(), "{}", f.unwrap());
        }
    }
}

/// Values of road grades and area kinds that the tables do not know are reported by value in the
/// outputs (not counted in the density, no target), not dropped.
#[test]
fn unknown_grades_and_kinds_are_reported() {
    let w = World::new();
    let roads = w.with_extra(
        Role::Road,
        "odd_roads.geojson",
        &[
            (line(&[(50.0, 0.0), (50.0, 1000.0)]), json!({"grade": "乡道?", "width_m": 10})),
            (line(&[(60.0, 0.0), (60.0, 1000.0)]), json!({"grade": "", "width_m": 10})),
            (line(&[(70.0, 0.0), (70.0, 1000.0)]), json!({"grade": 3, "width_m": 10})),
        ],
    );
    let areas = w.with_extra(
        Role::Area,
        "odd_areas.geojson",
        &[
            (rect(4000.0, 0.0, 5000.0, 1000.0), json!({"id": 7, "park_id": "P7", "name": "", "kind": "开发区"})),
            (rect(6000.0, 0.0, 7000.0, 1000.0), json!({"id": 8, "park_id": "P8", "name": 12, "kind": 3})),
        ],
    );
    let out = w.path("odd.geojson");
    let mut args = w.args(Cmd::RoadDensity, Role::Road, &roads, &out, &[]);
    args[4] = areas.clone();
    crate::common::run_ok(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let fc = crate::common::read_collection(&out);
    let a1 = fc.features.iter().find(|f| crate::common::text(f, "area_id") == "1").unwrap();
    let unknown = a1.property("unknown_grades").unwrap();
    for v in ["乡道?", "(empty)", "3"] {
        assert!(unknown.get(v).and_then(|x| x.as_f64()).is_some_and(|km| (km - 1.0).abs() < 1e-3), "{v}: {unknown}");
    }
    let a7 = fc.features.iter().find(|f| crate::common::text(f, "area_id") == "7").unwrap();
    assert_eq!(crate::common::text(a7, "kind_label"), "开发区");
    assert!(a7.property("target_km_per_km2").unwrap().is_null());
    let a8 = fc.features.iter().find(|f| crate::common::text(f, "area_id") == "8").unwrap();
    assert_eq!(crate::common::text(a8, "kind_label"), "3");
}
