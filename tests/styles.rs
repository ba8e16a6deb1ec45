//! Map styles: every MapLibre style passes the official style-specification validator (the npm
//! package `@maplibre/maplibre-gl-style-spec`, pinned in `tests/js/`), every QGIS style is
//! well-formed XML with a categorized or graduated renderer, and every property a style reads
//! exists in the layer's output.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use planaudit::output::styles::{fields_used, maplibre, qml, write_styles, STYLED_LAYERS};

use crate::common::*;

/// Properties promised by the park-mix issue (#3) and the living-circle issue (#4), plus
/// `missing_count` (the number of required facility types not reached), which the living-circle
/// outputs carry for the styles. The demo's outputs must carry every one of them.
const PROMISED: &[(&str, &[&str])] = &[
    ("park_mix", PARK_MIX_PROPERTIES),
    ("park_mix_parcels", &["park_id", "category"]),
    (
        "living_circle",
        &["origin_id", "dist_m", "within_5min", "within_10min", "within_15min", "missing", "snap_m", "missing_count"],
    ),
    ("living_circle_gaps", &["origin_id", "missing", "missing_count"]),
];

/// Where the pinned validator is installed: `target/js-deps` (the Makefile's `deps` installs it
/// there too).
fn js_deps_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    let target = if target.is_absolute() { target } else { Path::new(env!("CARGO_MANIFEST_DIR")).join(target) };
    target.join("js-deps")
}

/// The validator's command-line entry, installed with `npm ci` from the committed lock file when
/// it is missing or older than the lock file.
fn style_validator() -> PathBuf {
    let dir = js_deps_dir();
    let cli = dir.join("node_modules/@maplibre/maplibre-gl-style-spec/dist/gl-style-validate.mjs");
    let lock = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/js/package-lock.json");
    let stamp = dir.join("node_modules/.package-lock.json");
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    let fresh = cli.exists() && modified(&stamp).zip(modified(&lock)).is_some_and(|(s, l)| s >= l);
    if !fresh {
        std::fs::create_dir_all(&dir).unwrap();
        for f in ["package.json", "package-lock.json"] {
            std::fs::copy(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/js").join(f), dir.join(f)).unwrap();
        }
        let out = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
            .current_dir(&dir)
            .output()
            .expect("npm runs (Node.js and npm must be installed: make deps)");
        assert!(out.status.success(), "npm ci failed:\n{}", String::from_utf8_lossy(&out.stderr));
    }
    assert!(cli.exists(), "{} missing after npm ci", cli.display());
    cli
}

/// Runs the validator on files; returns (success, stdout).
fn validate(files: &[PathBuf]) -> (bool, String) {
    let out = Command::new("node").arg(style_validator()).args(files).output().expect("node runs");
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

#[test]
fn maplibre_styles_pass_the_style_spec_validator() {
    let dir = tempfile::tempdir().unwrap();
    // As written for any data, and with the OpenStreetMap attribution in their sources.
    let mut written = write_styles(&dir.path().join("plain"), STYLED_LAYERS, |_| false).unwrap();
    written.extend(write_styles(&dir.path().join("osm"), STYLED_LAYERS, |_| true).unwrap());
    let files: Vec<PathBuf> = written.into_iter().filter(|p| p.to_string_lossy().ends_with(".maplibre.json")).collect();
    assert_eq!(files.len(), 2 * STYLED_LAYERS.len());
    let (ok, out) = validate(&files);
    assert!(ok && out.trim().is_empty(), "style-spec validation failed:\n{out}");

    // The validator does reject a broken style (a boolean used as a match label, a missing source),
    // so the pass above means something.
    let bad = dir.path().join("bad.maplibre.json");
    std::fs::write(
        &bad,
        r##"{"version":8,"sources":{},"layers":[{"id":"x","type":"fill","source":"road_density",
            "paint":{"fill-color":["match",["get","meets_target"],true,"#00ff00","#ff0000"]}}]}"##,
    )
    .unwrap();
    let (ok, out) = validate(&[bad]);
    assert!(!ok && out.contains("source \"road_density\" not found"), "{out}");
}

/// The `attr` of a QML's renderer and the symbols its classes point at, checked for shape.
fn qml_attr(layer: &str) -> String {
    let text = qml(layer).unwrap();
    let doc = roxmltree::Document::parse_with_options(
        text,
        roxmltree::ParsingOptions { allow_dtd: true, ..Default::default() },
    )
    .unwrap_or_else(|e| panic!("{layer}.qml: not well-formed XML: {e}"));
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "qgis", "{layer}");
    assert!(root.attribute("version").unwrap().starts_with("3.28"), "{layer}");
    assert_eq!(root.attribute("styleCategories"), Some("Symbology"), "{layer}");
    let renderer = root.children().find(|n| n.has_tag_name("renderer-v2")).expect("renderer-v2");
    let kind = renderer.attribute("type").unwrap();
    let class_tag = match kind {
        "categorizedSymbol" => "category",
        "graduatedSymbol" => "range",
        other => panic!("{layer}: renderer {other}"),
    };
    let symbols: BTreeSet<&str> = renderer
        .children()
        .find(|n| n.has_tag_name("symbols"))
        .expect("symbols")
        .children()
        .filter(|n| n.has_tag_name("symbol"))
        .map(|n| n.attribute("name").unwrap())
        .collect();
    let classes: Vec<_> = renderer.descendants().filter(|n| n.has_tag_name(class_tag)).collect();
    assert!(classes.len() >= 2, "{layer}: {} classes", classes.len());
    for c in &classes {
        assert!(symbols.contains(c.attribute("symbol").unwrap()), "{layer}: class without symbol");
        assert!(!c.attribute("label").unwrap_or("").is_empty(), "{layer}: class without label");
        if class_tag == "range" {
            let lo: f64 = c.attribute("lower").unwrap().parse().unwrap();
            let hi: f64 = c.attribute("upper").unwrap().parse().unwrap();
            assert!(lo <= hi, "{layer}: range {lo}..{hi}");
        }
    }
    assert_eq!(symbols.len(), classes.len(), "{layer}: one symbol per class");
    renderer.attribute("attr").expect("renderer attr").to_string()
}

/// The property names of every feature in an output file.
fn property_names(path: &Path) -> BTreeSet<String> {
    let fc = read_collection(path);
    assert!(!fc.features.is_empty(), "{}: no features", path.display());
    fc.features.iter().flat_map(|f| f.properties.as_ref().unwrap().keys().cloned()).collect()
}

#[test]
fn styles_read_only_properties_the_outputs_carry() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    run_ok(&["demo", "-o", out.to_str().unwrap()]);
    // The demo audit writes every styled layer but the service areas, which the demo city with
    // service_areas = true writes too.
    let city = out.join("demo_city/city.toml");
    let text = std::fs::read_to_string(&city).unwrap();
    let with_areas = text.replacen("[living_circle]\n", "[living_circle]\nservice_areas = true\n", 1);
    assert_ne!(with_areas, text);
    let city_areas = city.with_file_name("service_areas.toml");
    std::fs::write(&city_areas, with_areas).unwrap();
    let out_areas = dir.path().join("out_areas");
    run_ok(&["audit", city_areas.to_str().unwrap(), "-o", out_areas.to_str().unwrap(), "--quiet"]);
    assert!(out_areas.join("styles/living_circle_service_areas.qml").exists(), "the audit writes its style");
    for layer in STYLED_LAYERS {
        // Check against the real output, and that the promised properties of issues 3 and 4 are
        // there too.
        let folder = if *layer == "living_circle_service_areas" { &out_areas } else { &out };
        let available = property_names(&folder.join(format!("{layer}.geojson")));
        if let Some((_, names)) = PROMISED.iter().find(|(l, _)| l == layer) {
            for n in *names {
                assert!(available.contains(*n), "{layer}: promised property {n} missing from the output");
            }
        }
        let used = fields_used(layer);
        assert!(!used.is_empty(), "{layer}");
        for f in &used {
            assert!(available.contains(*f), "{layer}: the styles read '{f}', which the output lacks: {available:?}");
        }
        // A field, or an expression whose fields are quoted.
        let attr = qml_attr(layer);
        let qml_fields: Vec<&str> =
            if attr.contains('"') { attr.split('"').skip(1).step_by(2).collect() } else { vec![attr.as_str()] };
        assert!(!qml_fields.is_empty(), "{layer}.qml: {attr}");
        for f in qml_fields {
            assert!(used.contains(&f), "{layer}.qml classifies on '{f}', not in {used:?}");
            assert!(available.contains(f), "{layer}.qml: '{f}' not in the output");
        }
        let style: serde_json::Value = serde_json::from_str(maplibre(layer).unwrap()).unwrap();
        assert_eq!(style["sources"][*layer]["data"], format!("{layer}.geojson"));
        // The demo is no OpenStreetMap data: its styles are written as they are.
        let written = std::fs::read_to_string(folder.join(format!("styles/{layer}.maplibre.json"))).unwrap();
        assert_eq!(written, maplibre(layer).unwrap(), "{layer}");
    }
}

/// MapLibre draws a circle layer at every vertex of a line or polygon too: each circle layer keeps
/// to points, or a map of parcels is covered in dots.
#[test]
fn circle_layers_draw_points_only() {
    let mut circles = 0;
    for layer in STYLED_LAYERS {
        let style: serde_json::Value = serde_json::from_str(maplibre(layer).unwrap()).unwrap();
        for l in style["layers"].as_array().unwrap().iter().filter(|l| l["type"] == "circle") {
            circles += 1;
            let filter = l["filter"].to_string();
            assert!(
                filter.contains("geometry-type") && filter.contains("\"Point\"") && !filter.contains("Polygon"),
                "{layer}: circle layer {} draws more than points: filter {filter}",
                l["id"]
            );
        }
    }
    assert!(circles >= 2, "the living-circle styles draw their point origins as circles");
}

/// The QGIS grid style classifies on density ÷ target: its expression, evaluated by SQLite (the
/// syntax is the same) on the demo's grid, puts every cell that meets its target in a "met" class
/// and every other in a "missed" or "no target" one.
#[test]
fn qgis_grid_classes_follow_the_verdict() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    run_ok(&["demo", "-o", out.to_str().unwrap()]);
    let expr = qml_attr("road_density_grid");
    assert!(expr.contains("target_km_per_km2"), "{expr}");
    let text = qml("road_density_grid").unwrap();
    let doc = roxmltree::Document::parse_with_options(
        text,
        roxmltree::ParsingOptions { allow_dtd: true, ..Default::default() },
    )
    .unwrap();
    let label_of = |class: &str| -> String {
        let class: f64 = class.parse().unwrap();
        doc.descendants()
            .filter(|n| n.has_tag_name("range"))
            .find(|n| {
                let lo: f64 = n.attribute("lower").unwrap().parse().unwrap();
                let hi: f64 = n.attribute("upper").unwrap().parse().unwrap();
                lo <= class && class <= hi
            })
            .map(|n| n.attribute("label").unwrap().to_string())
            .unwrap_or_else(|| panic!("class {class} has no range"))
    };
    let rows = gdal_sql(
        &out.join("road_density_grid.geojson"),
        &format!("SELECT meets_target, density_km_per_km2, target_km_per_km2, {expr} AS class FROM road_density_grid"),
    );
    assert!(rows.len() >= 20, "{}", rows.len());
    let (mut met, mut missed) = (0, 0);
    for r in &rows {
        let label = label_of(&r["class"]);
        match r["meets_target"].as_str() {
            "1" => {
                met += 1;
                assert!(label.ends_with("(met)"), "{r:?}: {label}");
            }
            "0" => {
                missed += 1;
                assert!(label.ends_with("(missed)"), "{r:?}: {label}");
            }
            _ => assert_eq!(label, "no target", "{r:?}"),
        }
    }
    assert!(met > 0 && missed > 0, "the demo's grid has cells of both verdicts: {met} met, {missed} missed");
}
