//! Determinism and atomicity: identical bytes across runs, input feature order and numbers of
//! threads; a run killed at any moment leaves every output either old and complete or new and
//! complete, and nothing else but its documented `.NAME.tmp.PID` temporary files.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::bad_inputs::world::{Cmd, Role, World};
use crate::common::{bin, run_ok, walk};

/// Gives every feature of a GeoJSON file its position as its id (GDAL's feature id), so that the
/// ids survive a change of order.
fn number_features(path: &Path) {
    let mut v: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    for (i, f) in v["features"].as_array_mut().unwrap().iter_mut().enumerate() {
        f["id"] = Value::from(i + 1);
    }
    std::fs::write(path, v.to_string()).unwrap();
}

/// Reverses the feature order of a GeoJSON file in place.
fn reverse_features(path: &Path) {
    let mut v: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    v["features"].as_array_mut().unwrap().reverse();
    std::fs::write(path, v.to_string()).unwrap();
}

/// The GeoJSON outputs in a folder, by file name.
fn outputs(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "geojson"))
        .map(|p| (p.file_name().unwrap().to_string_lossy().into_owned(), std::fs::read(&p).unwrap()))
        .collect()
}

/// Runs `cmd` on the world three times: twice as is, once with every input's features reversed
/// (keeping their feature ids, which outputs report); every GeoJSON output must be byte-identical.
fn identical_across_runs_and_order(cmd: Cmd, extra: &[&str]) {
    let w = World::new();
    for role in Role::ALL {
        number_features(&w.good_path(role));
    }
    let mut runs = Vec::new();
    for i in 0..3 {
        if i == 2 {
            for role in Role::ALL {
                reverse_features(&w.good_path(role));
            }
        }
        let dir = w.path(&format!("run{i}"));
        std::fs::create_dir_all(&dir).unwrap();
        let good = w.good_path(Role::Area).display().to_string();
        let args = w.args(cmd, Role::Area, &good, &dir.join("o.geojson"), extra);
        run_ok(&args.iter().map(String::as_str).collect::<Vec<_>>());
        runs.push(outputs(&dir));
    }
    assert!(runs[0].len() >= 2, "{:?}", runs[0].keys());
    for (name, bytes) in &runs[0] {
        for (i, why) in [(1, "between two runs"), (2, "when the input order is reversed")] {
            let other = runs[i].get(name).unwrap_or_else(|| panic!("{name}: missing {why}"));
            if other != bytes {
                let (a, b) = (String::from_utf8_lossy(bytes), String::from_utf8_lossy(other));
                let (la, lb) = a.lines().zip(b.lines()).find(|(x, y)| x != y).unwrap_or_default();
                panic!("{} {name}: differs {why}:\n{la}\n{lb}", cmd.name());
            }
        }
    }
}

#[test]
fn park_mix_is_byte_identical_across_runs_and_input_order() {
    identical_across_runs_and_order(Cmd::ParkMix, &[]);
}

#[test]
fn living_circle_is_byte_identical_across_runs_and_input_order() {
    identical_across_runs_and_order(Cmd::LivingCircle, &["--service-areas"]);
    identical_across_runs_and_order(Cmd::LivingCircle, &["--method", "buffer"]);
}

#[test]
fn road_density_is_byte_identical_across_runs_and_input_order() {
    identical_across_runs_and_order(Cmd::RoadDensity, &["--grid", "300"]);
}

/// The scale of the `city` data audited with different numbers of threads.
const THREADS_TEST_SCALE: &str = "1";

/// Every file below `dir` by path relative to it, with `dir` itself written as `OUT_DIR` wherever
/// it appears (summary.json lists the files it wrote).
fn output_tree(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let dir_text = dir.display().to_string();
    walk(dir)
        .into_iter()
        .map(|p| {
            let rel = p.strip_prefix(dir).unwrap().to_string_lossy().into_owned();
            let bytes = match String::from_utf8(std::fs::read(&p).unwrap()) {
                Ok(text) => text.replace(&dir_text, "OUT_DIR").into_bytes(),
                Err(e) => e.into_bytes(),
            };
            (rel, bytes)
        })
        .collect()
}

/// Issue 7: results at `city` size are identical whatever the number of threads. The audit of the
/// generated city runs with one worker thread and with four (more than most test machines have
/// cores, so the work is split and stolen differently); every file it writes must be the same, byte
/// for byte.
#[test]
fn audit_is_byte_identical_whatever_the_number_of_threads() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("city");
    run_ok(&["generate", "--size", "city", "--scale", THREADS_TEST_SCALE, "-o", data.to_str().unwrap()]);
    let city = data.join("city.toml");
    let runs: Vec<(&str, BTreeMap<String, Vec<u8>>)> = ["1", "4"]
        .into_iter()
        .map(|threads| {
            let out = dir.path().join(format!("threads{threads}"));
            let o = bin()
                .env("RAYON_NUM_THREADS", threads)
                .args(["audit", city.to_str().unwrap(), "-o", out.to_str().unwrap(), "-q"])
                .output()
                .unwrap();
            assert!(o.status.success(), "{threads} threads: {}", String::from_utf8_lossy(&o.stderr));
            (threads, output_tree(&out))
        })
        .collect();
    let (one, many) = (&runs[0].1, &runs[1].1);
    assert!(one.len() > 5 && one.contains_key("summary.json"), "{:?}", one.keys());
    assert_eq!(one.keys().collect::<Vec<_>>(), many.keys().collect::<Vec<_>>(), "different files");
    for (name, bytes) in one {
        if many[name] != *bytes {
            let (a, b) = (String::from_utf8_lossy(bytes), String::from_utf8_lossy(&many[name]));
            let (la, lb) = a.lines().zip(b.lines()).find(|(x, y)| x != y).unwrap_or_default();
            panic!("{name} differs between 1 and {} threads:\n{la}\n{lb}", runs[1].0);
        }
    }
}

/// Whether a file name is a temporary file of process `pid`: `.NAME.tmp.PID`.
fn is_temp_of(name: &str, pid: u32) -> bool {
    let file = name.rsplit('/').next().unwrap_or(name);
    file.starts_with('.') && file.ends_with(&format!(".tmp.{pid}"))
}

/// Kills `planaudit audit` on the demo city with SIGKILL after 0 ms, then ever later, until a
/// run completes, then at 41 delays over the later half of the time between the last kill that left
/// only old files and that run (the moments when the files are written). Before each run the output folder holds the complete files of an audit with other
/// targets (the "old" files); after the kill every output must be byte for byte the old file or
/// the new one (known from a complete run, the outputs being deterministic), and parse as JSON.
/// Nothing else may be left but `.NAME.tmp.PID` files of the killed process. When summary.json
/// is the new one, every file it lists is new.
#[test]
fn killed_audit_leaves_old_or_new_files_never_partial_ones() {
    let dir = tempfile::tempdir().unwrap();
    run_ok(&["demo", "-o", dir.path().to_str().unwrap()]);
    let city_new = dir.path().join("demo_city/city.toml");
    let text = std::fs::read_to_string(&city_new).unwrap();
    let city_old = dir.path().join("demo_city/old.toml");
    std::fs::write(&city_old, text.replace("\"县城\" = 7.0", "\"县城\" = 5.0")).unwrap();
    let out = dir.path().join("audit");
    let audit = |city: &Path| {
        bin().args(["audit", city.to_str().unwrap(), "-o", out.to_str().unwrap(), "-q"]).status().unwrap()
    };
    // Every file of the output folder and of its styles/ folder, by path relative to it.
    let snapshot = || -> BTreeMap<String, Vec<u8>> {
        let mut files = BTreeMap::new();
        for dir in [out.clone(), out.join("styles")] {
            let Ok(entries) = std::fs::read_dir(&dir) else { continue };
            for p in entries.map(|e| e.unwrap().path()).filter(|p| p.is_file()) {
                let rel = p.strip_prefix(&out).unwrap().to_string_lossy().into_owned();
                files.insert(rel, std::fs::read(&p).unwrap());
            }
        }
        files
    };
    assert!(audit(&city_new).success());
    let new = snapshot();
    assert!(audit(&city_old).success());
    let old = snapshot();
    assert!(old.len() > 5 && old.contains_key("summary.json") && old.contains_key("report.html"), "{:?}", old.keys());
    assert!(old.iter().any(|(k, v)| new[k] != *v), "old and new outputs must differ");
    let inputs_before = input_files(&dir.path().join("demo_city"));

    let start = Instant::now();
    let full = {
        let t = Instant::now();
        assert!(audit(&city_new).success());
        t.elapsed()
    };
    let mut states: BTreeMap<&str, usize> = BTreeMap::new();
    // One kill after `delay_ms`: restore the old files, start the new audit, SIGKILL it, check.
    // Returns the state the folder was left in and whether the run had completed.
    let kill_at = |delay_ms: u64| -> (&'static str, bool) {
        std::fs::remove_dir_all(&out).unwrap();
        std::fs::create_dir_all(out.join("styles")).unwrap();
        for (name, bytes) in &old {
            std::fs::write(out.join(name), bytes).unwrap();
        }
        let mut child = bin()
            .args(["audit", city_new.to_str().unwrap(), "-o", out.to_str().unwrap(), "-q"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let pid = child.id();
        std::thread::sleep(Duration::from_millis(delay_ms));
        let _ = child.kill();
        let status = child.wait().unwrap();

        let now = snapshot();
        let mut kinds = Vec::new();
        for (name, bytes) in &now {
            if is_temp_of(name, pid) {
                kinds.push("temporary");
                continue;
            }
            // The record of the earlier audit's outputs, kept until the new summary lists them.
            if name == ".planaudit-earlier-outputs.json" {
                assert!(serde_json::from_slice::<Value>(bytes).is_ok(), "delay {delay_ms} ms: {name} does not parse");
                continue;
            }
            let (Some(o), Some(n)) = (old.get(name), new.get(name)) else {
                panic!("delay {delay_ms} ms: stray file {name} (pid {pid})");
            };
            assert!(bytes == o || bytes == n, "delay {delay_ms} ms: {name} is neither the old nor the new file");
            if name.ends_with(".json") || name.ends_with(".geojson") {
                serde_json::from_slice::<Value>(bytes)
                    .unwrap_or_else(|e| panic!("delay {delay_ms} ms: {name} does not parse: {e}"));
            }
            kinds.push(if o == n {
                "same"
            } else if bytes == n {
                "new"
            } else {
                "old"
            });
        }
        // The summaries and the report of the earlier audit go before anything is written; every
        // other file stays.
        const SUMMARIES: [&str; 3] = ["summary.json", "summary.csv", "report.html"];
        for name in old.keys() {
            assert!(
                now.contains_key(name) || SUMMARIES.contains(&name.as_str()),
                "delay {delay_ms} ms: {name} vanished"
            );
        }
        // An old summary.json is only ever beside old files: it describes what lies beside it.
        if now.get("summary.json").is_some_and(|s| *s == old["summary.json"])
            && old["summary.json"] != new["summary.json"]
        {
            assert!(!kinds.contains(&"new"), "delay {delay_ms} ms: the old summary.json beside new files");
        }
        // summary.json is written last: when it is new, so is every file it lists.
        if now.get("summary.json") == Some(&new["summary.json"]) && old["summary.json"] != new["summary.json"] {
            let s: Value = serde_json::from_slice(&now["summary.json"]).unwrap();
            for p in s["outputs"].as_array().unwrap() {
                let path = PathBuf::from(p.as_str().unwrap());
                let name = path.strip_prefix(&out).unwrap_or(&path).to_string_lossy().into_owned();
                assert_eq!(now[&name], new[&name], "delay {delay_ms} ms: summary.json is new but {name} is not");
            }
        }
        let state = if kinds.contains(&"temporary") {
            "killed while writing"
        } else if kinds.iter().all(|k| *k != "new") {
            "all old"
        } else if kinds.iter().all(|k| *k != "old") {
            "all new"
        } else {
            "mixed"
        };
        (state, status.success())
    };
    // Growing delays until runs complete; then a fine sweep between the last kill that left
    // everything old and the first run that completed, where the files are being written.
    let (mut last_old, mut first_done) = (0u64, None);
    let mut delay_ms = 0u64;
    let mut kills = 0;
    while first_done.is_none() && start.elapsed() < Duration::from_secs(120) {
        let (state, done) = kill_at(delay_ms);
        *states.entry(state).or_default() += 1;
        kills += 1;
        if state == "all old" {
            last_old = delay_ms;
        }
        if done || state == "all new" {
            first_done = Some(delay_ms);
        }
        delay_ms = if delay_ms == 0 { 5 } else { delay_ms + delay_ms / 3 + 5 };
    }
    let hi = first_done.expect("some run completed within two minutes");
    // The files are written at the end of a run: sweep the later half most finely.
    let steps = 40;
    let lo = last_old + (hi - last_old) / 2;
    for i in 0..=steps {
        let (state, _) = kill_at(lo + (hi - lo) * i / steps);
        *states.entry(state).or_default() += 1;
        kills += 1;
    }
    assert_eq!(input_files(&dir.path().join("demo_city")), inputs_before, "the inputs were touched");
    eprintln!(
        "kill test: full audit {full:?}; {kills} kills; fine sweep {lo}..{hi} ms; states after SIGKILL {states:?}"
    );
    assert!(states.get("all old").is_some_and(|&n| n > 0), "{states:?}");
    assert!(states.get("all new").is_some_and(|&n| n > 0), "{states:?}");
}

fn input_files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .map(|p| (p.file_name().unwrap().to_string_lossy().into_owned(), std::fs::read(&p).unwrap()))
        .collect()
}

/// An audit that cannot write one of its files (a folder stands where `wide_roads.geojson` goes)
/// fails naming the files it had written before, and writes no summary.
#[test]
fn failed_audit_names_the_files_it_wrote() {
    let dir = tempfile::tempdir().unwrap();
    run_ok(&["demo", "-o", dir.path().to_str().unwrap()]);
    let out = dir.path().join("audit");
    std::fs::create_dir_all(out.join("wide_roads.geojson")).unwrap();
    let city = dir.path().join("demo_city/city.toml");
    let o = bin().args(["audit", city.to_str().unwrap(), "-o", out.to_str().unwrap()]).output().unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("wide_roads.geojson"), "{stderr}");
    assert!(stderr.contains("before it stopped, this run wrote"), "{stderr}");
    for f in ["road_density.geojson", "road_density_grid.geojson"] {
        assert!(stderr.contains(&out.join(f).display().to_string()), "{f}: {stderr}");
    }
    assert!(!out.join("summary.json").exists() && !out.join("summary.csv").exists());
}
