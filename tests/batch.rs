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

    // The combined summary holds every good city's rows, each equal to its own summary.csv.
    let combined = std::fs::read_to_string(out.join("summary.csv")).unwrap();
    for city in ["demo", "liechtenstein", "luan"] {
        let own = std::fs::read_to_string(out.join(city).join("summary.csv")).unwrap();
        for line in own.lines().skip(1) {
            assert!(combined.contains(line), "{city}: {line}");
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
}
