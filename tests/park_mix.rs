//! `planaudit park-mix` end to end: hand-computable layers in EPSG:4527, derived parks, bad
//! input, and Baltimore's industrial land checked against SpatiaLite.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use serde_json::{json, Value};

use crate::common::{
    gdal_sql, ogr2ogr, read_collection, rel_diff, run, run_err, run_ok, shared, text, PARK_MIX_PROPERTIES,
};

/// Metres from this corner, in CGCS2000 / 3-degree Gauss–Krüger zone 39 (EPSG:4527, easting first
/// as GDAL reads GeoJSON), about 20 km west of the central meridian at Lu'an.
const X0: f64 = 39_480_000.0;
const Y0: f64 = 3_515_000.0;
const PLANAR: [&str; 4] = ["--measure", "planar", "--planar-crs", "EPSG:4527"];
/// Output figures are rounded to 6 decimals of km² (1 m²).
const ROUNDING_KM2: f64 = 1e-6;

/// A closed ring of a rectangle, in metres from (X0, Y0).
fn ring(x0: f64, y0: f64, x1: f64, y1: f64) -> Value {
    json!([[X0 + x0, Y0 + y0], [X0 + x1, Y0 + y0], [X0 + x1, Y0 + y1], [X0 + x0, Y0 + y1], [X0 + x0, Y0 + y0]])
}

fn rect(x0: f64, y0: f64, x1: f64, y1: f64) -> Value {
    json!({"type": "Polygon", "coordinates": [ring(x0, y0, x1, y1)]})
}

/// Writes a GeoJSON layer whose `crs` member says EPSG:4527.
fn write_layer(path: &Path, features: Vec<(Value, Value)>) {
    let features: Vec<Value> = features
        .into_iter()
        .map(|(properties, geometry)| json!({"type": "Feature", "properties": properties, "geometry": geometry}))
        .collect();
    let fc = json!({
        "type": "FeatureCollection",
        "crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::4527"}},
        "features": features,
    });
    std::fs::write(path, serde_json::to_string_pretty(&fc).unwrap()).unwrap();
}

/// The parks of the hand-computed case:
/// A: 1 km² with a 200 m square hole (0.96 km²); B: a multipolygon of two 500 m squares (0.5 km²);
/// C: a 200 m square.
fn write_parks(path: &Path) {
    write_layer(
        path,
        vec![
            (
                json!({"park_id": "A", "name": "甲园"}),
                json!({"type": "Polygon", "coordinates": [ring(0.0, 0.0, 1000.0, 1000.0), ring(600.0, 600.0, 800.0, 800.0)]}),
            ),
            (
                json!({"park_id": "B", "name": "乙园"}),
                json!({"type": "MultiPolygon", "coordinates": [
                    [ring(2000.0, 0.0, 2500.0, 500.0)], [ring(3000.0, 0.0, 3500.0, 500.0)]
                ]}),
            ),
            (json!({"park_id": "C", "name": "丙园"}), rect(5000.0, 0.0, 5200.0, 200.0)),
        ],
    );
}

/// The parcels of the hand-computed case (用地用海 codes in `dlbm`), with what lies in each park.
fn write_landuse(path: &Path) {
    let p = |code: &str, g: Value| (json!({ "dlbm": code }), g);
    write_layer(
        path,
        vec![
            // A, fully inside: 0.04 km² residential.
            p("070101", rect(100.0, 100.0, 300.0, 300.0)),
            // A, half outside: 0.01 commercial inside.
            p("0901", rect(900.0, 100.0, 1100.0, 200.0)),
            // A, two overlapping parcels: 0.04 community service + 0.04 public service, union 0.06.
            p("0702", rect(100.0, 400.0, 300.0, 600.0)),
            p("0804", rect(200.0, 400.0, 400.0, 600.0)),
            // A, over the hole: 0.16 − 0.04 = 0.12 residential.
            p("070102", rect(500.0, 500.0, 900.0, 900.0)),
            // A, inside the first parcel, same category: 0.01 of overlap.
            p("0701", rect(150.0, 150.0, 250.0, 250.0)),
            // A, an unknown code: 0.01 unclassified.
            p("9999", rect(400.0, 100.0, 500.0, 200.0)),
            // A, water: 0.03.
            p("1701", rect(700.0, 0.0, 1000.0, 100.0)),
            // A, industrial: 0.1.
            p("100101", rect(0.0, 900.0, 1000.0, 1000.0)),
            // B, one parcel across both parts and the gap: 0.01 + 0.01 commercial.
            p("0901", rect(2400.0, 0.0, 3100.0, 100.0)),
            // B: 0.05 public service.
            p("0801", rect(3000.0, 400.0, 3500.0, 500.0)),
            // C, covered and more: all residential.
            p("07", rect(4900.0, -100.0, 5300.0, 300.0)),
            // Far from every park, an unknown code: in no park, but read, used and flagged from a
            // layer without a spatial index (GeoJSON); not read from one with it.
            p("8888", rect(9000.0, 9000.0, 9100.0, 9100.0)),
        ],
    );
}

fn by_category(f: &geojson::Feature, category: &str) -> f64 {
    f.property("by_category").and_then(|m| m.get(category)).and_then(Value::as_f64).unwrap_or_else(|| {
        panic!("by_category.{category} missing in {:?}", f.properties);
    })
}

fn feature_by_id<'a>(fc: &'a geojson::FeatureCollection, key: &str, id: &str) -> &'a geojson::Feature {
    fc.features.iter().find(|f| text(f, key) == id).unwrap_or_else(|| panic!("no feature with {key} {id}"))
}

fn assert_km2(f: &geojson::Feature, key: &str, expected: f64) {
    let got = crate::common::num(f, key);
    assert!((got - expected).abs() <= ROUNDING_KM2, "{key}: {got}, expected {expected}");
}

/// A temporary folder holding the hand-computed parks and land use.
struct Case {
    dir: tempfile::TempDir,
}

impl Case {
    fn new() -> Case {
        let dir = tempfile::tempdir().unwrap();
        write_parks(&dir.path().join("parks.geojson"));
        write_landuse(&dir.path().join("landuse.geojson"));
        Case { dir }
    }

    /// A path in the folder, as text.
    fn path(&self, name: &str) -> String {
        self.dir.path().join(name).display().to_string()
    }

    /// `park-mix` on the case's layers with the tdt2023 table, writing `out`, then `extra`.
    fn args(&self, out: &str, extra: &[&str]) -> Vec<String> {
        let mut a: Vec<String> =
            ["park-mix", "--landuse", &self.path("landuse.geojson"), "--parks", &self.path("parks.geojson")]
                .map(String::from)
                .to_vec();
        a.extend(["--classes", "tdt2023", "-o", &self.path(out)].map(String::from));
        a.extend(extra.iter().map(|s| s.to_string()));
        a
    }

    /// Runs [`Case::args`], planar in EPSG:4527, and returns stdout.
    fn run_planar(&self, out: &str, extra: &[&str]) -> String {
        let args = self.args(out, &[&PLANAR[..], extra].concat());
        run_ok(&args.iter().map(String::as_str).collect::<Vec<_>>())
    }

    fn output(&self, name: &str) -> geojson::FeatureCollection {
        read_collection(&self.dir.path().join(name))
    }
}

#[test]
fn hand_computed_parks() {
    let case = Case::new();
    let summary = case.path("summary.json");
    let stdout = case.run_planar("mix.geojson", &["--summary-json", &summary]);
    assert!(stdout.contains("field 'dlbm': code '9999' is in no row of table tdt2023"), "{stdout}");

    let fc = case.output("mix.geojson");
    assert_eq!(fc.features.len(), 3);
    let keys: Vec<&String> = fc.features[0].properties.as_ref().unwrap().keys().collect();
    for k in PARK_MIX_PROPERTIES.iter().chain(["derived_from"].iter()) {
        assert!(keys.iter().any(|x| x == k), "property {k} missing: {keys:?}");
    }

    let a = feature_by_id(&fc, "park_id", "A");
    assert_eq!(text(a, "name"), "甲园");
    assert_km2(a, "park_area_km2", 0.96);
    assert_km2(a, "mix_area_km2", 0.23);
    assert_km2(a, "mix_share", 0.23 / 0.96);
    assert_km2(a, "construction_land_km2", 0.93);
    assert_km2(a, "mix_share_of_construction_land", 0.23 / 0.93);
    assert_km2(a, "band_min", 0.2);
    assert_km2(a, "band_max", 0.3);
    assert_eq!(text(a, "status"), "within");
    for (c, v) in [
        ("residential", 0.16),
        ("community_service", 0.04),
        ("public_service", 0.04),
        ("commercial", 0.01),
        ("industrial", 0.1),
        ("water", 0.03),
        ("green", 0.0),
    ] {
        assert!((by_category(a, c) - v).abs() <= ROUNDING_KM2, "A {c}: {}", by_category(a, c));
    }
    assert_km2(a, "unclassified_km2", 0.01);
    assert_eq!(a.property("unknown_codes").unwrap(), &json!({"9999": 0.01}));
    assert_km2(a, "overlap_km2", 0.03);
    // Land any parcel covers: 0.04 + 0.01 + 0.06 + 0.12 + 0.01 + 0.03 + 0.1.
    assert_km2(a, "covered_km2", 0.37);
    assert_km2(a, "covered_share", 0.37 / 0.96);
    assert_eq!(a.property("derived_from"), Some(&Value::Null));
    assert_eq!(text(a, "measure"), "planar (EPSG:4527)");

    let b = feature_by_id(&fc, "park_id", "B");
    assert_km2(b, "park_area_km2", 0.5);
    assert_km2(b, "mix_area_km2", 0.07);
    assert_km2(b, "covered_share", 0.07 / 0.5);
    assert_eq!(text(b, "status"), "below");
    let c = feature_by_id(&fc, "park_id", "C");
    assert_km2(c, "mix_share", 1.0);
    assert_eq!(text(c, "status"), "above");

    // The mix parcels clipped to the parks, one category per piece.
    let pieces = case.output("mix_parcels.geojson");
    assert_eq!(pieces.features.len(), 9);
    let mut per_park: BTreeMap<String, f64> = BTreeMap::new();
    for f in &pieces.features {
        *per_park.entry(text(f, "park_id")).or_default() += crate::common::num(f, "area_km2");
        assert_ne!(text(f, "category"), "industrial");
    }
    // Pieces keep their overlaps: A's pieces sum to the mix area plus the 0.03 of overlap.
    assert!((per_park["A"] - 0.26).abs() < 1e-5, "{per_park:?}");
    assert!((per_park["B"] - 0.07).abs() < 1e-5, "{per_park:?}");
    let half = pieces.features.iter().find(|f| text(f, "code") == "0901" && text(f, "park_id") == "A").unwrap();
    assert_km2(half, "area_km2", 0.01);
    assert_eq!(text(half, "category"), "commercial");

    let s: Value = serde_json::from_str(&std::fs::read_to_string(&summary).unwrap()).unwrap();
    assert_eq!(s["indicator"], "park_mix");
    assert_eq!(s["classes"], "tdt2023");
    assert_eq!(
        (s["parks_below"].as_u64(), s["parks_within"].as_u64(), s["parks_above"].as_u64()),
        (Some(1), Some(1), Some(1))
    );
    assert_eq!(s["parks"].as_array().unwrap().len(), 3);
    // Every parcel of a layer without a spatial index is read and classified, the far one too.
    let landuse =
        s["layers"].as_array().unwrap().iter().find(|l| l["layer"].as_str().unwrap().contains("landuse")).unwrap();
    assert_eq!((landuse["read"].as_u64(), landuse["used"].as_u64()), (Some(13), Some(13)), "{landuse}");
    let flagged = landuse["flagged"].as_object().unwrap();
    assert_eq!(
        flagged.get("field 'dlbm': code '8888' is in no row of table tdt2023 (unclassified)"),
        Some(&json!(1)),
        "{landuse}"
    );
    assert_eq!(
        flagged.get("field 'dlbm': code '9999' is in no row of table tdt2023 (unclassified)"),
        Some(&json!(1)),
        "{landuse}"
    );

    // Ellipsoidal by default: areas move by the Gauss–Krüger scale (about 1e-5 here), shares hardly.
    let args = case.args("ell.geojson", &[]);
    run_ok(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let e = case.output("ell.geojson");
    let ea = feature_by_id(&e, "park_id", "A");
    assert!(text(ea, "measure").starts_with("ellipsoidal"));
    let area = crate::common::num(ea, "park_area_km2");
    assert!(area != 0.96 && rel_diff(area, 0.96) < 1e-4, "ellipsoidal park area {area}");
    assert!((crate::common::num(ea, "mix_share") - 0.23 / 0.96).abs() < 2e-6);
}

/// A class table that knows the codes of fewer than half of the parcels read is called into
/// question, on stderr and in the layer's warnings, with the preset that knows them; the table the
/// layer is coded in is not.
#[test]
fn a_class_table_that_knows_few_codes_is_warned_of() {
    let case = Case::new();
    let run_with = |classes: &str| -> (String, Vec<String>) {
        let summary = case.path(&format!("summary-{classes}.json"));
        let mut args: Vec<String> =
            ["park-mix", "--landuse", &case.path("landuse.geojson"), "--parks", &case.path("parks.geojson")]
                .map(String::from)
                .to_vec();
        let out = case.path(&format!("mix-{classes}.geojson"));
        args.extend(["--classes", classes, "-o", &out, "--summary-json", &summary].map(String::from));
        args.extend(PLANAR.iter().map(|s| s.to_string()));
        let o = run(&args.iter().map(String::as_str).collect::<Vec<_>>());
        let stderr = String::from_utf8_lossy(&o.stderr).into_owned();
        assert!(o.status.success(), "{stderr}");
        let summary: Value = serde_json::from_str(&std::fs::read_to_string(&summary).unwrap()).unwrap();
        let warnings = summary["layers"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|l| l["warnings"].as_array().into_iter().flatten())
            .filter_map(|w| w.as_str().map(str::to_string))
            .collect();
        (stderr, warnings)
    };
    // tdt2023 knows 11 of the 13 codes (not 9999 and 8888).
    let (stderr, warnings) = run_with("tdt2023");
    assert!(!stderr.contains("knows the codes of only"), "{stderr}");
    assert!(!warnings.iter().any(|w| w.contains("knows the codes of only")), "{warnings:?}");
    // GB 50137 letters know none of the 用地用海 digits: the preset that knows 11 of the 13 is named.
    let (stderr, warnings) = run_with("gb50137");
    let words = [
        "landuse.geojson",
        "table gb50137 knows the codes of only 0 of the 13 parcels read with a code (0%, fields dlbm, DLBM)",
        "the preset tdt2023 knows 84% of them",
        "--classes tdt2023",
    ];
    for w in words {
        assert!(stderr.contains(w), "{w:?} not in {stderr}");
        assert!(warnings.iter().any(|x| x.contains(w)), "{w:?} not in {warnings:?}");
    }
    // Words where codes should be: no preset knows them, though GB 50137's one-letter classes
    // begin them (R, S, G).
    let words_layer = case.path("words.geojson");
    let p = |code: &str, x: f64| (json!({ "dlbm": code }), rect(x, 100.0, x + 50.0, 150.0));
    write_layer(Path::new(&words_layer), vec![p("residential", 100.0), p("school", 200.0), p("grass", 300.0)]);
    let out = case.path("words-mix.geojson");
    let o = run(&[
        "park-mix",
        "--landuse",
        &words_layer,
        "--parks",
        &case.path("parks.geojson"),
        "--classes",
        "tdt2023",
        "-o",
        &out,
        PLANAR[0],
        PLANAR[1],
        PLANAR[2],
        PLANAR[3],
    ]);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{stderr}");
    assert!(stderr.contains("table tdt2023 knows the codes of only 0 of the 3 parcels read with a code"), "{stderr}");
    assert!(stderr.contains("check the class fields and the table"), "{stderr}");
    assert!(!stderr.contains("the preset"), "{stderr}");
}

/// OpenStreetMap's land-use polygons are mostly buildings without any land-use tag: they say
/// nothing of the class table, which knows most of the tags there are.
#[test]
fn buildings_without_tags_do_not_call_the_osm_table_into_question() {
    let dir = tempfile::tempdir().unwrap();
    let landuse = format!("{}#multipolygons", shared("osm/baltimore-2015.osm.pbf").display());
    let out = dir.path().join("parks.geojson");
    let o = run(&["park-mix", "--landuse", &landuse, "--parks-from-class", "industrial", "-o", out.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{stderr}");
    // Flagged, as ever, by reason: the untagged polygons are there.
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.contains("all empty (unclassified)"), "{stdout}");
    assert!(!stderr.contains("knows the codes of only"), "{stderr}");
}

#[test]
fn mix_and_band_options() {
    let case = Case::new();
    case.run_planar("o.geojson", &["--mix", "residential,water", "--band", "10%-15%"]);
    let fc = case.output("o.geojson");
    let a = feature_by_id(&fc, "park_id", "A");
    assert_km2(a, "mix_area_km2", 0.19);
    assert_km2(a, "band_min", 0.10);
    assert_eq!(text(a, "status"), "above");
    assert_eq!(a.property("mix_categories").unwrap(), &json!(["residential", "water"]));
    let b = feature_by_id(&fc, "park_id", "B");
    assert_eq!(text(b, "status"), "below");
}

#[test]
fn parks_derived_from_industrial_parcels() {
    let dir = tempfile::tempdir().unwrap();
    let landuse = dir.path().join("landuse.geojson");
    let p = |code: &str, g: Value| (json!({ "dlbm": code }), g);
    write_layer(
        &landuse,
        vec![
            // A ring of four industrial strips around 200 m of housing: one park, 0.16 km², 25% mix.
            p("1001", rect(0.0, 0.0, 400.0, 100.0)),
            p("1001", rect(0.0, 300.0, 400.0, 400.0)),
            p("1001", rect(0.0, 100.0, 100.0, 300.0)),
            p("100102", rect(300.0, 100.0, 400.0, 300.0)),
            p("0701", rect(100.0, 100.0, 300.0, 300.0)),
            // 30 m east of the ring: the gap is bridged.
            p("1001", rect(430.0, 0.0, 530.0, 100.0)),
            // 1 km away: a park of its own, without housing.
            p("1001", rect(1500.0, 0.0, 1600.0, 100.0)),
            p("0901", rect(1700.0, 0.0, 1800.0, 100.0)),
        ],
    );
    let out = dir.path().join("derived.geojson");
    let args = |gap_m: &'static str| {
        let mut a = vec![
            "park-mix".to_string(),
            "--landuse".into(),
            landuse.display().to_string(),
            "--classes".into(),
            "tdt2023".into(),
            "--parks-from-class".into(),
            "industrial".into(),
            "--merge-gap-m".into(),
            gap_m.into(),
            "-o".into(),
            out.display().to_string(),
        ];
        a.extend(PLANAR.map(String::from));
        a
    };
    let run = |gap_m| run_ok(&args(gap_m).iter().map(String::as_str).collect::<Vec<_>>());
    run("50");
    let fc = read_collection(&out);
    assert_eq!(fc.features.len(), 2);
    let one = feature_by_id(&fc, "park_id", "1");
    let how = text(one, "derived_from");
    assert!(how.contains("5 industrial parcel") && how.contains("50 m") && how.contains("landuse.geojson"), "{how}");
    // The ring's outline (0.16) and the eastern parcel (0.01), plus the 30 m × 100 m strip between
    // them (0.003) that the closing fills, except for notches a few metres deep at its open end,
    // and plus a fillet of radius 25 m in the concave corner it makes with the ring (134 m²).
    let area = crate::common::num(one, "park_area_km2");
    assert!(area > 0.172 && area < 0.173 + 0.000135, "area {area}");
    assert_km2(one, "mix_area_km2", 0.04);
    let two = feature_by_id(&fc, "park_id", "2");
    assert_km2(two, "park_area_km2", 0.01);
    assert_km2(two, "mix_area_km2", 0.0);
    assert_eq!(text(two, "status"), "below");

    // With a 20 m gap the eastern parcel is a park of its own.
    run("20");
    assert_eq!(read_collection(&out).features.len(), 3);
}

#[test]
fn bad_input() {
    let case = Case::new();
    let d = |n: &str| case.path(n);
    let (parks, landuse, out) = (d("parks.geojson"), d("landuse.geojson"), d("o.geojson"));
    let base = ["park-mix", "--landuse", &landuse, "--parks", &parks, "-o", &out];

    // A class field the layer does not have: the message lists the fields.
    run_err(
        &[&base[..], &["--classes", "tdt2023", "--class-field", "YDDM"]].concat(),
        1,
        &["landuse.geojson#landuse", "no field 'YDDM'", "dlbm"],
    );
    // None of the table's default fields.
    let coded = d("coded.geojson");
    write_layer(Path::new(&coded), vec![(json!({"code": "0701"}), rect(0.0, 0.0, 10.0, 10.0))]);
    run_err(
        &["park-mix", "--landuse", &coded, "--parks", &parks, "--classes", "gbt21010", "-o", &out],
        1,
        &["coded.geojson#coded", "dlbm or DLBM", "--class-field", "fields: code"],
    );
    // A preset that does not exist: usage error listing the presets.
    run_err(&[&base[..], &["--classes", "tdt2020"]].concat(), 2, &["tdt2020", "tdt2023", "gbt21010", "gb50137", "osm"]);
    // A class table is required for non-OSM land use.
    run_err(&base, 2, &["--classes"]);
    // A merge gap with a park layer, which is taken as it is: said, not ignored.
    run_err(
        &[&base[..], &["--classes", "tdt2023", "--merge-gap-m", "100"]].concat(),
        2,
        &["--merge-gap-m is only used with --parks-from-class"],
    );
    // Bad mix, band, category for derived parks.
    run_err(
        &[&base[..], &["--classes", "tdt2023", "--mix", "residential,shops"]].concat(),
        2,
        &["shops", "community_service"],
    );
    run_err(&[&base[..], &["--classes", "tdt2023", "--band", "30-20"]].concat(), 2, &["--band 30-20"]);
    run_err(
        &["park-mix", "--landuse", &landuse, "--classes", "tdt2023", "--parks-from-class", "factories", "-o", &out],
        2,
        &["factories", "industrial"],
    );
    // Neither parks nor a class to derive them from.
    run_err(&["park-mix", "--landuse", &landuse, "--classes", "tdt2023", "-o", &out], 2, &["--parks"]);
    // No parcel of the class to derive parks from.
    run_err(
        &["park-mix", "--landuse", &landuse, "--classes", "tdt2023", "--parks-from-class", "warehouse", "-o", &out],
        1,
        &["landuse.geojson#landuse", "no parcel of category warehouse"],
    );

    // A park layer of lines.
    let lines = d("lines.geojson");
    write_layer(
        Path::new(&lines),
        vec![(json!({"park_id": "L"}), json!({"type": "LineString", "coordinates": [[X0, Y0], [X0 + 100.0, Y0]]}))],
    );
    run_err(
        &["park-mix", "--landuse", &landuse, "--parks", &lines, "--classes", "tdt2023", "-o", &out],
        1,
        &["lines.geojson#lines", "parks", "polygon"],
    );
}

/// A self-intersecting parcel (a bow tie) is repaired by ingest, counted, and measured as its two
/// triangles.
#[test]
fn invalid_parcel_is_repaired_and_counted() {
    let case = Case::new();
    let bow_tie = json!({"type": "Polygon", "coordinates": [[
        [X0 + 5000.0, Y0], [X0 + 5100.0, Y0 + 100.0], [X0 + 5100.0, Y0], [X0 + 5000.0, Y0 + 100.0], [X0 + 5000.0, Y0]
    ]]});
    write_layer(Path::new(&case.path("landuse.geojson")), vec![(json!({"dlbm": "0701"}), bow_tie)]);
    let summary = case.path("s.json");
    let stdout = case.run_planar("o.geojson", &["--summary-json", &summary]);
    assert!(stdout.contains("landuse.geojson#landuse (land-use class): read 1, used 1, repaired 1"), "{stdout}");
    let c = feature_by_id(&case.output("o.geojson"), "park_id", "C").clone();
    assert_km2(&c, "mix_area_km2", 0.005);
    let s: Value = serde_json::from_str(&std::fs::read_to_string(&summary).unwrap()).unwrap();
    let layer =
        s["layers"].as_array().unwrap().iter().find(|l| l["layer"].as_str().unwrap().ends_with("landuse")).unwrap();
    assert_eq!(layer["repaired"], 1);
}

/// Baltimore's values of the osm preset, for the SQL below: the landuse values the table knows
/// (a feature's landuse decides when known; otherwise its amenity does, with --class-field
/// landuse,amenity), and the values of each set of categories.
const KNOWN_LANDUSE: &str =
    "'retail','industrial','forest','residential','commercial','cemetery','brownfield','grass',\
    'railway','basin','recreation_ground','greenfield','construction','military','allotments'";
/// residential, community_service, public_service, commercial (the default mix).
const MIX_LANDUSE: &str = "'residential','retail','commercial'";
const MIX_AMENITY: &str =
    "'restaurant','school','fuel','fast_food','bar','public_building','hospital','bank','car_wash',\
    'veterinary','stripclub','social_facility','pub','post_office','police','pharmacy','nursing_home','ice_cream'";
/// Every category but industrial.
const BROAD_MIX: &str = "residential,community_service,public_service,commercial,warehouse,transport,utilities,green,water,agricultural,other";
const KNOWN_AMENITY_NOT_INDUSTRIAL: &str =
    "'parking','restaurant','school','fuel','fast_food','place_of_worship','bar',\
    'public_building','hospital','bank','fire_station','car_wash','veterinary','stripclub','social_facility','pub',\
    'post_office','police','pharmacy','nursing_home','ice_cream','grave_yard'";

/// Per park: SpatiaLite's area of (park ∩ union of the parcels matching `condition`), in km².
/// `area` is `ST_Area(x, 1)` (ellipsoidal) or `ST_Area(x)` (planar).
fn spatialite_union_km2(db: &Path, condition: &str, ellipsoidal: bool) -> BTreeMap<String, f64> {
    let area = |g: &str| if ellipsoidal { format!("ST_Area({g}, 1)") } else { format!("ST_Area({g})") };
    let sql = format!(
        "SELECT COALESCE(p.osm_id, p.osm_way_id) AS id, {} AS m2 \
         FROM parks p JOIN landuse l ON ST_Intersects(p.GEOMETRY, l.GEOMETRY) \
         WHERE {condition} GROUP BY p.ogc_fid",
        area("ST_CollectionExtract(ST_Intersection(p.GEOMETRY, ST_Union(l.GEOMETRY)), 3)")
    );
    km2_by_id(db, &sql)
}

/// Runs SQL whose rows are `id` and `m2`, and returns km² by id (a null area counts as 0).
fn km2_by_id(db: &Path, sql: &str) -> BTreeMap<String, f64> {
    gdal_sql(db, sql)
        .into_iter()
        .map(|r| (r["id"].clone(), r.get("m2").and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0) / 1e6))
        .collect()
}

/// Copies Baltimore's land use and industrial parks into a SpatiaLite database, made valid,
/// optionally reprojected.
fn baltimore_db(dir: &Path, name: &str, t_srs: Option<&str>) -> std::path::PathBuf {
    let pbf = shared("osm/baltimore-2015.osm.pbf");
    let db = dir.join(name);
    let reproject: Vec<&str> = t_srs.map(|s| vec!["-t_srs", s]).unwrap_or_default();
    for (i, (layer, filter)) in
        [("landuse", "landuse IS NOT NULL OR amenity IS NOT NULL"), ("parks", "landuse = 'industrial'")]
            .iter()
            .enumerate()
    {
        let mut args = vec!["-f", "SQLite", "-makevalid", "-nln", layer, "-where", filter];
        args.extend(if i == 0 { vec!["-dsco", "SPATIALITE=YES"] } else { vec!["-update"] });
        args.extend(&reproject);
        args.extend([db.to_str().unwrap(), pbf.to_str().unwrap(), "multipolygons"]);
        ogr2ogr(&args);
    }
    db
}

/// Compares planaudit's per-park km² with SpatiaLite's: within 0.1%, or within the output's
/// rounding (1e-6 km²) for pieces so small that rounding is the larger. Returns the largest
/// relative difference among values above 1e-3 km².
fn compare(fc: &geojson::FeatureCollection, key: &str, expected: &BTreeMap<String, f64>) -> f64 {
    let mut worst: f64 = 0.0;
    for f in &fc.features {
        let id = text(f, "park_id");
        let got = crate::common::num(f, key);
        let want = expected.get(&id).copied().unwrap_or(0.0);
        let tol = (1e-3 * want).max(ROUNDING_KM2 / 2.0 + 1e-12);
        assert!((got - want).abs() <= tol, "park {id} {key}: planaudit {got} km², SpatiaLite {want} km²");
        if want > 1e-3 {
            worst = worst.max(rel_diff(got, want));
        }
    }
    worst
}

#[test]
fn baltimore_industrial_parks_against_spatialite() {
    let dir = tempfile::tempdir().unwrap();
    let pbf = shared("osm/baltimore-2015.osm.pbf");
    let src = |layer: &str| format!("{}#{layer}", pbf.display());
    let (landuse, parks) = (src("multipolygons"), src("multipolygons"));
    let out = dir.path().join("baltimore.geojson");
    let common = [
        "park-mix",
        "--landuse",
        &landuse,
        "--landuse-where",
        "landuse IS NOT NULL OR amenity IS NOT NULL",
        "--class-field",
        "landuse,amenity",
        "--parks",
        &parks,
        "--parks-where",
        "landuse='industrial'",
        "-o",
        out.to_str().unwrap(),
    ];

    // Ellipsoidal (the default), default mix, against ST_Area(…, 1) in longitude/latitude.
    let t = Instant::now();
    run_ok(&common);
    let seconds = t.elapsed().as_secs_f64();
    let fc = read_collection(&out);
    assert_eq!(fc.features.len(), 39, "39 landuse=industrial multipolygons");
    assert_eq!(fc.foreign_members.as_ref().unwrap()["attribution"], "© OpenStreetMap contributors");
    let db = baltimore_db(dir.path(), "baltimore.sqlite", None);
    let mix_condition =
        format!("CASE WHEN l.landuse IN ({KNOWN_LANDUSE}) THEN l.landuse IN ({MIX_LANDUSE}) ELSE COALESCE(l.amenity IN ({MIX_AMENITY}), 0) END");
    let mix = spatialite_union_km2(&db, &mix_condition, true);
    assert!(mix.values().filter(|v| **v > 1e-4).count() >= 4, "some parks hold mix land: {mix:?}");
    let worst_mix = compare(&fc, "mix_area_km2", &mix);
    let areas = km2_by_id(&db, "SELECT COALESCE(osm_id, osm_way_id) AS id, ST_Area(GEOMETRY, 1) AS m2 FROM parks");
    assert_eq!(areas.len(), 39);
    let worst_area = compare(&fc, "park_area_km2", &areas);

    // Planar in UTM 18N, every category but industrial, against ST_Area in a reprojected copy.
    let utm = baltimore_db(dir.path(), "baltimore_utm.sqlite", Some("EPSG:32618"));
    run_ok(&[&common[..], &["--measure", "planar", "--planar-crs", "EPSG:32618", "--mix", BROAD_MIX]].concat());
    let fc = read_collection(&out);
    let broad_condition = format!(
        "CASE WHEN l.landuse IN ({KNOWN_LANDUSE}) THEN l.landuse <> 'industrial' ELSE COALESCE(l.amenity IN ({KNOWN_AMENITY_NOT_INDUSTRIAL}), 0) END"
    );
    let broad = spatialite_union_km2(&utm, &broad_condition, false);
    assert!(broad.values().filter(|v| **v > 1e-3).count() >= 5, "{broad:?}");
    let worst_broad = compare(&fc, "mix_area_km2", &broad);

    // Overlap: Σ clipped parcels − their union, over every parcel.
    let sql = "SELECT COALESCE(p.osm_id, p.osm_way_id) AS id, \
               SUM(ST_Area(ST_CollectionExtract(ST_Intersection(p.GEOMETRY, l.GEOMETRY), 3))) \
               - ST_Area(ST_CollectionExtract(ST_Intersection(p.GEOMETRY, ST_Union(l.GEOMETRY)), 3)) AS m2 \
               FROM parks p JOIN landuse l ON ST_Intersects(p.GEOMETRY, l.GEOMETRY) GROUP BY p.ogc_fid";
    let overlap = km2_by_id(&utm, sql);
    assert!(overlap.values().filter(|v| **v > 1e-3).count() >= 3, "{overlap:?}");
    let worst_overlap = compare(&fc, "overlap_km2", &overlap);
    eprintln!(
        "baltimore: 39 parks in {seconds:.2} s (ellipsoidal run); largest relative difference vs SpatiaLite: \
         mix {worst_mix:.2e}, park area {worst_area:.2e}, planar broad mix {worst_broad:.2e}, overlap {worst_overlap:.2e}"
    );
}

/// Adds layer `name` to the GeoPackage `gpkg`: the rows of SQLite-dialect `sql` over `source`.
fn add_layer_by_sql(gpkg: &str, source: &str, name: &str, sql: &str) {
    ogr2ogr(&["-f", "GPKG", "-update", "-nln", name, "-dialect", "SQLite", "-sql", sql, gpkg, source]);
}

/// The report of layer `name` (`#name` ends its label) in one park-mix run's `--summary-json`.
fn layer_report(summary: &Path, name: &str) -> Value {
    let s: Value = serde_json::from_str(&std::fs::read_to_string(summary).unwrap()).unwrap();
    let label = format!("#{name}");
    s["layers"].as_array().unwrap().iter().find(|l| l["layer"].as_str().unwrap().ends_with(&label)).unwrap().clone()
}

/// Baltimore's land use and industrial parks as a GeoPackage: with the R-tree spatial index
/// (`indexed`), only the parcels that may touch a park are read, one pass per merged park box
/// through the index; without it every parcel is read and the far ones are left out after. The
/// outputs must be the same bytes, the parcels not read counted, the features in the layer's
/// order. Parks far away read nothing and are still reported apart; parks in another CRS than the
/// land use cannot give boxes to the read: every parcel is read.
#[test]
fn baltimore_parcels_near_the_parks_are_read_through_the_spatial_index() {
    let dir = tempfile::tempdir().unwrap();
    let pbf = shared("osm/baltimore-2015.osm.pbf");
    let gpkg = |name: &str, index: bool, parks_srs: Option<&str>| {
        let path = dir.path().join(name);
        for (layer, filter, srs) in [
            ("landuse", "landuse IS NOT NULL OR amenity IS NOT NULL", None),
            ("parks", "landuse = 'industrial'", parks_srs),
        ] {
            let mut args = vec!["-f", "GPKG", "-nln", layer, "-where", filter];
            if path.exists() {
                args.push("-update");
            }
            if !index {
                args.extend(["-lco", "SPATIAL_INDEX=NO"]);
            }
            if let Some(srs) = srs {
                args.extend(["-t_srs", srs]);
            }
            args.extend([path.to_str().unwrap(), pbf.to_str().unwrap(), "multipolygons"]);
            ogr2ogr(&args);
        }
        path
    };
    // park-mix on the land use and `parks` of `db`, with `extra` options: stdout, stderr, the two
    // outputs and the land-use layer's report.
    let run = |db: &Path, parks: &str, tag: &str, extra: &[&str]| {
        let out = dir.path().join(format!("{tag}.geojson"));
        let summary = dir.path().join(format!("{tag}.json"));
        let (landuse, parks) = (format!("{}#landuse", db.display()), format!("{}#{parks}", db.display()));
        let args = [
            "park-mix",
            "--landuse",
            &landuse,
            "--classes",
            "osm",
            "--class-field",
            "landuse,amenity",
            "--parks",
            &parks,
            "-o",
            out.to_str().unwrap(),
            "--summary-json",
            summary.to_str().unwrap(),
        ];
        let o = crate::common::run(&[&args[..], extra].concat());
        let (stdout, stderr) = (String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
        assert!(o.status.success(), "{tag}: {stderr}");
        let parcels = std::fs::read(dir.path().join(format!("{tag}_parcels.geojson"))).unwrap();
        (
            stdout.into_owned(),
            stderr.into_owned(),
            std::fs::read(&out).unwrap(),
            parcels,
            layer_report(&summary, "landuse"),
        )
    };
    // The fids of a report's examples ("feature 123: ...") are in the layer's order.
    let in_fid_order = |report: &Value| {
        let fids: Vec<u64> = report["examples"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e.as_str().unwrap().strip_prefix("feature ").unwrap().split(':').next().unwrap().parse().unwrap())
            .collect();
        assert!(!fids.is_empty() && fids.windows(2).all(|w| w[0] <= w[1]), "examples out of fid order: {fids:?}");
    };
    const NOT_READ: &str = "outside every park's box, or without geometry";

    let plain = gpkg("plain.gpkg", false, None);
    let indexed = gpkg("indexed.gpkg", true, None);
    let (_, _, all_parks, all_parcels, all) = run(&plain, "parks", "plain", &[]);
    let (stdout, _, near_parks, near_parcels, near) = run(&indexed, "parks", "indexed", &[]);
    assert!(all.get("not_read").is_none(), "{all}");
    let (read_all, read_near) = (all["read"].as_u64().unwrap(), near["read"].as_u64().unwrap());
    let not_read = near["not_read"][NOT_READ].as_u64().unwrap();
    assert!(read_near > 0 && not_read > read_near, "read {read_near}, not read {not_read}: {near}");
    assert_eq!(read_near + not_read, read_all, "{near} {all}");
    assert!(stdout.contains(&format!("not read {not_read}: {NOT_READ}")), "{stdout}");
    let fc = serde_json::from_slice::<Value>(&near_parks).unwrap();
    assert_eq!(fc["features"].as_array().unwrap().len(), 39);
    assert!(near_parks == all_parks, "park_mix.geojson differs when read through the index");
    assert!(near_parcels == all_parcels, "park_mix_parcels.geojson differs when read through the index");
    in_fid_order(&all);
    in_fid_order(&near);

    // One park over part of the city: one box, one pass, which GDAL gives in the index's order
    // (over the whole extent it would not use the index). The same bytes as the whole read, the
    // features in the layer's order again.
    let sql = "SELECT 1 AS osm_id, BuildMbr(-76.62, 39.25, -76.56, 39.32, 4326) AS geom";
    for db in [&plain, &indexed] {
        let db = db.to_str().unwrap();
        add_layer_by_sql(db, db, "city_park", sql);
    }
    let (_, _, city_all, _, whole) = run(&plain, "city_park", "city_plain", &[]);
    let (_, _, city_near, _, city) = run(&indexed, "city_park", "city_indexed", &[]);
    assert!(city_near == city_all, "one box: park_mix.geojson differs when read through the index");
    assert!(city["read"].as_u64() < whole["read"].as_u64(), "{city}");
    in_fid_order(&city);

    // Parks 5° east of the land use, in longitude/latitude, measured on the ellipsoid: no parcel
    // is read, which is no error, and the layers are still found apart.
    let sql = "SELECT park.osm_id, park.osm_way_id, ST_Translate(park.geom, 5, 0, 0) AS geom FROM parks park";
    add_layer_by_sql(indexed.to_str().unwrap(), indexed.to_str().unwrap(), "far_parks", sql);
    let (_, stderr, far_mix, _, far) = run(&indexed, "far_parks", "far", &[]);
    assert_eq!((far["read"].as_u64(), far["not_read"][NOT_READ].as_u64()), (Some(0), Some(read_all)), "{far}");
    assert!(stderr.contains("do not overlap at all; check their coordinate systems (--crs, gcj02)"), "{stderr}");
    let fc: geojson::FeatureCollection = serde_json::from_slice(&far_mix).unwrap();
    assert_eq!(fc.features.len(), 39);
    assert!(fc.features.iter().all(|f| crate::common::num(f, "mix_area_km2").abs() < ROUNDING_KM2), "{far_mix:?}");
    // No parcel covers them: their 0% shares rest on missing land use, and the run says so.
    assert!(fc.features.iter().all(|f| crate::common::num(f, "covered_share").abs() < 1e-12), "{far_mix:?}");
    assert!(stderr.contains("its parcels cover less than 50% of 39 park(s)"), "{stderr}");

    let (_, _, _, _, apart) = run(&gpkg("apart.gpkg", true, Some("EPSG:32618")), "parks", "apart", &[]);
    assert!(apart.get("not_read").is_none(), "{apart}");
    assert_eq!(apart["read"].as_u64(), Some(read_all), "{apart}");
}

/// The hand-computed case from a GeoPackage, then a FlatGeobuf, with their spatial index: the
/// same parks, to the byte, with the far parcel (8888) not read, counted as such and not flagged.
/// A part read with no usable parcel, and parks moved 100 km away that meet no parcel, are no
/// error: every park holds no mix land.
#[test]
fn hand_computed_parks_read_through_the_spatial_index() {
    let case = Case::new();
    let gpkg = case.path("case.gpkg");
    ogr2ogr(&["-f", "GPKG", "-nln", "landuse", &gpkg, &case.path("landuse.geojson")]);
    ogr2ogr(&["-f", "GPKG", "-update", "-nln", "parks", &gpkg, &case.path("parks.geojson")]);
    let sql = "SELECT park_id, name, ST_Translate(geometry, 100000, 0, 0) AS geometry FROM parks";
    add_layer_by_sql(&gpkg, &case.path("parks.geojson"), "far_parks", sql);
    let run = |landuse: &str, parks: &str, tag: &str| {
        let (out, summary) = (case.path(&format!("{tag}.geojson")), case.path(&format!("{tag}.json")));
        let args = ["park-mix", "--landuse", landuse, "--parks", parks, "--classes", "tdt2023", "-o", &out];
        let stdout = run_ok(&[&args[..], &PLANAR[..], &["--summary-json", &summary]].concat());
        (
            stdout,
            std::fs::read(&out).unwrap(),
            layer_report(
                Path::new(&summary),
                landuse.rsplit('#').next().filter(|l| !l.contains('/')).unwrap_or("landuse"),
            ),
        )
    };
    let (_, from_geojson, all) = run(&case.path("landuse.geojson"), &case.path("parks.geojson"), "geojson");
    let (stdout, from_gpkg, near) = run(&format!("{gpkg}#landuse"), &format!("{gpkg}#parks"), "gpkg");
    assert!(from_gpkg == from_geojson, "park_mix.geojson differs when read through the index");
    assert_eq!((all["read"].as_u64(), near["read"].as_u64()), (Some(13), Some(12)), "{near}");
    assert_eq!(near["not_read"]["outside every park's box, or without geometry"].as_u64(), Some(1), "{near}");
    let flagged = near["flagged"].to_string();
    assert!(flagged.contains("'9999'") && !flagged.contains("'8888'"), "{flagged}");
    assert!(all["flagged"].to_string().contains("'8888'"), "{all}");
    assert!(stdout.contains("not read 1: outside every park's box, or without geometry"), "{stdout}");
    // FlatGeobuf, read feature by feature rather than through the Arrow stream, with its index.
    for layer in ["landuse", "parks"] {
        ogr2ogr(&["-f", "FlatGeobuf", &case.path(&format!("{layer}.fgb")), &case.path(&format!("{layer}.geojson"))]);
    }
    let (_, from_fgb, fgb) = run(&case.path("landuse.fgb"), &case.path("parks.fgb"), "fgb");
    assert!(from_fgb == from_geojson, "park_mix.geojson differs when read through the FlatGeobuf index");
    assert_eq!(fgb["not_read"]["outside every park's box, or without geometry"].as_u64(), Some(1), "{fgb}");
    // FileGDB, as ArcGIS delivers it, with its spatial index: GDAL 3.6 moves its read position when
    // the features under a spatial filter are counted, which once left every pass empty.
    let gdb = case.path("case.gdb");
    for layer in ["landuse", "parks"] {
        let mut args = vec!["-f", "OpenFileGDB", "-nlt", "MULTIPOLYGON", "-nln", layer];
        if layer == "parks" {
            args.push("-update");
        }
        let source = case.path(&format!("{layer}.geojson"));
        ogr2ogr(&[&args[..], &[&gdb, &source]].concat());
    }
    let (_, from_gdb, gdb_report) = run(&format!("{gdb}#landuse"), &format!("{gdb}#parks"), "gdb");
    assert_eq!(gdb_report["read"].as_u64(), Some(12), "{gdb_report}");
    assert!(from_gdb == from_geojson, "park_mix.geojson differs when read through the FileGDB index");

    // Near the parks only a parcel of 0.25 mm², skipped as without area once in the frame; far
    // away the usable one: the part read has no usable parcel, which is no error (a whole read
    // would keep the far one).
    let flat = case.path("flat.geojson");
    write_layer(
        Path::new(&flat),
        vec![
            (json!({"dlbm": "0701"}), rect(100.0, 100.0, 100.0005, 100.0005)),
            (json!({"dlbm": "0701"}), rect(9000.0, 9000.0, 9100.0, 9100.0)),
        ],
    );
    ogr2ogr(&["-f", "GPKG", "-update", "-nln", "flat", &gpkg, &flat]);
    let (_, flat_mix, flat) = run(&format!("{gpkg}#flat"), &format!("{gpkg}#parks"), "flat");
    assert_eq!((flat["read"].as_u64(), flat["used"].as_u64()), (Some(1), Some(0)), "{flat}");
    assert_eq!(flat["skipped"].as_object().map(|m| m.len()), Some(1), "{flat}");
    assert_eq!(flat["not_read"]["outside every park's box, or without geometry"].as_u64(), Some(1), "{flat}");
    let fc: geojson::FeatureCollection = serde_json::from_slice(&flat_mix).unwrap();
    assert!(fc.features.iter().all(|f| crate::common::num(f, "mix_area_km2").abs() < ROUNDING_KM2));

    let (_, far_mix, far) = run(&format!("{gpkg}#landuse"), &format!("{gpkg}#far_parks"), "far");
    assert_eq!((far["read"].as_u64(), far["used"].as_u64()), (Some(0), Some(0)), "{far}");
    assert_eq!(far["not_read"]["outside every park's box, or without geometry"].as_u64(), Some(13), "{far}");
    let fc: geojson::FeatureCollection = serde_json::from_slice(&far_mix).unwrap();
    assert_eq!(fc.features.len(), 3);
    for f in &fc.features {
        assert_km2(f, "mix_area_km2", 0.0);
    }
}

/// Baltimore's parks derived from its industrial parcels share edges with their neighbours: the
/// clipped mix parcels came out with zero-width spikes, and rounding left repeated positions. Every
/// polygon written is valid by GEOS (SpatiaLite's `ST_IsValid`), without repeated positions.
#[test]
fn baltimore_derived_parks_write_valid_polygons() {
    let dir = tempfile::tempdir().unwrap();
    let pbf = shared("osm/baltimore-2015.osm.pbf");
    let landuse = format!("{}#multipolygons", pbf.display());
    let out = dir.path().join("parks.geojson");
    run_ok(&[
        "park-mix",
        "--landuse",
        &landuse,
        "--landuse-where",
        "landuse IS NOT NULL",
        "--class-field",
        "landuse",
        "--parks-from-class",
        "industrial",
        "-o",
        out.to_str().unwrap(),
    ]);
    let parcels = dir.path().join("parks_parcels.geojson");
    for (path, layer) in [(&out, "park_mix"), (&parcels, "park_mix_parcels")] {
        let rows = gdal_sql(
            path,
            &format!(
                "SELECT COUNT(*) AS n, SUM(NOT ST_IsValid(geometry)) AS invalid, \
                 SUM(ST_NPoints(geometry) - ST_NPoints(RemoveRepeatedPoints(geometry))) AS repeated, \
                 SUM(ST_Area(geometry) = 0) AS empty FROM \"{layer}\""
            ),
        );
        let row = &rows[0];
        assert!(row["n"].parse::<u32>().unwrap() >= 10, "{layer}: {row:?}");
        for k in ["invalid", "repeated", "empty"] {
            assert_eq!(row[k], "0", "{layer}: {k}: {row:?}");
        }
    }
}
