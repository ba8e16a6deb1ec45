//! Bad input: every case exits with its code (1 data, 2 usage) and a message naming the file,
//! layer, feature or field; repaired and skipped features are counted, never silently dropped.

use std::path::Path;

use crate::common::*;
use crate::road_density::{hand_layers, square, write_4527};

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn missing_file() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("o.geojson");
    run_err(
        &["road-density", "--roads", "/nonexistent/roads.gpkg", "--areas", "/nonexistent/a.gpkg", "-o", s(&out)],
        1,
        &["/nonexistent/a.gpkg", "no such file"],
    );
    assert!(!out.exists(), "no output after an error");
}

#[test]
fn unknown_layer_lists_the_layers() {
    let pbf = shared("osm/liechtenstein-2015.osm.pbf");
    let out = tempfile::tempdir().unwrap();
    let o = out.path().join("o.geojson");
    let areas = format!("{}#multipolygons", pbf.display());
    run_err(
        &["road-density", "--roads", &format!("{}#roads", pbf.display()), "--areas", &areas, "-o", s(&o)],
        1,
        &["no layer named 'roads'", "points, lines, multilinestrings, multipolygons, other_relations"],
    );
    // A dataset of several layers needs one named.
    run_err(&["road-density", "--roads", s(&pbf), "--areas", &areas, "-o", s(&o)], 1, &["5 layers", "#LAYER"]);
}

#[test]
fn missing_field_lists_the_fields() {
    let dir = tempfile::tempdir().unwrap();
    let (areas, roads) = hand_layers(dir.path());
    let o = dir.path().join("o.geojson");
    run_err(
        &["road-density", "--roads", &roads, "--areas", &areas, "--kind-field", "类型", "-o", s(&o)],
        1,
        &["areas.geojson", "no field '类型'", "fields: id, name, kind"],
    );
    run_err(
        &["road-density", "--roads", &roads, "--areas", &areas, "--grade-field", "dj", "-o", s(&o)],
        1,
        &["roads.geojson", "no field 'dj'", "grade, width_m"],
    );
}

/// On OpenStreetMap data a name that is no column is looked up among each feature's `other_tags`;
/// a name no feature has there either (a typo, or a Chinese table's field on OSM data) is a
/// missing field, not a layer of empty grades whose density is 0.
#[test]
fn osm_field_no_feature_has_is_missing() {
    let pbf = shared("osm/liechtenstein-2015.osm.pbf");
    let dir = tempfile::tempdir().unwrap();
    let o = dir.path().join("o.geojson");
    let roads = format!("{}#lines", pbf.display());
    let areas = format!("{}#multipolygons", pbf.display());
    let density = |extra: &[&str]| -> Vec<String> {
        let mut args = vec!["road-density", "--roads", &roads, "--areas", &areas];
        args.extend(["--areas-where", "boundary='administrative' AND admin_level='8'", "-o", s(&o)]);
        args.extend(extra);
        args.iter().map(|a| a.to_string()).collect()
    };
    for (extra, field) in [
        (vec!["--grade-field", "highwy", "--grades", "osm"], "highwy"),
        (vec!["--grades", "cn"], "grade"),
        // Another field with values (72 roads carry a width tag) does not hide the misnamed one.
        (vec!["--grade-field", "highwy", "--grades", "osm", "--width-field", "width"], "highwy"),
    ] {
        let args = density(&extra);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        run_err(&args, 1, &[&format!("no field '{field}' (for roads)"), "no feature's other_tags has the key"]);
        assert!(!o.exists());
    }
    // A key of the tags (not a column) that features have is read, as before.
    let args = density(&["--grade-field", "surface", "--grades", "osm"]);
    run_ok(&args.iter().map(String::as_str).collect::<Vec<&str>>());

    // In a city file the error names the key, in check and in audit.
    let city = dir.path().join("li.toml");
    std::fs::write(
        &city,
        format!(
            "[city]\nname = \"Liechtenstein\"\n[layers.areas]\nsource = \"{li}\"\nlayer = \"multipolygons\"\n\
             where = \"boundary='administrative' AND admin_level='8'\"\nfields = {{ id = \"osm_id\", name = \"name\" }}\n\
             [layers.roads]\nsource = \"{li}\"\nlayer = \"lines\"\nwhere = \"highway IS NOT NULL\"\n\
             fields = {{ grade = \"highwy\" }}\n[road_density]\ngrades = \"osm\"\ntargets = {{ \"*\" = 3.0 }}\n",
            li = pbf.display()
        ),
    )
    .unwrap();
    let out = dir.path().join("out");
    for args in [vec!["check", s(&city)], vec!["audit", s(&city), "-o", s(&out)]] {
        run_err(&args, 1, &["no field 'highwy'", "set by layers.roads.fields.grade in"]);
    }
    // With a width too, and a living circle sharing the roads' read: the same error whichever
    // indicator reads the roads first.
    let text = std::fs::read_to_string(&city).unwrap();
    let both = text.replace("grade = \"highwy\" }", "grade = \"highwy\", width = \"width\" }")
        + &format!(
            "[layers.origins]\nsource = \"{li}\"\nlayer = \"multipolygons\"\nwhere = \"landuse = 'residential'\"\n\
             [[layers.facilities]]\nsource = \"{li}\"\nlayer = \"points\"\nfields = {{ type = \"amenity,shop\" }}\n\
             [living_circle]\nfacility_types = \"osm\"\ntiers = \"osm\"\n",
            li = pbf.display()
        );
    assert!(both.contains("width = \"width\""));
    std::fs::write(&city, &both).unwrap();
    for _ in 0..4 {
        run_err(&["audit", s(&city), "-o", s(&out)], 1, &["no field 'highwy'", "set by layers.roads.fields.grade in"]);
    }
    // A misnamed width, which the living circle does not ask for: the same error whichever
    // indicator reads the roads first (read second, road density reads the layer on its own).
    let width_typo = both.replace("highwy", "highway").replace("width = \"width\"", "width = \"widht\"");
    std::fs::write(&city, &width_typo).unwrap();
    for _ in 0..6 {
        run_err(&["audit", s(&city), "-o", s(&out)], 1, &["no field 'widht'", "set by layers.roads.fields.width in"]);
    }
    // The facilities' type fields are alternatives: a tag no point has (shopp) is no error while
    // another field (amenity) has values.
    std::fs::write(&city, both.replace("highwy", "highway").replace("amenity,shop\"", "amenity,shopp\"")).unwrap();
    run_ok(&["check", s(&city)]);
    run_ok(&["audit", s(&city), "-o", s(&out)]);
    let good = std::fs::read_to_string(&city).unwrap().replace("highwy", "highway");
    std::fs::write(&city, good).unwrap();
    run_ok(&["check", s(&city)]);
}

#[test]
fn wrong_geometry_for_the_role() {
    let pbf = shared("osm/liechtenstein-2015.osm.pbf");
    let dir = tempfile::tempdir().unwrap();
    let o = dir.path().join("o.geojson");
    run_err(
        &[
            "road-density",
            "--roads",
            &format!("{}#points", pbf.display()),
            "--areas",
            &format!("{}#multipolygons", pbf.display()),
            "-o",
            s(&o),
        ],
        1,
        &["#points", "roads must be line geometries", "Point"],
    );
    // Lines as areas.
    let (_, roads) = hand_layers(dir.path());
    run_err(
        &["road-density", "--roads", &roads, "--areas", &roads, "-o", s(&o)],
        1,
        &["areas must be polygon geometries"],
    );
}

#[test]
fn no_crs_is_an_error_until_overridden() {
    let dir = tempfile::tempdir().unwrap();
    let (areas, _) = hand_layers(dir.path());
    let csv = dir.path().join("roads.csv");
    std::fs::write(&csv, "WKT,grade\n\"LINESTRING (39480100 3515000,39480100 3516000)\",支路\n").unwrap();
    let o = dir.path().join("o.geojson");
    run_err(
        &["road-density", "--roads", s(&csv), "--areas", &areas, "-o", s(&o)],
        1,
        &["roads.csv", "no coordinate reference system", "--roads-crs"],
    );
    let stdout =
        run_ok(&["road-density", "--roads", s(&csv), "--roads-crs", "EPSG:4527", "--areas", &areas, "-o", s(&o)]);
    assert!(stdout.contains("read 1, used 1"), "{stdout}");
}

#[test]
fn local_grid_is_an_error_until_overridden() {
    let dir = tempfile::tempdir().unwrap();
    let (areas, roads) = hand_layers(dir.path());
    let o = dir.path().join("o.geojson");
    // A city's own grid in a Shapefile's .prj, and a GeoPackage's undefined Cartesian SRS.
    let shp = dir.path().join("roads.shp");
    ogr2ogr(&["-f", "ESRI Shapefile", "-a_srs", r#"LOCAL_CS["城市独立坐标系",UNIT["metre",1]]"#, s(&shp), &roads]);
    let gpkg = dir.path().join("roads.gpkg");
    ogr2ogr(&["-f", "GPKG", "-a_srs", r#"LOCAL_CS["Undefined Cartesian SRS",UNIT["metre",1]]"#, s(&gpkg), &roads]);
    for (path, name) in [(&shp, "城市独立坐标系"), (&gpkg, "Undefined Cartesian SRS")] {
        run_err(
            &["road-density", "--roads", s(path), "--areas", &areas, "-o", s(&o)],
            1,
            &[s(path), name, "local grid", "--roads-crs"],
        );
        let stdout =
            run_ok(&["road-density", "--roads", s(path), "--roads-crs", "EPSG:4527", "--areas", &areas, "-o", s(&o)]);
        assert!(stdout.contains("skipped 0"), "{stdout}");
    }
    // Given as the override itself: a usage error.
    run_err(
        &[
            "road-density",
            "--roads",
            s(&shp),
            "--roads-crs",
            r#"LOCAL_CS["grid",UNIT["metre",1]]"#,
            "--areas",
            &areas,
            "-o",
            s(&o),
        ],
        2,
        &["'grid'", "local grid"],
    );
}

#[test]
fn layer_far_from_where_its_crs_is_used() {
    let dir = tempfile::tempdir().unwrap();
    let (areas, _) = hand_layers(dir.path());
    // A road at Lu'an in EPSG:4548 (the same zone without its prefix), x and y swapped: it
    // converts without error to the western Pacific.
    let (x, y) = (480_100.0, 3_515_000.0);
    let layer = |coordinates: serde_json::Value| {
        serde_json::json!({
            "type": "FeatureCollection",
            "crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::4548"}},
            "features": [{"type": "Feature", "properties": {"grade": "支路"},
                "geometry": {"type": "LineString", "coordinates": coordinates}}]
        })
        .to_string()
    };
    let swapped = dir.path().join("swapped.geojson");
    std::fs::write(&swapped, layer(serde_json::json!([[y, x], [y + 1000.0, x]]))).unwrap();
    let o = dir.path().join("o.geojson");
    run_err(
        &["road-density", "--roads", s(&swapped), "--areas", &areas, "-o", s(&o)],
        1,
        &["swapped.geojson", "EPSG:4548", "115.50–118.50°E", "axis order"],
    );
    assert!(!o.exists());
    // Not swapped, the same layer is read.
    let right = dir.path().join("right.geojson");
    std::fs::write(&right, layer(serde_json::json!([[x, y], [x, y + 1000.0]]))).unwrap();
    run_ok(&["road-density", "--roads", s(&right), "--areas", &areas, "-o", s(&o)]);
    // check finds it too, as the audit would.
    let city = dir.path().join("city.toml");
    let toml = |roads: &Path| {
        format!(
            "[city]\nname = \"x\"\n[layers.areas]\nsource = \"{areas}\"\n[layers.roads]\nsource = \"{}\"\nfields = {{ grade = \"grade\" }}\n[road_density]\n",
            roads.display()
        )
    };
    std::fs::write(&city, toml(&swapped)).unwrap();
    run_err(&["check", s(&city)], 1, &["swapped.geojson", "EPSG:4548", "axis order"]);
    std::fs::write(&city, toml(&right)).unwrap();
    run_ok(&["check", s(&city)]);
}

#[test]
fn multipoint_facilities_and_homes() {
    let dir = tempfile::tempdir().unwrap();
    let (_, roads) = hand_layers(dir.path());
    // A kindergarten at two sites 800 m apart, on the 支路 x = 100 m and x = 900 m, and a home at
    // the first site: 0 m away, not at least 400 m from the midpoint; a home of two points around
    // that site walks from between them.
    let fac = dir.path().join("fac.csv");
    std::fs::write(&fac, "WKT,type\n\"MULTIPOINT ((39480100 3515500),(39480900 3515500))\",幼儿园\n").unwrap();
    let org = dir.path().join("org.csv");
    std::fs::write(
        &org,
        "WKT,id\n\"POINT (39480100 3515500)\",h1\n\"MULTIPOINT ((39480100 3515400),(39480100 3515600))\",h2\n",
    )
    .unwrap();
    let o = dir.path().join("lc.geojson");
    let args = [
        "living-circle",
        "--roads",
        &roads,
        "--origins",
        s(&org),
        "--origins-crs",
        "EPSG:4527",
        "--facilities",
        s(&fac),
        "--facilities-crs",
        "EPSG:4527",
        "--type-field",
        "type",
        "-o",
        s(&o),
    ];
    let stdout = run_ok(&args);
    assert!(stdout.contains("multipoint: each of its points is a location of the facility"), "{stdout}");
    assert!(stdout.contains("multipoint: walks from the centroid of its points"), "{stdout}");
    let fc = read_collection(&o);
    for f in &fc.features {
        let d = &f.properties.as_ref().unwrap()["dist_m"]["kindergarten"];
        assert!(d.as_f64().is_some_and(|d| d.abs() < 0.01), "{d}");
    }
    // One kindergarten, at two places.
    let summary_path = dir.path().join("lc.json");
    run_ok(&[&args[..], &["--summary-json", s(&summary_path)]].concat());
    let summary: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&summary_path).unwrap()).unwrap();
    let text = summary.to_string();
    assert!(text.contains("\"facilities\":1") && !text.contains("\"facilities\":2"), "{text}");
}

#[test]
fn target_for_a_kind_no_area_has_is_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let (areas, roads) = hand_layers(dir.path());
    let o = dir.path().join("o.geojson");
    let out = run(&["road-density", "--roads", &roads, "--areas", &areas, "--target", "中心城=10.5", "-o", s(&o)]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("target 中心城=10.5: no area is of kind '中心城' (kinds: 中心城区, 县城)"), "{stderr}");
    // A kind the areas have, by another name the kinds table knows, is no warning.
    let out = run(&["road-density", "--roads", &roads, "--areas", &areas, "--target", "county_town=7.5", "-o", s(&o)]);
    assert!(!String::from_utf8_lossy(&out.stderr).contains("warning"), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn closed_standard_output_is_not_a_failure() {
    let dir = tempfile::tempdir().unwrap();
    let (areas, roads) = hand_layers(dir.path());
    let o = dir.path().join("o.geojson");
    // A reader that stops at once, as `planaudit … | head -0` does.
    let mut child = bin()
        .args(["road-density", "--roads", &roads, "--areas", &areas, "-o", s(&o)])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("panicked") && !stderr.contains("warning"), "{stderr}");
    // The files are written all the same.
    assert!(o.exists());
}

/// A closed standard error (`planaudit … 2>&1 | head -0`) keeps the exit code of the error, with
/// and without warnings printed before it: 1 for a data error, 2 for a usage error, never 101.
#[test]
fn closed_standard_error_keeps_the_exit_code() {
    let dir = tempfile::tempdir().unwrap();
    let (areas, roads) = hand_layers(dir.path());
    let o = dir.path().join("o.geojson");
    let missing = dir.path().join("missing.geojson");
    let cases: [(&[&str], i32); 3] = [
        (&["road-density", "--roads", &roads, "--areas", s(&missing), "-o", s(&o)], 1),
        (&["road-density", "--roads", &roads, "--areas", &areas, "--grid", "1", "-o", s(&o)], 2),
        // A warning (a target for a kind no area has) on the way to success.
        (&["road-density", "--roads", &roads, "--areas", &areas, "--target", "新区=5", "-o", s(&o)], 0),
    ];
    for (args, code) in cases {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let status = bin().args(args).stdout(std::process::Stdio::null()).stderr(writer).status().unwrap();
        assert_eq!(status.code(), Some(code), "{args:?}");
    }
}

#[test]
fn invalid_empty_and_out_of_range_features_are_counted() {
    let dir = tempfile::tempdir().unwrap();
    let (_, roads) = hand_layers(dir.path());
    let areas = dir.path().join("bad_areas.geojson");
    // A bow-tie (self-intersecting) area, a valid one, and one without geometry.
    write_4527(
        &areas,
        &[
            (
                r#"{"type":"Polygon","coordinates":[[[39480000,3515000],[39481000,3516000],[39481000,3515000],[39480000,3516000],[39480000,3515000]]]}"#,
                serde_json::json!({"id": 1, "kind": "县城"}),
            ),
            (
                r#"{"type":"Polygon","coordinates":[[[39485000,3515000],[39486000,3515000],[39486000,3516000],[39485000,3516000],[39485000,3515000]]]}"#,
                serde_json::json!({"id": 2, "kind": "县城"}),
            ),
            ("null", serde_json::json!({"id": 3, "kind": "县城"})),
        ],
    );
    let o = dir.path().join("o.geojson");
    let summary = dir.path().join("s.json");
    let stdout =
        run_ok(&["road-density", "--roads", &roads, "--areas", s(&areas), "--summary-json", s(&summary), "-o", s(&o)]);
    assert!(stdout.contains("read 3, used 2, repaired 1, skipped 1"), "{stdout}");
    assert!(stdout.contains("skipped 1: empty geometry"), "{stdout}");
    let fc = read_collection(&o);
    assert_eq!(fc.features.len(), 2);
    // The bow-tie repaired into two triangles of 0.25 km² each.
    assert!((num(&fc.features[0], "area_km2") - 0.5).abs() < 1e-3, "{}", num(&fc.features[0], "area_km2"));
    let sj: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&summary).unwrap()).unwrap();
    assert_eq!(sj["layers"][0]["repaired"], 1);
    assert_eq!(sj["layers"][0]["skipped"]["empty geometry"], 1);

    // Roads in WGS84 with an absurd coordinate: skipped and counted, the rest used.
    let wgs_roads = dir.path().join("roads_wgs.geojson");
    std::fs::write(
        &wgs_roads,
        r#"{"type":"FeatureCollection","features":[
{"type":"Feature","properties":{"grade":"支路"},"geometry":{"type":"LineString","coordinates":[[1e300,31.7],[116.8,31.7]]}},
{"type":"Feature","properties":{"grade":"支路"},"geometry":{"type":"LineString","coordinates":[[116.79,31.74],[116.80,31.75]]}}]}"#,
    )
    .unwrap();
    let stdout = run_ok(&["road-density", "--roads", s(&wgs_roads), "--areas", s(&areas), "-o", s(&o)]);
    assert!(stdout.contains("read 2, used 1, repaired 0, skipped 1"), "{stdout}");
    assert!(stdout.contains("coordinate out of range"), "{stdout}");
}

#[test]
fn empty_layer_and_bad_filter() {
    let dir = tempfile::tempdir().unwrap();
    let (areas, roads) = hand_layers(dir.path());
    let o = dir.path().join("o.geojson");
    run_err(
        &["road-density", "--roads", &roads, "--roads-where", "grade = '无'", "--areas", &areas, "-o", s(&o)],
        1,
        &["roads.geojson", "no feature matches the filter"],
    );
    run_err(
        &["road-density", "--roads", &roads, "--roads-where", "grade === ", "--areas", &areas, "-o", s(&o)],
        1,
        &["roads.geojson", "attribute filter"],
    );
    // GDAL's reason, naming the field it does not know, not the binding's error number.
    run_err(
        &["road-density", "--roads", &roads, "--roads-where", "grad = '支路'", "--areas", &areas, "-o", s(&o)],
        1,
        &["roads.geojson", "attribute filter", "\"grad\" not recognised as an available field"],
    );
    // A GeoPackage takes any filter and fails on it when reading starts: still the filter's error,
    // in SQLite's words (GDAL states none).
    let gpkg = dir.path().join("roads.gpkg");
    ogr2ogr(&["-f", "GPKG", s(&gpkg), &roads]);
    let gpkg_roads = format!("{}#roads", s(&gpkg));
    for (filter, words) in
        [("grade ==== 1", "near \"==\": syntax error"), ("no_such_field = 1", "no such column: no_such_field")]
    {
        run_err(
            &["road-density", "--roads", &gpkg_roads, "--roads-where", filter, "--areas", &areas, "-o", s(&o)],
            1,
            &["roads.gpkg#roads", "attribute filter", filter, "SQLite refuses it", words, "syntax"],
        );
    }
    let empty = dir.path().join("empty.geojson");
    write_4527(&empty, &[]);
    // GeoJSON learns its fields from its features: without any, the layer is said to be empty,
    // not to lack the grade field.
    run_err(
        &["road-density", "--roads", s(&empty), "--areas", &areas, "-o", s(&o)],
        1,
        &["empty.geojson", "the layer is empty"],
    );
}

/// Areas that share an id are kept, each measured, and warned of: their rows cannot be told apart.
#[test]
fn areas_sharing_an_id_are_warned_of() {
    let dir = tempfile::tempdir().unwrap();
    let (areas, roads) = hand_layers(dir.path());
    let o = dir.path().join("o.geojson");
    let summary = dir.path().join("s.json");
    let warnings = |areas: &str| {
        run_ok(&["road-density", "--roads", &roads, "--areas", areas, "--summary-json", s(&summary), "-o", s(&o)]);
        let sj: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&summary).unwrap()).unwrap();
        sj["layers"][0]["warnings"].to_string()
    };
    assert!(!warnings(&areas).contains("shared by several areas"));
    let shared = dir.path().join("shared.geojson");
    let squares: Vec<String> = (0..5).map(|i| square(2000.0 * i as f64, 0.0, 1000.0)).collect();
    let ids = ["a", "b", "a", "c", "b"];
    let rows: Vec<(&str, serde_json::Value)> =
        squares.iter().zip(ids).map(|(g, id)| (g.as_str(), serde_json::json!({"id": id, "kind": "县城"}))).collect();
    write_4527(&shared, &rows);
    let w = warnings(s(&shared));
    assert!(w.contains("2 ids are shared by several areas: 'a' (2 areas), 'b' (2 areas)"), "{w}");
    assert_eq!(read_collection(&o).features.len(), 5, "every area is kept");
    // Ids of the same number written otherwise sort among them, and are other ids.
    let rows: Vec<(&str, serde_json::Value)> = squares[..3]
        .iter()
        .zip(["1", "01", "1"])
        .map(|(g, id)| (g.as_str(), serde_json::json!({"id": id, "kind": "县城"})))
        .collect();
    write_4527(&shared, &rows);
    let w = warnings(s(&shared));
    assert!(w.contains("1 id is shared by several areas: '1' (2 areas);"), "{w}");
}

/// A GeoPackage area whose geometry is a polygon inside thousands of nested collections (a crafted
/// blob GDAL would refuse, which the GeoPackage read decodes itself): skipped and counted, not a
/// stack overflow.
#[test]
fn geometry_nested_beyond_gdals_limit_is_skipped_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let (areas, roads) = hand_layers(dir.path());
    let gpkg = dir.path().join("areas.gpkg");
    ogr2ogr(&["-f", "GPKG", "-lco", "SPATIAL_INDEX=NO", "-nlt", "GEOMETRY", "-nln", "areas", s(&gpkg), &areas]);
    let srs_id = gdal_sql(&gpkg, "SELECT srs_id FROM gpkg_geometry_columns")[0]["srs_id"].clone();
    let mut blob = b"GP\x00\x01".to_vec();
    blob.extend(srs_id.parse::<i32>().unwrap().to_le_bytes());
    // A multipolygon (a type the role takes) of one part: the collections.
    blob.extend([1u8, 6, 0, 0, 0, 1, 0, 0, 0]);
    for _ in 0..20_000 {
        blob.extend([1u8, 7, 0, 0, 0, 1, 0, 0, 0]);
    }
    blob.extend([1u8, 3, 0, 0, 0, 1, 0, 0, 0, 4, 0, 0, 0]);
    for (x, y) in [(39_480_000.0f64, 3_515_000.0f64), (39_481_000.0, 3_515_000.0), (39_481_000.0, 3_516_000.0)]
        .into_iter()
        .chain([(39_480_000.0, 3_515_000.0)])
    {
        blob.extend(x.to_le_bytes());
        blob.extend(y.to_le_bytes());
    }
    let hex: String = blob.iter().map(|b| format!("{b:02X}")).collect();
    let ds = gdal::Dataset::open_ex(
        &gpkg,
        gdal::DatasetOptions { open_flags: gdal::GdalOpenFlags::GDAL_OF_UPDATE, ..Default::default() },
    )
    .unwrap();
    let sql = format!("INSERT INTO areas (geom, id, name, kind) VALUES (X'{hex}', 3, 'deep', '县城')");
    let _ = ds.execute_sql(&sql, None, gdal::vector::sql::Dialect::DEFAULT).unwrap();
    drop(ds);
    let o = dir.path().join("o.geojson");
    let stdout = run_ok(&["road-density", "--roads", &roads, "--areas", &format!("{}#areas", s(&gpkg)), "-o", s(&o)]);
    assert!(stdout.contains("read 3, used 2, repaired 0, skipped 1"), "{stdout}");
    assert!(stdout.contains("unreadable geometry: WKB collections nested more than 32 deep"), "{stdout}");
    assert_eq!(read_collection(&o).features.len(), 2);
}

/// A GeoPackage that GDAL stops reading before its first feature is worded by what SQLite says of
/// it: a filter it refuses, a filter it stops on (a value the filter fails on), a first row it
/// cannot read (a leaf page of the table overwritten, with or without a filter), or a first row it
/// reads (the last leaf overwritten: the file is corrupt further on). Only a filter SQLite refuses
/// or stops on is blamed.
#[test]
fn unreadable_geopackage_rows_are_named_in_sqlite_words() {
    use gdal::vector::LayerAccess;
    let dir = tempfile::tempdir().unwrap();
    let li = shared("osm/liechtenstein-2015.osm.pbf");
    let gpkg = dir.path().join("roads.gpkg");
    ogr2ogr(&["-f", "GPKG", s(&gpkg), s(&li), "lines", "-nln", "roads"]);
    // The table's first and last leaf pages (SQLite's dbstat table), and the page size.
    let (first_leaf, last_leaf, page_size) = {
        let ds = gdal::Dataset::open(&gpkg).unwrap();
        let first = |sql: &str| {
            let mut rows = ds.execute_sql(sql, None, gdal::vector::sql::Dialect::DEFAULT).unwrap().unwrap();
            let row = rows.features().next().unwrap();
            row.field_as_integer64(0).unwrap().unwrap() as u64
        };
        let leaf = |order: &str| {
            first(&format!(
                "SELECT pageno FROM dbstat WHERE name = 'roads' AND pagetype = 'leaf' ORDER BY pageno {order} LIMIT 1"
            ))
        };
        (leaf("ASC"), leaf("DESC"), first("PRAGMA page_size"))
    };
    assert!(first_leaf < last_leaf);
    let overwritten = |page: u64, name: &str| {
        use std::io::{Seek, SeekFrom, Write};
        let copy = dir.path().join(name);
        std::fs::copy(&gpkg, &copy).unwrap();
        let mut f = std::fs::OpenOptions::new().write(true).open(&copy).unwrap();
        f.seek(SeekFrom::Start((page - 1) * page_size)).unwrap();
        f.write_all(&vec![0xff; page_size as usize]).unwrap();
        format!("{}#roads", s(&copy))
    };
    let (whole, first_gone, last_gone) =
        (format!("{}#roads", s(&gpkg)), overwritten(first_leaf, "first.gpkg"), overwritten(last_leaf, "last.gpkg"));
    let areas = format!("{}#multipolygons", s(&li));
    let o = dir.path().join("o.geojson");
    let fails = |roads: &str, filter: Option<&str>, words: &[&str]| {
        let mut args = vec!["road-density", "--roads", roads, "--grade-field", "highway", "--grades", "osm"];
        args.extend(filter.map(|f| ["--roads-where", f]).into_iter().flatten());
        args.extend(["--areas", &areas, "--areas-where", "admin_level='8'", "-o", s(&o)]);
        run_err(&args, 1, words)
    };
    let good = Some("highway IS NOT NULL");
    let malformed = "SQLite cannot read the rows: database disk image is malformed";
    for filter in [good, None] {
        let e = fails(&first_gone, filter, &["first.gpkg#roads", "cannot read the layer", malformed]);
        assert!(!e.contains("attribute filter"), "{e}");
        let e = fails(&last_gone, filter, &["last.gpkg#roads", "SQLite reads the first row", "corrupt further on"]);
        assert!(!e.contains("rejected"), "{e}");
    }
    fails(
        &first_gone,
        Some("highwy IS NOT NULL"),
        &["first.gpkg#roads", "attribute filter", "SQLite refuses it (no such column: highwy)"],
    );
    // OSM's other_tags are no JSON: the filter fails on the first value it meets.
    fails(
        &whole,
        Some("json_extract(other_tags, '$.x') = 1"),
        &[
            "roads.gpkg#roads",
            "attribute filter",
            "SQLite takes it but stops reading the rows with it (malformed JSON)",
        ],
    );
}

#[test]
fn truncated_geojson() {
    let dir = tempfile::tempdir().unwrap();
    let (areas, roads) = hand_layers(dir.path());
    let text = std::fs::read_to_string(&roads).unwrap();
    let cut = dir.path().join("cut.geojson");
    std::fs::write(&cut, &text[..text.len() / 2]).unwrap();
    let o = dir.path().join("o.geojson");
    run_err(&["road-density", "--roads", s(&cut), "--areas", &areas, "-o", s(&o)], 1, &["cut.geojson"]);
}

#[test]
fn usage_errors_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let (areas, roads) = hand_layers(dir.path());
    let o = dir.path().join("o.geojson");
    let base = ["road-density", "--roads", &roads, "--areas", &areas, "-o", s(&o)];
    let with = |extra: &[&str]| -> Vec<String> { base.iter().chain(extra).map(|x| x.to_string()).collect() };
    for (extra, words) in [
        (vec!["--target", "中心城区=abc"], vec!["--target 中心城区=abc"]),
        (vec!["--grades", "nope"], vec!["'nope'", "cn, osm"]),
        (vec!["--measure", "planar"], vec!["--planar-crs"]),
        (vec!["--measure", "planar", "--planar-crs", "EPSG:4326"], vec!["not a projected CRS"]),
        (vec!["--grid", "0"], vec!["--grid"]),
        (vec!["--grid", "1e-300"], vec!["--grid 1e-300", "between 10 and 100000 metres"]),
        (vec!["--grid", "1e300"], vec!["--grid 1e300"]),
        // PROJ would take "foo" for Amersfoort; an unknown code is a typo, not bad data.
        (vec!["--crs", "foo"], vec!["'foo'", "not a CRS definition"]),
        (vec!["--roads-crs", "EPSG:99999"], vec!["'EPSG:99999'", "PROJ cannot use it"]),
        (vec!["--measure", "planar", "--planar-crs", "EPSG:2263"], vec!["--planar-crs EPSG:2263", "332.", "in metres"]),
        (
            vec!["--measure", "planar", "--planar-crs", "EPSG:4978"],
            vec!["--planar-crs EPSG:4978", "north", "in metres"],
        ),
        // Web Mercator at 31.7°N measures 100 m as 117 m each way: areas 38% too large.
        (
            vec!["--measure", "planar", "--planar-crs", "EPSG:3857"],
            vec!["--planar-crs EPSG:3857", "117.", "true to scale"],
        ),
        // A 6° zone 41° west of the data.
        (vec!["--measure", "planar", "--planar-crs", "EPSG:4491"], vec!["--planar-crs EPSG:4491", "true to scale"]),
        (vec!["--max-width", "40"], vec!["--width-field"]),
        (vec!["--no-such-flag"], vec!["--no-such-flag"]),
    ] {
        let args = with(&extra);
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let stderr = run_err(&refs, 2, &words);
        assert!(!stderr.contains("proj_create"), "PROJ's own log is quiet: {stderr}");
    }
    run_err(&["no-such-command"], 2, &["no-such-command"]);
    // An equal-area projection keeps areas wherever it is used, though it stretches one axis.
    let albers = "+proj=aea +lat_1=25 +lat_2=47 +lon_0=105 +ellps=GRS80 +units=m";
    run_ok(&[&base[..], &["--measure", "planar", "--planar-crs", albers]].concat());
    // CRS definitions PROJ reads exactly, in the forms bureaus meet.
    for crs in ["EPSG:4527+5773", "URN:OGC:DEF:CRS:EPSG::4527", "http://www.opengis.net/def/crs/EPSG/0/4527"] {
        run_ok(&[&base[..], &["--crs", crs]].concat());
    }
    // No network: URLs and GDAL's network file systems are refused before GDAL sees them.
    for url in ["https://example.org/roads.geojson", "/vsicurl/https://example.org/r.gpkg"] {
        run_err(&["road-density", "--roads", url, "--areas", &areas, "-o", s(&o)], 2, &["local files only"]);
    }
}

/// Shapefiles with GBK attributes: the .cpg is honoured; without it, --encoding GBK reads them.
#[test]
fn gbk_shapefile_with_and_without_cpg() {
    let dir = tempfile::tempdir().unwrap();
    let (areas, roads) = hand_layers(dir.path());
    let shp = dir.path().join("areas_gbk.shp");
    ogr2ogr(&["-f", "ESRI Shapefile", "-lco", "ENCODING=GBK", s(&shp), &areas]);
    let dbf = std::fs::read(dir.path().join("areas_gbk.dbf")).unwrap();
    let gbk_central = [0xd6, 0xd0, 0xd0, 0xc4, 0xb3, 0xc7, 0xc7, 0xf8]; // 中心城区 in GBK
    assert!(dbf.windows(8).any(|w| w == gbk_central), "the .dbf holds GBK bytes");
    let o = dir.path().join("o.geojson");

    run_ok(&["road-density", "--roads", &roads, "--areas", s(&shp), "-o", s(&o)]);
    assert_eq!(text(&read_collection(&o).features[0], "kind_label"), "中心城区");

    // A .cpg naming the Windows code page as some GIS software writes it, which GDAL alone does
    // not decode.
    for cpg in ["ANSI 936", "ansi936\r\n", "\u{feff}ANSI 936", "\u{feff}936"] {
        std::fs::write(dir.path().join("areas_gbk.cpg"), cpg).unwrap();
        run_ok(&["road-density", "--roads", &roads, "--areas", s(&shp), "-o", s(&o)]);
        assert_eq!(text(&read_collection(&o).features[0], "kind_label"), "中心城区", ".cpg {cpg:?}");
    }

    std::fs::remove_file(dir.path().join("areas_gbk.cpg")).unwrap();
    run_ok(&["road-density", "--roads", &roads, "--areas", s(&shp), "--encoding", "GBK", "-o", s(&o)]);
    let f = &read_collection(&o).features[0];
    assert_eq!(text(f, "kind_label"), "中心城区");
    assert_eq!(text(f, "kind"), "central_city");

    // Chinese field names in GBK without a .cpg: the field asked for is not found among names that
    // do not decode, and the message says how to read them.
    let named = dir.path().join("named_gbk.shp");
    let sql = "SELECT id AS \"编号\", kind AS \"类型\", geometry FROM areas";
    ogr2ogr(&["-f", "ESRI Shapefile", "-lco", "ENCODING=GBK", "-dialect", "SQLite", "-sql", sql, s(&named), &areas]);
    std::fs::remove_file(dir.path().join("named_gbk.cpg")).unwrap();
    let args = ["road-density", "--roads", &roads, "--areas", s(&named), "--kind-field", "类型", "-o", s(&o)];
    run_err(&args, 1, &["named_gbk.shp", "no field '类型'", "names that do not decode", "--encoding GBK"]);
    run_ok(&[&args[..], &["--encoding", "GBK", "--id-field", "编号"]].concat());
    assert_eq!(text(&read_collection(&o).features[0], "kind_label"), "中心城区");
}
