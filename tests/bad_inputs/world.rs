//! A small, consistent world of good layers (EPSG:4527 metres at Lu'an) that every command reads,
//! and the runner that swaps one layer for a bad one and checks what the command does.

use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use crate::common::run;

/// Metres from this corner, in CGCS2000 3-degree Gauss–Krüger zone 39 (EPSG:4527).
pub const X0: f64 = 39_480_000.0;
pub const Y0: f64 = 3_515_000.0;

/// The role a layer plays, and so which commands read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Study areas: road-density `--areas`, park-mix `--parks`, the city file's areas.
    Area,
    /// Land-use parcels: park-mix `--landuse`.
    Parcel,
    /// Roads: road-density and living-circle `--roads`, the city file's roads.
    Road,
    /// Homes: living-circle `--origins`.
    Origin,
    /// Facilities: living-circle `--facilities`.
    Facility,
}

impl Role {
    pub const ALL: [Role; 5] = [Role::Area, Role::Parcel, Role::Road, Role::Origin, Role::Facility];
}

/// A command run on the world, with one layer replaced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cmd {
    RoadDensity,
    ParkMix,
    LivingCircle,
    Audit,
}

impl Cmd {
    pub const ALL: [Cmd; 4] = [Cmd::RoadDensity, Cmd::ParkMix, Cmd::LivingCircle, Cmd::Audit];

    /// The commands that read a layer of `role`.
    pub fn reading(role: Role) -> Vec<Cmd> {
        Cmd::ALL.into_iter().filter(|c| c.roles().contains(&role)).collect()
    }

    pub fn roles(self) -> &'static [Role] {
        match self {
            Cmd::RoadDensity | Cmd::Audit => &[Role::Area, Role::Road],
            Cmd::ParkMix => &[Role::Area, Role::Parcel],
            Cmd::LivingCircle => &[Role::Road, Role::Origin, Role::Facility],
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Cmd::RoadDensity => "road-density",
            Cmd::ParkMix => "park-mix",
            Cmd::LivingCircle => "living-circle",
            Cmd::Audit => "audit",
        }
    }
}

/// A feature as GeoJSON geometry and properties.
pub type Feat = (Value, Value);

/// Metres from the corner to a coordinate pair.
pub fn xy(x: f64, y: f64) -> Value {
    json!([X0 + x, Y0 + y])
}

pub fn line(pts: &[(f64, f64)]) -> Value {
    json!({"type": "LineString", "coordinates": pts.iter().map(|&(x, y)| xy(x, y)).collect::<Vec<_>>()})
}

pub fn ring(pts: &[(f64, f64)]) -> Value {
    Value::Array(pts.iter().map(|&(x, y)| xy(x, y)).collect())
}

pub fn rect(x0: f64, y0: f64, x1: f64, y1: f64) -> Value {
    json!({"type": "Polygon", "coordinates": [ring(&[(x0, y0), (x1, y0), (x1, y1), (x0, y1), (x0, y0)])]})
}

pub fn point(x: f64, y: f64) -> Value {
    json!({"type": "Point", "coordinates": xy(x, y)})
}

/// Writes a GeoJSON FeatureCollection; `crs` is the `crs` member's EPSG code (None: no member,
/// which GeoJSON readers take as WGS84).
pub fn write_geojson(path: &Path, crs: Option<u32>, features: &[Feat]) {
    let features: Vec<Value> =
        features.iter().map(|(g, p)| json!({"type": "Feature", "properties": p, "geometry": g})).collect();
    let mut fc = json!({"type": "FeatureCollection", "features": features});
    if let Some(code) = crs {
        fc["crs"] = json!({"type": "name", "properties": {"name": format!("urn:ogc:def:crs:EPSG::{code}")}});
    }
    std::fs::write(path, serde_json::to_string_pretty(&fc).unwrap()).unwrap();
}

/// The good features of each role.
pub fn good(role: Role) -> Vec<Feat> {
    match role {
        Role::Area => vec![
            (rect(0.0, 0.0, 1000.0, 1000.0), json!({"id": 1, "park_id": "P1", "name": "甲区", "kind": "中心城区"})),
            (rect(2000.0, 0.0, 3000.0, 1000.0), json!({"id": 2, "park_id": "P2", "name": "乙区", "kind": "县城"})),
        ],
        Role::Parcel => vec![
            (rect(0.0, 0.0, 500.0, 500.0), json!({"dlbm": "0701"})),
            (rect(500.0, 0.0, 1000.0, 1000.0), json!({"dlbm": "1001"})),
            (rect(0.0, 500.0, 500.0, 1000.0), json!({"dlbm": "0901"})),
            (rect(2000.0, 0.0, 3000.0, 1000.0), json!({"dlbm": "1001"})),
        ],
        Role::Road => {
            let mut r = Vec::new();
            for i in 0..=10 {
                let x = i as f64 * 100.0;
                r.push((line(&[(x, -100.0), (x, 1100.0)]), json!({"grade": "支路", "width_m": 20.0})));
            }
            r.push((line(&[(-100.0, 500.0), (3100.0, 500.0)]), json!({"grade": "次干路", "width_m": 30.0})));
            r.push((line(&[(2500.0, -100.0), (2500.0, 1100.0)]), json!({"grade": "支路", "width_m": 20.0})));
            r
        }
        Role::Origin => vec![
            (point(150.0, 250.0), json!({"id": "o1", "pop": 100})),
            (rect(300.0, 600.0, 400.0, 700.0), json!({"id": "o2", "pop": 50})),
            (point(2450.0, 450.0), json!({"id": "o3", "pop": 20})),
        ],
        Role::Facility => vec![
            (point(100.0, 300.0), json!({"type": "幼儿园"})),
            (point(300.0, 500.0), json!({"type": "小学"})),
            (point(700.0, 500.0), json!({"type": "社区服务站"})),
            (point(2500.0, 500.0), json!({"type": "初中"})),
        ],
    }
}

/// A temporary folder holding the good world.
pub struct World {
    pub dir: tempfile::TempDir,
}

impl World {
    pub fn new() -> World {
        let dir = tempfile::tempdir().unwrap();
        let w = World { dir };
        for role in Role::ALL {
            write_geojson(&w.good_path(role), Some(4527), &good(role));
        }
        w
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn good_path(&self, role: Role) -> PathBuf {
        self.path(match role {
            Role::Area => "areas.geojson",
            Role::Parcel => "landuse.geojson",
            Role::Road => "roads.geojson",
            Role::Origin => "origins.geojson",
            Role::Facility => "facilities.geojson",
        })
    }

    /// Writes `name` holding the role's good features plus `extra`, in EPSG:4527.
    pub fn with_extra(&self, role: Role, name: &str, extra: &[Feat]) -> String {
        let mut f = good(role);
        f.extend(extra.iter().cloned());
        let p = self.path(name);
        write_geojson(&p, Some(4527), &f);
        p.display().to_string()
    }

    /// The arguments of `cmd` on the world, with `role`'s layer replaced by `bad` (a dataset
    /// string) and `extra` options appended; output into `out`.
    pub fn args(&self, cmd: Cmd, role: Role, bad: &str, out: &Path, extra: &[&str]) -> Vec<String> {
        let src = |r: Role| if r == role { bad.to_string() } else { self.good_path(r).display().to_string() };
        let o = out.display().to_string();
        let mut a: Vec<String> = match cmd {
            Cmd::RoadDensity => vec![
                "road-density".into(),
                "--roads".into(),
                src(Role::Road),
                "--areas".into(),
                src(Role::Area),
                "--width-field".into(),
                "width_m".into(),
                "-o".into(),
                o,
            ],
            Cmd::ParkMix => vec![
                "park-mix".into(),
                "--landuse".into(),
                src(Role::Parcel),
                "--parks".into(),
                src(Role::Area),
                "--classes".into(),
                "tdt2023".into(),
                "--id-field".into(),
                "park_id".into(),
                "-o".into(),
                o,
            ],
            Cmd::LivingCircle => vec![
                "living-circle".into(),
                "--roads".into(),
                src(Role::Road),
                "--origins".into(),
                src(Role::Origin),
                "--facilities".into(),
                src(Role::Facility),
                "--population-field".into(),
                "pop".into(),
                "-o".into(),
                o,
            ],
            Cmd::Audit => {
                let city = self.city_file(&src(Role::Area), &src(Role::Road));
                vec!["audit".into(), city, "-o".into(), o]
            }
        };
        a.extend(extra.iter().map(|s| s.to_string()));
        a
    }

    /// A city file auditing road density of `areas` with `roads` (absolute paths), beside them.
    pub fn city_file(&self, areas: &str, roads: &str) -> String {
        let (a, a_layer) = split_layer(areas);
        let (r, r_layer) = split_layer(roads);
        let layer = |l: Option<&str>| l.map(|l| format!("layer = \"{l}\"\n")).unwrap_or_default();
        let text = format!(
            "[city]\nname = \"测试市\"\n\n[layers.areas]\nsource = {a:?}\n{}fields = {{ id = \"id\", name = \"name\", kind = \"kind\" }}\n\n\
             [layers.roads]\nsource = {r:?}\n{}fields = {{ grade = \"grade\", width = \"width_m\" }}\n\n[road_density]\ngrid_m = 500\n",
            layer(a_layer),
            layer(r_layer)
        );
        let p = self.path("city.toml");
        std::fs::write(&p, text).unwrap();
        p.display().to_string()
    }
}

fn split_layer(source: &str) -> (&str, Option<&str>) {
    if Path::new(source).exists() {
        return (source, None);
    }
    match source.rsplit_once('#') {
        Some((d, l)) => (d, Some(l)),
        None => (source, None),
    }
}

/// What a case must give.
#[derive(Debug, Clone)]
pub enum Expect {
    /// Exit with `code`; stderr holds every word.
    Fail(i32, Vec<String>),
    /// Succeed; stdout holds every word, and the summary's layer report for the bad layer has
    /// `read`, `used`, and the skip or repair reason counted once.
    Counted {
        read: u64,
        used: u64,
        skipped: Option<String>,
        repaired: Option<String>,
        flagged: Option<String>,
        stderr: Vec<String>,
    },
}

pub fn fail(code: i32, words: &[&str]) -> Expect {
    Expect::Fail(code, words.iter().map(|s| s.to_string()).collect())
}

/// One more feature than the good layer, skipped for `reason`.
pub fn skipped(role: Role, reason: &str) -> Expect {
    let n = good(role).len() as u64;
    Expect::Counted {
        read: n + 1,
        used: n,
        skipped: Some(reason.into()),
        repaired: None,
        flagged: None,
        stderr: vec![],
    }
}

/// One more feature than the good layer, repaired for `reason` and used.
pub fn repaired(role: Role, reason: &str) -> Expect {
    let n = good(role).len() as u64 + 1;
    Expect::Counted { read: n, used: n, skipped: None, repaired: Some(reason.into()), flagged: None, stderr: vec![] }
}

/// One more feature than the good layer, kept with an attribute flagged for `reason`.
pub fn flagged(role: Role, reason: &str) -> Expect {
    let n = good(role).len() as u64 + 1;
    Expect::Counted { read: n, used: n, skipped: None, repaired: None, flagged: Some(reason.into()), stderr: vec![] }
}

/// Runs one case; returns a description of what went wrong, if anything. Every run is also
/// checked for a panic (exit 101) and for output left behind by a failed run.
pub fn check(
    w: &World,
    name: &str,
    cmd: Cmd,
    role: Role,
    bad: &str,
    extra: &[&str],
    expect: &Expect,
) -> Option<String> {
    let out_dir = w.path(&format!("out_{}_{}", name.replace([' ', '/'], "_"), cmd.name()));
    std::fs::create_dir_all(&out_dir).unwrap();
    let summary = out_dir.join("summary_cli.json");
    let out = if cmd == Cmd::Audit { out_dir.clone() } else { out_dir.join("o.geojson") };
    let mut args = w.args(cmd, role, bad, &out, extra);
    if cmd != Cmd::Audit {
        args.extend(["--summary-json".to_string(), summary.display().to_string()]);
    }
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let o = run(&refs);
    let stdout = String::from_utf8_lossy(&o.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&o.stderr).into_owned();
    let code = o.status.code();
    let ctx = || format!("[{name}] {} (exit {code:?})\nstdout:\n{stdout}\nstderr:\n{stderr}", cmd.name());
    if code == Some(101) || stderr.contains("panicked") {
        return Some(format!("PANIC {}", ctx()));
    }
    match expect {
        Expect::Fail(want, words) => {
            if code != Some(*want) {
                return Some(format!("expected exit {want}: {}", ctx()));
            }
            if let Some(w) = words.iter().find(|w| !stderr.contains(w.as_str())) {
                return Some(format!("stderr lacks {w:?}: {}", ctx()));
            }
            let left: Vec<String> = std::fs::read_dir(&out_dir)
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            if !left.is_empty() {
                return Some(format!("files left after a failed run: {left:?}: {}", ctx()));
            }
            None
        }
        Expect::Counted { read, used, skipped, repaired, flagged, stderr: words } => {
            if code != Some(0) {
                return Some(format!("expected success: {}", ctx()));
            }
            if let Some(w) = words.iter().find(|w| !stderr.contains(w.as_str())) {
                return Some(format!("stderr lacks {w:?}: {}", ctx()));
            }
            let file = Path::new(bad).file_name().unwrap().to_string_lossy().into_owned();
            let file = file.split('#').next().unwrap().to_string();
            let summary_path = if cmd == Cmd::Audit { out_dir.join("summary.json") } else { summary };
            let s: Value = match std::fs::read_to_string(&summary_path).map(|t| serde_json::from_str(&t)) {
                Ok(Ok(v)) => v,
                _ => return Some(format!("no summary JSON at {}: {}", summary_path.display(), ctx())),
            };
            let layers = s["layers"].as_array().cloned().unwrap_or_default();
            let Some(l) = layers.iter().find(|l| l["layer"].as_str().is_some_and(|n| n.contains(&file))) else {
                return Some(format!("no layer report for {file} in the summary: {}", ctx()));
            };
            if l["read"] != json!(read) || l["used"] != json!(used) {
                return Some(format!("expected read {read}, used {used}; report {l}: {}", ctx()));
            }
            if let Some(r) = skipped {
                let Some(key) = l["skipped"].as_object().and_then(|m| m.keys().find(|k| k.contains(r.as_str()))) else {
                    return Some(format!("skip '{r}' not counted in {l}: {}", ctx()));
                };
                if !stdout.contains(&format!("skipped 1: {key}")) {
                    return Some(format!("skip not printed: {}", ctx()));
                }
            }
            if let Some(r) = repaired {
                if !l["repairs"].as_object().is_some_and(|m| m.keys().any(|k| k.contains(r.as_str()))) {
                    return Some(format!("repair '{r}' not counted in {l}: {}", ctx()));
                }
                if !stdout.contains(&format!("repaired 1: {r}")) {
                    return Some(format!("repair not printed: {}", ctx()));
                }
            }
            if let Some(r) = flagged {
                let Some(key) = l["flagged"].as_object().and_then(|m| m.keys().find(|k| k.contains(r.as_str()))) else {
                    return Some(format!("flag '{r}' not counted in {l}: {}", ctx()));
                };
                if !stdout.contains(&format!("flagged 1: {key}")) {
                    return Some(format!("flag not printed: {}", ctx()));
                }
            }
            None
        }
    }
}

/// Runs every (case, command) pair and fails with the full list of what went wrong.
pub fn run_all(w: &World, cases: &[(String, Role, String, Expect)]) -> usize {
    let mut failures = Vec::new();
    let mut n = 0;
    let mut by_cmd: std::collections::BTreeMap<&str, usize> = Default::default();
    for (name, role, bad, expect) in cases {
        for cmd in Cmd::reading(*role) {
            n += 1;
            *by_cmd.entry(cmd.name()).or_default() += 1;
            if let Some(f) = check(w, name, cmd, *role, bad, &[], expect) {
                failures.push(f);
            }
        }
    }
    assert!(failures.is_empty(), "{} of {n} runs failed:\n\n{}", failures.len(), failures.join("\n\n"));
    eprintln!("corpus: {} cases, {n} runs: {by_cmd:?}", cases.len());
    n
}
