//! `planaudit batch MANIFEST.toml -o OUT_DIR [--jobs N] [--force]`: audit many cities or counties.
//!
//! Each city runs as its own `planaudit audit` process, so a county that fails (or crashes) is
//! reported while the others go on; each lands in `OUT_DIR/<name>/`. A city whose outputs are
//! complete and newer than its city file and inputs is skipped unless `--force`. The combined
//! `OUT_DIR/summary.csv` holds every city's rows; `OUT_DIR/batch.json` and `batch.csv` say what
//! happened to each city, with the warnings and the skipped and repaired features of its audit.
//!
//! A run in progress, or one that ended early, is marked: `batch.json` says `"complete": false`
//! from the start (the previous run's `summary.csv` and `batch.csv` are removed then) until every
//! city has been audited and the combined files written. SIGINT or SIGTERM stops the audits that
//! are running, records the cities that finished, and exits with 128 + the signal's number;
//! `--timeout` stops an audit that runs too long (a hung network mount, a FIFO for a layer).
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
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI32, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

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
    /// The text of the city file when it is filled in from the template: `run` writes it to
    /// `config`, in the city's output folder, when it differs from what is there.
    pub filled: Option<String>,
}

/// What happened to one city.
#[derive(Debug, Clone, Serialize)]
pub struct CityStatus {
    pub name: String,
    /// `ok`, `missed` (ran, some target missed), `failed`, `skipped` (up to date), `interrupted`
    /// (stopped by a signal to the batch) or `not run` (the batch was interrupted first).
    pub status: String,
    pub exit_code: Option<i32>,
    pub message: String,
    pub seconds: f64,
    /// The warnings of the city's audit (layers that do not overlap, a fragmented network, …),
    /// from its `summary.json`; none when it has none (a failed city).
    pub warnings: Vec<String>,
    /// Features its audit skipped, and repaired, over all layers.
    pub skipped_features: u64,
    pub repaired_features: u64,
    /// The targets its audit missed, by its `summary.json`: what a city skipped as up to date
    /// still misses.
    #[serde(skip)]
    pub missed_before: u64,
}

impl CityStatus {
    fn new(name: &str, status: &str, exit_code: Option<i32>, message: String, seconds: f64) -> CityStatus {
        CityStatus {
            name: name.to_string(),
            status: status.to_string(),
            exit_code,
            message,
            seconds,
            warnings: Vec::new(),
            skipped_features: 0,
            repaired_features: 0,
            missed_before: 0,
        }
    }
}

/// The files of the batch itself in `OUT_DIR`: no city may be named like one.
const BATCH_FILES: [&str; 3] = ["summary.csv", "batch.csv", "batch.json"];

fn safe_name(name: &str) -> Result<&str> {
    let bad = |why: &str| Err(Error::Usage(format!("batch: city name {name:?} {why}")));
    if name.is_empty() || name.contains(['/', '\\']) || name == "." || name == ".." {
        return bad("cannot be a folder name");
    }
    if name.chars().any(char::is_control) || name.trim() != name {
        return bad("has a control character or a leading or trailing space");
    }
    if name.starts_with('.') {
        return bad("starts with '.' (a hidden folder)");
    }
    if BATCH_FILES.contains(&name) {
        return bad("is the name of a file the batch writes in OUT_DIR");
    }
    Ok(name)
}

/// Reads a manifest; a city filled in from the template gets its city file's text, for
/// `OUT_DIR/<name>/city.toml`.
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
    let absolute = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    let mut seen = std::collections::BTreeSet::new();
    let mut cities = Vec::new();
    for c in &m.city {
        let name = safe_name(&c.name)?;
        if !seen.insert(name.to_string()) {
            return Err(Error::Usage(format!("{label}: city '{name}' appears twice")));
        }
        let city_out = out_dir.join(name);
        let mut filled = None;
        let config = match (&c.config, &template) {
            (Some(_), _) if !c.vars.is_empty() => {
                return Err(Error::Usage(format!(
                    "{label}: city '{name}': vars fill in the template, but this city names its own config"
                )))
            }
            (Some(cfg), _) => base.join(cfg),
            (None, Some((text, tpath))) => {
                let in_city = |e: String| Error::Usage(format!("{label}: city '{name}': {e}"));
                for k in c.vars.keys() {
                    // A placeholder is a word: `{city-name}` is text the template keeps as it is.
                    if k.is_empty() || !k.chars().all(|ch| ch.is_ascii_alphanumeric() || ch == '_') {
                        return Err(in_city(format!(
                            "vars.{k}: a var's name is letters, digits and _ (as its {{placeholder}} is)"
                        )));
                    }
                    if !text.contains(&format!("{{{k}}}")) {
                        return Err(in_city(format!("vars.{k}: the template has no {{{k}}}")));
                    }
                }
                let with_vars = fill_template(text, &c.vars).map_err(in_city)?;
                let tdir = tpath.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
                let text = with_base_dir(&with_vars, &absolute(tdir)).map_err(|e| {
                    in_city(format!("the template filled in with its vars is not a TOML city file: {e}"))
                })?;
                // Absolute paths: the text, and so the file's date, must not depend on the folder
                // the batch is started from.
                let header = format!(
                    "# Filled in by planaudit batch from {} with the vars of city '{name}' in {};\n\
                     # written again when they change. Relative paths start from [city] base_dir.\n",
                    absolute(tpath).display(),
                    absolute(manifest).display()
                );
                // Written beside the city's outputs by `run`, once the output folder is checked.
                filled = Some(header + &text);
                city_out.join("city.toml")
            }
            (None, None) => {
                return Err(Error::Usage(format!("{label}: city '{name}' has no config and the manifest no template")))
            }
        };
        // Absolute paths: the audit records them in summary.json, which the up-to-date check of a
        // later batch reads from whatever folder it is started in.
        cities.push(BatchCity {
            name: name.to_string(),
            config: absolute(&config),
            out_dir: absolute(&city_out),
            filled,
        });
    }
    if cities.is_empty() {
        return Err(Error::Usage(format!("{label}: no [[city]]")));
    }
    Ok(cities)
}

/// Where a template's text stands, for what a value put there must look like.
#[derive(Clone, Copy, PartialEq)]
enum TomlPlace {
    Bare,
    Comment,
    /// `"…"` or `"""…"""`: a value goes in with `\`, `"` and control characters escaped.
    Basic {
        multiline: bool,
    },
    /// `'…'` or `'''…'''`: no escapes; a value that would end the string is refused.
    Literal {
        multiline: bool,
    },
}

/// Puts each city's `vars` into the template's `{word}` placeholders (a word of ASCII letters,
/// digits and `_`; TOML's inline tables have spaces or are empty, so they are none). A value is
/// escaped as TOML needs where it stands: in a `"…"` string a `"` or `\` of the value stays what
/// it is; in a `'…'` string, which has no escapes, a value that would end the string is refused,
/// as is a value outside quotes that would add or hide TOML (a line break, a `#`), and a
/// placeholder without a var.
fn fill_template(template: &str, vars: &BTreeMap<String, String>) -> std::result::Result<String, String> {
    let mut out = String::with_capacity(template.len());
    let mut place = TomlPlace::Bare;
    let mut rest = template;
    while let Some(c) = rest.chars().next() {
        if c == '{' {
            let word_len = rest[1..].find(|ch: char| !(ch.is_ascii_alphanumeric() || ch == '_')).map(|n| n + 1);
            if let Some(end) = word_len.filter(|&e| e > 1 && rest[e..].starts_with('}')) {
                let word = &rest[1..end];
                let Some(value) = vars.get(word) else {
                    return Err(format!("no vars.{word} for the template's {{{word}}}"));
                };
                out.push_str(&toml_value_at(value, place).map_err(|why| format!("vars.{word} {value:?}: {why}"))?);
                rest = &rest[end + 1..];
                continue;
            }
        }
        let starts = |s: &str| rest.starts_with(s);
        let (taken, next) = match place {
            TomlPlace::Bare if c == '#' => (1, TomlPlace::Comment),
            TomlPlace::Bare if starts("\"\"\"") => (3, TomlPlace::Basic { multiline: true }),
            TomlPlace::Bare if c == '"' => (1, TomlPlace::Basic { multiline: false }),
            TomlPlace::Bare if starts("'''") => (3, TomlPlace::Literal { multiline: true }),
            TomlPlace::Bare if c == '\'' => (1, TomlPlace::Literal { multiline: false }),
            TomlPlace::Comment if c == '\n' => (1, TomlPlace::Bare),
            // An escape takes the character after it along (`\"` does not end the string).
            TomlPlace::Basic { .. } if c == '\\' => (1 + rest[1..].chars().next().map_or(0, char::len_utf8), place),
            TomlPlace::Basic { multiline: true } if starts("\"\"\"") => (3, TomlPlace::Bare),
            TomlPlace::Basic { multiline: false } if c == '"' || c == '\n' => (1, TomlPlace::Bare),
            TomlPlace::Literal { multiline: true } if starts("'''") => (3, TomlPlace::Bare),
            TomlPlace::Literal { multiline: false } if c == '\'' || c == '\n' => (1, TomlPlace::Bare),
            _ => (c.len_utf8(), place),
        };
        out.push_str(&rest[..taken]);
        rest = &rest[taken..];
        place = next;
    }
    Ok(out)
}

/// A var's value as it must be written where it stands in the template.
fn toml_value_at(value: &str, place: TomlPlace) -> std::result::Result<String, &'static str> {
    match place {
        // Outside quotes a value is TOML itself (a number, an array), the spaces around it none of
        // it: a line break or a `#` would add keys of its own to the city file, or hide the rest
        // of the line.
        TomlPlace::Bare if value.contains('#') || value.trim().chars().any(char::is_control) => {
            Err("cannot stand outside quotes with a line break, a control character or a '#', which would add or hide TOML: give the value alone (a number, an array; no comment), or for a text write the placeholder in \"…\"")
        }
        TomlPlace::Bare => Ok(value.trim().to_string()),
        // A line break would end the comment and make the rest of the value TOML.
        TomlPlace::Comment => Ok(value.replace(['\r', '\n'], " ")),
        TomlPlace::Basic { .. } => Ok(value
            .chars()
            .map(|ch| match ch {
                '"' => "\\\"".to_string(),
                '\\' => "\\\\".to_string(),
                c if c.is_control() => format!("\\u{:04X}", u32::from(c)),
                c => c.to_string(),
            })
            .collect()),
        TomlPlace::Literal { multiline } => {
            let ends = if multiline { value.contains("'''") } else { value.contains('\'') };
            if ends || value.chars().any(|c| c.is_control() && c != '\t') {
                Err("cannot stand in the template's '…' string, which has no escapes: write the placeholder in \"…\"")
            } else {
                Ok(value.to_string())
            }
        }
    }
}

/// A filled-in city file with `[city] base_dir` set to `template_dir` (or, when the template sets
/// one, to it taken from there): the file is written elsewhere, and its relative paths must still
/// start where the template's do.
fn with_base_dir(text: &str, template_dir: &Path) -> std::result::Result<String, String> {
    let mut table: toml::Table = toml::from_str(text).map_err(|e| e.to_string())?;
    let Some(toml::Value::Table(city)) = table.get_mut("city") else {
        return Err("it has no [city] table".into());
    };
    let base = match city.get("base_dir") {
        None => template_dir.to_path_buf(),
        Some(toml::Value::String(d)) => template_dir.join(d),
        Some(_) => return Err("[city] base_dir is not a string".into()),
    };
    city.insert("base_dir".into(), toml::Value::String(base.display().to_string()));
    toml::to_string(&table).map_err(|e| e.to_string())
}

/// When a file was last changed; for a folder dataset (a folder of Shapefiles, a FileGDB), the
/// latest change of the folder or of anything in it, a few levels down: a layer edited in place
/// changes its file's date, not its folder's. The batch's own folder `out_root`, when it lies in
/// a folder dataset, is not the dataset's: its outputs would make every city look changed.
fn mtime(p: &Path, out_root: Option<&Path>) -> Option<SystemTime> {
    newest_change(p, 3, out_root)
}

fn newest_change(p: &Path, levels: usize, skip: Option<&Path>) -> Option<SystemTime> {
    let meta = std::fs::metadata(p).ok()?;
    let own = meta.modified().ok()?;
    if !meta.is_dir() || levels == 0 {
        return Some(own);
    }
    let inner = std::fs::read_dir(p).ok()?.flatten().filter_map(|e| {
        let path = e.path();
        let skipped = skip.is_some_and(|s| {
            e.file_type().is_ok_and(|t| t.is_dir()) && std::fs::canonicalize(&path).is_ok_and(|c| c == s)
        });
        if skipped {
            None
        } else {
            newest_change(&path, levels - 1, skip)
        }
    });
    Some(inner.fold(own, SystemTime::max))
}

/// Whether a city's outputs are complete and newer than everything it reads.
pub fn up_to_date(city: &BatchCity) -> bool {
    let summary = city.out_dir.join("summary.json");
    let out_root = city.out_dir.parent().and_then(|d| std::fs::canonicalize(d).ok());
    let mtime = |p: &Path| mtime(p, out_root.as_deref());
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
    // Listed by their paths in the city's output folder (absolute in older summaries).
    if !outputs.iter().all(|o| o.as_str().is_some_and(|p| city.out_dir.join(p).exists())) {
        return false;
    }
    let Ok(loaded) = City::load(&city.config) else { return false };
    std::iter::once(city.config.clone()).chain(loaded.input_files()).all(|f| mtime(&f).is_some_and(|t| t <= done))
}

/// Set to the signal's number when the batch gets SIGINT or SIGTERM.
static INTERRUPTED: AtomicI32 = AtomicI32::new(0);

/// From now on SIGINT and SIGTERM set [`INTERRUPTED`] instead of ending the process: the batch
/// stops its audits itself and records what finished.
#[allow(unsafe_code)]
fn catch_signals() {
    extern "C" fn on_signal(signal: libc::c_int) {
        INTERRUPTED.store(signal, Ordering::SeqCst);
    }
    let handler: extern "C" fn(libc::c_int) = on_signal;
    for signal in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: `sigaction` with a null new action only reads the current one into a zeroed
        // struct; the handler only stores to an atomic, which is async-signal-safe, and `signal`
        // installs it for the whole process, which is what the batch wants.
        unsafe {
            let mut current: libc::sigaction = std::mem::zeroed();
            // A signal ignored when the batch started (a background job of a script) stays
            // ignored, as it was before the batch caught any.
            if libc::sigaction(signal, std::ptr::null(), &mut current) == 0 && current.sa_sigaction == libc::SIG_IGN {
                continue;
            }
            libc::signal(signal, handler as libc::sighandler_t);
        }
    }
}

/// The name of a signal (`SIGKILL`), or its number.
fn signal_name(signal: i32) -> String {
    match signal {
        libc::SIGINT => "SIGINT".into(),
        libc::SIGTERM => "SIGTERM".into(),
        libc::SIGKILL => "SIGKILL".into(),
        libc::SIGABRT => "SIGABRT".into(),
        libc::SIGSEGV => "SIGSEGV".into(),
        libc::SIGBUS => "SIGBUS".into(),
        libc::SIGHUP => "SIGHUP".into(),
        n => format!("signal {n}"),
    }
}

/// How often a running audit is looked at for its end, a timeout or an interruption.
const POLL: Duration = Duration::from_millis(20);

fn run_one(exe: &Path, city: &BatchCity, threads: usize, timeout: Option<Duration>) -> CityStatus {
    use std::os::unix::process::ExitStatusExt;
    let start = Instant::now();
    let mut cmd = std::process::Command::new(exe);
    cmd.arg("audit").arg(&city.config).arg("-o").arg(&city.out_dir).arg("--quiet").arg("--fail-on-miss");
    cmd.stdin(std::process::Stdio::null()).stdout(std::process::Stdio::null()).stderr(std::process::Stdio::piped());
    // Each audit works on a share of the cores, unless the user chose the thread count.
    if std::env::var_os("RAYON_NUM_THREADS").is_none() {
        cmd.env("RAYON_NUM_THREADS", threads.to_string());
    }
    let seconds = |start: Instant| (start.elapsed().as_secs_f64() * 1000.0).round() / 1000.0;
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            return CityStatus::new(
                &city.name,
                "failed",
                None,
                format!("cannot start {}: {e}", exe.display()),
                seconds(start),
            )
        }
    };
    // Standard error read as it comes, so that an audit with much to say never blocks on a full pipe.
    let stderr = child.stderr.take().map(|mut pipe| {
        std::thread::spawn(move || {
            let mut text = Vec::new();
            let _ = pipe.read_to_end(&mut text);
            text
        })
    });
    // Why the batch stopped the audit, if it did.
    let mut stopped: Option<(&str, String)> = None;
    let exit = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Ok(status),
            Ok(None) => {}
            Err(e) => break Err(e),
        }
        let signal = INTERRUPTED.load(Ordering::SeqCst);
        let timed_out = timeout.filter(|t| start.elapsed() >= *t);
        if signal != 0 || timed_out.is_some() {
            stopped = Some(match timed_out {
                Some(t) if signal == 0 => ("failed", format!("stopped after {} s (--timeout)", t.as_secs_f64())),
                _ => ("interrupted", format!("stopped: the batch got {}", signal_name(signal))),
            });
            let _ = child.kill();
            break child.wait();
        }
        std::thread::sleep(POLL);
    };
    let stderr = stderr.and_then(|h| h.join().ok()).unwrap_or_default();
    let stderr = String::from_utf8_lossy(&stderr).trim().to_string();
    let (status, code, message) = match (stopped, exit) {
        (Some((status, why)), _) => (status, None, why),
        (None, Err(e)) => ("failed", None, format!("waiting for its audit: {e}")),
        (None, Ok(exit)) => match (exit.code(), exit.signal()) {
            (Some(0), _) => ("ok", Some(0), String::new()),
            (Some(3), _) => ("missed", Some(3), "some targets missed".to_string()),
            (Some(c), _) if !stderr.is_empty() => ("failed", Some(c), stderr),
            (Some(c), _) => ("failed", Some(c), format!("its audit exited with {c} and said nothing")),
            // Ctrl-C in a terminal (or a service manager stopping the group) reaches the audits
            // too, and one may end before the batch's own handler has run.
            (None, Some(_)) if interrupted_too(exit.signal()) => (
                "interrupted",
                None,
                format!("stopped: the batch got {}", signal_name(INTERRUPTED.load(Ordering::SeqCst))),
            ),
            (None, signal) => {
                let name = signal.map_or("a signal".to_string(), signal_name);
                let hint = if signal == Some(libc::SIGKILL) { " (as the out-of-memory killer does)" } else { "" };
                ("failed", None, format!("its audit was killed by {name}{hint}"))
            }
        },
    };
    if matches!(status, "failed" | "interrupted") && code.is_none() {
        // Stopped part-way: whatever its audit wrote is no complete run for the next batch to skip.
        let _ = super::audit::retire_summaries(&city.out_dir);
    }
    let mut st = CityStatus::new(&city.name, status, code, message, seconds(start));
    if matches!(status, "ok" | "missed") {
        add_audit_notes(&mut st, city);
    }
    st
}

/// Whether an audit that died of `signal` was interrupted along with the batch: the batch got
/// SIGINT or SIGTERM, or gets it within a moment (a signal sent to the whole group reaches the
/// audit and the batch at once, in either order).
fn interrupted_too(signal: Option<i32>) -> bool {
    if !matches!(signal, Some(libc::SIGINT | libc::SIGTERM)) {
        return INTERRUPTED.load(Ordering::SeqCst) != 0;
    }
    let deadline = Instant::now() + Duration::from_millis(500);
    while INTERRUPTED.load(Ordering::SeqCst) == 0 && Instant::now() < deadline {
        std::thread::sleep(POLL);
    }
    INTERRUPTED.load(Ordering::SeqCst) != 0
}

/// The warnings, the skipped and repaired feature counts and the missed targets of a city's
/// audit, from its `summary.json`.
fn add_audit_notes(st: &mut CityStatus, city: &BatchCity) {
    let Some(v) = std::fs::read_to_string(city.out_dir.join("summary.json"))
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
    else {
        return;
    };
    st.missed_before = v["missed_targets"].as_u64().unwrap_or(0);
    // A layer two indicators share (the roads) is reported by each, from the one read: its
    // features are counted once, and its warnings are all kept.
    let mut counted: Vec<(&serde_json::Value, &serde_json::Value)> = Vec::new();
    for layer in v["layers"].as_array().into_iter().flatten() {
        let warnings = layer["warnings"].as_array().into_iter().flatten();
        st.warnings.extend(warnings.filter_map(|w| w.as_str()).map(String::from));
        let read = (&layer["layer"], &layer["role"]);
        if !counted.contains(&read) {
            counted.push(read);
            let skipped = layer["skipped"].as_object().into_iter().flatten();
            st.skipped_features += skipped.filter_map(|(_, n)| n.as_u64()).sum::<u64>();
            st.repaired_features += layer["repaired"].as_u64().unwrap_or(0);
        }
    }
    // A warning about two layers an indicator reads twice shows in each report: once is enough.
    let mut seen = std::collections::BTreeSet::new();
    st.warnings.retain(|w| seen.insert(w.clone()));
}

/// A message on one line: a log line per city, whatever the audit printed.
fn one_line(message: &str) -> String {
    message.lines().map(str::trim).filter(|l| !l.is_empty()).collect::<Vec<_>>().join(" / ")
}

/// `planaudit batch`; returns the exit code.
pub fn run(args: &BatchArgs) -> Result<u8> {
    let cities = plan(&args.manifest, &args.output)?;
    let exe = std::env::current_exe().map_err(|e| Error::io("planaudit executable", e))?;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    if args.jobs == Some(0) {
        return Err(Error::Usage("--jobs 0: give at least 1 (cities audited at once)".into()));
    }
    let timeout = match args.timeout {
        None => None,
        Some(t) => match Duration::try_from_secs_f64(t) {
            Ok(d) if t > 0.0 => Some(d),
            _ => return Err(Error::Usage(format!("--timeout {t}: give a positive number of seconds"))),
        },
    };
    if args.output.exists() && !args.output.is_dir() {
        return Err(Error::Usage(format!("{}: OUT_DIR is a file, not a folder", args.output.display())));
    }
    std::fs::create_dir_all(&args.output).map_err(|e| Error::io(&args.output, e))?;
    // The city files filled in from the template, beside each city's outputs (never in the
    // template's folder, which may be read-only); one that has not changed keeps its date, so
    // the city stays up to date.
    for city in &cities {
        if let Some(text) = &city.filled {
            std::fs::create_dir_all(&city.out_dir).map_err(|e| Error::io(&city.out_dir, e))?;
            if std::fs::read(&city.config).ok().as_deref() != Some(text.as_bytes()) {
                write_atomic(&city.config, |w| w.write_all(text.as_bytes()))?;
            }
        }
    }
    // The batch's own files must not be what a city reads (a table named batch.csv in OUT_DIR):
    // they are removed or written over next. A city file that does not load fails on its own.
    let batch_files: Vec<PathBuf> = BATCH_FILES.iter().map(|f| args.output.join(f)).collect();
    for city in &cities {
        let Ok(loaded) = City::load(&city.config) else { continue };
        let inputs: Vec<String> =
            std::iter::once(city.config.clone()).chain(loaded.input_files()).map(|p| p.display().to_string()).collect();
        super::refuse_overwrite(&inputs, &batch_files)
            .map_err(|e| Error::Usage(format!("batch: city {:?}: {e}", city.name)))?;
    }
    // Until the end, the folder says the batch is not complete: the previous run's combined files
    // go, and batch.json lists every city as pending.
    for f in ["summary.csv", "batch.csv"] {
        super::remove_if_there(&args.output.join(f))?;
    }
    let pending: Vec<CityStatus> =
        cities.iter().map(|c| CityStatus::new(&c.name, "pending", None, String::new(), 0.0)).collect();
    write_status_json(&args.output, &pending, false, None)?;
    catch_signals();

    let jobs = args.jobs.unwrap_or(cores);
    let threads = (cores / jobs.min(cities.len().max(1))).max(1);
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<CityStatus>>> = Mutex::new(vec![None; cities.len()]);
    std::thread::scope(|s| {
        for _ in 0..jobs.min(cities.len()) {
            s.spawn(|| loop {
                if INTERRUPTED.load(Ordering::SeqCst) != 0 {
                    break;
                }
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some(city) = cities.get(i) else { break };
                let st = if !args.force && up_to_date(city) {
                    let mut st = CityStatus::new(&city.name, "skipped", None, String::new(), 0.0);
                    add_audit_notes(&mut st, city);
                    st.message = format!(
                        "outputs complete and newer than the inputs (--force to rerun); its last audit {}",
                        match st.missed_before {
                            0 => "met every target".to_string(),
                            n => format!("missed {n} targets"),
                        }
                    );
                    st
                } else {
                    run_one(&exe, city, threads, timeout)
                };
                let is_error = matches!(st.status.as_str(), "failed" | "interrupted");
                if !args.quiet || is_error {
                    let warnings = match st.warnings.len() {
                        0 => String::new(),
                        1 => " [1 warning]".into(),
                        n => format!(" [{n} warnings]"),
                    };
                    let message =
                        if st.message.is_empty() { String::new() } else { format!(": {}", one_line(&st.message)) };
                    super::errln!("{}: {}{message}{warnings}", st.name, st.status);
                }
                results.lock().expect("no thread panics holding the lock")[i] = Some(st);
            });
        }
    });
    // A signal that came once every city had finished stopped nothing: the batch is complete.
    let finished = results
        .lock()
        .expect("no thread panics holding the lock")
        .iter()
        .all(|st| st.as_ref().is_some_and(|st| st.status != "interrupted"));
    let signal = if finished { 0 } else { INTERRUPTED.load(Ordering::SeqCst) };
    let statuses: Vec<CityStatus> = results
        .into_inner()
        .expect("no thread panics holding the lock")
        .into_iter()
        .zip(&cities)
        .map(|(st, city)| {
            st.unwrap_or_else(|| {
                let why = format!("the batch got {} before this city's audit started", signal_name(signal));
                CityStatus::new(&city.name, "not run", None, why, 0.0)
            })
        })
        .collect();

    // batch.csv first, then the combined summary, then batch.json saying whether all is complete:
    // a failure to write one still leaves each city's status on disk.
    let mut status_csv =
        String::from("city,status,exit_code,seconds,message,warnings,skipped_features,repaired_features\n");
    for s in &statuses {
        status_csv.push_str(&format!(
            "{},{},{},{},{},{},{},{}\n",
            csv_field(&s.name),
            csv_field(&s.status),
            s.exit_code.map(|c| c.to_string()).unwrap_or_default(),
            s.seconds,
            csv_field(&s.message),
            s.warnings.len(),
            s.skipped_features,
            s.repaired_features
        ));
    }
    write_atomic(&args.output.join("batch.csv"), |w| w.write_all(status_csv.as_bytes()))?;
    // The combined summary: the rows of every city audited now or up to date, in manifest order,
    // each led by the city's manifest name (as in batch.csv: two cities may share a `[city] name`);
    // a city that failed or did not run has no rows (its folder may hold an earlier run's).
    let summaries: Vec<(&str, String)> = cities
        .iter()
        .zip(&statuses)
        .filter(|(_, st)| matches!(st.status.as_str(), "ok" | "missed" | "skipped"))
        .filter_map(|(city, st)| {
            Some((st.name.as_str(), std::fs::read_to_string(city.out_dir.join("summary.csv")).ok()?))
        })
        .collect();
    let combined = combined_summary(&summaries);
    write_atomic(&args.output.join("summary.csv"), |w| w.write_all(combined.as_bytes()))?;
    write_status_json(&args.output, &statuses, signal == 0, (signal != 0).then(|| signal_name(signal)))?;

    let count = |status: &str| statuses.iter().filter(|s| s.status == status).count();
    let failed = count("failed");
    // A city skipped as up to date met or missed what its last audit did.
    let skipped = count("skipped");
    let skipped_missed = statuses.iter().filter(|s| s.status == "skipped" && s.missed_before > 0).count();
    let missed = count("missed") + skipped_missed;
    let ok = count("ok") + skipped - skipped_missed;
    if !args.quiet || signal != 0 {
        let mut line = format!("{} cities: {ok} ok, {missed} missed targets, {failed} failed", statuses.len());
        if skipped > 0 {
            line.push_str(&format!(" ({skipped} of these up to date, not rerun)"));
        }
        if signal != 0 {
            line.push_str(&format!(
                "; interrupted by {}: {} stopped, {} not run",
                signal_name(signal),
                count("interrupted"),
                count("not run")
            ));
        }
        line.push_str(&format!("; wrote {}", args.output.join("summary.csv").display()));
        if signal != 0 {
            super::errln!("{line}");
        } else {
            outln!("{line}");
        }
    }
    Ok(if signal != 0 {
        // The shell's convention for a process ended by a signal.
        u8::try_from(128 + signal).unwrap_or(1)
    } else if failed > 0 {
        1
    } else if missed > 0 && args.fail_on_miss {
        super::audit::EXIT_TARGET_MISSED
    } else {
        0
    })
}

/// `batch.json`: every city's status, whether the batch is complete, and the signal that
/// interrupted it.
fn write_status_json(out: &Path, statuses: &[CityStatus], complete: bool, interrupted: Option<String>) -> Result<()> {
    write_json(
        &out.join("batch.json"),
        &serde_json::json!({ "complete": complete, "interrupted": interrupted, "cities": statuses }),
    )
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

    /// Outside quotes a value goes in without the spaces around it; a `#` or a control character
    /// within it is refused, with advice that keeps a number a number.
    #[test]
    fn bare_values_are_trimmed_or_refused() {
        let vars = |v: &str| BTreeMap::from([("grid".to_string(), v.to_string())]);
        for v in ["500\t", " 500 ", "500"] {
            assert_eq!(fill_template("grid_m = {grid}  # cells\n", &vars(v)).unwrap(), "grid_m = 500  # cells\n");
        }
        for v in ["500 # half a km", "500\nmax_width_m = 10", "5\u{1}00"] {
            let e = fill_template("grid_m = {grid}\n", &vars(v)).unwrap_err();
            assert!(
                e.starts_with("vars.grid") && e.contains("give the value alone (a number, an array; no comment)"),
                "{e}"
            );
        }
        // In quotes a value is text, its spaces kept.
        assert_eq!(fill_template("name = \"{grid}\"", &vars(" a\t")).unwrap(), "name = \" a\\u0009\"");
    }

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
