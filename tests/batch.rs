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
    // Its earlier run's layers are still there, but no summary that describes them as this run's.
    assert!(out.join("luan/road_density.geojson").exists(), "the earlier run's layers are still there");
    assert!(!out.join("luan/summary.csv").exists() && !out.join("luan/summary.json").exists());
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

    // The areas as a folder dataset (a folder of Shapefiles): a layer edited in place changes its
    // file's date, not the folder's, and the city is no longer up to date.
    let shpdir = d.join("demo/demo_city/shpdir");
    std::fs::create_dir(&shpdir).unwrap();
    for ext in ["shp", "shx", "dbf", "prj", "cpg"] {
        let name = format!("built_up_areas.{ext}");
        std::fs::copy(d.join("demo/demo_city").join(&name), shpdir.join(&name)).unwrap();
    }
    let text = std::fs::read_to_string(&city).unwrap();
    let folder =
        text.replacen("source = \"built_up_areas.shp\"\n", "source = \"shpdir\"\nlayer = \"built_up_areas\"\n", 1);
    assert_ne!(folder, text);
    std::fs::write(&city, folder).unwrap();
    std::fs::write(&manifest, "[[city]]\nname = \"demo\"\nconfig = \"demo/demo_city/city.toml\"\n").unwrap();
    assert!(batch(&[]).1.contains("demo: missed"));
    assert!(batch(&[]).1.contains("demo: skipped"));
    std::thread::sleep(std::time::Duration::from_millis(20));
    let dbf = shpdir.join("built_up_areas.dbf");
    let folder_date = std::fs::metadata(&shpdir).unwrap().modified().unwrap();
    std::fs::write(&dbf, std::fs::read(&dbf).unwrap()).unwrap();
    assert_eq!(std::fs::metadata(&shpdir).unwrap().modified().unwrap(), folder_date, "the folder keeps its date");
    assert!(batch(&[]).1.contains("demo: missed"), "a layer edited inside a folder dataset is a changed input");
    // OUT_DIR inside the folder dataset: the batch's own outputs are no change of the dataset.
    let inside = shpdir.join("out");
    let batch_inside = || {
        let o = run(&["batch", manifest.to_str().unwrap(), "-o", inside.to_str().unwrap()]);
        String::from_utf8_lossy(&o.stderr).into_owned()
    };
    assert!(batch_inside().contains("demo: missed"));
    std::thread::sleep(std::time::Duration::from_millis(20));
    assert!(batch_inside().contains("demo: skipped"), "the batch's folder in the dataset changes nothing");
    std::fs::remove_dir_all(&inside).unwrap();

    // A file the batch writes in OUT_DIR (batch.csv) that a city reads (its grade table) is
    // refused before anything is removed.
    let table = out.join("batch.csv");
    std::fs::write(&table, include_str!("../src/presets/grades_cn.toml")).unwrap();
    let text = std::fs::read_to_string(&city).unwrap();
    std::fs::write(
        &city,
        text.replacen("grades = \"my_grades.toml\"", &format!("grades = {:?}", table.to_str().unwrap()), 1),
    )
    .unwrap();
    run_err(
        &["batch", manifest.to_str().unwrap(), "-o", out.to_str().unwrap()],
        2,
        &["city \"demo\"", "would overwrite the input", "batch.csv"],
    );
    assert_eq!(std::fs::read_to_string(&table).unwrap(), include_str!("../src/presets/grades_cn.toml"));

    // Template placeholders and vars must match.
    std::fs::write(
        d.join("t.toml"),
        "[city]\nname = \"{name}\"\n[layers.areas]\nsource = \"{areas}\"\n# {city-name}\n",
    )
    .unwrap();
    for (vars, words) in [
        ("{ name = \"x\" }", vec!["city 'c'", "no vars.areas"]),
        ("{ name = \"x\", areas = \"a.shp\", colour = \"red\" }", vec!["vars.colour", "no {colour}"]),
        ("{ name = \"x\", areas = \"a.shp\", city-name = \"y\" }", vec!["vars.city-name", "letters, digits and _"]),
    ] {
        std::fs::write(&manifest, format!("template = \"t.toml\"\n[[city]]\nname = \"c\"\nvars = {vars}\n")).unwrap();
        run_err(&["batch", manifest.to_str().unwrap(), "-o", out.to_str().unwrap()], 2, &words);
    }
    // Vars beside a city's own config would fill in nothing.
    std::fs::write(&manifest, "template = \"t.toml\"\n[[city]]\nname = \"c\"\nconfig = \"demo/demo_city/city.toml\"\nvars = { name = \"x\" }\n")
        .unwrap();
    run_err(&["batch", manifest.to_str().unwrap(), "-o", out.to_str().unwrap()], 2, &["city 'c'", "its own config"]);
    // Outside quotes a value is TOML: one that would add a key of its own, or hide the rest of its
    // line, is refused.
    let template = "[city]\nname = \"{name}\"\n[road_density]\ngrid_m = {grid}\n[layers.areas]\nsource = \"a.shp\"\n";
    std::fs::write(d.join("t.toml"), template).unwrap();
    for grid in ["\"500\\nmax_width_m = 10\"", "\"500 # x\""] {
        std::fs::write(
            &manifest,
            format!("template = \"t.toml\"\n[[city]]\nname = \"c\"\nvars = {{ name = \"x\", grid = {grid} }}\n"),
        )
        .unwrap();
        run_err(
            &["batch", manifest.to_str().unwrap(), "-o", out.to_str().unwrap()],
            2,
            &["vars.grid", "outside quotes"],
        );
    }
}

/// A template's values go in escaped as TOML needs where they stand, and the filled-in city file is
/// written beside the city's outputs (the template's folder may be read-only), its relative paths
/// still starting from the template's folder.
#[test]
fn batch_template_escapes_values_and_writes_beside_outputs() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    run_ok(&["demo", "-o", d.join("demo").to_str().unwrap()]);
    let folder = d.join("demo/demo_city");
    let city = std::fs::read_to_string(folder.join("city.toml")).unwrap();
    // The name and the where clause's residential code, both in "…" strings.
    let template = city.replacen("name = \"六安市 demo\"", "name = \"{name}\"", 1).replacen(
        "where = \"dlbm IN ('0701', '070101', '070102', '0703')\"",
        "where = \"dlbm IN ('{code}')\"",
        1,
    );
    assert_ne!(template, city);
    assert!(template.contains("{code}") && template.contains("{name}"));
    std::fs::write(folder.join("t.toml"), &template).unwrap();
    let listing = |p: &std::path::Path| {
        let mut names: Vec<String> =
            std::fs::read_dir(p).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        names.sort();
        names
    };
    let before = listing(&folder);
    let manifest = d.join("m.toml");
    let name = r#"六安 "北区" \ 1"#;
    std::fs::write(
        &manifest,
        format!("template = \"demo/demo_city/t.toml\"\n[[city]]\nname = \"c\"\nvars = {{ name = '{name}', code = \"0701\" }}\n"),
    )
    .unwrap();
    let out = d.join("out");
    let batch = || {
        let o = run(&["batch", manifest.to_str().unwrap(), "-o", out.to_str().unwrap()]);
        (o.status.code(), String::from_utf8_lossy(&o.stderr).into_owned())
    };
    let (code, stderr) = batch();
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(listing(&folder), before, "nothing is written beside the template");
    let filled = out.join("c/city.toml");
    let text = std::fs::read_to_string(&filled).unwrap();
    assert!(text.starts_with("# Filled in by planaudit batch"), "{text}");
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("c/summary.json")).unwrap()).unwrap();
    assert_eq!(summary["city"], name, "the value as the manifest gives it");
    assert_eq!(summary["config"], filled.display().to_string());
    let homes = summary["indicators"]["living_circle"]["origins"].as_u64().unwrap();
    assert!(homes > 0, "the relative layer paths still start from the template's folder");
    // Unchanged, the filled-in file keeps its date and the city is up to date, from another
    // folder too (the file names the template and manifest by absolute paths).
    let (code, stderr) = batch();
    assert!(stderr.contains("c: skipped"), "{code:?} {stderr}");
    let o = bin().current_dir(d).args(["batch", "m.toml", "-o", "out"]).output().unwrap();
    assert!(String::from_utf8_lossy(&o.stderr).contains("c: skipped"), "{}", String::from_utf8_lossy(&o.stderr));
    // A value in a comment cannot end the comment.
    std::fs::write(folder.join("t3.toml"), "[city]\nname = \"x\" # {note}\n").unwrap();
    std::fs::write(
        &manifest,
        "template = \"demo/demo_city/t3.toml\"\n[[city]]\nname = \"c3\"\nvars = { note = \"a\\ny = 1\" }\n",
    )
    .unwrap();
    let _ = run(&["batch", manifest.to_str().unwrap(), "-o", out.to_str().unwrap()]);
    let filled = std::fs::read_to_string(out.join("c3/city.toml")).unwrap();
    let table: toml::Table = toml::from_str(&filled).unwrap();
    assert!(table["city"].get("y").is_none() && table.get("y").is_none(), "{filled}");

    // A value that would end a '…' string, which has no escapes, is refused, naming the var; in a
    // "…" string the same value is the where clause's own text.
    std::fs::write(folder.join("t1.toml"), "[city]\nname = '{name}'\n").unwrap();
    std::fs::write(
        &manifest,
        "template = \"demo/demo_city/t1.toml\"\n[[city]]\nname = \"c1\"\nvars = { name = \"O'Brien\" }\n",
    )
    .unwrap();
    run_err(&["batch", manifest.to_str().unwrap(), "-o", out.to_str().unwrap()], 2, &["city 'c1'", "vars.name", "'…'"]);
    // A value that leaves no TOML city file (a bare value) is refused before any audit.
    std::fs::write(folder.join("t2.toml"), "[city]\nname = \"x\"\nmeasure = {m}\n").unwrap();
    std::fs::write(
        &manifest,
        "template = \"demo/demo_city/t2.toml\"\n[[city]]\nname = \"c2\"\nvars = { m = \"ellipsoidal\" }\n",
    )
    .unwrap();
    run_err(
        &["batch", manifest.to_str().unwrap(), "-o", out.to_str().unwrap()],
        2,
        &["city 'c2'", "not a TOML city file"],
    );
    assert!(!out.join("c1").exists() && !out.join("c2").exists());
}

/// The processes whose command line mentions `needle`, by pid.
fn processes_mentioning(needle: &str) -> Vec<i32> {
    let mut pids = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else { continue };
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else { continue };
        if String::from_utf8_lossy(&cmdline).contains(needle) {
            pids.push(pid);
        }
    }
    pids
}

/// A copy of the demo city whose roads layer is a FIFO nobody writes to: its audit blocks at the
/// open, as on a hung network mount. Returns its city file.
fn stuck_city(d: &std::path::Path) -> std::path::PathBuf {
    let stuck = d.join("stuck_city");
    std::fs::create_dir_all(&stuck).unwrap();
    for e in std::fs::read_dir(d.join("demo/demo_city")).unwrap().flatten() {
        if e.file_name() != "roads.gpkg" {
            std::fs::copy(e.path(), stuck.join(e.file_name())).unwrap();
        }
    }
    let ok = std::process::Command::new("mkfifo").arg(stuck.join("roads.gpkg")).status().unwrap();
    assert!(ok.success());
    stuck.join("city.toml")
}

/// Ends every audit still blocked on the FIFO city, whatever the test's outcome.
struct KillStuck(String);

impl Drop for KillStuck {
    fn drop(&mut self) {
        for pid in processes_mentioning(&self.0) {
            // SAFETY: a plain kill(2) of a process this test started.
            #[allow(unsafe_code)]
            unsafe {
                libc::kill(pid, libc::SIGKILL);
            }
        }
    }
}

/// Starts `cmd` (a batch), waits until the audit of the city file `stuck` runs, calls `meanwhile`,
/// sends it `signals` in turn and returns what it printed.
fn signal_while_stuck(
    mut cmd: std::process::Command,
    stuck: &std::path::Path,
    signals: &[i32],
    meanwhile: impl Fn(),
) -> std::process::Output {
    let child = cmd.stderr(std::process::Stdio::piped()).spawn().unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while processes_mentioning(&stuck.display().to_string()).is_empty() {
        assert!(std::time::Instant::now() < deadline, "the stuck city's audit never started");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    meanwhile();
    for &signal in signals {
        #[allow(unsafe_code)]
        // SAFETY: a plain kill(2) of the process this test started.
        unsafe {
            libc::kill(child.id() as i32, signal);
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    child.wait_with_output().unwrap()
}

/// A batch command with `args`.
fn batch_cmd(args: &[&str]) -> std::process::Command {
    let mut cmd = bin();
    cmd.args(args);
    cmd
}

/// A hung audit is stopped by --timeout and recorded as failed; SIGTERM to the batch stops the
/// audit it is running, records what finished, marks the batch incomplete and exits 143; the
/// previous run's combined files never stay to pass for this run's.
#[test]
fn batch_timeout_and_interruption() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    run_ok(&["demo", "-o", d.join("demo").to_str().unwrap()]);
    let stuck = stuck_city(d);
    let _cleanup = KillStuck(stuck.display().to_string());
    let manifest = d.join("m.toml");
    std::fs::write(
        &manifest,
        format!(
            "[[city]]\nname = \"stuck\"\nconfig = \"{}\"\n[[city]]\nname = \"demo\"\nconfig = \"demo/demo_city/city.toml\"\n",
            stuck.display()
        ),
    )
    .unwrap();
    let out = d.join("out");
    let status_of = |out: &std::path::Path| -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(out.join("batch.json")).unwrap()).unwrap()
    };

    // --timeout: the stuck city fails, the other runs (well within the limit, on a loaded machine too).
    let stderr = run_err(
        &["batch", manifest.to_str().unwrap(), "-o", out.to_str().unwrap(), "--jobs", "2", "--timeout", "6"],
        1,
        &["stuck: failed: stopped after 6 s (--timeout)", "demo: missed"],
    );
    let st = status_of(&out);
    assert_eq!(st["complete"], true, "{st}");
    assert_eq!(st["cities"][0]["status"], "failed");
    assert_eq!(st["cities"][1]["status"], "missed");
    assert!(processes_mentioning(&stuck.display().to_string()).is_empty(), "the timed-out audit is gone: {stderr}");
    let combined = std::fs::read_to_string(out.join("summary.csv")).unwrap();
    assert!(combined.lines().count() > 1 && combined.lines().skip(1).all(|l| l.starts_with("demo,")), "{combined}");
    for t in ["0", "1e20", "NaN"] {
        run_err(&["batch", manifest.to_str().unwrap(), "-o", out.to_str().unwrap(), "--timeout", t], 2, &["--timeout"]);
    }

    // SIGTERM while the stuck city's audit runs (one job: the demo has not started). While it
    // runs, the folder says the batch is incomplete and holds no earlier combined summary.
    let batch = ["batch", manifest.to_str().unwrap(), "-o", out.to_str().unwrap(), "--jobs", "1"];
    let o = signal_while_stuck(batch_cmd(&[&batch[..], &["--force"]].concat()), &stuck, &[libc::SIGTERM], || {
        assert_eq!(status_of(&out)["complete"], false);
        assert!(!out.join("summary.csv").exists() && !out.join("batch.csv").exists());
    });
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(143), "{stderr}");
    assert!(stderr.contains("stuck: interrupted: stopped: the batch got SIGTERM"), "{stderr}");
    assert!(stderr.contains("interrupted by SIGTERM: 1 stopped, 1 not run"), "{stderr}");
    assert!(processes_mentioning(&stuck.display().to_string()).is_empty(), "the batch stopped its audit");
    let st = status_of(&out);
    assert_eq!((&st["complete"], &st["interrupted"]), (&serde_json::json!(false), &serde_json::json!("SIGTERM")));
    assert_eq!(st["cities"][0]["status"], "interrupted");
    assert_eq!(st["cities"][1]["status"], "not run");
    let csv = std::fs::read_to_string(out.join("batch.csv")).unwrap();
    assert!(csv.contains("\nstuck,interrupted,,") && csv.contains("\ndemo,not run,,"), "{csv}");
    // The demo did not run in this batch: no rows of it, though its folder holds an earlier run.
    assert_eq!(std::fs::read_to_string(out.join("summary.csv")).unwrap().lines().count(), 1);

    // SIGINT, as Ctrl-C sends it, with --quiet: the stopped city is still named; exit 130.
    let o = signal_while_stuck(batch_cmd(&[&batch[..], &["--quiet"]].concat()), &stuck, &[libc::SIGINT], || {});
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(130), "{stderr}");
    assert!(stderr.starts_with("stuck: interrupted: stopped: the batch got SIGINT\n"), "{stderr}");
    assert_eq!(status_of(&out)["interrupted"], "SIGINT");

    // Started with SIGINT ignored (a background job of a script): it stays ignored; SIGTERM stops it.
    let mut cmd = batch_cmd(&batch);
    // SAFETY: between fork and exec only `signal`, which is async-signal-safe, is called.
    #[allow(unsafe_code)]
    unsafe {
        use std::os::unix::process::CommandExt;
        cmd.pre_exec(|| {
            libc::signal(libc::SIGINT, libc::SIG_IGN);
            Ok(())
        });
    }
    let o = signal_while_stuck(cmd, &stuck, &[libc::SIGINT, libc::SIGTERM], || {});
    assert_eq!(o.status.code(), Some(143), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(status_of(&out)["interrupted"], "SIGTERM", "the ignored SIGINT stopped nothing");
}

/// Names a batch refuses, an OUT_DIR that is a file, --quiet showing failures, one stderr line a
/// city, warnings and feature counts in batch.csv, skipped cities counted once, and an up-to-date
/// check that holds from any working folder and for a Shapefile delivered in capitals.
#[test]
fn batch_names_quiet_warnings_and_freshness() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    run_ok(&["demo", "-o", d.join("demo").to_str().unwrap()]);
    let manifest = d.join("m.toml");
    let out = d.join("out");
    for name in ["summary.csv", "batch.json", "batch.csv", " demo", "a\\nb", ".hidden"] {
        std::fs::write(&manifest, format!("[[city]]\nname = \"{name}\"\nconfig = \"demo/demo_city/city.toml\"\n"))
            .unwrap();
        run_err(&["batch", manifest.to_str().unwrap(), "-o", out.to_str().unwrap()], 2, &["city name"]);
    }
    std::fs::write(d.join("a_file"), "x").unwrap();
    std::fs::write(&manifest, "[[city]]\nname = \"demo\"\nconfig = \"demo/demo_city/city.toml\"\n").unwrap();
    run_err(
        &["batch", manifest.to_str().unwrap(), "-o", d.join("a_file").to_str().unwrap()],
        2,
        &["OUT_DIR is a file"],
    );

    // The demo city with its Shapefile in capitals and its built-up areas put in the wrong
    // Gauss–Krüger zone: they miss the roads, which the audit warns of. And a broken city file
    // whose error spans lines.
    let caps = d.join("demo/demo_city");
    for ext in ["shp", "shx", "dbf", "prj", "cpg"] {
        std::fs::rename(caps.join(format!("built_up_areas.{ext}")), caps.join(format!("BUA.{}", ext.to_uppercase())))
            .unwrap();
    }
    let text = std::fs::read_to_string(caps.join("city.toml")).unwrap().replace("built_up_areas.shp", "BUA.SHP");
    std::fs::write(caps.join("city.toml"), &text).unwrap();
    // Its zone-shifted copy also names a target kind no area is of.
    let zone = text.replacen("source = \"BUA.SHP\"", "source = \"BUA.SHP\"\ncrs = \"EPSG:4528\"", 1).replacen(
        "targets = { ",
        "targets = { \"县镇\" = 7.0, ",
        1,
    );
    assert!(zone.contains("县镇"));
    std::fs::write(caps.join("zone.toml"), zone).unwrap();
    // One road without geometry: skipped by the read both indicators share, counted once.
    let sql = std::process::Command::new("ogrinfo")
        .args(["-q", caps.join("roads.gpkg").to_str().unwrap(), "-sql", "UPDATE roads SET geom = NULL WHERE fid = 1"])
        .status()
        .unwrap();
    assert!(sql.success());
    std::fs::write(d.join("broken.toml"), "[city\nname = 1\n").unwrap();
    std::fs::write(
        &manifest,
        "[[city]]\nname = \"demo\"\nconfig = \"demo/demo_city/city.toml\"\n\
         [[city]]\nname = \"zone\"\nconfig = \"demo/demo_city/zone.toml\"\n\
         [[city]]\nname = \"broken\"\nconfig = \"broken.toml\"\n",
    )
    .unwrap();
    // Paths relative to the working folder, as a batch operator types them.
    let o = bin().current_dir(d).args(["batch", "m.toml", "-o", "out", "--quiet"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "--quiet: the failed city alone, on one line: {stderr}");
    assert!(stderr.starts_with("broken: failed: ") && stderr.contains("broken.toml"), "{stderr}");
    assert!(o.stdout.is_empty());
    let csv = std::fs::read_to_string(out.join("batch.csv")).unwrap();
    assert!(csv.starts_with("city,status,exit_code,seconds,message,warnings,skipped_features,repaired_features\n"));
    let warnings_of = |city: &str| -> String {
        let line = csv.lines().find(|l| l.starts_with(&format!("{city},"))).unwrap();
        line.rsplit(',').nth(2).unwrap().to_string()
    };
    assert_eq!(warnings_of("demo"), "0", "{csv}");
    assert!(csv.contains("\ndemo,missed,3,") && csv.lines().nth(1).unwrap().ends_with(",0,1,0"), "{csv}");
    let st: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("batch.json")).unwrap()).unwrap();
    let zone_warnings: Vec<&str> =
        st["cities"][1]["warnings"].as_array().unwrap().iter().map(|w| w.as_str().unwrap()).collect();
    assert!(zone_warnings.iter().any(|w| w.contains("do not overlap")), "{st}");
    assert!(zone_warnings.iter().any(|w| w.contains("no area is of kind '县镇'")), "{st}");
    let unique: std::collections::BTreeSet<&&str> = zone_warnings.iter().collect();
    assert_eq!(unique.len(), zone_warnings.len(), "each warning once: {zone_warnings:?}");
    assert_eq!(warnings_of("zone"), zone_warnings.len().to_string(), "{csv}");
    assert_eq!(st["cities"][1]["skipped_features"], 1, "{st}");

    // Run again from another working folder: both good cities are up to date, each counted once.
    let o = bin()
        .current_dir("/")
        .args(["batch", manifest.to_str().unwrap(), "-o", out.to_str().unwrap()])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(stderr.contains("demo: skipped") && stderr.contains("its last audit missed"), "{stderr}");
    assert!(
        stderr.contains("zone: skipped: ") && stderr.contains(&format!(" [{} warnings]", zone_warnings.len())),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 3, "a line a city: {stderr}");
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        stdout.starts_with("3 cities: 0 ok, 2 missed targets, 1 failed (2 of these up to date, not rerun)"),
        "{stdout}"
    );

    // A side file in capitals changes: the city is audited again.
    std::thread::sleep(std::time::Duration::from_millis(20));
    let dbf = std::fs::read(caps.join("BUA.DBF")).unwrap();
    std::fs::write(caps.join("BUA.DBF"), dbf).unwrap();
    let o = run(&["batch", manifest.to_str().unwrap(), "-o", out.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(stderr.contains("demo: missed") && stderr.contains("zone: missed"), "{stderr}");
}
