//! `planaudit batch`: several cities in parallel, one broken, skipping what is up to date.

use crate::common::*;

#[test]
fn batch_of_cities_with_one_broken() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    run_ok(&["demo", "-o", d.join("demo").to_str().unwrap()]);
    let li = shared("osm/liechtenstein-2015.osm.pbf");
    let luan = shared("cn-admin/luan_341500_districts.geojson");
    // Liechtenstein from OpenStreetMap, with one target for every municipality.
    std::fs::write(
        d.join("li.toml"),
        format!(
            "[city]\nname = \"Liechtenstein\"\n[layers.areas]\nsource = \"{li}\"\nlayer = \"multipolygons\"\n\
             where = \"boundary='administrative' AND admin_level='8'\"\nfields = {{ id = \"osm_id\", name = \"name\" }}\n\
             [layers.roads]\nsource = \"{li}\"\nlayer = \"lines\"\nwhere = \"highway IS NOT NULL\"\n\
             [road_density]\ngrades = \"osm\"\ntargets = {{ \"*\" = 3.0 }}\n",
            li = li.display()
        ),
    )
    .unwrap();
    // Lu'an's real districts (GCJ-02, from Amap) as areas over the demo city's roads: a template
    // filled per city.
    std::fs::write(
        d.join("luan_template.toml"),
        format!(
            "[city]\nname = \"{{name}}\"\n[layers.areas]\nsource = \"{luan}\"\ncrs = \"gcj02\"\nwhere = \"{{where}}\"\n\
             fields = {{ id = \"adcode\", name = \"district\" }}\n[layers.roads]\nsource = \"demo/demo_city/roads.gpkg\"\n\
             layer = \"roads\"\nfields = {{ grade = \"grade\" }}\n[road_density]\ntargets = {{ \"*\" = 0.0 }}\n",
            luan = luan.display()
        ),
    )
    .unwrap();
    std::fs::write(
        d.join("manifest.toml"),
        "template = \"luan_template.toml\"\n\
         [[city]]\nname = \"demo\"\nconfig = \"demo/demo_city/city.toml\"\n\
         [[city]]\nname = \"liechtenstein\"\nconfig = \"li.toml\"\n\
         [[city]]\nname = \"luan\"\nvars = { name = \"六安市\", where = \"level = '区县'\" }\n\
         [[city]]\nname = \"broken\"\nvars = { name = \"broken\", where = \"no_such_field = 1\" }\n",
    )
    .unwrap();
    let out = d.join("batch");
    let o = run(&["batch", d.join("manifest.toml").to_str().unwrap(), "-o", out.to_str().unwrap(), "--jobs", "2"]);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "a failed city makes the batch exit 1: {stderr}");
    assert!(stderr.contains("broken: failed") && stderr.contains("no_such_field"), "{stderr}");

    let status: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("batch.json")).unwrap()).unwrap();
    let by_name = |n: &str| status["cities"].as_array().unwrap().iter().find(|c| c["name"] == n).unwrap().clone();
    assert_eq!(by_name("demo")["status"], "missed", "the demo county town misses its target");
    assert_eq!(by_name("liechtenstein")["status"], "missed");
    assert_eq!(by_name("luan")["status"], "ok");
    assert_eq!(by_name("broken")["status"], "failed");
    // The audit of OpenStreetMap data says so in its summary too; the demo's does not.
    let summary = |city: &str| -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(out.join(city).join("summary.json")).unwrap()).unwrap()
    };
    assert_eq!(summary("liechtenstein")["attribution"], "© OpenStreetMap contributors");
    assert!(summary("demo").get("attribution").is_none());

    // The combined summary holds every good city's rows, each its own summary.csv's row led by
    // the city's manifest name.
    let combined = std::fs::read_to_string(out.join("summary.csv")).unwrap();
    assert!(combined.starts_with("batch_city,city,indicator,"), "{combined}");
    for city in ["demo", "liechtenstein", "luan"] {
        let own = std::fs::read_to_string(out.join(city).join("summary.csv")).unwrap();
        for line in own.lines().skip(1) {
            assert!(combined.lines().any(|l| l == format!("{city},{line}")), "{city}: {line}");
        }
    }
    assert_eq!(combined.lines().count(), 1 + 7 + 11 + 7, "{combined}");
    // Lu'an's districts: areas within 1% of the data README's figures (金安区 1,654 km², 霍邱县 3,225 km²).
    let luan_fc = read_collection(&out.join("luan/road_density.geojson"));
    for (name, km2) in [("金安区", 1654.0), ("霍邱县", 3225.0), ("金寨县", 3917.0)] {
        let f = luan_fc.features.iter().find(|f| text(f, "name") == name).unwrap();
        assert!(rel_diff(num(f, "area_km2"), km2) < 0.01, "{name}: {}", num(f, "area_km2"));
    }

    // A second run skips what is up to date; --force reruns it.
    let o = run(&["batch", d.join("manifest.toml").to_str().unwrap(), "-o", out.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(stderr.contains("demo: skipped") && stderr.contains("liechtenstein: skipped"), "{stderr}");
    assert!(stderr.contains("broken: failed"), "{stderr}");
    let o = run(&["batch", d.join("manifest.toml").to_str().unwrap(), "-o", out.to_str().unwrap(), "--force"]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("demo: missed"));
    // Touching an input makes the city stale again.
    std::thread::sleep(std::time::Duration::from_millis(20));
    let cfg = d.join("li.toml");
    let t = std::fs::read_to_string(&cfg).unwrap();
    std::fs::write(&cfg, t).unwrap();
    let o = run(&["batch", d.join("manifest.toml").to_str().unwrap(), "-o", out.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(stderr.contains("liechtenstein: missed") && stderr.contains("demo: skipped"), "{stderr}");
    // A city filled from the template is up to date too (its file is only written when it changes).
    assert!(stderr.contains("luan: skipped"), "{stderr}");

    // Lu'an now fails: its rows from the earlier run leave the combined summary.
    let manifest = std::fs::read_to_string(d.join("manifest.toml")).unwrap();
    std::fs::write(d.join("manifest.toml"), manifest.replace("level = '区县'", "no_such_field = 2")).unwrap();
    let o = run(&["batch", d.join("manifest.toml").to_str().unwrap(), "-o", out.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(stderr.contains("luan: failed"), "{stderr}");
    assert!(out.join("luan/summary.csv").exists(), "the earlier run's files are still there");
    let combined = std::fs::read_to_string(out.join("summary.csv")).unwrap();
    assert!(!combined.lines().any(|l| l.starts_with("luan,") || l.contains(",六安市,")), "{combined}");
    assert_eq!(combined.lines().count(), 1 + 7 + 11, "{combined}");
}

/// What makes a city stale beyond its layers, and --fail-on-miss over cities skipped as up to date.
#[test]
fn batch_freshness_and_missed_targets_of_skipped_cities() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    run_ok(&["demo", "-o", d.join("demo").to_str().unwrap()]);
    let city = d.join("demo/demo_city/city.toml");
    // The grade table as a file of the city's own.
    let text = std::fs::read_to_string(&city).unwrap();
    assert!(text.contains("grades = \"cn\""));
    std::fs::write(&city, text.replacen("grades = \"cn\"", "grades = \"my_grades.toml\"", 1)).unwrap();
    let grades = d.join("demo/demo_city/my_grades.toml");
    std::fs::write(&grades, include_str!("../src/presets/grades_cn.toml")).unwrap();
    let manifest = d.join("m.toml");
    std::fs::write(&manifest, "[[city]]\nname = \"demo\"\nconfig = \"demo/demo_city/city.toml\"\n").unwrap();
    let out = d.join("out");
    let batch = |extra: &[&str]| {
        let mut args = vec!["batch", manifest.to_str().unwrap(), "-o", out.to_str().unwrap()];
        args.extend(extra);
        let o = run(&args);
        (o.status.code(), String::from_utf8_lossy(&o.stderr).into_owned())
    };
    assert_eq!(batch(&["--fail-on-miss"]), (Some(3), "demo: missed: some targets missed\n".into()));
    // Skipped, but its targets are still missed.
    let (code, stderr) = batch(&["--fail-on-miss"]);
    assert!(stderr.contains("demo: skipped"), "{stderr}");
    assert_eq!(code, Some(3), "{stderr}");
    // A changed grade table is a changed input.
    std::thread::sleep(std::time::Duration::from_millis(20));
    std::fs::write(&grades, include_str!("../src/presets/grades_cn.toml")).unwrap();
    assert!(batch(&[]).1.contains("demo: missed"));
    assert!(batch(&[]).1.contains("demo: skipped"));
    // The manifest pointing the city to another (older) city file.
    let other = d.join("demo/demo_city/other.toml");
    std::fs::copy(&city, &other).unwrap();
    let older = std::fs::metadata(&city).unwrap().modified().unwrap() - std::time::Duration::from_secs(3600);
    std::fs::File::options().write(true).open(&other).unwrap().set_modified(older).unwrap();
    std::fs::write(&manifest, "[[city]]\nname = \"demo\"\nconfig = \"demo/demo_city/other.toml\"\n").unwrap();
    assert!(batch(&[]).1.contains("demo: missed"), "another city file is not up to date");
    run_err(&["batch", manifest.to_str().unwrap(), "-o", out.to_str().unwrap(), "--jobs", "0"], 2, &["--jobs 0"]);
    // Template placeholders and vars must match.
    std::fs::write(d.join("t.toml"), "[city]\nname = \"{name}\"\n[layers.areas]\nsource = \"{areas}\"\n").unwrap();
    for (vars, words) in [
        ("{ name = \"x\" }", vec!["city 'c'", "no vars.areas"]),
        ("{ name = \"x\", areas = \"a.shp\", colour = \"red\" }", vec!["vars.colour", "no {colour}"]),
    ] {
        std::fs::write(&manifest, format!("template = \"t.toml\"\n[[city]]\nname = \"c\"\nvars = {vars}\n")).unwrap();
        run_err(&["batch", manifest.to_str().unwrap(), "-o", out.to_str().unwrap()], 2, &words);
    }
}
