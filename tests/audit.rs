//! `planaudit audit`, `check`, `init`: city files, their errors, exit codes.

use planaudit::output::styles::maplibre;
use std::path::Path;

use crate::common::*;

/// Builds the demo city in `dir` and returns the path of its city file.
fn demo_city(dir: &Path) -> std::path::PathBuf {
    run_ok(&["demo", "-o", dir.to_str().unwrap()]);
    dir.join("demo_city/city.toml")
}

#[test]
fn init_check_audit_and_fail_on_miss() {
    let dir = tempfile::tempdir().unwrap();
    let city = demo_city(dir.path());
    // init writes the same template the demo uses; refuses to overwrite without --force.
    let t = dir.path().join("city_template.toml");
    run_ok(&["init", t.to_str().unwrap()]);
    assert_eq!(std::fs::read(&t).unwrap(), std::fs::read(&city).unwrap());
    run_err(&["init", t.to_str().unwrap()], 2, &["exists", "--force"]);

    let stdout = run_ok(&["check", city.to_str().unwrap()]);
    assert!(stdout.contains("layers.roads") && stdout.contains("81 features read"), "{stdout}");
    assert!(stdout.contains("CRS EPSG:4527"), "{stdout}");
    assert!(!stdout.contains("knows the codes of only"), "{stdout}");
    // A class table the land use is not coded in: check says so, naming the one it is coded in.
    let wrong = dir.path().join("demo_city/wrong_classes.toml");
    let text_ = std::fs::read_to_string(&city).unwrap().replace("classes = \"tdt2023\"", "classes = \"osm\"");
    std::fs::write(&wrong, text_).unwrap();
    let stdout = run_ok(&["check", wrong.to_str().unwrap()]);
    assert!(
        stdout.contains("warning: ")
            && stdout.contains("table osm knows the codes of only 0 of the 2131 parcels read with a code"),
        "{stdout}"
    );
    assert!(stdout.contains("the preset tdt2023 knows 99% of them"), "{stdout}");
    // The same when the city file names no class field: the table's fields are read.
    let unnamed = dir.path().join("demo_city/unnamed_class.toml");
    let text_ = std::fs::read_to_string(&city)
        .unwrap()
        .replace("classes = \"tdt2023\"", "classes = \"gb50137\"")
        .replace("fields = { class = \"dlbm\" }", "");
    std::fs::write(&unnamed, text_).unwrap();
    let stdout = run_ok(&["check", unnamed.to_str().unwrap()]);
    assert!(
        stdout.contains("table gb50137 knows the codes of only 0 of the 2131 parcels read with a code"),
        "{stdout}"
    );
    assert!(stdout.contains("the preset tdt2023 knows 99% of them"), "{stdout}");

    let out = dir.path().join("audit");
    run_ok(&["audit", city.to_str().unwrap(), "-o", out.to_str().unwrap()]);
    let csv = std::fs::read_to_string(out.join("summary.csv")).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], "city,indicator,indicator_zh,area_id,area_name,value,target,target_max,unit,met");
    // Two built-up areas, two parks, three living-circle tiers.
    let count = |ind: &str| lines.iter().filter(|l| l.split(',').nth(1).is_some_and(|i| i.starts_with(ind))).count();
    assert_eq!((count("road_density"), count("park_mix"), count("living_circle_")), (2, 2, 3), "{csv}");
    assert_eq!(lines.len(), 1 + 7, "{csv}");
    // The CSV states the per-feature file's numbers.
    let fc = read_collection(&out.join("road_density.geojson"));
    for (line, f) in lines[1..3].iter().zip(&fc.features) {
        let cols: Vec<&str> = line.split(',').collect();
        assert_eq!(cols[3], text(f, "area_id"));
        assert!((cols[5].parse::<f64>().unwrap() - num(f, "density_km_per_km2")).abs() < 1e-9);
        assert_eq!(cols[9], f.property("meets_target").unwrap().to_string());
    }
    // The county town misses its target: exit 3 with --fail-on-miss, quiet prints nothing.
    let o = run(&["audit", city.to_str().unwrap(), "-o", out.to_str().unwrap(), "--fail-on-miss", "--quiet"]);
    assert_eq!(o.status.code(), Some(3));
    assert!(o.stdout.is_empty());
    // With targets every area meets, exit 0.
    let lenient = dir.path().join("demo_city/lenient.toml");
    let text_ = std::fs::read_to_string(&city)
        .unwrap()
        .replace("\"县城\" = 7.0", "\"县城\" = 5.0")
        .replace("band = [20, 30]", "band = [5, 30]")
        .replace("coverage_targets = { \"15\" = 0.8 }", "coverage_targets = { \"15\" = 0.05 }");
    std::fs::write(&lenient, text_).unwrap();
    let o = run(&["audit", lenient.to_str().unwrap(), "-o", out.to_str().unwrap(), "--fail-on-miss", "-q"]);
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
}

/// `[city] crs` is for layers without a CRS of their own; a layer's own `encoding` is used by
/// the audit as by `check`.
#[test]
fn city_crs_is_a_fallback_and_layer_encodings_count() {
    let dir = tempfile::tempdir().unwrap();
    let city = demo_city(dir.path());
    let base = city.parent().unwrap();
    let audit = |toml: &str, out: &str| -> String {
        let path = base.join(format!("{out}.toml"));
        std::fs::write(&path, toml).unwrap();
        run_ok(&["audit", path.to_str().unwrap(), "-o", base.join(out).to_str().unwrap(), "--quiet"]);
        std::fs::read_to_string(base.join(out).join("summary.csv")).unwrap()
    };
    let original = std::fs::read_to_string(&city).unwrap();
    let plain = audit(&original, "plain");
    // Every demo layer has its own CRS (EPSG:4527): a wrong [city] crs changes nothing.
    let first = original.find("# crs = \"EPSG:4527\"").unwrap();
    let wrong =
        format!("{}crs = \"EPSG:4526\"{}", &original[..first], &original[first + "# crs = \"EPSG:4527\"".len()..]);
    assert_eq!(audit(&wrong, "citycrs"), plain);
    // The areas in GBK without a .cpg: the layer's own encoding reads them.
    let shp = base.join("gbk_areas.shp");
    ogr2ogr(&[
        "-f",
        "ESRI Shapefile",
        "-lco",
        "ENCODING=CP936",
        shp.to_str().unwrap(),
        base.join("built_up_areas.shp").to_str().unwrap(),
    ]);
    std::fs::remove_file(base.join("gbk_areas.cpg")).unwrap();
    let gbk =
        original.replacen("source = \"built_up_areas.shp\"\n", "source = \"gbk_areas.shp\"\nencoding = \"GBK\"\n", 1);
    assert_ne!(gbk, original);
    assert_eq!(audit(&gbk, "gbk"), plain);

    // A layer that states WGS 84 (as GeoJSON always does) is read in it, not in a city's gcj02,
    // and the run says so of that layer alone (the others state their projected CRS).
    let (geojson, shp) = (base.join("areas_wgs84.geojson"), base.join("built_up_areas.shp"));
    ogr2ogr(&["-f", "GeoJSON", "-t_srs", "EPSG:4326", geojson.to_str().unwrap(), shp.to_str().unwrap()]);
    let offset = original.replacen("# crs = \"EPSG:4527\"", "crs = \"gcj02\"", 1).replacen(
        "source = \"built_up_areas.shp\"\n",
        "source = \"areas_wgs84.geojson\"\n",
        1,
    );
    assert_eq!(offset.matches("gcj02\"").count(), original.matches("gcj02\"").count() + 1);
    audit(&offset, "offset");
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(base.join("offset/summary.json")).unwrap()).unwrap();
    let said = |l: &serde_json::Value| l["warnings"].to_string().contains("not in city.crs = \\\"gcj02\\\"");
    let warned: Vec<&str> = summary["layers"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| said(l))
        .map(|l| l["layer"].as_str().unwrap())
        .collect();
    assert!(warned.len() == 1 && warned[0].ends_with("areas_wgs84.geojson#built_up_areas"), "{warned:?}");
    let layer = summary["layers"].as_array().unwrap().iter().find(|l| said(l)).unwrap();
    assert!(layer["warnings"].to_string().contains("set layers.areas.crs = \\\"gcj02\\\""), "{layer}");
    // `check` gives the layers' warnings as the audit does: this one, and parks sharing an id.
    let stdout = run_ok(&["check", base.join("offset.toml").to_str().unwrap()]);
    let warned: Vec<&str> = stdout.lines().filter(|l| l.contains("not in city.crs = \"gcj02\"")).collect();
    assert!(
        warned.len() == 1 && warned[0].starts_with("warning: ") && warned[0].contains("areas_wgs84.geojson"),
        "{stdout}"
    );
    assert!(stdout.ends_with("offset.toml: ok, with 1 warning\n"), "{stdout}");
    let parks = base.join("parks_one_id.geojson");
    let sql = "SELECT geom, 'P' AS park_id, name FROM parks";
    ogr2ogr(&["-f", "GeoJSON", "-sql", sql, parks.to_str().unwrap(), base.join("landuse.gpkg").to_str().unwrap()]);
    let one_id = base.join("one_id.toml");
    let text =
        original.replacen("source = \"landuse.gpkg\"\nlayer = \"parks\"", "source = \"parks_one_id.geojson\"", 1);
    assert_ne!(text, original);
    std::fs::write(&one_id, text).unwrap();
    let stdout = run_ok(&["check", one_id.to_str().unwrap()]);
    assert!(stdout.contains("parks_one_id.geojson#SELECT: 1 id is shared by several parks: 'P' (2 parks)"), "{stdout}");
}

/// `[city] encoding` is for the Shapefiles without a `.cpg`; a layer's own is used over its `.cpg`,
/// and on a layer of another format it is warned of as unused; an encoding the system cannot
/// decode from is a usage error naming its key, before anything is written.
#[test]
fn encodings_apply_where_the_template_says() {
    let dir = tempfile::tempdir().unwrap();
    let city = demo_city(dir.path());
    let base = city.parent().unwrap();
    let original = std::fs::read_to_string(&city).unwrap();
    let with = |from: &str, to: &str, name: &str| {
        let text = original.replacen(from, to, 1);
        assert!(from == to || text != original, "{from}");
        let path = base.join(format!("{name}.toml"));
        std::fs::write(&path, text).unwrap();
        (path.to_str().unwrap().to_string(), base.join(name).to_str().unwrap().to_string())
    };
    let summary = |out: &str| std::fs::read_to_string(Path::new(out).join("summary.csv")).unwrap();
    let (plain, plain_out) = with("", "", "plain");
    run_ok(&["audit", &plain, "-o", &plain_out, "--quiet"]);
    assert!(summary(&plain_out).contains("六安中心城区"));
    // The demo's areas are a GBK Shapefile with a .cpg: a city-wide Latin-1 does not apply to it.
    let city_wide = "Shapefiles that have no .cpg (a layer's own encoding is used over its .cpg).\n";
    let (latin, latin_out) =
        with(&format!("{city_wide}# encoding = \"GBK\""), &format!("{city_wide}encoding = \"LATIN1\""), "latin");
    run_ok(&["audit", &latin, "-o", &latin_out, "--quiet"]);
    assert_eq!(summary(&latin_out), summary(&plain_out));
    // The same Shapefile in a folder, named with or without its layer: its .cpg still holds.
    let folder = base.join("areas_dir");
    std::fs::create_dir(&folder).unwrap();
    for ext in ["shp", "shx", "dbf", "prj", "cpg"] {
        std::fs::copy(base.join(format!("built_up_areas.{ext}")), folder.join(format!("built_up_areas.{ext}")))
            .unwrap();
    }
    let latin_text = std::fs::read_to_string(&latin).unwrap();
    for (source, name) in
        [("source = \"areas_dir\"", "dir"), ("source = \"areas_dir\"\nlayer = \"built_up_areas\"", "dir_layer")]
    {
        let text = latin_text.replacen("source = \"built_up_areas.shp\"", source, 1);
        let (path, out) = (base.join(format!("{name}.toml")), base.join(name));
        std::fs::write(&path, text).unwrap();
        run_ok(&["audit", path.to_str().unwrap(), "-o", out.to_str().unwrap(), "--quiet"]);
        assert_eq!(summary(out.to_str().unwrap()), summary(&plain_out), "{source}");
    }
    // A zipped Shapefile without a .cpg: the encoding given reaches GDAL.
    std::fs::remove_file(folder.join("built_up_areas.cpg")).unwrap();
    let gbk_dbf = base.join("gbk_no_cpg");
    std::fs::create_dir(&gbk_dbf).unwrap();
    ogr2ogr(&[
        "-f",
        "ESRI Shapefile",
        "-lco",
        "ENCODING=CP936",
        gbk_dbf.join("a.shp").to_str().unwrap(),
        base.join("built_up_areas.shp").to_str().unwrap(),
    ]);
    let zip = base.join("areas.shp.zip");
    let script = "import sys, zipfile\nwith zipfile.ZipFile(sys.argv[1], 'w') as z:\n    for e in ['shp', 'shx', 'dbf', 'prj']: z.write(sys.argv[2] + '/a.' + e, 'a.' + e)\n";
    let zipped = std::process::Command::new("python3")
        .args(["-c", script, zip.to_str().unwrap(), gbk_dbf.to_str().unwrap()])
        .status()
        .unwrap();
    assert!(zipped.success());
    let roads = base.join("roads.gpkg");
    let args = ["road-density", "--areas", zip.to_str().unwrap(), "--roads", roads.to_str().unwrap()];
    let zip_out = base.join("zip.geojson");
    run_ok(&[&args[..], &["--encoding", "GBK", "-o", zip_out.to_str().unwrap()]].concat());
    assert!(std::fs::read_to_string(&zip_out).unwrap().contains("六安中心城区"));
    // An encoding on a GeoPackage layer: read as the format defines, and said to be unused.
    let (roads, roads_out) = with("layer = \"roads\"\n", "layer = \"roads\"\nencoding = \"GBK\"\n", "roads");
    run_ok(&["audit", &roads, "-o", &roads_out, "--quiet"]);
    assert_eq!(summary(&roads_out), summary(&plain_out));
    let json = std::fs::read_to_string(Path::new(&roads_out).join("summary.json")).unwrap();
    assert!(json.contains("the encoding GBK given is for a Shapefile's .dbf; this GeoPackage layer"), "{json}");
    // An encoding iconv does not know: exit 2 naming the key, and no output.
    let (typo, typo_out) = with("# encoding = \"GBK\"\nfields = { id", "encoding = \"GBKK\"\nfields = { id", "typo");
    run_err(&["audit", &typo, "-o", &typo_out], 2, &["layers.areas.encoding = \"GBKK\" is not an encoding"]);
    assert!(!Path::new(&typo_out).exists());
    run_err(&["check", &typo], 2, &["layers.areas.encoding"]);
    let (empty, _) = with(&format!("{city_wide}# encoding = \"GBK\""), &format!("{city_wide}encoding = \"\""), "empty");
    run_err(&["check", &empty], 2, &["city.encoding is empty"]);
    // Field names in GBK without a .cpg: the hint names the city file's key, not an option.
    let gbk = base.join("named_gbk.shp");
    let sql = "SELECT id AS \"编号\", name, kind FROM built_up_areas";
    let (from, to) = (base.join("built_up_areas.shp"), gbk.to_str().unwrap());
    ogr2ogr(&["-f", "ESRI Shapefile", "-lco", "ENCODING=CP936", "-sql", sql, to, from.to_str().unwrap()]);
    std::fs::remove_file(base.join("named_gbk.cpg")).unwrap();
    let (named, named_out) = with(
        "source = \"built_up_areas.shp\"\n# layer = \"built_up_areas\"\n# where = \"kind IS NOT NULL\"\n# crs = \"EPSG:4527\"\n# encoding = \"GBK\"\nfields = { id = \"id\"",
        "source = \"named_gbk.shp\"\nfields = { id = \"编号\"",
        "named",
    );
    for cmd in ["check", "audit"] {
        let stderr = run_err(
            &[cmd, &named, "-o", &named_out][..if cmd == "check" { 2 } else { 4 }],
            1,
            &["names that do not decode", "encoding = \"GBK\"", "layers.areas.fields.id"],
        );
        assert!(!stderr.contains("--encoding"), "{stderr}");
    }
    let (shp, roads, out) = (base.join("built_up_areas.shp"), base.join("roads.gpkg"), base.join("x.geojson"));
    let args = ["road-density", "--areas", shp.to_str().unwrap(), "--roads", roads.to_str().unwrap()];
    for (encoding, words) in
        [("FOO", "the encoding 'FOO' (--encoding) is not one"), ("", "the encoding '' (--encoding)")]
    {
        let args = [&args[..], &["--encoding", encoding, "-o", out.to_str().unwrap()]].concat();
        run_err(&args, 2, &[words]);
    }
}

/// summary.json names the city file by its absolute path and every output by its path in the output
/// folder: run from the city's folder with relative paths, it reads the same from anywhere, and
/// moves with its folder.
#[test]
fn summary_paths_resolve_from_anywhere() {
    let dir = tempfile::tempdir().unwrap();
    let city = demo_city(dir.path());
    let folder = city.parent().unwrap();
    let o = bin().current_dir(folder).args(["audit", "city.toml", "-o", "out", "--quiet"]).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let moved = dir.path().join("moved");
    std::fs::rename(folder.join("out"), &moved).unwrap();
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(moved.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["config"], city.display().to_string());
    let mut lists = vec![&summary["outputs"]];
    lists.extend(["road_density", "park_mix", "living_circle"].map(|i| &summary["indicators"][i]["outputs"]));
    for list in lists {
        let paths = list.as_array().unwrap();
        assert!(!paths.is_empty());
        for p in paths.iter().map(|p| p.as_str().unwrap()) {
            assert!(!p.starts_with('/') && !p.starts_with("out/"), "{p}");
            assert!(moved.join(p).is_file(), "{p} is not in the moved folder");
        }
    }
    assert!(summary["outputs"].as_array().unwrap().iter().any(|p| p == "styles/road_density.qml"));
}

/// A dataset that does not open, a layer not found, a filter refused or matching nothing: the
/// error names the city file's key that set it (the land use and the homes read one dataset).
#[test]
fn layer_errors_name_the_keys_that_set_them() {
    let dir = tempfile::tempdir().unwrap();
    let city = demo_city(dir.path());
    let original = std::fs::read_to_string(&city).unwrap();
    let homes = "dlbm IN ('0701', '070101', '070102', '0703')";
    for (from, to, words) in [
        (
            "source = \"built_up_areas.shp\"",
            "source = \"no_areas.shp\"",
            "no such file (set by layers.areas.source in ",
        ),
        (
            "layer = \"roads\"",
            "layer = \"roadz\"",
            "no layer named 'roadz'; layers: roads (set by layers.roads.layer in ",
        ),
        (homes, "dlbm = 'zzz'", "no feature matches the filter \"dlbm = 'zzz'\" (set by layers.origins.where in "),
        (homes, "dlbmx = 'zzz'", "(set by layers.origins.where in "),
        ("layer = \"parks\"\n", "", "landuse.gpkg#LAYER (give layers.parks.layer in "),
        (
            "source = \"roads.gpkg\"\nlayer = \"roads\"",
            "source = \"roads.gpkg#roadz\"",
            "no layer named 'roadz'; layers: roads (set by layers.roads.source in ",
        ),
    ] {
        let text = original.replacen(from, to, 1);
        assert_ne!(text, original, "{from}");
        let path = city.with_file_name("e.toml");
        std::fs::write(&path, text).unwrap();
        let out = dir.path().join("out");
        run_err(&["check", path.to_str().unwrap()], 1, &[words, "e.toml)"]);
        run_err(&["audit", path.to_str().unwrap(), "-o", out.to_str().unwrap(), "-q"], 1, &[words]);
    }
}

/// Straight-line coverage (`method = "buffer"`) is labelled as such wherever the audit states it:
/// the summary rows (so that a batch's combined table does not mix it with walking coverage), the
/// printout and the report, which states the living circle's method either way.
#[test]
fn buffer_coverage_is_labelled_in_every_summary() {
    let dir = tempfile::tempdir().unwrap();
    let city = demo_city(dir.path());
    let text = std::fs::read_to_string(&city).unwrap();
    let buffer = city.with_file_name("buffer.toml");
    std::fs::write(&buffer, text.replacen("method = \"network\"", "method = \"buffer\"", 1)).unwrap();
    let (net_out, buf_out) = (dir.path().join("network"), dir.path().join("buffer"));
    let net_stdout = run_ok(&["audit", city.to_str().unwrap(), "-o", net_out.to_str().unwrap()]);
    let buf_stdout = run_ok(&["audit", buffer.to_str().unwrap(), "-o", buf_out.to_str().unwrap()]);
    let csv = |out: &Path| std::fs::read_to_string(out.join("summary.csv")).unwrap();
    let report = |out: &Path| std::fs::read_to_string(out.join("report.html")).unwrap();
    for tier in [5, 10, 15] {
        let (name, zh) = (format!("living_circle_{tier}min"), format!("{tier}分钟生活圈覆盖率"));
        assert!(csv(&net_out).contains(&format!(",{name},{zh},city,")), "{}", csv(&net_out));
        assert!(csv(&buf_out).contains(&format!(",{name}_buffer,{zh}（直线距离）,city,")), "{}", csv(&buf_out));
        assert!(net_stdout.contains(&format!("\n{name}\t")) && !net_stdout.contains("_buffer"), "{net_stdout}");
        assert!(buf_stdout.contains(&format!("\n{name}_buffer\t")), "{buf_stdout}");
    }
    assert!(!csv(&net_out).contains("buffer") && !csv(&net_out).contains("直线"));
    assert!(report(&buf_out).contains("15-minute living circle coverage, by straight-line distance"));
    assert!(report(&buf_out).contains("Living circle:</b> buffer: straight-line distance"));
    assert!(report(&net_out).contains("Living circle:</b> network: walking distance"));
    assert!(!report(&net_out).contains("straight-line"));
}

/// An audit into a folder of an earlier one removes the earlier layers and styles it does not
/// write itself: every map in the folder belongs to its summary.
#[test]
fn earlier_layers_not_written_again_are_removed() {
    let dir = tempfile::tempdir().unwrap();
    let city = demo_city(dir.path());
    let out = dir.path().join("out");
    run_ok(&["audit", city.to_str().unwrap(), "-o", out.to_str().unwrap(), "--quiet"]);
    assert!(out.join("wide_roads.geojson").exists() && out.join("styles/road_density_grid.qml").exists());
    // A user file of the same kind stays.
    std::fs::write(out.join("notes.geojson"), "{}").unwrap();
    let text = std::fs::read_to_string(&city).unwrap();
    let narrower = text
        .replace("fields = { grade = \"grade\", width = \"width_m\" }", "fields = { grade = \"grade\" }")
        .replace("grid_m = 500", "# grid_m = 500");
    assert_ne!(narrower, text);
    let other = city.with_file_name("narrower.toml");
    std::fs::write(&other, narrower).unwrap();
    let stdout = run_ok(&["audit", other.to_str().unwrap(), "-o", out.to_str().unwrap(), "--quiet"]);
    assert!(stdout.contains("removed") && stdout.contains("wide_roads.geojson"), "{stdout}");
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    let listed: Vec<String> =
        summary["outputs"].as_array().unwrap().iter().map(|p| p.as_str().unwrap().to_string()).collect();
    for f in walk(&out) {
        let name = f.file_name().unwrap().to_str().unwrap().to_string();
        if name == "notes.geojson" {
            continue;
        }
        assert!(listed.iter().any(|l| l.ends_with(&name)), "{name} is not in the summary's outputs");
    }
    for gone in [
        "wide_roads.geojson",
        "road_density_grid.geojson",
        "styles/wide_roads.qml",
        "styles/road_density_grid.maplibre.json",
    ] {
        assert!(!out.join(gone).exists(), "{gone}");
    }
    assert!(out.join("notes.geojson").exists() && out.join("road_density.geojson").exists());
}

#[test]
fn config_errors_name_key_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let city = demo_city(dir.path());
    let original = std::fs::read_to_string(&city).unwrap();
    let bad = dir.path().join("demo_city/bad.toml");
    let out = dir.path().join("o");
    let cases: Vec<(String, i32, Vec<&str>)> = vec![
        (original.replace("[road_density]", "[road_density]\ncolour = \"red\""), 2, vec!["bad.toml", "colour", "line"]),
        (original.replace("grid_m = 500", "grid_m = \"fine\""), 2, vec!["bad.toml", "grid_m", "line"]),
        (original.replace("measure = \"ellipsoidal\"", "measure = \"flat\""), 2, vec!["city.measure", "flat"]),
        (
            original.replace("source = \"roads.gpkg\"", "source = \"nowhere.gpkg\""),
            1,
            vec!["nowhere.gpkg", "no such file"],
        ),
        (original.replace("layer = \"roads\"", "layer = \"streets\""), 1, vec!["no layer named 'streets'", "roads"]),
        (original.replace("grade = \"grade\"", "grade = \"dj\""), 1, vec!["no field 'dj'", "grade, width_m"]),
        (original.replace("fields = { grade", "fields = { colour = \"x\", grade"), 2, vec!["unknown role 'colour'"]),
        // Options of the later indicators and their tables: found before anything is written.
        (original.replace("classes = \"tdt2023\"", "classes = \"tdt2024\""), 2, vec!["bad.toml", "tdt2024"]),
        (original.replace("band = [20, 30]", "band = [30, 20]"), 2, vec!["bad.toml", "park_mix.band 30-20"]),
        (
            original.replace("band = [20, 30]", "band = [0.2, 0.3]"),
            2,
            vec!["bad.toml", "park_mix.band 0.2-0.3", "given as shares, e.g. band = [20, 30]"],
        ),
        (
            original.replace("snap = \"edge\"", "snap = \"nodes\""),
            2,
            vec!["bad.toml", "living_circle.snap", "\"nodes\""],
        ),
        (
            original.replace("walk_speed_m_per_min = 60", "walk_speed_m_per_min = 0"),
            2,
            vec!["bad.toml", "living_circle.walk_speed_m_per_min 0"],
        ),
        (original.replace("grid_m = 500", "grid_m = 1"), 2, vec!["bad.toml", "road_density.grid_m 1"]),
        (original.replace("measure = \"ellipsoidal\"", "measure = \"planar\""), 2, vec!["bad.toml", "planar_crs"]),
        // A planar CRS the audit would refuse, refused by `check` too, in the city file's words.
        (
            original.replace("# planar_crs = \"EPSG:4527\"", "planar_crs = \"EPSG:4527\""),
            2,
            vec!["bad.toml", "planar_crs = \"EPSG:4527\" is only used with measure = \"planar\""],
        ),
        (
            original.replace("measure = \"ellipsoidal\"", "measure = \"planar\"\nplanar_crs = \"EPSG:4326\""),
            2,
            vec!["bad.toml", "city.planar_crs EPSG:4326 is not a projected CRS"],
        ),
        (
            original.replace("measure = \"ellipsoidal\"", "measure = \"planar\"\nplanar_crs = \"EPSG:3857\""),
            2,
            vec!["bad.toml", "city.planar_crs EPSG:3857", "true to scale"],
        ),
        // A CRS PROJ cannot use, named by its key, whichever key gives it.
        (
            original.replace("measure = \"ellipsoidal\"", "measure = \"ellipsoidal\"\ncrs = \"EPSG:999999\""),
            2,
            vec!["bad.toml: city.crs = \"EPSG:999999\": PROJ cannot use it"],
        ),
        (
            original
                .replace("source = \"built_up_areas.shp\"", "source = \"built_up_areas.shp\"\ncrs = \"EPSG:999999\""),
            2,
            vec!["bad.toml: layers.areas.crs = \"EPSG:999999\": PROJ cannot use it"],
        ),
        (
            original.replace("layer = \"facilities\"", "layer = \"facilities\"\ncrs = \"foo\""),
            2,
            vec!["bad.toml: layers.facilities.crs = \"foo\": not a CRS definition"],
        ),
        (
            original.replace("measure = \"ellipsoidal\"", "measure = \"planar\"\nplanar_crs = \"EPSG:999999\""),
            2,
            vec!["bad.toml: city.planar_crs = \"EPSG:999999\": PROJ cannot use it"],
        ),
        (
            original.replace("coverage_targets = { \"15\" = 0.8 }", "coverage_targets = { \"15min\" = 0.8 }"),
            2,
            vec!["bad.toml", "'15min' is no tier", "5, 10, 15"],
        ),
        (
            original.replace("coverage_targets = { \"15\" = 0.8 }", "coverage_targets = { \"15\" = 80 }"),
            2,
            vec!["bad.toml", "not a share from 0 to 1"],
        ),
    ];
    for (text_, code, words) in cases {
        assert_ne!(text_, original, "{words:?}");
        std::fs::write(&bad, &text_).unwrap();
        let _ = std::fs::remove_dir_all(&out);
        let audit = run_err(&["audit", bad.to_str().unwrap(), "-o", out.to_str().unwrap()], code, &words);
        if code == 2 {
            assert!(!out.exists(), "{words:?}: nothing is written");
        }
        let check = run_err(&["check", bad.to_str().unwrap()], code, &words);
        // A city file's options are named as its keys, never as command-line options.
        for stderr in [audit, check] {
            assert!(!stderr.contains(" --"), "{words:?}: a command-line option named:\n{stderr}");
        }
    }
    run_err(&["audit", "/nonexistent/city.toml", "-o", out.to_str().unwrap()], 1, &["/nonexistent/city.toml"]);
}

/// A layer without a CRS (a Shapefile without its .prj) or in a local grid is named with the
/// city-file key that gives it one, by the audit as by `check`.
#[test]
fn layer_without_crs_names_its_key() {
    let dir = tempfile::tempdir().unwrap();
    let city = demo_city(dir.path());
    let city = city.to_str().unwrap();
    let prj = dir.path().join("demo_city/built_up_areas.prj");
    let out = dir.path().join("o");
    std::fs::remove_file(&prj).unwrap();
    let no_crs = ["built_up_areas.shp", "no coordinate reference system; give one with layers.areas.crs"];
    let local = ["built_up_areas.shp", "'grid' is a local grid", "really in with layers.areas.crs"];
    for (prj_text, words) in [(None, &no_crs[..]), (Some(r#"LOCAL_CS["grid",UNIT["metre",1]]"#), &local[..])] {
        if let Some(t) = prj_text {
            std::fs::write(&prj, t).unwrap();
        }
        let audit = run_err(&["audit", city, "-o", out.to_str().unwrap()], 1, words);
        let check = run_err(&["check", city], 1, words);
        for stderr in [audit, check] {
            assert!(!stderr.contains(" --"), "{words:?}: a command-line option named:\n{stderr}");
        }
    }
}

#[test]
fn refuses_to_overwrite_an_input() {
    let dir = tempfile::tempdir().unwrap();
    let city = demo_city(dir.path());
    // A roads layer named like an output, audited into its own folder.
    let text_ = std::fs::read_to_string(&city)
        .unwrap()
        .replace("source = \"roads.gpkg\"\nlayer = \"roads\"", "source = \"road_density.geojson\"");
    let cdir = dir.path().join("demo_city");
    std::fs::copy(dir.path().join("road_density.geojson"), cdir.join("road_density.geojson")).unwrap();
    let bad = cdir.join("clash.toml");
    std::fs::write(&bad, text_).unwrap();
    let before = std::fs::read(cdir.join("road_density.geojson")).unwrap();
    run_err(&["audit", bad.to_str().unwrap(), "-o", cdir.to_str().unwrap()], 2, &["would overwrite the input"]);
    assert_eq!(std::fs::read(cdir.join("road_density.geojson")).unwrap(), before);
}

/// Progress on stderr: a line per step when stderr is a terminal (a pseudo-terminal from
/// util-linux `script`), nothing with --quiet, nothing when stderr is a file or a pipe.
#[test]
fn progress_only_on_a_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let city = demo_city(dir.path());
    let out = dir.path().join("p");
    let bin = env!("CARGO_BIN_EXE_planaudit");
    let on_tty = |extra: &str| {
        let cmd = format!("{bin} audit {} -o {} {extra} > /dev/null", city.display(), out.display());
        let o = std::process::Command::new("script")
            .args(["-qec", &cmd, "/dev/null"])
            .output()
            .expect("script (util-linux) runs");
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    let shown = on_tty("");
    for step in ["1/4 road network density", "2/4 industrial-park land mix", "3/4 15-minute living circle", "4/4 done"]
    {
        assert!(shown.contains(step), "{step} not in {shown:?}");
    }
    assert!(!on_tty("--quiet").contains("1/4"));
    let piped = run(&["audit", city.to_str().unwrap(), "-o", out.to_str().unwrap()]);
    assert!(!String::from_utf8_lossy(&piped.stderr).contains("1/4"));
}

/// An audit reads the road layer once for road density and the living circle (the city file
/// names it for both), and each indicator still sees the fields it asked for: the outputs are
/// those of the single commands run on their own.
#[test]
fn audit_reads_a_shared_layer_once() {
    let dir = tempfile::tempdir().unwrap();
    let city = demo_city(dir.path());
    let out = dir.path().join("audit");
    let o = bin()
        .args(["audit", city.to_str().unwrap(), "-o", out.to_str().unwrap()])
        .env("PLANAUDIT_TIMINGS", "1")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let stderr = String::from_utf8_lossy(&o.stderr);
    let reads = |layer: &str| stderr.lines().filter(|l| l.starts_with("timing\tread ") && l.contains(layer)).count();
    assert_eq!(reads("roads.gpkg#roads"), 1, "{stderr}");
    // The land-use layer is read for park mix and, filtered, for the homes: two different reads.
    assert_eq!(reads("landuse.gpkg#landuse"), 2, "{stderr}");
    // Every stage line: its wall time, when it ended, resident and peak memory, and the CPU time
    // the process used while it ran, which for a stage holds that of the stages inside it.
    let stages: Vec<(&str, f64)> = stderr
        .lines()
        .filter(|l| l.starts_with("timing\t"))
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            assert_eq!(f.len(), 7, "{l}");
            let cpu: f64 = f[6].parse().unwrap_or_else(|_| panic!("CPU seconds in {l}"));
            assert!(cpu >= 0.0, "{l}");
            (f[1], cpu)
        })
        .collect();
    let cpu_of = |stage: &str| stages.iter().find(|(s, _)| s.starts_with(stage)).map(|&(_, c)| c).unwrap();
    let indicator = cpu_of("indicator road_density");
    assert!(indicator > 0.0, "{stderr}");
    assert!(indicator + 0.0015 >= cpu_of("compute road_density"), "{stderr}");

    // The same numbers as road density run on its own (which reads the roads itself).
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    let demo = city.parent().unwrap();
    let alone = dir.path().join("alone.geojson");
    run_ok(&[
        "road-density",
        "--roads",
        demo.join("roads.gpkg#roads").to_str().unwrap(),
        "--areas",
        demo.join("built_up_areas.shp").to_str().unwrap(),
        "--grade-field",
        "grade",
        "--width-field",
        "width_m",
        "--grid",
        "500",
        "-o",
        alone.to_str().unwrap(),
    ]);
    let a = read_collection(&alone);
    let b = read_collection(&out.join("road_density.geojson"));
    assert_eq!(a.features.len(), b.features.len());
    for (fa, fb) in a.features.iter().zip(&b.features) {
        assert_eq!(fa.properties, fb.properties);
    }
    assert!(summary["rows"].as_array().is_some_and(|r| !r.is_empty()));
}

/// Road density and the living circle read one road layer in an audit, and that layer must be
/// projected (OpenStreetMap in longitude/latitude): read once, and each indicator's outputs are
/// byte for byte those of an audit running it alone (which reads the layer for itself).
#[test]
fn audit_shares_a_layer_it_projects() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let li = shared("osm/liechtenstein-2015.osm.pbf");
    let areas = format!(
        "[city]\nname = \"Liechtenstein\"\n[layers.areas]\nsource = \"{li}\"\nlayer = \"multipolygons\"\n\
         where = \"boundary='administrative' AND admin_level='8'\"\nfields = {{ id = \"osm_id\", name = \"name\" }}\n\
         [layers.roads]\nsource = \"{li}\"\nlayer = \"lines\"\nwhere = \"highway IS NOT NULL\"\n",
        li = li.display()
    );
    let density = "[road_density]\ngrades = \"osm\"\ntargets = { \"*\" = 3.0 }\n";
    let circle = format!(
        "[layers.origins]\nsource = \"{li}\"\nlayer = \"multipolygons\"\nwhere = \"landuse = 'residential'\"\n\
         [[layers.facilities]]\nsource = \"{li}\"\nlayer = \"points\"\n[living_circle]\n",
        li = li.display()
    );
    let audit = |name: &str, text: String| {
        let city = d.join(format!("{name}.toml"));
        std::fs::write(&city, text).unwrap();
        let out = d.join(name);
        let o = bin()
            .args(["audit", city.to_str().unwrap(), "-o", out.to_str().unwrap()])
            .env("PLANAUDIT_TIMINGS", "1")
            .output()
            .unwrap();
        assert!(o.status.success(), "{name}: {}", String::from_utf8_lossy(&o.stderr));
        (out, String::from_utf8_lossy(&o.stderr).into_owned())
    };
    let (both, stderr) = audit("both", format!("{areas}{density}{circle}"));
    let road_reads = stderr.lines().filter(|l| l.starts_with("timing\tread ") && l.contains("#lines")).count();
    assert_eq!(road_reads, 1, "{stderr}");
    let (alone_density, _) = audit("density", format!("{areas}{density}"));
    let (alone_circle, _) = audit("circle", format!("{areas}{circle}"));
    for (alone, file) in [
        (&alone_density, "road_density.geojson"),
        (&alone_circle, "living_circle.geojson"),
        (&alone_circle, "living_circle_gaps.geojson"),
    ] {
        let a = std::fs::read(alone.join(file)).unwrap();
        assert!(a.len() > 1000, "{file} holds features");
        assert!(a == std::fs::read(both.join(file)).unwrap(), "{file} differs when the roads are shared");
    }
}

/// An audit that fails part-way removes the earlier summaries (it says so) but keeps the record of
/// what the earlier audit wrote, so that the next complete audit still removes the layers no
/// longer its own. A city file that configures no indicator is refused before anything goes.
#[test]
fn failed_audit_keeps_the_record_of_earlier_outputs() {
    let dir = tempfile::tempdir().unwrap();
    let city = demo_city(dir.path());
    let out = dir.path().join("o");
    let audit = |cfg: &Path| run(&["audit", cfg.to_str().unwrap(), "-o", out.to_str().unwrap()]);
    assert!(matches!(audit(&city).status.code(), Some(0 | 3)));
    assert!(out.join("living_circle.geojson").exists() && out.join("summary.json").exists());

    // Nothing to audit: refused, and the earlier summaries stay.
    let none = dir.path().join("demo_city/none.toml");
    let text = std::fs::read_to_string(&city).unwrap();
    let layers_only: String = text.split("\n[road_density]").next().unwrap().to_string();
    std::fs::write(&none, &layers_only).unwrap();
    run_err(&["audit", none.to_str().unwrap(), "-o", out.to_str().unwrap()], 2, &["configures no indicator"]);
    assert!(out.join("summary.json").exists() && out.join("report.html").exists());

    // The facilities gone: the living circle fails after the other indicators wrote.
    let facilities = dir.path().join("demo_city/facilities.gpkg");
    std::fs::rename(&facilities, dir.path().join("away.gpkg")).unwrap();
    let stderr = String::from_utf8_lossy(&audit(&city).stderr).into_owned();
    assert!(stderr.contains("removed the earlier audit's") && stderr.contains("summary.json"), "{stderr}");
    assert!(!out.join("summary.json").exists() && !out.join("report.html").exists());
    std::fs::rename(dir.path().join("away.gpkg"), &facilities).unwrap();

    // Without the living circle: its earlier layers and styles go, and so does the record.
    let no_lc = dir.path().join("demo_city/no_lc.toml");
    let cut = text.find("\n# Homes:").expect("the template's living-circle part");
    std::fs::write(&no_lc, &text[..cut]).unwrap();
    assert!(matches!(audit(&no_lc).status.code(), Some(0 | 3)));
    for gone in ["living_circle.geojson", "living_circle_gaps.geojson", "styles/living_circle.qml"] {
        assert!(!out.join(gone).exists(), "{gone} is an earlier audit's");
    }
    assert!(out.join("road_density.geojson").exists() && out.join("summary.json").exists());
    assert!(!out.join(".planaudit-earlier-outputs.json").exists());
}

/// Data errors of a city-file run name the city file's keys too, in `audit` and `check`: a
/// snapping distance no home is within, a Shapefile whose text needs an encoding.
#[test]
fn data_errors_name_city_file_keys() {
    let dir = tempfile::tempdir().unwrap();
    let city = demo_city(dir.path());
    let out = dir.path().join("o");
    let text = std::fs::read_to_string(&city).unwrap();
    let snap = dir.path().join("demo_city/snap.toml");
    std::fs::write(&snap, text.replace("max_snap_m = 500", "max_snap_m = 0.001")).unwrap();
    let stderr = run_err(
        &["audit", snap.to_str().unwrap(), "-o", out.to_str().unwrap()],
        1,
        &["farther than living_circle.max_snap_m 0.001 m", "raise living_circle.max_snap_m"],
    );
    assert!(!stderr.contains(" --"), "{stderr}");
    // A missing field names the key of the layer that lacks it, not of another layer naming the
    // same field.
    let origins_id = dir.path().join("demo_city/origins_id.toml");
    let with_id = text.replacen("fields = { id = \"parcel_id\" }", "fields = { id = \"id\" }", 1);
    assert_ne!(with_id, text);
    std::fs::write(&origins_id, with_id).unwrap();
    let stderr =
        run_err(&["check", origins_id.to_str().unwrap()], 1, &["no field 'id'", "(set by layers.origins.fields.id in"]);
    assert!(!stderr.contains("layers.areas"), "{stderr}");
    // A folder whose name holds an option: the path is quoted as it is.
    let odd = dir.path().join("county --mix");
    std::fs::create_dir(&odd).unwrap();
    for e in std::fs::read_dir(dir.path().join("demo_city")).unwrap().flatten() {
        std::fs::copy(e.path(), odd.join(e.file_name())).unwrap();
    }
    std::fs::write(odd.join("facilities.gpkg"), "not a GeoPackage").unwrap();
    run_err(&["check", odd.join("city.toml").to_str().unwrap()], 1, &["county --mix/facilities.gpkg"]);
    std::fs::remove_file(dir.path().join("demo_city/built_up_areas.cpg")).unwrap();
    for args in
        [vec!["audit", city.to_str().unwrap(), "-o", out.to_str().unwrap()], vec!["check", city.to_str().unwrap()]]
    {
        let stderr = run_err(&args, 1, &["built_up_areas.shp", "with encoding = \"GBK\""]);
        assert!(!stderr.contains(" --"), "{stderr}");
    }
}

/// An OpenStreetMap city file for Liechtenstein: every indicator, OSM presets; `grades` as given.
fn liechtenstein_city(dir: &Path, grades: &str) -> std::path::PathBuf {
    let li = shared("osm/liechtenstein-2015.osm.pbf");
    let layer = |name: &str, layer: &str, filter: &str, fields: &str| {
        let filter = if filter.is_empty() { String::new() } else { format!("where = \"{filter}\"\n") };
        format!("[{name}]\nsource = \"{}\"\nlayer = \"{layer}\"\n{filter}fields = {{ {fields} }}\n", li.display())
    };
    let text = [
        "[city]\nname = \"Liechtenstein\"\n".to_string(),
        layer(
            "layers.areas",
            "multipolygons",
            "boundary='administrative' AND admin_level='8'",
            "id = \"osm_id\", name = \"name\"",
        ),
        layer("layers.roads", "lines", "highway IS NOT NULL", "grade = \"highway\""),
        format!("[road_density]\ngrades = \"{grades}\"\ntargets = {{ \"*\" = 3.0 }}\n"),
        layer("layers.landuse", "multipolygons", "landuse IS NOT NULL", "class = \"landuse\""),
        "[park_mix]\nclasses = \"osm\"\nparks_from_class = \"industrial\"\n".to_string(),
        layer("layers.origins", "multipolygons", "landuse = 'residential'", "id = \"osm_way_id\""),
        layer("[layers.facilities]", "points", "", "type = \"amenity,shop,leisure,social_facility\""),
        "[living_circle]\nfacility_types = \"osm\"\ntiers = \"osm\"\nmax_snap_m = 500\n".to_string(),
    ]
    .concat();
    let city = dir.join(format!("li_{grades}.toml"));
    std::fs::write(&city, text).unwrap();
    city
}

/// What the figures alone do not tell reaches stderr, summary.json, the report and a batch: roads
/// of grades the table does not know (a Chinese table on OSM data), homes no walk reaches, needs no
/// facility meets, parks that parcels overlap; the report's layer table shows the flagged features too.
#[test]
fn audit_warns_of_unknown_grades_unreachable_homes_and_needs_without_facilities() {
    let dir = tempfile::tempdir().unwrap();
    let city = liechtenstein_city(dir.path(), "cn");
    let out = dir.path().join("out");
    let o = run(&["audit", city.to_str().unwrap(), "-o", out.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{stderr}");
    let warnings = summary_warnings(&out);
    let report = std::fs::read_to_string(out.join("report.html")).unwrap();
    let has = |words: &[&str]| {
        let w = warnings.iter().find(|w| words.iter().all(|x| w.contains(x)));
        assert!(w.is_some(), "no warning with {words:?}: {warnings:#?}");
        let w = w.unwrap();
        assert!(stderr.contains(w), "stderr lacks {w}: {stderr}");
        // The report lists a layer's warnings under its name, which the warning does not repeat.
        let shown = w.split_once(": ").filter(|(layer, _)| layer.contains('#')).map_or(w.as_str(), |(_, rest)| rest);
        assert!(report.contains(&shown.replace('\'', "&#39;")), "the report lacks {shown}");
        assert!(!report.contains(&w.replace('\'', "&#39;")) || shown == w, "the report repeats the layer of {w}");
    };
    // With the cn table only OSM's secondary roads are known (an English alias): most of the
    // length is not counted.
    has(&["km of roads inside the areas", "have grades the table 'cn' does not know", "'residential'"]);
    has(&["of ", "homes are farther than 500 m from every walkable road"]);
    has(&["need 'elderly_care'", "no facility of its types", "15-minute tier covers no home"]);
    // A park whose industrial parcels lie under residential ones: all mix by overlap.
    has(&["parcels overlap on 10% or more of 1 park(s): ", "as mix land when one of them is of the mix"]);
    // Unknown land-use codes are flagged, and the report's layer table says so.
    assert!(report.contains("标记 flagged, "), "flagged features are in the report's layer table");
    // The map styles of layers derived from OpenStreetMap carry its attribution in their source,
    // where a map shows it.
    for layer in ["road_density", "park_mix", "living_circle"] {
        let style: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(out.join(format!("styles/{layer}.maplibre.json"))).unwrap())
                .unwrap();
        assert_eq!(style["sources"][layer]["attribution"], "© OpenStreetMap contributors", "{layer}");
        assert_eq!(
            style["layers"],
            serde_json::from_str::<serde_json::Value>(maplibre(layer).unwrap()).unwrap()["layers"]
        );
    }
    // With the table that fits, every grade is known.
    let fits = liechtenstein_city(dir.path(), "osm");
    let o = run(&["audit", fits.to_str().unwrap(), "-o", dir.path().join("out2").to_str().unwrap()]);
    assert!(!String::from_utf8_lossy(&o.stderr).contains("does not know"), "{}", String::from_utf8_lossy(&o.stderr));
}

/// `check` counts the features of a layer as the audit does: facilities without a type skipped,
/// the repairs of features skipped later not counted (OSM multipolygons: six repaired, all without
/// a type), types the table does not know listed; the audit's examples of such repairs say that
/// their features were skipped.
#[test]
fn check_counts_the_layers_as_the_audit_does() {
    let dir = tempfile::tempdir().unwrap();
    let city = liechtenstein_city(dir.path(), "osm");
    let text = std::fs::read_to_string(&city).unwrap();
    let points = text.find("[[layers.facilities]]").unwrap();
    let end = text[points..].find("[living_circle]").unwrap() + points;
    let polygons = text[points..end].replace("layer = \"points\"", "layer = \"multipolygons\"");
    std::fs::write(&city, format!("{}{polygons}{}", &text[..end], &text[end..])).unwrap();
    let stdout = run_ok(&["check", city.to_str().unwrap()]);
    let out = dir.path().join("out");
    run_ok(&["audit", city.to_str().unwrap(), "-o", out.to_str().unwrap(), "--quiet"]);
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    let mut compared = 0;
    for line in stdout.lines().filter(|l| l.starts_with("layers.facilities") || l.starts_with("layers.areas")) {
        let (label, counts) = line.split_once(": ").unwrap().1.split_once(" — ").unwrap();
        let numbers: Vec<u64> = counts.split([' ', ',', ';']).filter_map(|w| w.parse().ok()).collect();
        let role = if line.starts_with("layers.areas") { "areas" } else { "facilities" };
        let layer = summary["layers"].as_array().unwrap().iter().find(|l| l["layer"] == label && l["role"] == role);
        let layer = layer.unwrap_or_else(|| panic!("{label} {role} not in the summary"));
        let skipped: u64 = layer["skipped"].as_object().unwrap().values().map(|v| v.as_u64().unwrap()).sum();
        let audit = [&layer["read"], &layer["used"], &layer["repaired"]].map(|v| v.as_u64().unwrap());
        assert_eq!(numbers[..4], [audit[0], audit[1], audit[2], skipped], "{line}\n{layer}");
        compared += 1;
    }
    assert_eq!(compared, 3, "{stdout}");
    assert!(
        stdout.contains("layers.facilities[1]: ")
            && stdout.contains("9902 features read, 377 usable, 0 repaired, 9525 skipped"),
        "{stdout}"
    );
    assert!(
        stdout.contains("  skipped 9525: no value in the type field(s) amenity, shop, leisure, social_facility"),
        "{stdout}"
    );
    assert!(
        stdout.contains(
            "  facilities of types the table does not know (not routed): 232 in 30 types: 'amenity=parking' (128)"
        ),
        "{stdout}"
    );
    let examples = summary["layers"].to_string();
    assert!(
        examples.contains("duplicate consecutive vertices removed (then skipped: no value in the type field(s)"),
        "{examples}"
    );
}

/// A figure next to a verdict is shown with the digits that put it on the side of the target its
/// verdict says: Ruggell's density of 3.079959 against 3.08 is "3.07996 … NO", not "3.080 … NO".
#[test]
fn figures_near_the_target_show_the_digits_of_their_verdict() {
    let dir = tempfile::tempdir().unwrap();
    let city = liechtenstein_city(dir.path(), "osm");
    let text = std::fs::read_to_string(&city).unwrap();
    std::fs::write(&city, text.replace("targets = { \"*\" = 3.0 }", "targets = { \"*\" = 3.08 }")).unwrap();
    let out = dir.path().join("out");
    let stdout = run_ok(&["audit", city.to_str().unwrap(), "-o", out.to_str().unwrap()]);
    // The headline's counts add up: rows without a target are counted apart.
    let headline = stdout.lines().next().unwrap();
    // A count of one is of a "target", of others of "targets".
    let n = |words: &str| -> usize {
        let (many, one) = (words, words.replacen("targets", "target", 1));
        let count = |word: &str| {
            headline
                .split(word)
                .next()
                .filter(|b| b.len() < headline.len())
                .map(|b| b.rsplit(' ').next().unwrap().parse::<usize>().unwrap())
        };
        match (count(many), count(&one)) {
            (Some(n), _) => {
                assert!(n != 1, "{headline}");
                n
            }
            (None, Some(1)) => 1,
            _ => panic!("{words}: {headline}"),
        }
    };
    let (rows, met, missed, untargeted) =
        (n(" indicator rows"), n(" targets met"), n(" targets missed"), n(" without a target"));
    assert!(untargeted > 0 && missed > 0 && met > 0, "{headline}");
    assert_eq!(met + missed + untargeted, rows, "{headline}");
    let row = stdout.lines().find(|l| l.starts_with("road_density\t") && l.contains("Ruggell")).unwrap();
    assert!(row.contains("\t3.07996\t3.08\t") && row.ends_with("NO"), "{row}");
    // Far from the target, three decimals as before.
    let other = stdout.lines().find(|l| l.starts_with("road_density\t") && l.contains("Vaduz")).unwrap();
    assert!(other.contains("\t2.620\t3.08\t"), "{other}");
    let report = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(report.contains(">3.07996</td>"), "the report shows the digits too");
    // The standalone command's table too.
    let li = shared("osm/liechtenstein-2015.osm.pbf");
    let table = run_ok(&[
        "road-density",
        "--roads",
        &format!("{}#lines", li.display()),
        "--roads-where",
        "highway IS NOT NULL",
        "--grade-field",
        "highway",
        "--areas",
        &format!("{}#multipolygons", li.display()),
        "--areas-where",
        "boundary='administrative' AND admin_level='8'",
        "--grades",
        "osm",
        "--target",
        "3.08",
        "-o",
        dir.path().join("rd.geojson").to_str().unwrap(),
    ]);
    let row = table.lines().find(|l| l.contains("Ruggell")).unwrap();
    assert!(row.contains("\t3.07996\t3.08\tNO"), "{row}");
}

/// The report's maps of the living circle are made while its files are written, the others are
/// read back from their files: the report is the one drawn from every file read back, byte for
/// byte (Liechtenstein's OSM homes: polygons and multipolygons, with the OSM attribution).
#[test]
fn the_report_is_the_one_drawn_from_the_files_it_maps() {
    use planaudit::output::report::{render, ReportInput};
    let dir = tempfile::tempdir().unwrap();
    let city = liechtenstein_city(dir.path(), "osm");
    let out = dir.path().join("out");
    run_ok(&["audit", city.to_str().unwrap(), "-o", out.to_str().unwrap()]);
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    let outputs: Vec<std::path::PathBuf> =
        summary["outputs"].as_array().unwrap().iter().map(|p| p.as_str().unwrap().into()).collect();
    let maps = planaudit::cmd::audit::report_maps(&out, &outputs);
    for layer in ["living_circle.geojson", "living_circle_gaps.geojson", "road_density.geojson"] {
        assert!(maps.iter().any(|m| m.path.ends_with(layer)), "{layer}");
    }
    let homes = std::fs::read_to_string(out.join("living_circle.geojson")).unwrap();
    assert!(homes.contains("\"MultiPolygon\"") && homes.contains("\"attribution\""));
    let title = format!("{} — planaudit", summary["city"].as_str().unwrap());
    let html = render(&ReportInput { title: &title, summary: &summary, maps }).unwrap();
    assert!(
        html == std::fs::read_to_string(out.join("report.html")).unwrap(),
        "the report differs from one drawn from the files"
    );
}

/// The process runs without transparent huge pages (a huge page is zeroed whole on its first
/// touch), unless `MIMALLOC_ALLOW_THP` says otherwise, when it has the test's own setting. Read
/// from the kernel while `check` waits on its city file, a FIFO: the test's open for writing
/// succeeds once planaudit has opened it (tried without blocking, so that a planaudit that ended
/// before fails the test instead of hanging it).
#[cfg(target_os = "linux")]
#[test]
fn no_transparent_huge_pages_unless_asked() {
    use std::os::unix::fs::OpenOptionsExt;
    let thp_of = |status: &str| -> String {
        let line = status.lines().find(|l| l.starts_with("THP_enabled:")).expect("the kernel shows THP_enabled");
        line.split_whitespace().nth(1).unwrap().to_string()
    };
    let own = thp_of(&std::fs::read_to_string("/proc/self/status").unwrap());
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("city.toml");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status().expect("mkfifo runs");
    assert!(made.success());
    let thp_while_reading = |allow: Option<&str>| {
        let mut cmd = bin();
        cmd.args(["check", fifo.to_str().unwrap()]).stdout(std::process::Stdio::null());
        cmd.stderr(std::process::Stdio::piped());
        // Whatever the case of the name in the test's environment (mimalloc reads any).
        for (name, _) in std::env::vars_os() {
            if name.to_str().is_some_and(|n| n.eq_ignore_ascii_case("MIMALLOC_ALLOW_THP")) {
                cmd.env_remove(name);
            }
        }
        if let Some(v) = allow {
            cmd.env("MIMALLOC_ALLOW_THP", v);
        }
        let mut child = cmd.spawn().expect("planaudit runs");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        let mut writer = loop {
            match std::fs::OpenOptions::new().write(true).custom_flags(libc::O_NONBLOCK).open(&fifo) {
                Ok(w) => break w,
                // No reader yet.
                Err(e) if e.raw_os_error() == Some(libc::ENXIO) => {
                    assert!(child.try_wait().unwrap().is_none(), "planaudit ended before reading its city file");
                    assert!(std::time::Instant::now() < deadline, "planaudit did not open its city file");
                    std::thread::sleep(std::time::Duration::from_millis(5));
                }
                Err(e) => panic!("opening the FIFO: {e}"),
            }
        };
        let status = std::fs::read_to_string(format!("/proc/{}/status", child.id())).unwrap();
        std::io::Write::write_all(&mut writer, b"[city]\nname = 1\n").unwrap();
        drop(writer);
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains("name"), "{stderr}");
        thp_of(&status)
    };
    assert_eq!(thp_while_reading(None), "0");
    assert_eq!(thp_while_reading(Some("1")), own);
}
