//! `planaudit batch MANIFEST.toml -o OUT_DIR [--jobs N] [--force]`: audit many cities or counties.
//!
//! Each city runs as its own `planaudit audit` process, so a county that fails (or crashes) is
//! reported while the others go on; each lands in `OUT_DIR/<name>/`. A city whose outputs are
//! complete and newer than its city file and inputs is skipped unless `--force`. The combined
//! `OUT_DIR/summary.csv` holds every city's rows; `OUT_DIR/batch.json` and `batch.csv` say what
//! happened to each city.
//!
//! Manifest:
//! ```toml
//! # one city file per city ...
//! [[city]]
//! name = "huoshan"
//! config = "huoshan/city.toml"
//!
//! # ... or one template with per-city values substituted for {key}
//! template = "county_template.toml"
//! [[city]]
//! name = "shucheng"
//! vars = { dir = "shucheng" }
//! ```

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Instant, SystemTime};

use serde::{Deserialize, Serialize};

use super::write_json;
use crate::cli::BatchArgs;
use crate::config::City;
use crate::output::atomic::write_atomic;
use crate::output::summary::{csv_field, csv_records, CSV_HEADER};
use crate::{Error, Result};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Manifest {
    template: Option<String>,
    city: Vec<ManifestCity>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ManifestCity {
    name: String,
    config: Option<String>,
    #[serde(default)]
    vars: BTreeMap<String, String>,
}

/// One city of a batch, ready to run.
#[derive(Debug, Clone)]
pub struct BatchCity {
    pub name: String,
    /// The city file the audit reads (for templates: the filled-in copy).
    pub config: PathBuf,
    pub out_dir: PathBuf,
}

/// What happened to one city.
#[derive(Debug, Clone, Serialize)]
pub struct CityStatus {
    pub name: String,
    /// `ok`, `missed` (ran, some target missed), `failed`, or `skipped` (up to date).
    pub status: String,
    pub exit_code: Option<i32>,
    pub message: String,
    pub seconds: f64,
}

fn safe_name(name: &str) -> Result<&str> {
    if name.is_empty() || name.contains(['/', '\\']) || name == "." || name == ".." {
        return Err(Error::Usage(format!("batch: city name '{name}' cannot be a folder name")));
    }
    Ok(name)
}

/// Reads a manifest; fills templates into `OUT_DIR/<name>/city.toml`'s sibling folder.
pub fn plan(manifest: &Path, out_dir: &Path) -> Result<Vec<BatchCity>> {
    let label = manifest.display().to_string();
    let text = std::fs::read_to_string(manifest).map_err(|e| Error::io(manifest, e))?;
    let m: Manifest = toml::from_str(&text).map_err(|e| Error::Usage(format!("{label}: {e}")))?;
    let base = manifest.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let template = match &m.template {
        Some(t) => {
            let p = base.join(t);
            Some((std::fs::read_to_string(&p).map_err(|e| Error::io(&p, e))?, p))
        }
        None => None,
    };
    let mut seen = std::collections::BTreeSet::new();
    let mut cities = Vec::new();
    for c in &m.city {
        let name = safe_name(&c.name)?;
        if !seen.insert(name.to_string()) {
            return Err(Error::Usage(format!("{label}: city '{name}' appears twice")));
        }
        let city_out = out_dir.join(name);
        let config = match (&c.config, &template) {
            (Some(cfg), _) => base.join(cfg),
            (None, Some((text, tpath))) => {
                let mut filled = text.clone();
                for (k, v) in &c.vars {
                    let placeholder = format!("{{{k}}}");
                    if !text.contains(&placeholder) {
                        return Err(Error::Usage(format!(
                            "{label}: city '{name}': vars.{k}: the template has no {placeholder}"
                        )));
                    }
                    filled = filled.replace(&placeholder, v);
                }
                if let Some(left) = placeholders(&filled).first() {
                    return Err(Error::Usage(format!(
                        "{label}: city '{name}': no vars.{left} for the template's {{{left}}}"
                    )));
                }
                // The filled-in file sits beside the template so its relative paths still hold. Its
                // name carries a hash of its text: batches filling one template differently never
                // write each other's file, and an unchanged city keeps its file and its date.
                let dir = tpath.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
                let p = dir.join(format!(".{name}.{:016x}.city.toml", fnv1a(filled.as_bytes())));
                if std::fs::read(&p).ok().as_deref() != Some(filled.as_bytes()) {
                    write_atomic(&p, |w| w.write_all(filled.as_bytes()))?;
                }
                p
            }
            (None, None) => {
                return Err(Error::Usage(format!("{label}: city '{name}' has no config and the manifest no template")))
            }
        };
        cities.push(BatchCity { name: name.to_string(), config, out_dir: city_out });
    }
    if cities.is_empty() {
        return Err(Error::Usage(format!("{label}: no [[city]]")));
    }
    Ok(cities)
}

/// The `{word}` placeholders left in a filled template (TOML's inline tables have spaces or are
/// empty, so they are none).
fn placeholders(text: &str) -> Vec<&str> {
    text.split('{')
        .skip(1)
        .filter_map(|rest| rest.split_once('}').map(|(word, _)| word))
        .filter(|w| !w.is_empty() && w.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
        .collect()
}

/// The 64-bit FNV-1a hash of some bytes (stable across builds, unlike the standard hasher).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

fn mtime(p: &Path) -> Option<SystemTime> {
    std::fs::metadata(p).and_then(|m| m.modified()).ok()
}

/// Whether a city's outputs are complete and newer than everything it reads.
pub fn up_to_date(city: &BatchCity) -> bool {
    let summary = city.out_dir.join("summary.json");
    let Some(done) = mtime(&summary) else { return false };
    let Ok(text) = std::fs::read_to_string(&summary) else { return false };
    let Ok(v) = serde_json::from_str::<serde_json::Value>(&text) else { return false };
    // Made from this city file (a manifest may point a city to another one).
    let same_config = |recorded: &str| match (std::fs::canonicalize(recorded), std::fs::canonicalize(&city.config)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    };
    if !v["config"].as_str().is_some_and(same_config) {
        return false;
    }
    let Some(outputs) = v["outputs"].as_array() else { return false };
    if !outputs.iter().all(|o| o.as_str().is_some_and(|p| Path::new(p).exists())) {
        return false;
    }
    let Ok(loaded) = City::load(&city.config) else { return false };
    std::iter::once(city.config.clone()).chain(loaded.input_files()).all(|f| mtime(&f).is_some_and(|t| t <= done))
}

fn run_one(exe: &Path, city: &BatchCity, threads: usize) -> CityStatus {
    let start = Instant::now();
    let mut cmd = std::process::Command::new(exe);
    cmd.arg("audit").arg(&city.config).arg("-o").arg(&city.out_dir).arg("--quiet").arg("--fail-on-miss");
    // Each audit works on a share of the cores, unless the user chose the thread count.
    if std::env::var_os("RAYON_NUM_THREADS").is_none() {
        cmd.env("RAYON_NUM_THREADS", threads.to_string());
    }
    let (status, code, message) = match cmd.output() {
        Ok(o) => {
            let stderr = String::from_utf8_lossy(&o.stderr).trim().to_string();
            match o.status.code() {
                Some(0) => ("ok", Some(0), String::new()),
                Some(3) => ("missed", Some(3), "some targets missed".to_string()),
                c => ("failed", c, if stderr.is_empty() { "terminated by a signal".to_string() } else { stderr }),
            }
        }
        Err(e) => ("failed", None, format!("cannot start {}: {e}", exe.display())),
    };
    CityStatus {
        name: city.name.clone(),
        status: status.into(),
        exit_code: code,
        message,
        seconds: (start.elapsed().as_secs_f64() * 1000.0).round() / 1000.0,
    }
}

/// `planaudit batch`; returns the exit code.
pub fn run(args: &BatchArgs) -> Result<u8> {
    let cities = plan(&args.manifest, &args.output)?;
    let exe = std::env::current_exe().map_err(|e| Error::io("planaudit executable", e))?;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    if args.jobs == Some(0) {
        return Err(Error::Usage("--jobs 0: give at least 1 (cities audited at once)".into()));
    }
    let jobs = args.jobs.unwrap_or(cores);
    let threads = (cores / jobs.min(cities.len().max(1))).max(1);
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<CityStatus>>> = Mutex::new(vec![None; cities.len()]);
    std::thread::scope(|s| {
        for _ in 0..jobs.min(cities.len()) {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some(city) = cities.get(i) else { break };
                let st = if !args.force && up_to_date(city) {
                    CityStatus {
                        name: city.name.clone(),
                        status: "skipped".into(),
                        exit_code: None,
                        message: "outputs complete and newer than the inputs (--force to rerun)".into(),
                        seconds: 0.0,
                    }
                } else {
                    run_one(&exe, city, threads)
                };
                if !args.quiet {
                    super::errln!(
                        "{}: {}{}",
                        st.name,
                        st.status,
                        if st.message.is_empty() { String::new() } else { format!(": {}", st.message) }
                    );
                }
                results.lock().expect("no thread panics holding the lock")[i] = Some(st);
            });
        }
    });
    let statuses: Vec<CityStatus> =
        results.into_inner().expect("no thread panics holding the lock").into_iter().flatten().collect();

    // The combined summary: the rows of every city audited now or up to date, in manifest order,
    // each led by the city's manifest name (as in batch.csv: two cities may share a `[city] name`);
    // a city that failed has no rows (its folder may hold an earlier run's).
    let summaries: Vec<(&str, String)> = cities
        .iter()
        .zip(&statuses)
        .filter(|(_, st)| st.status != "failed")
        .filter_map(|(city, st)| {
            Some((st.name.as_str(), std::fs::read_to_string(city.out_dir.join("summary.csv")).ok()?))
        })
        .collect();
    let combined = combined_summary(&summaries);
    write_atomic(&args.output.join("summary.csv"), |w| w.write_all(combined.as_bytes()))?;
    let mut status_csv = String::from("city,status,exit_code,seconds,message\n");
    for s in &statuses {
        status_csv.push_str(&format!(
            "{},{},{},{},{}\n",
            csv_field(&s.name),
            s.status,
            s.exit_code.map(|c| c.to_string()).unwrap_or_default(),
            s.seconds,
            csv_field(&s.message)
        ));
    }
    write_atomic(&args.output.join("batch.csv"), |w| w.write_all(status_csv.as_bytes()))?;
    write_json(&args.output.join("batch.json"), &serde_json::json!({ "cities": statuses }))?;

    let failed = statuses.iter().filter(|s| s.status == "failed").count();
    // A city skipped as up to date misses what its last audit missed.
    let missed_before = |c: &BatchCity| {
        std::fs::read_to_string(c.out_dir.join("summary.json"))
            .ok()
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
            .and_then(|v| v["missed_targets"].as_u64())
            .is_some_and(|n| n > 0)
    };
    let missed = statuses
        .iter()
        .zip(&cities)
        .filter(|(s, c)| s.status == "missed" || (s.status == "skipped" && missed_before(c)))
        .count();
    if !args.quiet {
        outln!(
            "{} cities: {} ok, {} missed targets, {} failed, {} skipped; wrote {}",
            statuses.len(),
            statuses.iter().filter(|s| s.status == "ok").count(),
            missed,
            failed,
            statuses.iter().filter(|s| s.status == "skipped").count(),
            args.output.join("summary.csv").display()
        );
    }
    Ok(if failed > 0 {
        1
    } else if missed > 0 && args.fail_on_miss {
        super::audit::EXIT_TARGET_MISSED
    } else {
        0
    })
}

/// The combined summary.csv: the header with `batch_city` first, then every city's records (its
/// summary.csv's, `(manifest name, text)`) led by the city's manifest name, a record at a time (a
/// quoted field may hold a line end).
fn combined_summary(cities: &[(&str, String)]) -> String {
    let mut combined = format!("batch_city,{CSV_HEADER}\n");
    for (name, text) in cities {
        for record in csv_records(text).into_iter().skip(1) {
            combined.push_str(&csv_field(name));
            combined.push(',');
            combined.push_str(record);
            combined.push('\n');
        }
    }
    combined
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A record whose quoted area name holds a line end stays one record, led once by the city's
    /// name (quoted when it needs to be).
    #[test]
    fn combined_summary_keeps_records_whole() {
        let own = format!("{CSV_HEADER}\ncity,road_density,道路网密度,1,\"Line one\nline two\",9.9,8.3,,km/km²,true\n");
        let combined = combined_summary(&[("a,\"b\"", own), ("c", format!("{CSV_HEADER}\r\n"))]);
        assert_eq!(
            combined,
            format!(
                "batch_city,{CSV_HEADER}\n\"a,\"\"b\"\"\",city,road_density,道路网密度,1,\"Line one\nline two\",9.9,8.3,,km/km²,true\n"
            )
        );
    }
}
