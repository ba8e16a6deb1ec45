//! `planaudit living-circle` on hand-made layers with known distances, on OpenStreetMap extracts
//! checked against networkx (installed from PyPI into a venv under target/), and on bad input.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use serde_json::Value;

use crate::common::{gdal_sql, ogr2ogr, read_collection, rel_diff, run_err, run_ok, shared, text};

// ---------------------------------------------------------------------------------------------
// Hand-made layers in EPSG:4527 metres (CGCS2000 zone 39, Lu'an), measured planar in EPSG:4527 so
// that every distance is a round number.

const X0: f64 = 39_480_000.0;
const Y0: f64 = 3_515_000.0;

fn feature(props: &str, geometry: &str) -> String {
    format!(r#"{{"type":"Feature","properties":{{{props}}},"geometry":{geometry}}}"#)
}

fn line(pts: &[(f64, f64)]) -> String {
    let c: Vec<String> = pts.iter().map(|(x, y)| format!("[{},{}]", X0 + x, Y0 + y)).collect();
    format!(r#"{{"type":"LineString","coordinates":[{}]}}"#, c.join(","))
}

fn point(x: f64, y: f64) -> String {
    format!(r#"{{"type":"Point","coordinates":[{},{}]}}"#, X0 + x, Y0 + y)
}

fn rect(x: f64, y: f64, w: f64, h: f64) -> String {
    let (a, b, c, d) = (X0 + x, Y0 + y, X0 + x + w, Y0 + y + h);
    format!(r#"{{"type":"Polygon","coordinates":[[[{a},{b}],[{c},{b}],[{c},{d}],[{a},{d}],[{a},{b}]]]}}"#)
}

fn write_layer(dir: &Path, name: &str, features: &[String]) -> String {
    let p = dir.join(format!("{name}.geojson"));
    std::fs::write(&p, format!(r#"{{"type":"FeatureCollection","features":[{}]}}"#, features.join(","))).unwrap();
    p.display().to_string()
}

/// A 3 × 3 grid of 100 m blocks (支路), a river to the east crossed by one bridge at the north end,
/// homes, and the facilities of the three GB 50180 tiers.
struct Town {
    dir: tempfile::TempDir,
    roads: String,
    origins: String,
    facilities: String,
}

fn town() -> Town {
    let dir = tempfile::tempdir().unwrap();
    let mut roads = Vec::new();
    for i in 0..4 {
        let f = i as f64 * 100.0;
        roads.push(feature(r#""grade":"支路""#, &line(&[(0.0, f), (100.0, f), (200.0, f), (300.0, f)])));
        roads.push(feature(r#""grade":"支路""#, &line(&[(f, 0.0), (f, 100.0), (f, 200.0), (f, 300.0)])));
    }
    // East bank street, joined to the grid only by the bridge at y = 300.
    roads.push(feature(r#""grade":"支路""#, &line(&[(400.0, 0.0), (400.0, 300.0)])));
    roads.push(feature(r#""grade":"次干路""#, &line(&[(300.0, 300.0), (400.0, 300.0)])));
    // A motorway straight across the river at y = 0: not walkable.
    roads.push(feature(r#""grade":"高速公路""#, &line(&[(300.0, 0.0), (400.0, 0.0)])));
    let roads = write_layer(dir.path(), "roads", &roads);

    let origins = write_layer(
        dir.path(),
        "origins",
        &[
            // A parcel x 0–100, y 0–60: centroid (50, 30), 30 m north of the street y = 0.
            feature(r#""id":"block","pop":120"#, &rect(0.0, 0.0, 100.0, 60.0)),
            // On the east bank, 10 m east of its street at y = 0.
            feature(r#""id":"east","pop":80"#, &point(410.0, 0.0)),
            // Far from everything.
            feature(r#""id":"far","pop":5"#, &point(3000.0, 3000.0)),
        ],
    );
    let facilities = write_layer(
        dir.path(),
        "facilities",
        &[
            feature(r#""type":"幼儿园""#, &point(0.0, 0.0)),
            feature(r#""type":"社区服务站""#, &point(100.0, 0.0)),
            feature(r#""type":"老年人日间照料中心""#, &point(0.0, 100.0)),
            feature(r#""type":"文化活动站""#, &point(200.0, 0.0)),
            feature(r#""type":"运动场地""#, &point(100.0, 100.0)),
            feature(r#""type":"小学""#, &point(300.0, 0.0)),
            feature(r#""type":"菜市场""#, &point(200.0, 100.0)),
            feature(r#""type":"初中""#, &point(300.0, 300.0)),
            feature(r#""type":"社区卫生服务中心""#, &point(200.0, 300.0)),
            feature(r#""type":"养老院""#, &point(300.0, 200.0)),
            feature(r#""type":"文化活动中心""#, &point(0.0, 300.0)),
            feature(r#""type":"网吧""#, &point(50.0, 0.0)),
        ],
    );
    Town { dir, roads, origins, facilities }
}

fn town_args<'a>(t: &'a Town, out: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut a = vec![
        "living-circle",
        "--roads",
        &t.roads,
        "--origins",
        &t.origins,
        "--facilities",
        &t.facilities,
        "--crs",
        "EPSG:4527",
        "--measure",
        "planar",
        "--planar-crs",
        "EPSG:4527",
        "--population-field",
        "pop",
        "-o",
        out,
    ];
    a.extend_from_slice(extra);
    a
}

fn by_id(fc: &geojson::FeatureCollection, id: &str) -> geojson::Feature {
    fc.features.iter().find(|f| text(f, "origin_id") == id).cloned().unwrap_or_else(|| panic!("no origin {id}"))
}

fn dist(f: &geojson::Feature, code: &str) -> Option<f64> {
    f.property("dist_m").and_then(|d| d.get(code)).unwrap_or_else(|| panic!("no dist_m.{code}")).as_f64()
}

/// The roads' warnings in a living-circle summary.
fn road_warnings(summary: &Path) -> Vec<String> {
    let v: Value = serde_json::from_str(&std::fs::read_to_string(summary).unwrap()).unwrap();
    v["layers"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["layer"].as_str().is_some_and(|n| n.contains("roads")))
        .flat_map(|l| l["warnings"].as_array().cloned().unwrap_or_default())
        .filter_map(|w| w.as_str().map(String::from))
        .collect()
}

/// Streets drawn as in CAD, crossing without a shared vertex: with vertex noding the network falls
/// apart (the inner streets meet nothing) and the run says so, on stderr and in the roads' layer
/// report; planar noding joins them, and a network whose streets share their vertices is no warning.
#[test]
fn a_network_in_pieces_is_warned() {
    let t = town();
    let mut cad = Vec::new();
    for i in 0..4 {
        let f = i as f64 * 100.0;
        cad.push(feature(r#""grade":"支路""#, &line(&[(0.0, f), (300.0, f)])));
        cad.push(feature(r#""grade":"支路""#, &line(&[(f, 0.0), (f, 300.0)])));
    }
    let cad = write_layer(t.dir.path(), "cad_roads", &cad);
    let out = t.dir.path().join("cad.geojson").display().to_string();
    let summary = t.dir.path().join("cad.json");
    let s = summary.display().to_string();
    let mut args = town_args(&t, &out, &["--summary-json", &s]);
    args[2] = &cad;
    let o = crate::common::run(&args);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("5 separate pieces for 8 lines (or parts of multi-lines)")
            && stderr.contains("noding = \"planar\""),
        "{stderr}"
    );
    assert_eq!(road_warnings(&summary).len(), 1, "{:?}", road_warnings(&summary));

    args.extend(["--noding", "planar"]);
    let o = crate::common::run(&args);
    assert_eq!(o.status.code(), Some(0));
    assert!(!String::from_utf8_lossy(&o.stderr).contains("separate pieces"));
    assert!(road_warnings(&summary).is_empty());

    let stderr =
        String::from_utf8_lossy(&crate::common::run(&town_args(&t, &out, &["--summary-json", &s])).stderr).to_string();
    assert!(!stderr.contains("separate pieces"), "{stderr}");
    assert!(road_warnings(&summary).is_empty());
}

#[test]
fn hand_made_town_network_and_buffer() {
    let t = town();
    let out = t.dir.path().join("lc.geojson");
    let summary = t.dir.path().join("summary.json");
    let (o, s) = (out.display().to_string(), summary.display().to_string());
    let stdout = run_ok(&town_args(&t, &o, &["--summary-json", &s, "--service-areas"]));
    assert!(stdout.contains("within_15min"), "{stdout}");
    assert!(stdout.contains("(not routed): 1 in 1 types: '网吧' (1)\n"), "{stdout}");

    let fc = read_collection(&out);
    assert_eq!(fc.features.len(), 3);
    let block = by_id(&fc, "block");
    // The parcel's centroid (50, 30) snaps 30 m onto the street y = 0, 50 m from either corner.
    // Kindergarten at (0,0): 30 + 50 = 80 m; 初中 at (300,300): 30 + 50 + 200 + 300 = 580 m.
    assert_eq!(dist(&block, "kindergarten"), Some(80.0));
    assert_eq!(dist(&block, "junior_middle_school"), Some(580.0));
    assert_eq!(dist(&block, "primary_school"), Some(30.0 + 50.0 + 200.0));
    assert_eq!(dist(&block, "community_health_centre"), Some(30.0 + 50.0 + 100.0 + 300.0));
    assert_eq!(block.property("snap_m").unwrap().as_f64(), Some(30.0));
    assert_eq!(block.property("method").unwrap(), "network");
    for k in ["within_5min", "within_10min", "within_15min"] {
        assert_eq!(block.property(k).unwrap(), true, "{k}");
    }
    assert_eq!(block.property("missing").unwrap(), &serde_json::json!([]));
    // Every member, in the documented order; the population as read, the parcel's area.
    let keys = |f: &geojson::Feature| -> Vec<String> { f.properties.as_ref().unwrap().keys().cloned().collect() };
    let tail = ["snap_m", "component", "area_m2", "population"];
    let head = ["origin_id", "method", "dist_m", "within_5min", "within_10min", "within_15min", "missing_count"];
    assert_eq!(keys(&block), [&head[..], &["missing"], &tail].concat());
    assert_eq!(block.property("missing_count").unwrap(), 0);
    assert_eq!(block.property("population").unwrap().as_f64(), Some(120.0));
    assert!((block.property("area_m2").unwrap().as_f64().unwrap() - 6000.0).abs() < 1e-6);

    // East bank: the motorway is not walkable, so the walk to the school at (300,0) goes north to
    // the bridge: 10 + 300 + 100 + 300 = 710 m, while the straight line is 110 m.
    let east = by_id(&fc, "east");
    assert_eq!(dist(&east, "primary_school"), Some(710.0));
    assert_eq!(east.property("within_10min").unwrap(), false);
    let missing: Vec<&str> =
        east.property("missing").unwrap().as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    assert!(missing.contains(&"kindergarten") && missing.contains(&"primary_school"), "{missing:?}");
    assert_eq!(east.property("missing_count").unwrap(), missing.len());
    assert_eq!(east.property("population").unwrap().as_f64(), Some(80.0));
    assert_eq!(east.property("area_m2").unwrap().as_f64(), Some(0.0));
    assert_eq!(east.property("component"), block.property("component"));
    assert!(block.property("component").unwrap().is_u64());

    // Far: beyond --max-snap, unreachable, counted.
    let far = by_id(&fc, "far");
    assert!(far.property("snap_m").unwrap().is_null());
    assert!(far.property("dist_m").unwrap().as_object().unwrap().values().all(Value::is_null));
    assert!(far.property("component").unwrap().is_null());

    // Gaps: east and far, with what they miss.
    let gaps = read_collection(&t.dir.path().join("lc_gaps.geojson"));
    let mut ids: Vec<String> = gaps.features.iter().map(|f| text(f, "origin_id")).collect();
    ids.sort();
    assert_eq!(ids, ["east", "far"]);
    let gap_east = gaps.features.iter().find(|f| text(f, "origin_id") == "east").unwrap();
    assert_eq!(gap_east.property("nearest_m").unwrap()["primary_school"].as_f64(), Some(710.0));
    // The gap's members in the documented order, one nearest distance for each need it misses.
    let gap_head = ["origin_id", "method", "tier", "missing_count", "missing", "nearest_m"];
    assert_eq!(keys(gap_east), [&gap_head[..], &tail].concat());
    assert_eq!(gap_east.property("tier").unwrap(), "within_15min");
    let gap_missing = gap_east.property("missing").unwrap().as_array().unwrap();
    let nearest = gap_east.property("nearest_m").unwrap().as_object().unwrap();
    assert_eq!(gap_east.property("missing_count").unwrap(), gap_missing.len());
    assert!(gap_missing.iter().map(|v| v.as_str().unwrap()).eq(nearest.keys().map(String::as_str)));
    assert_eq!(gap_east.property("population").unwrap().as_f64(), Some(80.0));

    // Summary: coverage by count, area, population; the unknown type listed; one unreachable origin.
    let sum: Value = serde_json::from_str(&std::fs::read_to_string(&summary).unwrap()).unwrap();
    assert_eq!(sum["method"], "network");
    assert_eq!(sum["unreachable_origins"], 1);
    assert_eq!(sum["unknown_types"]["网吧"], 1);
    let t15 = sum["coverage"]["tiers"].as_array().unwrap().iter().find(|t| t["tier"] == "within_15min").unwrap();
    assert_eq!(t15["covered"], 1);
    assert!((t15["share_by_population"].as_f64().unwrap() - 120.0 / 205.0).abs() < 1e-6);
    assert_eq!(t15["share_by_area"].as_f64(), Some(1.0), "only the block has an area");
    assert_eq!(sum["network"]["components"], 1);
    assert_eq!(sum["network"]["roads_excluded"]["grade '高速公路' not walkable"], 1);

    // Service areas exist for the needs' types.
    let sa = read_collection(&t.dir.path().join("lc_service_areas.geojson"));
    let k = sa.features.iter().find(|f| text(f, "type") == "kindergarten").unwrap();
    // Kindergarten at the corner (0,0), 300 m: Manhattan ball on the grid, 300 + 200 + 100 m in
    // each direction = 1.2 km.
    assert!((k.property("length_km").unwrap().as_f64().unwrap() - 1.2).abs() < 1e-6);

    // Buffer: straight lines, labelled; the east bank is "covered" for the school across the river.
    let bout = t.dir.path().join("buffer.geojson");
    let b = bout.display().to_string();
    let stdout = run_ok(&town_args(&t, &b, &["--method", "buffer", "--max-snap", "1"]));
    // No snapping to speak of: the printout does not claim a snap limit.
    assert!(stdout.contains("origins: 3 (straight lines: --snap, --max-snap and --noding do not apply)"), "{stdout}");
    assert!(!stdout.contains("beyond --max-snap"), "{stdout}");
    let bfc = read_collection(&bout);
    assert_eq!(bfc.foreign_members.as_ref().unwrap()["name"], "living_circle_buffer");
    assert!(bfc.features.iter().all(|f| f.property("method").unwrap() == "buffer"));
    let beast = by_id(&bfc, "east");
    assert!((dist(&beast, "primary_school").unwrap() - 110.0).abs() < 1e-6);
    assert!(beast.property("snap_m").unwrap().is_null());
    // What only the network gives is refused for straight lines, not ignored.
    for (option, extra) in
        [("--service-areas", vec!["--service-areas"]), ("--export-graph", vec!["--export-graph", "g"])]
    {
        let args = town_args(&t, &b, &[&["--method", "buffer"][..], &extra].concat());
        run_err(&args, 2, &[option, "--method buffer does not build"]);
    }
}

/// With planar noding a bridge (or a tunnel, or a road of another `layer`) crosses the street under
/// it without meeting it, as OpenStreetMap tags say; untagged, the crossing joins them.
#[test]
fn planar_noding_keeps_bridges_apart() {
    let dir = tempfile::tempdir().unwrap();
    // A street y = 0 from x = 0 to 200, a road crossing it at x = 100 (ending at a facility at
    // (100, 100)), and a detour up x = 200 and back along y = 100.
    let run_with = |tags: &str| -> f64 {
        let roads = write_layer(
            dir.path(),
            "roads",
            &[
                feature(r#""grade":"支路""#, &line(&[(0.0, 0.0), (200.0, 0.0)])),
                feature(&format!(r#""grade":"支路"{tags}"#), &line(&[(100.0, -100.0), (100.0, 100.0)])),
                feature(r#""grade":"支路""#, &line(&[(200.0, 0.0), (200.0, 100.0), (100.0, 100.0)])),
            ],
        );
        let origins = write_layer(dir.path(), "homes", &[feature(r#""id":"h""#, &point(0.0, 0.0))]);
        let facilities = write_layer(dir.path(), "school", &[feature(r#""type":"幼儿园""#, &point(100.0, 100.0))]);
        let out = dir.path().join("lc.geojson");
        let args = ["living-circle", "--roads", &roads, "--origins", &origins, "--facilities", &facilities];
        let more = ["--crs", "EPSG:4527", "--measure", "planar", "--planar-crs", "EPSG:4527", "--noding", "planar"];
        run_ok(&[&args[..], &more, &["-o", out.to_str().unwrap()]].concat());
        dist(&by_id(&read_collection(&out), "h"), "kindergarten").unwrap()
    };
    assert_eq!(run_with(""), 200.0);
    assert_eq!(run_with(r#","bridge":"no""#), 200.0);
    assert_eq!(run_with(r#","bridge":"yes""#), 400.0);
    assert_eq!(run_with(r#","tunnel":"yes""#), 400.0);
    assert_eq!(run_with(r#","layer":"0","bridge":"yes""#), 200.0);
}

/// A facility counts once however many points it has: beyond the snap limit when all of them are.
/// A need whose facilities all lie beyond it is warned of, as a need without any facility is.
#[test]
fn facilities_beyond_the_snap_limit_counted_once_and_warned_of() {
    let t = town();
    let multipoint = |pts: &[(f64, f64)]| {
        let c: Vec<String> = pts.iter().map(|(x, y)| format!("[{},{}]", X0 + x, Y0 + y)).collect();
        format!(r#"{{"type":"MultiPoint","coordinates":[{}]}}"#, c.join(","))
    };
    let text = std::fs::read_to_string(&t.facilities).unwrap();
    let fc: Value = serde_json::from_str(&text).unwrap();
    let mut features: Vec<String> = fc["features"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["properties"]["type"] != "初中")
        .map(Value::to_string)
        .collect();
    features.extend([
        // The only junior middle school, 5 km away; a primary school of two far points; a
        // kindergarten with one point on the grid and one far.
        feature(r#""type":"初中""#, &point(5000.0, 5000.0)),
        feature(r#""type":"小学""#, &multipoint(&[(5000.0, 0.0), (6000.0, 0.0)])),
        feature(r#""type":"幼儿园""#, &multipoint(&[(100.0, 200.0), (7000.0, 7000.0)])),
    ]);
    let facilities = write_layer(t.dir.path(), "far_facilities", &features);
    let (out, summary) = (t.dir.path().join("far.geojson"), t.dir.path().join("far.json"));
    let (o, s) = (out.display().to_string(), summary.display().to_string());
    let mut args = town_args(&t, &o, &["--summary-json", &s]);
    let at = args.iter().position(|a| *a == t.facilities).unwrap();
    args[at] = &facilities;
    let stderr = String::from_utf8_lossy(&crate::common::run(&args).stderr).into_owned();
    let sum: Value = serde_json::from_str(&std::fs::read_to_string(&summary).unwrap()).unwrap();
    let stats = |code: &str| {
        let s = &sum["coverage"]["facility_types"][code];
        [&s["facilities"], &s["beyond_max_snap"], &s["outside_largest_component"]].map(|v| v.as_u64().unwrap())
    };
    assert_eq!(stats("junior_middle_school"), [1, 1, 0]);
    assert_eq!(stats("primary_school"), [2, 1, 0], "the far multipoint counts once");
    assert_eq!(stats("kindergarten"), [2, 0, 0], "a multipoint with a point on the grid is used");
    let warning = "need 'junior_middle_school': the 1 facility of its types (初中) lies farther than 500 m from every walkable road, and no walk reaches it: every home misses it";
    assert!(stderr.contains(warning), "{stderr}");
    assert!(sum["warnings"].to_string().contains(warning) || sum.to_string().contains(warning), "{sum}");
    assert!(!stderr.contains("need 'primary_school'"), "{stderr}");
}

/// The homes are read first, as in a sequential run, though they are measured beside the other
/// reads: the warnings of the reads come in the order of the layers, and homes that cannot be
/// read stop the run before any other layer is read.
/// The homes' and the gaps' files are written side by side, yet as a sequential run leaves them:
/// when the homes' file cannot be written, its error is the one reported and the gaps' file
/// keeps its old content; when it can, both are replaced.
#[test]
fn the_gaps_file_is_replaced_only_once_the_homes_file_is() {
    let t = town();
    let homes = t.dir.path().join("homes.geojson");
    let gaps = t.dir.path().join("homes_gaps.geojson");
    std::fs::write(&gaps, "old").unwrap();
    // A folder where the homes' file goes: it cannot take its place.
    std::fs::create_dir(&homes).unwrap();
    let out = homes.display().to_string();
    run_err(&town_args(&t, &out, &[]), 1, &["homes.geojson", "directory"]);
    assert_eq!(std::fs::read_to_string(&gaps).unwrap(), "old");
    std::fs::remove_dir(&homes).unwrap();
    run_ok(&town_args(&t, &out, &[]));
    assert_eq!(read_collection(&homes).features.len(), 3);
    assert!(std::fs::read_to_string(&gaps).unwrap().starts_with("{\"type\":\"FeatureCollection\""));
}

#[test]
fn homes_are_read_first_and_a_failed_read_stops_the_others() {
    let t = town();
    let out = t.dir.path().join("x.geojson").display().to_string();
    // Text that looks like GBK read as Latin-1 is warned of as each layer is read.
    let moj = "Áù°²ÊÐ";
    let homes =
        write_layer(t.dir.path(), "homes_moj", &[feature(&format!(r#""id":"{moj}","pop":1"#), &point(50.0, 30.0))]);
    let facilities = write_layer(
        t.dir.path(),
        "facilities_moj",
        &[feature(r#""type":"幼儿园""#, &point(0.0, 0.0)), feature(&format!(r#""type":"{moj}""#), &point(100.0, 0.0))],
    );
    let line_of = |stderr: &str, layer: &str| {
        stderr
            .lines()
            .position(|l| l.contains(layer) && l.contains("Latin-1"))
            .unwrap_or_else(|| panic!("no warning of {layer}:\n{stderr}"))
    };
    for _ in 0..4 {
        let mut a = town_args(&t, &out, &[]);
        (a[4], a[6]) = (&homes, &facilities);
        let run = crate::common::run(&a);
        let stderr = String::from_utf8_lossy(&run.stderr);
        assert!(run.status.success(), "{stderr}");
        assert!(line_of(&stderr, "homes_moj") < line_of(&stderr, "facilities_moj"), "{stderr}");
    }
    let missing = t.dir.path().join("nowhere.geojson").display().to_string();
    let mut a = town_args(&t, &out, &[]);
    (a[4], a[6]) = (&missing, &facilities);
    let stderr = run_err(&a, 1, &["nowhere.geojson"]);
    assert!(!stderr.contains("facilities_moj"), "the facilities were read after the homes failed:\n{stderr}");
}

#[test]
fn bad_input() {
    let t = town();
    let out = t.dir.path().join("x.geojson").display().to_string();
    // The type field is missing (the facility layer has `kind`, not `type`).
    let wrong = write_layer(t.dir.path(), "wrong", &[feature(r#""kind":"幼儿园""#, &point(0.0, 0.0))]);
    let mut a = town_args(&t, &out, &[]);
    a[6] = &wrong;
    run_err(&a, 1, &["wrong.geojson#wrong", "'type'", "facilities", "kind"]);
    // An empty facility layer.
    let empty = write_layer(t.dir.path(), "empty", &[]);
    let mut a = town_args(&t, &out, &[]);
    a[6] = &empty;
    run_err(&a, 1, &["empty.geojson#empty", "empty"]);
    // A road layer of polygons.
    let polys = write_layer(t.dir.path(), "polys", &[feature(r#""grade":"支路""#, &rect(0.0, 0.0, 100.0, 100.0))]);
    let mut a = town_args(&t, &out, &[]);
    a[2] = &polys;
    run_err(&a, 1, &["polys.geojson#polys", "roads", "line"]);
    // Every origin beyond --max-snap.
    let far = write_layer(t.dir.path(), "far", &[feature(r#""id":"a","pop":1"#, &point(5000.0, 0.0))]);
    let mut a = town_args(&t, &out, &[]);
    a[4] = &far;
    run_err(&a, 1, &["far.geojson#far", "--max-snap", "all 1 origins"]);
    // A named population field the layer lacks.
    let mut a = town_args(&t, &out, &[]);
    a[14] = "people";
    run_err(&a, 1, &["origins.geojson#origins", "'people'"]);
    // Usage errors exit 2.
    run_err(&town_args(&t, &out, &["--max-snap=-5"]), 2, &["--max-snap"]);
    run_err(&town_args(&t, &out, &["--max-walk", "100"]), 2, &["--max-walk", "1000"]);
    run_err(&town_args(&t, &out, &["--tiers", "osm"]), 1, &["facility-type table 'cn'"]);
    assert!(!Path::new(&out).exists(), "no output after an error");
}

// ---------------------------------------------------------------------------------------------
// OpenStreetMap extracts: distances with --snap node against networkx on the exported graph.

/// The independent reference: networkx's multi-source Dijkstra on the graph planaudit exported,
/// and a brute-force nearest node for every snap. Reads nodes.csv, edges.csv, snaps.csv and the
/// output GeoJSON; prints a JSON report.
const REFERENCE_PY: &str = r#"
import csv, json, math, sys
import networkx as nx

graph_dir, out_path = sys.argv[1], sys.argv[2]
nodes = {}
with open(f"{graph_dir}/nodes.csv") as f:
    for r in csv.DictReader(f):
        nodes[int(r["node"])] = (float(r["x"]), float(r["y"]))
G = nx.Graph()
G.add_nodes_from(nodes)
with open(f"{graph_dir}/edges.csv") as f:
    for r in csv.DictReader(f):
        a, b, w = int(r["from"]), int(r["to"]), float(r["length_m"])
        if a == b:
            continue
        if G.has_edge(a, b) and G[a][b]["length"] <= w:
            continue
        G.add_edge(a, b, length=w)

origins, by_type = [], {}
snap_mismatch = []
with open(f"{graph_dir}/snaps.csv") as f:
    for r in csv.DictReader(f):
        node = int(r["node"]) if r["node"] else None
        x, y = float(r["x"]), float(r["y"])
        if node is not None:
            best = min(math.hypot(x - nx_, y - ny_) for nx_, ny_ in nodes.values())
            got = math.hypot(x - nodes[node][0], y - nodes[node][1])
            if got - best > 1e-6:
                snap_mismatch.append([r["role"], r["id"], got, best])
        if r["role"] == "origin":
            origins.append((r["id"], node))
        elif node is not None:
            by_type.setdefault(r["type"], set()).add(node)

features = json.load(open(out_path))["features"]
assert len(features) == len(origins), (len(features), len(origins))
compared, max_diff, mismatches, types_seen = 0, 0.0, [], set()
for code, sources in by_type.items():
    dist = nx.multi_source_dijkstra_path_length(G, sources, weight="length")
    for (oid, node), feat in zip(origins, features):
        p = feat["properties"]
        assert str(p["origin_id"]) == oid, (p["origin_id"], oid)
        got = p["dist_m"].get(code, "absent")
        want = dist.get(node) if node is not None else None
        if got is None or want is None or got == "absent":
            if not (got is None and want is None):
                mismatches.append([oid, code, got, want])
            continue
        types_seen.add(code)
        compared += 1
        d = abs(got - want)
        max_diff = max(max_diff, d)
        if d > 0.5:
            mismatches.append([oid, code, got, want])
print(json.dumps({"compared": compared, "max_diff_m": max_diff, "mismatches": mismatches[:20],
                  "mismatch_count": len(mismatches), "snap_mismatches": snap_mismatch[:20],
                  "types": sorted(types_seen), "nodes": G.number_of_nodes(),
                  "networkx": nx.__version__}))
"#;

/// A Python with networkx, in a venv under target/ (created once per test run; pip fetches
/// networkx from PyPI). Any failure here fails the test: the comparison is the point.
fn python_with_networkx() -> &'static Path {
    static PY: OnceLock<PathBuf> = OnceLock::new();
    PY.get_or_init(|| {
        let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/pyref-venv");
        let py = venv.join("bin/python");
        let has_nx = |py: &Path| {
            Command::new(py).args(["-c", "import networkx"]).output().map(|o| o.status.success()).unwrap_or(false)
        };
        if !has_nx(&py) {
            let out = Command::new("python3").arg("-m").arg("venv").arg(&venv).output().expect("python3 runs");
            assert!(out.status.success(), "python3 -m venv failed: {}", String::from_utf8_lossy(&out.stderr));
            let out = Command::new(&py)
                .args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check", "networkx==3.6.1"])
                .output()
                .expect("pip runs");
            assert!(out.status.success(), "pip install networkx failed: {}", String::from_utf8_lossy(&out.stderr));
            assert!(has_nx(&py), "networkx not importable after install");
        }
        py
    })
}

/// Runs living-circle on an OSM extract: highways as roads, residential landuse as origins, the
/// points as facilities, every distance up to 1000 km reported.
fn run_osm(pbf: &str, out: &str, extra: &[&str]) {
    let (roads, origins, points) = (format!("{pbf}#lines"), format!("{pbf}#multipolygons"), format!("{pbf}#points"));
    let mut args = vec![
        "living-circle",
        "--roads",
        &roads,
        "--roads-where",
        "highway IS NOT NULL",
        "--origins",
        &origins,
        "--origins-where",
        "landuse = 'residential'",
        "--facilities",
        &points,
        "--max-walk",
        "1000000",
        "-o",
        out,
    ];
    args.extend_from_slice(extra);
    run_ok(&args);
}

fn osm_against_networkx(file: &str) -> Value {
    let pbf = shared(&format!("osm/{file}"));
    let p = pbf.display().to_string();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("lc.geojson");
    let graph = dir.path().join("graph");
    let summary = dir.path().join("summary.json");
    let (o, g, s) = (out.display().to_string(), graph.display().to_string(), summary.display().to_string());
    let started = std::time::Instant::now();
    run_osm(
        &p,
        &o,
        &["--type-field", "amenity,shop,leisure", "--snap", "node", "--export-graph", &g, "--summary-json", &s],
    );
    let planaudit_s = started.elapsed().as_secs_f64();
    let script = dir.path().join("reference.py");
    std::fs::write(&script, REFERENCE_PY).unwrap();
    let started = std::time::Instant::now();
    let res = Command::new(python_with_networkx()).arg(&script).arg(&graph).arg(&out).output().expect("python runs");
    assert!(res.status.success(), "reference failed: {}", String::from_utf8_lossy(&res.stderr));
    let report: Value = serde_json::from_slice(&res.stdout).expect("reference prints JSON");
    let summary: Value = serde_json::from_str(&std::fs::read_to_string(&summary).unwrap()).unwrap();
    eprintln!(
        "{file}: planaudit {planaudit_s:.2} s, networkx {:.2} s; network {}; reference {report}",
        started.elapsed().as_secs_f64(),
        summary["network"]
    );
    assert_eq!(report["snap_mismatches"], serde_json::json!([]), "nearest nodes differ: {report}");
    assert_eq!(report["mismatch_count"], 0, "distances differ from networkx: {report}");
    assert!(report["max_diff_m"].as_f64().unwrap() <= 0.5, "{report}");

    // The network holds every walkable way, in full: its length equals SpatiaLite's ellipsoidal
    // length of the same ways (foot=no and access=private without a foot permission excluded, and
    // what is no road: motorways, and ways not yet or no longer built, as OSMnx's walking filter).
    let sql = "SELECT SUM(ST_Length(GEOMETRY, 1)) AS len FROM lines WHERE highway IS NOT NULL \
               AND highway NOT IN ('motorway', 'motorway_link', 'construction', 'proposed', 'planned', \
               'abandoned', 'razed', 'bus_guideway', 'raceway', 'no') \
               AND COALESCE(hstore_get_value(other_tags, 'foot'), '') <> 'no' \
               AND NOT (COALESCE(hstore_get_value(other_tags, 'access'), '') = 'private' \
               AND COALESCE(hstore_get_value(other_tags, 'foot'), '') NOT IN ('yes', 'designated', 'permissive'))";
    let rows = gdal_sql(&pbf, sql);
    let spatialite_km = rows[0]["len"].parse::<f64>().unwrap() / 1000.0;
    let ours_km = summary["network"]["length_km"].as_f64().unwrap();
    assert!(rel_diff(ours_km, spatialite_km) < 1e-6, "network {ours_km} km vs SpatiaLite {spatialite_km} km");
    serde_json::json!({ "reference": report, "summary": summary })
}

#[test]
fn liechtenstein_node_snap_matches_networkx() {
    let r = osm_against_networkx("liechtenstein-2015.osm.pbf");
    let compared = r["reference"]["compared"].as_u64().unwrap();
    assert!(compared >= 100, "too few distances compared: {r}");
    assert!(r["reference"]["types"].as_array().unwrap().len() >= 8, "{r}");
    assert_eq!(r["summary"]["origins"], 17);
    assert!(r["summary"]["network"]["components"].as_u64().unwrap() > 1, "the extract has detached pieces");
}

#[test]
fn baltimore_node_snap_matches_networkx() {
    let r = osm_against_networkx("baltimore-2015.osm.pbf");
    let compared = r["reference"]["compared"].as_u64().unwrap();
    assert!(compared >= 200, "too few distances compared: {r}");
    assert_eq!(r["summary"]["origins"], 27);
    // Motorways are not walked.
    assert!(r["summary"]["network"]["roads_excluded"]["grade 'motorway_link' not walkable"].as_u64().unwrap() > 0);
}

/// OpenStreetMap land use in a GeoPackage, whose closed ways have an empty `osm_id` and their id
/// in `osm_way_id`: road density names each area, and the living circle each origin, by the same
/// id (`osm_id`, else `osm_way_id`), so that the two outputs join on it.
#[test]
fn osm_ids_join_road_density_and_living_circle() {
    let pbf = shared("osm/liechtenstein-2015.osm.pbf");
    let p = pbf.display().to_string();
    let dir = tempfile::tempdir().unwrap();
    let li = dir.path().join("li.gpkg");
    let li_s = li.to_str().unwrap();
    ogr2ogr(&["-f", "GPKG", li_s, &p, "multipolygons", "-where", "landuse='residential'"]);
    let (rd, lc) = (dir.path().join("rd.geojson"), dir.path().join("lc.geojson"));
    let (roads, facilities) = (format!("{p}#lines"), format!("{p}#points"));
    let roads = ["--roads", &roads, "--roads-where", "highway IS NOT NULL"];
    run_ok(&[&["road-density", "--areas", li_s, "-o", rd.to_str().unwrap()], &roads[..]].concat());
    let circle = ["living-circle", "--origins", li_s, "--facilities", &facilities, "-o", lc.to_str().unwrap()];
    run_ok(&[&circle[..], &roads[..]].concat());
    let ids = |path: &Path, key: &str| -> Vec<String> {
        let mut ids: Vec<String> = read_collection(path).features.iter().map(|f| text(f, key)).collect();
        ids.sort();
        ids
    };
    let mut want: Vec<String> = gdal_sql(&li, "SELECT COALESCE(osm_id, osm_way_id) AS id FROM multipolygons")
        .into_iter()
        .map(|row| row["id"].clone())
        .collect();
    want.sort();
    // One relation, the others closed ways.
    assert_eq!(want.len(), 17, "{want:?}");
    assert_eq!(ids(&rd, "area_id"), want);
    assert_eq!(ids(&lc, "origin_id"), want);
}

/// Edge snapping on real data: the walk is never shorter than the straight line (same facilities),
/// and buffer results carry their label.
#[test]
fn network_is_never_shorter_than_straight_line() {
    let pbf = shared("osm/liechtenstein-2015.osm.pbf");
    let p = pbf.display().to_string();
    let dir = tempfile::tempdir().unwrap();
    let mut outs = Vec::new();
    for method in ["network", "buffer"] {
        let out = dir.path().join(format!("{method}.geojson"));
        let o = out.display().to_string();
        run_osm(&p, &o, &["--method", method]);
        outs.push(read_collection(&out));
    }
    let mut compared = 0;
    for (n, b) in outs[0].features.iter().zip(&outs[1].features) {
        assert_eq!(text(n, "origin_id"), text(b, "origin_id"));
        assert_eq!(b.property("method").unwrap(), "buffer");
        for (code, d) in n.property("dist_m").unwrap().as_object().unwrap() {
            if let (Some(walk), Some(line)) = (d.as_f64(), b.property("dist_m").unwrap()[code].as_f64()) {
                assert!(walk + 0.5 >= line, "{} {code}: walk {walk} < straight {line}", text(n, "origin_id"));
                compared += 1;
            }
        }
    }
    assert!(compared >= 100, "{compared}");
}
