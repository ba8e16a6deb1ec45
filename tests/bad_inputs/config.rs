//! City files: unknown keys, wrong types, paths that do not exist, outputs that would overwrite an
//! input. Usage errors exit 2 naming the key and line; missing data exits 1 naming the resolved path.

use std::path::PathBuf;

use super::world::*;
use crate::common::{run, run_err, run_ok, summary_warnings, walk};

/// A city file with `text` written as `name` in the world's folder.
fn city(w: &World, name: &str, text: &str) -> String {
    let p = w.path(name);
    std::fs::write(&p, text).unwrap();
    p.display().to_string()
}

const GOOD: &str = r#"[city]
name = "测试市"

[layers.areas]
source = "areas.geojson"
fields = { id = "id", name = "name", kind = "kind" }

[layers.roads]
source = "roads.geojson"
fields = { grade = "grade", width = "width_m" }

[road_density]
grid_m = 500
targets = { "*" = 5.0 }
"#;

#[test]
fn city_file_errors() {
    let w = World::new();
    let out = w.path("audit_out").display().to_string();
    let ok = city(&w, "good.toml", GOOD);
    run_ok(&["audit", &ok, "-o", &out]);
    let cases: Vec<(&str, String, i32, Vec<&str>)> = vec![
        ("unknown top-level key", format!("{GOOD}\n[colours]\nroad = \"red\"\n"), 2, vec!["colours", "line 16"]),
        (
            "facilities layers that differ",
            format!(
                "{GOOD}\n[layers.origins]\nsource = \"origins.geojson\"\n\n[[layers.facilities]]\nsource = \"facilities.geojson\"\nfields = {{ type = \"type\" }}\n\n[[layers.facilities]]\nsource = \"more.geojson\"\ncrs = \"EPSG:4527\"\nfields = {{ type = \"type\" }}\n\n[living_circle]\n"
            ),
            2,
            vec!["must share where, crs and fields", "layers.facilities[1] (more.geojson) has another crs than layers.facilities[0] (facilities.geojson)"],
        ),
        (
            "unknown key in a section",
            GOOD.replace("grid_m = 500", "grid_m = 500\ncell = 3"),
            2,
            vec!["cell", "line 14"],
        ),
        (
            "unknown key in a layer",
            GOOD.replace("source = \"roads.geojson\"", "source = \"roads.geojson\"\npath = \"x\""),
            2,
            vec!["path", "line 10"],
        ),
        (
            "unknown field role",
            GOOD.replace("width = \"width_m\"", "width = \"width_m\", lanes = \"n\""),
            2,
            vec!["unknown role 'lanes'"],
        ),
        ("number where text was expected", GOOD.replace("name = \"测试市\"", "name = 3"), 2, vec!["name", "line 2"]),
        (
            "text where a number was expected",
            GOOD.replace("grid_m = 500", "grid_m = \"500 m\""),
            2,
            vec!["grid_m", "line 13"],
        ),
        ("target as text", GOOD.replace("\"*\" = 5.0", "\"*\" = \"5\""), 2, vec!["line 14"]),
        (
            "fields as a list",
            GOOD.replace("fields = { grade = \"grade\", width = \"width_m\" }", "fields = [\"grade\"]"),
            2,
            vec!["fields", "line 10"],
        ),
        ("missing [city] name", GOOD.replace("name = \"测试市\"\n", ""), 2, vec!["name"]),
        ("not TOML at all", "{\"city\": 1}".to_string(), 2, vec!["bad.toml"]),
        ("empty file", String::new(), 2, vec!["bad.toml", "city"]),
        ("binary garbage", String::from_utf8_lossy(&[0xff, 0xfe, 0x00, 0x01]).into_owned(), 2, vec!["bad.toml"]),
        (
            "source that does not exist",
            GOOD.replace("roads.geojson", "nowhere/roads.gpkg"),
            1,
            vec!["nowhere/roads.gpkg", "no such file"],
        ),
        (
            "layer that does not exist",
            GOOD.replace("source = \"roads.geojson\"", "source = \"roads.geojson\"\nlayer = \"streets\""),
            1,
            vec!["no layer named 'streets'", "(set by layers.roads.layer in "],
        ),
        (
            "grade table that does not exist",
            GOOD.replace("grid_m = 500", "grid_m = 500\ngrades = \"my_grades.toml\""),
            2,
            vec!["road_density.grades: ", "my_grades.toml", "neither a preset"],
        ),
        ("negative grid", GOOD.replace("grid_m = 500", "grid_m = -5"), 2, vec!["road_density.grid_m -5"]),
        (
            "network source",
            GOOD.replace("source = \"roads.geojson\"", "source = \"https://example.org/roads.geojson\""),
            2,
            vec!["local files only"],
        ),
        (
            "network source via GDAL",
            GOOD.replace("source = \"roads.geojson\"", "source = \"/vsicurl/https://example.org/roads.gpkg\""),
            2,
            vec!["local files only"],
        ),
    ];
    let bad = w.path("bad.toml").display().to_string();
    for (name, text, code, words) in cases {
        std::fs::write(&bad, &text).unwrap();
        let stderr = run_err(&["audit", &bad, "-o", &out], code, &words);
        assert!(!stderr.contains("panicked"), "{name}");
        let stderr = run_err(&["check", &bad], code, &words);
        assert!(!stderr.contains("panicked"), "{name}");
    }
    // A city file that does not exist, or is a folder.
    run_err(&["audit", &w.path("none.toml").display().to_string(), "-o", &out], 1, &["none.toml"]);
    run_err(&["audit", &w.dir.path().display().to_string(), "-o", &out], 1, &[&w.dir.path().display().to_string()]);
}

/// Paths in a city file resolve against the file's folder, not the working directory.
#[test]
fn paths_resolve_against_the_city_file() {
    let w = World::new();
    let sub = w.path("sub");
    std::fs::create_dir_all(&sub).unwrap();
    let text = GOOD.replace("areas.geojson", "../areas.geojson").replace("roads.geojson", "../roads.geojson");
    let c = sub.join("city.toml");
    std::fs::write(&c, text).unwrap();
    let out = w.path("o");
    let o = crate::common::bin()
        .current_dir("/")
        .args(["audit", c.to_str().unwrap(), "-o", out.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

/// An audit whose output folder is the input folder, with an input named like an output: refused
/// before anything is written, however the paths are spelled.
#[test]
fn outputs_never_overwrite_inputs() {
    let w = World::new();
    std::fs::copy(w.good_path(Role::Road), w.path("road_density.geojson")).unwrap();
    std::fs::copy(w.good_path(Role::Area), w.path("summary.json")).unwrap();
    std::fs::create_dir_all(w.path("d")).unwrap();
    let dir = w.dir.path().display().to_string();
    let cases = [
        ("roads named like the output", GOOD.replace("\"roads.geojson\"", "\"road_density.geojson\""), dir.clone()),
        ("roads spelled with ..", GOOD.replace("\"roads.geojson\"", "\"d/../road_density.geojson\""), dir.clone()),
        (
            "roads spelled with ./",
            GOOD.replace("\"roads.geojson\"", "\"./road_density.geojson\""),
            format!("{dir}/d/.."),
        ),
        ("areas named like the summary", GOOD.replace("\"areas.geojson\"", "\"summary.json\""), dir.clone()),
    ];
    for (name, text, out) in cases {
        let c = city(&w, "clash.toml", &text);
        let before: Vec<(String, Vec<u8>)> = std::fs::read_dir(w.dir.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.is_file())
            .map(|p| (p.display().to_string(), std::fs::read(&p).unwrap()))
            .collect();
        let o = run(&["audit", &c, "-o", &out]);
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{name}: {stderr}");
        assert!(stderr.contains("would overwrite the input"), "{name}: {stderr}");
        for (p, bytes) in before {
            assert_eq!(std::fs::read(&p).unwrap(), bytes, "{name}: {p} changed");
        }
    }
}

/// Areas given the wrong Gauss–Krüger zone land far from the roads: `check` says so, and the
/// audit's warning reaches summary.json and report.html, not only stderr, for unattended runs.
#[test]
fn layers_apart_are_warned_in_check_summary_and_report() {
    let w = World::new();
    let text = GOOD.replace(
        "fields = { id = \"id\", name = \"name\", kind = \"kind\" }",
        "fields = { id = \"id\", name = \"name\", kind = \"kind\" }\ncrs = \"EPSG:4526\"",
    );
    assert_ne!(text, GOOD);
    let c = city(&w, "zone.toml", &text);
    // In the city file's words: the keys that set the layers' CRSs, not command-line options.
    let keys =
        "do not overlap at all; check their coordinate systems (layers.areas.crs, layers.roads.crs, city.crs, gcj02)";
    let checked = run_ok(&["check", &c]);
    assert!(checked.contains("warning: ") && checked.contains(keys), "{checked}");
    let out = w.path("zone_out");
    let o = run(&["audit", &c, "-o", out.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains(keys) && !stderr.contains("--"), "{stderr}");
    let warnings = summary_warnings(&out);
    assert!(warnings.iter().any(|w| w.contains(keys)), "{warnings:?}");
    let report = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(report.contains("<ul class=\"warnings\">") && report.contains("do not overlap at all"));
    // The right CRS: no warning anywhere.
    let c = city(&w, "good.toml", GOOD);
    assert!(!run_ok(&["check", &c]).contains("warning"));
}

/// The single commands refuse an output (`-o`, the files named beside it, `--summary-json`) that
/// would overwrite one of their input layers, however spelled, and leave every input as it was.
#[test]
fn single_commands_never_overwrite_inputs() {
    let w = World::new();
    std::fs::create_dir_all(w.path("d")).unwrap();
    let inputs = |cmd: Cmd| match cmd {
        Cmd::RoadDensity => vec![Role::Road, Role::Area],
        Cmd::ParkMix => vec![Role::Parcel, Role::Area],
        _ => vec![Role::Road, Role::Origin, Role::Facility],
    };
    let snapshot = || -> Vec<(PathBuf, Vec<u8>)> {
        let mut files: Vec<PathBuf> = walk(w.dir.path());
        files.sort();
        files
            .into_iter()
            .map(|p| {
                let bytes = std::fs::read(&p).unwrap();
                (p, bytes)
            })
            .collect()
    };
    for cmd in [Cmd::RoadDensity, Cmd::ParkMix, Cmd::LivingCircle] {
        for role in inputs(cmd) {
            let input = w.good_path(role);
            let name = input.file_name().unwrap().to_str().unwrap().to_string();
            let spelled = w.path("d").join("..").join(&name);
            let out = w.path("out.geojson");
            let cases: Vec<(String, Vec<String>)> = vec![
                (format!("-o {name}"), w.args(cmd, role, &input.display().to_string(), &input, &[])),
                (format!("-o d/../{name}"), w.args(cmd, role, &input.display().to_string(), &spelled, &[])),
                (
                    format!("--summary-json {name}"),
                    w.args(cmd, role, &input.display().to_string(), &out, &["--summary-json", input.to_str().unwrap()]),
                ),
                (
                    format!("-o beside {name}"),
                    w.args(
                        cmd,
                        role,
                        &input.display().to_string(),
                        &w.path(&name.replace(".geojson", "_x.geojson")),
                        &[],
                    ),
                ),
            ];
            for (case, args) in cases {
                let before = snapshot();
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                let o = run(&args);
                let stderr = String::from_utf8_lossy(&o.stderr);
                let what = format!("{cmd:?} {case}");
                if case.starts_with("-o beside") {
                    // Not an input: the run goes on (and is cleaned up after).
                    assert_eq!(o.status.code(), Some(0), "{what}: {stderr}");
                    for f in walk(w.dir.path()) {
                        if !before.iter().any(|(p, _)| *p == f) {
                            std::fs::remove_file(f).unwrap();
                        }
                    }
                } else {
                    assert_eq!(o.status.code(), Some(2), "{what}: {stderr}");
                    assert!(stderr.contains("would overwrite the input"), "{what}: {stderr}");
                }
                assert_eq!(snapshot(), before, "{what}: an input changed");
            }
        }
    }

    // The other files of a Shapefile input, and a table file given as an option, are inputs too.
    let shp = w.path("areas_shp.shp");
    crate::common::ogr2ogr(&[shp.to_str().unwrap(), w.good_path(Role::Area).to_str().unwrap()]);
    let grades = w.path("my_grades.toml");
    std::fs::write(&grades, "extends = \"cn\"\n").unwrap();
    let (shp, grades) = (shp.display().to_string(), grades.display().to_string());
    let roads = w.good_path(Role::Road).display().to_string();
    for (case, out, extra) in [
        ("the .dbf of the areas", w.path("areas_shp.dbf"), vec![]),
        ("the .PRJ of the areas", w.path("areas_shp.PRJ"), vec![]),
        ("the grades table", w.path("my_grades.toml"), vec!["--grades", grades.as_str()]),
        ("the grades table as summary", w.path("o.geojson"), vec!["--grades", &grades, "--summary-json", &grades]),
    ] {
        let before = snapshot();
        let mut args = vec!["road-density", "--roads", &roads, "--areas", &shp, "-o", out.to_str().unwrap()];
        args.extend(extra);
        let o = run(&args);
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{case}: {stderr}");
        assert!(stderr.contains("would overwrite the input"), "{case}: {stderr}");
        assert_eq!(snapshot(), before, "{case}: an input changed");
    }
    // A preset's name is the preset, even beside a file of that name: no input, no refusal.
    std::fs::write(w.path("cn"), "an earlier run's summary").unwrap();
    let areas = w.good_path(Role::Area).display().to_string();
    let o = crate::common::bin()
        .current_dir(w.dir.path())
        .args(["road-density", "--roads", &roads, "--areas", &areas, "--grades", "cn", "--summary-json", "cn"])
        .args(["-o", "preset.geojson"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
}

/// Every file an audit writes lies inside the chosen folder, and summary.json lists exactly the
/// files written.
#[test]
fn audit_writes_only_inside_its_folder() {
    let w = World::new();
    let c = city(&w, "good.toml", GOOD);
    let out = w.path("nested/out");
    let before: std::collections::BTreeSet<_> = walk(w.dir.path()).into_iter().collect();
    run_ok(&["audit", &c, "-o", out.to_str().unwrap()]);
    let after: std::collections::BTreeSet<_> = walk(w.dir.path()).into_iter().collect();
    let new: Vec<_> = after.difference(&before).collect();
    assert!(!new.is_empty());
    for p in &new {
        assert!(p.starts_with(&out), "{} written outside {}", p.display(), out.display());
    }
    let s: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    // Listed by their paths in the output folder.
    let mut listed: Vec<std::path::PathBuf> =
        s["outputs"].as_array().unwrap().iter().map(|v| out.join(v.as_str().unwrap())).collect();
    listed.sort();
    let mut written: Vec<std::path::PathBuf> = new.into_iter().cloned().collect();
    written.sort();
    assert_eq!(listed, written);
}
