//! road-density end to end: hand-made layers with known answers, Liechtenstein cross-checked
//! against SpatiaLite, determinism.

use std::collections::BTreeMap;
use std::path::Path;

use crate::common::*;

/// Writes a GeoJSON layer in EPSG:4527 (CGCS2000 GK zone 39 with prefix) from WKT-ish rows.
pub fn write_4527(path: &Path, features: &[(&str, serde_json::Value)]) {
    let feats: Vec<serde_json::Value> = features
        .iter()
        .map(|(geom, props)| serde_json::json!({"type": "Feature", "properties": props, "geometry": serde_json::from_str::<serde_json::Value>(geom).unwrap()}))
        .collect();
    let fc = serde_json::json!({
        "type": "FeatureCollection",
        "crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::4527"}},
        "features": feats
    });
    std::fs::write(path, serde_json::to_string(&fc).unwrap()).unwrap();
}

const X0: f64 = 39_480_000.0;
const Y0: f64 = 3_515_000.0;

fn line(pts: &[(f64, f64)]) -> String {
    let c: Vec<String> = pts.iter().map(|(x, y)| format!("[{},{}]", X0 + x, Y0 + y)).collect();
    format!("{{\"type\":\"LineString\",\"coordinates\":[{}]}}", c.join(","))
}

/// A square polygon in EPSG:4527, `(x, y)` from the hand-made city's origin.
pub fn square(x: f64, y: f64, size: f64) -> String {
    let pts = [(x, y), (x + size, y), (x + size, y + size), (x, y + size), (x, y)];
    let c: Vec<String> = pts.iter().map(|(px, py)| format!("[{},{}]", X0 + px, Y0 + py)).collect();
    format!("{{\"type\":\"Polygon\",\"coordinates\":[[{}]]}}", c.join(","))
}

/// Two 1 km² areas: a central city with 9 km of urban roads, a county town with 5 km and one
/// over-wide road. Known answers in the planar frame.
pub fn hand_layers(dir: &Path) -> (String, String) {
    let areas = dir.join("areas.geojson");
    write_4527(
        &areas,
        &[
            (&square(0.0, 0.0, 1000.0), serde_json::json!({"id": 1, "name": "中心", "kind": "中心城区"})),
            (&square(5000.0, 0.0, 1000.0), serde_json::json!({"id": 2, "name": "县城A", "kind": "县城"})),
        ],
    );
    let mut roads: Vec<(String, serde_json::Value)> = Vec::new();
    // Central city: 9 north–south 支路 of 1 km (x = 100..900), each sticking out 200 m at both ends.
    for i in 1..=9 {
        let x = i as f64 * 100.0;
        roads.push((line(&[(x, -200.0), (x, 1200.0)]), serde_json::json!({"grade": "支路", "width_m": 20.0})));
    }
    // A motorway across it: not counted.
    roads.push((line(&[(-500.0, 500.0), (1500.0, 500.0)]), serde_json::json!({"grade": "高速公路", "width_m": 60.0})));
    // County town: 4 roads of 1 km and one 50 m wide 主干路 of 1 km.
    for i in 1..=4 {
        let x = 5000.0 + i as f64 * 200.0;
        roads.push((line(&[(x, 0.0), (x, 1000.0)]), serde_json::json!({"grade": "次干路", "width_m": 30.0})));
    }
    roads.push((line(&[(5000.0, 500.0), (6000.0, 500.0)]), serde_json::json!({"grade": "主干路", "width_m": 50.0})));
    let roads_path = dir.join("roads.geojson");
    let rows: Vec<(&str, serde_json::Value)> = roads.iter().map(|(g, p)| (g.as_str(), p.clone())).collect();
    write_4527(&roads_path, &rows);
    (areas.display().to_string(), roads_path.display().to_string())
}

#[test]
fn hand_made_city_planar() {
    let dir = tempfile::tempdir().unwrap();
    let (areas, roads) = hand_layers(dir.path());
    let out = dir.path().join("rd.geojson");
    let summary = dir.path().join("summary.json");
    let stdout = run_ok(&[
        "road-density",
        "--roads",
        &roads,
        "--areas",
        &areas,
        "--width-field",
        "width_m",
        "--grid",
        "500",
        "--measure",
        "planar",
        "--planar-crs",
        "EPSG:4527",
        "--summary-json",
        summary.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ]);
    assert!(stdout.contains("planar (EPSG:4527)"), "{stdout}");
    let fc = read_collection(&out);
    assert_eq!(fc.features.len(), 2);
    let central = &fc.features[0];
    assert_eq!(text(central, "kind"), "central_city");
    assert_eq!(text(central, "kind_label"), "中心城区");
    assert!((num(central, "road_length_km") - 9.0).abs() < 1e-6);
    assert!((num(central, "area_km2") - 1.0).abs() < 1e-6);
    assert!((num(central, "density_km_per_km2") - 9.0).abs() < 1e-6);
    assert!((num(central, "target_km_per_km2") - 8.3).abs() < 1e-9);
    assert_eq!(central.property("meets_target"), Some(&serde_json::json!(true)));
    assert!(num(central, "shortfall_km").abs() < 1e-9);
    assert!((central.property("excluded_by_value").unwrap()["高速公路"].as_f64().unwrap() - 1.0).abs() < 1e-6);
    // The central city has no width cap by default.
    assert!(central.property("roads_over_max_width_km").unwrap().is_null());

    let county = &fc.features[1];
    assert!((num(county, "road_length_km") - 5.0).abs() < 1e-6);
    assert_eq!(county.property("meets_target"), Some(&serde_json::json!(false)));
    assert!((num(county, "shortfall_km") - 2.0).abs() < 1e-6);
    assert!((num(county, "roads_over_max_width_km") - 1.0).abs() < 1e-6);
    assert!((county.property("by_grade").unwrap()["arterial"].as_f64().unwrap() - 1.0).abs() < 1e-6);

    let wide = read_collection(&dir.path().join("rd_wide_roads.geojson"));
    assert_eq!(wide.features.len(), 1);
    assert!((num(&wide.features[0], "width_m") - 50.0).abs() < 1e-9);

    // Grid: 4 cells of 0.25 km² per area; cell lengths add up to the area's, including the roads
    // that lie on a cell edge (x = 500 in the central city, the 主干路 at y = 500 in the county town).
    let grid = read_collection(&dir.path().join("rd_grid.geojson"));
    assert_eq!(grid.features.len(), 8);
    let mut by_area: BTreeMap<String, f64> = BTreeMap::new();
    for c in &grid.features {
        assert!((num(c, "area_km2") - 0.25).abs() < 1e-6);
        *by_area.entry(text(c, "area_id")).or_default() += num(c, "road_length_km");
    }
    assert!((by_area["1"] - 9.0).abs() < 1e-6, "{by_area:?}");
    assert!((by_area["2"] - 5.0).abs() < 1e-6, "{by_area:?}");

    // The summary states the same numbers as the features.
    let s: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&summary).unwrap()).unwrap();
    assert_eq!(s["areas"][0]["road_length_km"], central.property("road_length_km").unwrap().clone());
    assert_eq!(s["layers"][1]["used"], 15);
}

#[test]
fn ellipsoidal_differs_from_planar_by_the_scale_factor() {
    // At 0.2° west of the central meridian (x ≈ 19 km) and ~31.7°N the GK point scale is
    // k ≈ 1 + x²/2R² ≈ 1 + 4.5e-6: ellipsoidal lengths are shorter than planar by that factor.
    let dir = tempfile::tempdir().unwrap();
    let (areas, roads) = hand_layers(dir.path());
    let out = dir.path().join("rd.geojson");
    run_ok(&["road-density", "--roads", &roads, "--areas", &areas, "-o", out.to_str().unwrap()]);
    let fc = read_collection(&out);
    let central = &fc.features[0];
    let len = num(central, "road_length_km");
    let area = num(central, "area_km2");
    assert!(text(central, "measure").starts_with("ellipsoidal"), "{:?}", central.property("measure"));
    assert!(len < 9.0 && len > 9.0 * (1.0 - 2e-5), "length {len}");
    assert!(area < 1.0 && area > 1.0 - 4e-5, "area {area}");
}

#[test]
fn output_is_byte_identical_across_runs_and_input_order() {
    let dir = tempfile::tempdir().unwrap();
    let (areas, roads) = hand_layers(dir.path());
    let a = dir.path().join("a.geojson");
    let b = dir.path().join("b.geojson");
    run_ok(&["road-density", "--roads", &roads, "--areas", &areas, "--grid", "300", "-o", a.to_str().unwrap()]);
    // Reverse the feature order of both inputs.
    for p in [&areas, &roads] {
        let mut v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap();
        v["features"].as_array_mut().unwrap().reverse();
        std::fs::write(p, v.to_string()).unwrap();
    }
    run_ok(&["road-density", "--roads", &roads, "--areas", &areas, "--grid", "300", "-o", b.to_str().unwrap()]);
    assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
    assert_eq!(
        std::fs::read(dir.path().join("a_grid.geojson")).unwrap(),
        std::fs::read(dir.path().join("b_grid.geojson")).unwrap()
    );
}

/// The urban grades of the OSM preset, spelled out independently of planaudit's table.
const OSM_URBAN: &str = "'trunk','primary','secondary','tertiary','unclassified','residential','living_street'";

/// SpatiaLite's figures for Liechtenstein's municipalities: id → (km of the lines matching
/// `lines_where` inside it; area km²). Ellipsoidal on the longitude/latitude layers, or, with
/// `planar_srs`, planar on layers that ogr2ogr reprojected to that CRS.
fn li_reference(dir: &Path, pbf: &str, lines_where: &str, planar_srs: Option<&str>) -> BTreeMap<String, (f64, f64)> {
    let db = dir.join("li_ref.sqlite");
    let _ = std::fs::remove_file(&db);
    let db_s = db.to_str().unwrap();
    let t_srs: Vec<&str> = planar_srs.map(|s| vec!["-t_srs", s]).unwrap_or_default();
    let mut create = vec!["-f", "SQLite", "-dsco", "SPATIALITE=YES"];
    create.extend(&t_srs);
    create.extend([db_s, pbf, "lines", "-nln", "roads", "-where", lines_where]);
    ogr2ogr(&create);
    let mut append = vec!["-update", "-append"];
    append.extend(&t_srs);
    append.extend([
        db_s,
        pbf,
        "multipolygons",
        "-nln",
        "areas",
        "-where",
        "boundary='administrative' AND admin_level='8'",
    ]);
    ogr2ogr(&append);
    let ellipsoid = if planar_srs.is_some() { "" } else { ", 1" };
    let rows = gdal_sql(
        &db,
        &format!(
            "SELECT a.osm_id AS id, ST_Area(a.GEOMETRY{ellipsoid}) / 1e6 AS area_km2, \
             (SELECT SUM(ST_Length(ST_Intersection(r.GEOMETRY, a.GEOMETRY){ellipsoid})) FROM roads r \
              WHERE ST_Intersects(r.GEOMETRY, a.GEOMETRY)) / 1000 AS len_km FROM areas a"
        ),
    );
    assert_eq!(rows.len(), 11, "{rows:?}");
    rows.into_iter()
        .map(|r| (r["id"].clone(), (r["len_km"].parse().unwrap_or(0.0), r["area_km2"].parse().unwrap())))
        .collect()
}

/// Liechtenstein's 11 municipalities: every road length and area against SpatiaLite (GEOS
/// intersections, SpatiaLite's ellipsoidal ST_Length/ST_Area), within 0.1%.
#[test]
fn liechtenstein_against_spatialite() {
    let pbf = shared("osm/liechtenstein-2015.osm.pbf");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("li.geojson");
    let pbf_s = pbf.to_str().unwrap();
    run_ok(&[
        "road-density",
        "--roads",
        &format!("{pbf_s}#lines"),
        "--roads-where",
        "highway IS NOT NULL",
        "--areas",
        &format!("{pbf_s}#multipolygons"),
        "--areas-where",
        "boundary='administrative' AND admin_level='8'",
        "-o",
        out.to_str().unwrap(),
        "--summary-json",
        dir.path().join("li_summary.json").to_str().unwrap(),
    ]);
    let fc = read_collection(&out);
    assert_eq!(fc.features.len(), 11);
    assert_eq!(fc.foreign_members.as_ref().unwrap()["attribution"], "© OpenStreetMap contributors");
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("li_summary.json")).unwrap()).unwrap();
    assert_eq!(summary["attribution"], "© OpenStreetMap contributors", "the summary carries it too");

    let reference = li_reference(dir.path(), pbf_s, &format!("highway IN ({OSM_URBAN})"), None);
    let mut worst = 0.0f64;
    for (id, (len_ref, area_ref)) in reference {
        let f = fc.features.iter().find(|f| text(f, "area_id") == id).expect("area in output");
        let dl = rel_diff(num(f, "road_length_km"), len_ref);
        let da = rel_diff(num(f, "area_km2"), area_ref);
        assert!(dl < 1e-3, "{id}: length {} vs SpatiaLite {len_ref}", num(f, "road_length_km"));
        assert!(da < 1e-3, "{id}: area {} vs SpatiaLite {area_ref}", num(f, "area_km2"));
        worst = worst.max(dl).max(da);
        // The README's orientation: urban road density between ~1.1 and ~4.2 km/km².
        let d = num(f, "density_km_per_km2");
        assert!((1.0..4.3).contains(&d), "{id}: density {d}");
    }
    eprintln!("liechtenstein: worst relative difference vs SpatiaLite {worst:.2e}");
}

/// An OSM tag that GDAL keeps in `other_tags` (surface) used as the grade field, with a user
/// table that counts asphalt only.
#[test]
fn other_tags_key_as_grade_field() {
    let pbf = shared("osm/liechtenstein-2015.osm.pbf");
    let dir = tempfile::tempdir().unwrap();
    let pbf_s = pbf.to_str().unwrap();
    let table = dir.path().join("surface.toml");
    std::fs::write(
        &table,
        "name = \"surface\"\nfield = \"surface\"\n[[grade]]\nvalue = \"asphalt\"\ngrade = \"paved\"\ncounted = true\n",
    )
    .unwrap();
    let out = dir.path().join("surface.geojson");
    run_ok(&[
        "road-density",
        "--roads",
        &format!("{pbf_s}#lines"),
        "--grades",
        table.to_str().unwrap(),
        "--areas",
        &format!("{pbf_s}#multipolygons"),
        "--areas-where",
        "boundary='administrative' AND admin_level='8'",
        "-o",
        out.to_str().unwrap(),
    ]);
    let fc = read_collection(&out);
    let reference = li_reference(dir.path(), pbf_s, "other_tags LIKE '%\"surface\"=>\"asphalt\"%'", None);
    let mut total = 0.0;
    for (id, (len_ref, _)) in reference {
        let f = fc.features.iter().find(|f| text(f, "area_id") == id).unwrap();
        let km = f.property("by_grade").unwrap().get("paved").and_then(|v| v.as_f64()).unwrap_or(0.0);
        assert!((km - len_ref).abs() < 1e-3 * len_ref.max(0.01), "{id}: asphalt {km} km vs SpatiaLite {len_ref}");
        total += km;
    }
    assert!(total > 50.0, "asphalt roads found: {total} km");
}

/// Planar lengths in UTM 32N against SpatiaLite on layers ogr2ogr reprojected.
#[test]
fn liechtenstein_planar_against_spatialite() {
    let pbf = shared("osm/liechtenstein-2015.osm.pbf");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("li.geojson");
    let pbf_s = pbf.to_str().unwrap();
    run_ok(&[
        "road-density",
        "--roads",
        &format!("{pbf_s}#lines"),
        "--areas",
        &format!("{pbf_s}#multipolygons"),
        "--areas-where",
        "boundary='administrative' AND admin_level='8'",
        "--measure",
        "planar",
        "--planar-crs",
        "EPSG:32632",
        "-o",
        out.to_str().unwrap(),
    ]);
    let fc = read_collection(&out);
    let reference = li_reference(dir.path(), pbf_s, &format!("highway IN ({OSM_URBAN})"), Some("EPSG:32632"));
    for (id, (len_ref, area_ref)) in reference {
        let f = fc.features.iter().find(|f| text(f, "area_id") == id).unwrap();
        assert!(rel_diff(num(f, "road_length_km"), len_ref) < 1e-4, "{id}: {} vs {len_ref}", num(f, "road_length_km"));
        assert!(rel_diff(num(f, "area_km2"), area_ref) < 1e-4, "{id}: {} vs {area_ref}", num(f, "area_km2"));
        assert!(text(f, "measure").contains("planar (EPSG:32632)"));
    }
}

/// Areas stored in GCJ-02 (as Amap exports them): with `--areas-crs gcj02` they give the same
/// numbers as the original CGCS2000 areas; read as if they were WGS84 they sit ~535 m off and the
/// numbers change.
#[test]
fn gcj02_areas_match_the_original() {
    use planaudit::normalise::crs::offsets::wgs84_to_gcj02;
    let dir = tempfile::tempdir().unwrap();
    let (areas, roads) = hand_layers(dir.path());
    let lonlat = dir.path().join("areas_wgs84.geojson");
    ogr2ogr(&["-f", "GeoJSON", "-t_srs", "EPSG:4326", lonlat.to_str().unwrap(), &areas]);
    let mut v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&lonlat).unwrap()).unwrap();
    for f in v["features"].as_array_mut().unwrap() {
        for ring in f["geometry"]["coordinates"].as_array_mut().unwrap() {
            for c in ring.as_array_mut().unwrap() {
                let (lon, lat) = wgs84_to_gcj02(c[0].as_f64().unwrap(), c[1].as_f64().unwrap());
                *c = serde_json::json!([lon, lat]);
            }
        }
    }
    let gcj = dir.path().join("areas_gcj02.geojson");
    std::fs::write(&gcj, v.to_string()).unwrap();

    let base = dir.path().join("base.geojson");
    let conv = dir.path().join("conv.geojson");
    let raw = dir.path().join("raw.geojson");
    run_ok(&["road-density", "--roads", &roads, "--areas", &areas, "-o", base.to_str().unwrap()]);
    run_ok(&[
        "road-density",
        "--roads",
        &roads,
        "--areas",
        gcj.to_str().unwrap(),
        "--areas-crs",
        "gcj02",
        "-o",
        conv.to_str().unwrap(),
    ]);
    run_ok(&["road-density", "--roads", &roads, "--areas", gcj.to_str().unwrap(), "-o", raw.to_str().unwrap()]);
    let (b, c, r) = (read_collection(&base), read_collection(&conv), read_collection(&raw));
    for i in 0..2 {
        for key in ["road_length_km", "area_km2"] {
            let (bv, cv) = (num(&b.features[i], key), num(&c.features[i], key));
            assert!((bv - cv).abs() < 1e-5, "{key}: {bv} vs gcj02-converted {cv}");
        }
    }
    let shift = (num(&b.features[0], "road_length_km") - num(&r.features[0], "road_length_km")).abs();
    assert!(shift > 1.0, "unconverted GCJ-02 areas should miss roads: {shift} km");
}

/// Arcs (FileGDB and GeoPackage may store them) are approximated by short segments: a half
/// circle of radius 500 m measures π·500 m within 0.001%.
#[test]
fn curved_roads_are_linearised() {
    let dir = tempfile::tempdir().unwrap();
    let (areas, _) = hand_layers(dir.path());
    let csv = dir.path().join("arc.csv");
    std::fs::write(
        &csv,
        format!(
            "WKT,grade\n\"CIRCULARSTRING ({} {},{} {},{} {})\",支路\n",
            X0,
            Y0 + 500.0,
            X0 + 500.0,
            Y0 + 1000.0,
            X0 + 1000.0,
            Y0 + 500.0
        ),
    )
    .unwrap();
    let gpkg = dir.path().join("arc.gpkg");
    ogr2ogr(&[
        "-f",
        "GPKG",
        "-a_srs",
        "EPSG:4527",
        "-nlt",
        "CIRCULARSTRING",
        "-nln",
        "roads",
        gpkg.to_str().unwrap(),
        csv.to_str().unwrap(),
    ]);
    let out = dir.path().join("o.geojson");
    let stdout = run_ok(&[
        "road-density",
        "--roads",
        gpkg.to_str().unwrap(),
        "--areas",
        &areas,
        "--measure",
        "planar",
        "--planar-crs",
        "EPSG:4527",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert!(stdout.contains("read 1, used 1"), "{stdout}");
    let km = num(&read_collection(&out).features[0], "road_length_km");
    let expected = std::f64::consts::PI * 0.5;
    assert!(rel_diff(km, expected) < 1e-5, "{km} vs {expected}");
}

/// Names with tabs and line breaks keep the terminal table one line a row, its columns in place;
/// the output file keeps them as they are.
#[test]
fn names_with_tabs_and_line_breaks_keep_the_table_in_shape() {
    let dir = tempfile::tempdir().unwrap();
    let (_, roads) = hand_layers(dir.path());
    let areas = dir.path().join("named.geojson");
    let name = "舒城\t县城\r\n=SUM(1)";
    write_4527(
        &areas,
        &[
            (&square(0.0, 0.0, 1000.0), serde_json::json!({"id": "a\tb", "name": name, "kind": "县城"})),
            (&square(5000.0, 0.0, 1000.0), serde_json::json!({"id": 2, "name": "县城A", "kind": "县城"})),
        ],
    );
    let out = dir.path().join("rd.geojson");
    let stdout =
        run_ok(&["road-density", "--roads", &roads, "--areas", areas.to_str().unwrap(), "-o", out.to_str().unwrap()]);
    let table: Vec<&str> = stdout.lines().take_while(|l| !l.starts_with("measure:")).collect();
    assert_eq!(table.len(), 3, "{stdout}");
    assert!(table.iter().all(|l| l.split('\t').count() == 9), "{table:?}");
    assert!(table.iter().any(|l| l.starts_with("2\t县城A\t")), "{table:?}");
    assert!(table.iter().any(|l| l.contains("舒城 县城  =SUM(1)")), "{table:?}");
    let fc = read_collection(&out);
    assert!(fc.features.iter().any(|f| text(f, "name") == name), "the file keeps the name");
}
