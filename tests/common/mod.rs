//! Shared test helpers: the binary, temporary folders, the shared real data, GDAL's SQL.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The `planaudit` binary built for this test run.
pub fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_planaudit"))
}

/// Runs planaudit with arguments; returns the output.
pub fn run(args: &[&str]) -> Output {
    bin().args(args).output().expect("planaudit runs")
}

/// Runs planaudit and asserts success; returns stdout.
pub fn run_ok(args: &[&str]) -> String {
    let out = run(args);
    assert!(
        out.status.success(),
        "planaudit {:?} failed with {:?}\nstdout:\n{}\nstderr:\n{}",
        args,
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 stdout")
}

/// Runs planaudit expecting failure with `code`; returns stderr, which must contain every word.
pub fn run_err(args: &[&str], code: i32, words: &[&str]) -> String {
    let out = run(args);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(code), "planaudit {args:?}: expected exit {code}\nstderr:\n{stderr}");
    for w in words {
        assert!(stderr.contains(w), "planaudit {args:?}: stderr lacks {w:?}:\n{stderr}");
    }
    assert!(!stderr.contains("panicked"), "panic: {stderr}");
    stderr
}

/// A file of the shared real data. Its absence is a failure, never a skip: the tests are only
/// meaningful on the real data (CI runs with ../shared beside the clone).
pub fn shared(rel: &str) -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data").join(rel);
    assert!(p.exists(), "missing shared data file {} (../shared/data must sit beside the repository)", p.display());
    p
}

/// Reads a GeoJSON FeatureCollection written by planaudit.
pub fn read_collection(path: &Path) -> geojson::FeatureCollection {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    match text.parse::<geojson::GeoJson>().unwrap_or_else(|e| panic!("{}: not GeoJSON: {e}", path.display())) {
        geojson::GeoJson::FeatureCollection(fc) => fc,
        _ => panic!("{}: not a FeatureCollection", path.display()),
    }
}

/// A numeric property.
pub fn num(f: &geojson::Feature, key: &str) -> f64 {
    f.property(key)
        .and_then(|v| v.as_f64())
        .unwrap_or_else(|| panic!("property {key} missing or not a number in {:?}", f.properties))
}

/// A string property.
pub fn text(f: &geojson::Feature, key: &str) -> String {
    f.property(key).and_then(|v| v.as_str()).unwrap_or_else(|| panic!("property {key} missing or not text")).to_string()
}

/// Runs an SQL statement through GDAL's SQLite dialect (SpatiaLite functions) with `ogrinfo`,
/// and returns the rows as maps of column → text. This is the independent computation the tests
/// compare planaudit with: GEOS intersections and SpatiaLite measurements, none of planaudit's code.
pub fn gdal_sql(dataset: &Path, sql: &str) -> Vec<std::collections::BTreeMap<String, String>> {
    let out = Command::new("ogrinfo")
        .args(["-ro", "-q", "-dialect", "SQLite", "-sql", sql])
        .arg(dataset)
        .output()
        .expect("ogrinfo (gdal-bin) runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && !stderr.contains("ERROR"), "ogrinfo failed on {sql}: {stderr}");
    let text = String::from_utf8_lossy(&out.stdout);
    let mut rows = Vec::new();
    let mut row = std::collections::BTreeMap::new();
    for line in text.lines() {
        if line.starts_with("OGRFeature(") {
            if !row.is_empty() {
                rows.push(std::mem::take(&mut row));
            }
        } else if let Some((k, v)) = line.trim().split_once(" = ") {
            // "  name (Real) = 1.5"
            let key = k.split(" (").next().unwrap_or(k).trim().to_string();
            row.insert(key, v.trim().to_string());
        }
    }
    if !row.is_empty() {
        rows.push(row);
    }
    rows
}

/// Converts with ogr2ogr (test set-up only).
pub fn ogr2ogr(args: &[&str]) {
    let out = Command::new("ogr2ogr").args(args).output().expect("ogr2ogr (gdal-bin) runs");
    assert!(out.status.success(), "ogr2ogr {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
}

/// A relative difference.
pub fn rel_diff(a: f64, b: f64) -> f64 {
    (a - b).abs() / b.abs().max(1e-12)
}

/// Every file below a folder, recursively.
pub fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// The properties issue 3 promises on every park of a park-mix output.
pub const PARK_MIX_PROPERTIES: &[&str] = &[
    "park_id",
    "name",
    "park_area_km2",
    "mix_area_km2",
    "mix_share",
    "construction_land_km2",
    "mix_share_of_construction_land",
    "band_min",
    "band_max",
    "status",
    "by_category",
    "unclassified_km2",
    "unknown_codes",
    "overlap_km2",
    "measure",
];

/// The warnings of every layer in an audit's `summary.json`, in order.
pub fn summary_warnings(out_dir: &Path) -> Vec<String> {
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out_dir.join("summary.json")).unwrap()).unwrap();
    summary["layers"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|l| l["warnings"].as_array().into_iter().flatten())
        .filter_map(|w| w.as_str().map(str::to_string))
        .collect()
}
