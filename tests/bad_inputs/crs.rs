//! Coordinates in the wrong place: latitude first, a projected layer labelled WGS84, GCJ-02 data
//! mixed with CGCS2000 data.

use serde_json::Value;

use super::world::*;
use planaudit::normalise::crs::offsets::wgs84_to_gcj02;

/// The role's good features taken to WGS84 longitude/latitude (through GDAL), as JSON.
fn lonlat_features(w: &World, role: Role) -> Vec<Feat> {
    let p = w.path(&format!("{role:?}_4326.geojson").to_lowercase());
    crate::common::ogr2ogr(&["-t_srs", "EPSG:4326", p.to_str().unwrap(), w.good_path(role).to_str().unwrap()]);
    let v: Value = serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
    v["features"].as_array().unwrap().iter().map(|f| (f["geometry"].clone(), f["properties"].clone())).collect()
}

/// Applies `f` to every coordinate pair of a GeoJSON geometry.
fn map_coords(g: &mut Value, f: &dyn Fn(f64, f64) -> (f64, f64)) {
    match g {
        Value::Array(a) if a.len() == 2 && a[0].is_number() => {
            let (x, y) = f(a[0].as_f64().unwrap(), a[1].as_f64().unwrap());
            *g = serde_json::json!([x, y]);
        }
        Value::Array(a) => a.iter_mut().for_each(|v| map_coords(v, f)),
        Value::Object(o) => {
            if let Some(c) = o.get_mut("coordinates") {
                map_coords(c, f)
            }
        }
        _ => {}
    }
}

#[test]
fn latitude_first_and_projected_labelled_wgs84() {
    let w = World::new();
    let mut cases = Vec::new();
    for role in Role::ALL {
        let r = format!("{role:?}").to_lowercase();
        let mut feats = lonlat_features(&w, role);
        for (g, _) in &mut feats {
            map_coords(g, &|x, y| (y, x));
        }
        let p = w.path(&format!("{r}_latfirst.geojson"));
        write_geojson(&p, None, &feats);
        cases.push((
            format!("latitude first ({r})"),
            role,
            p.display().to_string(),
            fail(1, &[&format!("{r}_latfirst.geojson"), "axis order", "EPSG:4326"]),
        ));
        // EPSG:4527 metres in a GeoJSON without a crs member, which means WGS84.
        let p = w.path(&format!("{r}_metres_as_wgs84.geojson"));
        write_geojson(&p, None, &good(role));
        cases.push((
            format!("projected layer labelled WGS84 ({r})"),
            role,
            p.display().to_string(),
            fail(1, &[&format!("{r}_metres_as_wgs84.geojson"), "check the CRS"]),
        ));
    }
    run_all(&w, &cases);
}

/// A layer in GCJ-02 read as WGS84 beside CGCS2000 layers: a warning that names it and says
/// gcj02, for every command (the numbers are then computed as asked).
#[test]
fn gcj02_mixed_with_cgcs2000_warns() {
    let w = World::new();
    let mut cases = Vec::new();
    for role in Role::ALL {
        let r = format!("{role:?}").to_lowercase();
        let mut feats = lonlat_features(&w, role);
        for (g, _) in &mut feats {
            map_coords(g, &|x, y| wgs84_to_gcj02(x, y));
        }
        let p = w.path(&format!("{r}_gcj02.geojson"));
        write_geojson(&p, None, &feats);
        let n = good(role).len() as u64;
        let file = format!("{r}_gcj02.geojson");
        cases.push((
            format!("GCJ-02 {r} among CGCS2000 layers"),
            role,
            p.display().to_string(),
            Expect::Counted {
                read: n,
                used: n,
                skipped: None,
                repaired: None,
                flagged: None,
                stderr: vec!["warning".into(), file, "GCJ-02".into(), "gcj02".into()],
            },
        ));
    }
    // Shifted origins may lie beyond living-circle's default --max-snap: allow more.
    let mut failures = Vec::new();
    for (name, role, bad, expect) in &cases {
        for cmd in Cmd::reading(*role) {
            let extra: &[&str] = if cmd == Cmd::LivingCircle { &["--max-snap", "2000"] } else { &[] };
            if let Some(f) = check(&w, name, cmd, *role, bad, extra, expect) {
                failures.push(f);
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// With the CRS given as gcj02, the same layer gives no warning and the good layer's numbers.
#[test]
fn gcj02_given_as_such_matches_the_original() {
    let w = World::new();
    let mut feats = lonlat_features(&w, Role::Area);
    for (g, _) in &mut feats {
        map_coords(g, &|x, y| wgs84_to_gcj02(x, y));
    }
    let p = w.path("areas_gcj02.geojson");
    write_geojson(&p, None, &feats);
    let (a, b) = (w.path("a.geojson"), w.path("b.geojson"));
    let args = w.args(Cmd::RoadDensity, Role::Area, p.to_str().unwrap(), &a, &["--areas-crs", "gcj02"]);
    let o = crate::common::run(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(o.status.success());
    assert!(!String::from_utf8_lossy(&o.stderr).contains("warning"), "{}", String::from_utf8_lossy(&o.stderr));
    let good = w.good_path(Role::Area);
    let args = w.args(Cmd::RoadDensity, Role::Area, good.to_str().unwrap(), &b, &[]);
    crate::common::run_ok(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let (fa, fb) = (crate::common::read_collection(&a), crate::common::read_collection(&b));
    for (x, y) in fa.features.iter().zip(&fb.features) {
        let (la, lb) = (crate::common::num(x, "road_length_km"), crate::common::num(y, "road_length_km"));
        assert!((la - lb).abs() < 1e-4, "{la} vs {lb}");
    }
}
