//! `planaudit audit CITY.toml -o OUT_DIR`: every indicator the city file configures, the summary
//! (`summary.json`, `summary.csv`), in one run. Also `planaudit check` and `planaudit init`.

use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use super::road_density::{execute_to, summary_json, OutPaths, RoadDensityRun};
use super::write_json;
use crate::cli::{AuditArgs, CheckArgs, CommonArgs, InitArgs, MeasureArg, RoadDensityArgs};
use crate::config::{City, LayerConfig};
use crate::ingest::{read_layer, GeomKind, LayerReport, LayerSource, LayerSpec};
use crate::normalise::crs::{SourceCrs, ToLonLat};
use crate::output::summary::{write_csv, SummaryRow};
use crate::{Error, Result};

/// What an audit produced.
#[derive(Debug, Clone)]
pub struct AuditOutcome {
    pub rows: Vec<SummaryRow>,
    pub layers: Vec<LayerReport>,
    pub outputs: Vec<PathBuf>,
    /// Rows whose target is missed.
    pub missed: usize,
}

fn common(city: &City, summary: Option<PathBuf>) -> CommonArgs {
    let c = &city.config.city;
    CommonArgs {
        crs: c.crs.clone(),
        encoding: c.encoding.clone(),
        measure: if c.measure == "planar" { MeasureArg::Planar } else { MeasureArg::Ellipsoidal },
        planar_crs: c.planar_crs.clone(),
        summary_json: summary,
    }
}

/// The road-density arguments a city file stands for.
pub fn road_density_args(city: &City, out_dir: &Path) -> Option<RoadDensityArgs> {
    let rd = city.config.road_density.as_ref()?;
    let (areas, roads) = (city.config.layers.areas.as_ref()?, city.config.layers.roads.as_ref()?);
    let targets = rd.targets.iter().map(|(k, v)| if k == "*" { v.to_string() } else { format!("{k}={v}") }).collect();
    Some(RoadDensityArgs {
        roads: roads.source_text(&city.base),
        roads_where: roads.filter.clone(),
        roads_crs: roads.crs.clone(),
        areas: areas.source_text(&city.base),
        areas_where: areas.filter.clone(),
        areas_crs: areas.crs.clone(),
        grade_field: roads.field("grade"),
        grades: rd.grades.as_ref().map(|g| {
            if crate::normalise::grades::PRESETS.iter().any(|(n, _)| n == g) {
                g.clone()
            } else {
                crate::config::resolve(&city.base, g)
            }
        }),
        kind_field: areas.field("kind"),
        name_field: areas.field("name"),
        id_field: areas.field("id"),
        target: targets,
        grid: rd.grid_m,
        width_field: roads.field("width"),
        max_width: rd.max_width_m,
        common: common(city, None),
        output: out_dir.join("road_density.geojson"),
    })
}

/// The summary rows of a road-density run.
pub fn road_density_rows(run: &RoadDensityRun) -> Vec<SummaryRow> {
    run.result
        .areas
        .iter()
        .map(|a| {
            SummaryRow {
                indicator: "road_density".into(),
                indicator_zh: "道路网密度".into(),
                area_id: a.area_id.clone(),
                area_name: a.name.clone(),
                value: a.density_km_per_km2,
                target: a.target_km_per_km2,
                target_max: None,
                unit: "km/km²".into(),
                met: a.meets_target,
            }
            .rounded()
        })
        .collect()
}

/// A path as the file system resolves it: symbolic links, `.` and `..` followed. For a path that
/// does not exist yet, its deepest existing ancestor is resolved and the rest appended.
fn resolved(p: &Path) -> PathBuf {
    let abs = std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    let mut rest = Vec::new();
    let mut cur = abs.as_path();
    loop {
        if let Ok(c) = cur.canonicalize() {
            return rest.iter().rev().fold(c, |acc: PathBuf, part| acc.join(part));
        }
        match (cur.parent(), cur.file_name()) {
            (Some(parent), Some(name)) => {
                rest.push(name.to_os_string());
                cur = parent;
            }
            _ => return abs,
        }
    }
}

/// Refuses an output folder whose files would overwrite an input (the city file, or a layer's
/// dataset), however either path is spelled (`./`, `..`, symbolic links).
fn refuse_overwrite(inputs: &[String], outputs: &[PathBuf]) -> Result<()> {
    for o in outputs {
        let o_abs = resolved(o);
        for i in inputs {
            let ds = LayerSource::parse(i).dataset;
            if resolved(Path::new(&ds)) == o_abs {
                return Err(Error::Usage(format!(
                    "output {} would overwrite the input {ds}; choose another -o",
                    o.display()
                )));
            }
        }
    }
    Ok(())
}

/// Runs every indicator the city file configures and writes the outputs into `out_dir`.
///
/// Either every output is written and `summary.json` (written last) lists them, or the error
/// names the files this run had already replaced or created before it stopped.
pub fn audit(city: &City, out_dir: &Path) -> Result<AuditOutcome> {
    let before = file_states(out_dir);
    audit_files(city, out_dir).map_err(|e| {
        let after = file_states(out_dir);
        let written: Vec<PathBuf> =
            after.iter().filter(|(p, state)| before.get(*p) != Some(*state)).map(|(p, _)| p.clone()).collect();
        if written.is_empty() {
            e
        } else {
            Error::Partial { source: Box::new(e), written: written.iter().map(|p| p.display().to_string()).collect() }
        }
    })
}

/// The files of a folder with their size and modification time (empty if it does not exist).
fn file_states(dir: &Path) -> std::collections::BTreeMap<PathBuf, (u64, Option<std::time::SystemTime>)> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Default::default() };
    entries
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let m = e.metadata().ok().filter(|m| m.is_file())?;
            Some((e.path(), (m.len(), m.modified().ok())))
        })
        .collect()
}

/// [`audit`] without the account of what was written when it fails.
fn audit_files(city: &City, out_dir: &Path) -> Result<AuditOutcome> {
    let mut rows = Vec::new();
    let mut layers = Vec::new();
    let mut outputs = Vec::new();
    let mut indicators = serde_json::Map::new();
    let mut measure = None;

    if let Some(args) = road_density_args(city, out_dir) {
        let paths = OutPaths {
            areas: out_dir.join("road_density.geojson"),
            grid: out_dir.join("road_density_grid.geojson"),
            wide_roads: out_dir.join("wide_roads.geojson"),
        };
        refuse_overwrite(
            &[args.roads.clone(), args.areas.clone(), city.path.display().to_string()],
            &[
                paths.areas.clone(),
                paths.grid.clone(),
                paths.wide_roads.clone(),
                out_dir.join("summary.csv"),
                out_dir.join("summary.json"),
            ],
        )?;
        let run = execute_to(&args, &paths)?;
        rows.extend(road_density_rows(&run));
        layers.extend(run.reports.iter().cloned());
        outputs.extend(run.outputs.iter().cloned());
        measure = Some(run.measure.clone());
        indicators.insert("road_density".into(), summary_json(&run));
    }
    if indicators.is_empty() {
        return Err(Error::Usage(format!("{}: configures no indicator (add [road_density])", city.path.display())));
    }

    let missed = rows.iter().filter(|r| r.met == Some(false)).count();
    let csv = out_dir.join("summary.csv");
    write_csv(&csv, &city.config.city.name, &rows)?;
    outputs.push(csv);
    let json_path = out_dir.join("summary.json");
    outputs.push(json_path.clone());
    let summary = json!({
        "city": city.config.city.name,
        "config": city.path.display().to_string(),
        "generator": format!("planaudit {}", env!("CARGO_PKG_VERSION")),
        "measure": measure,
        "rows": rows,
        "missed_targets": missed,
        "layers": layers,
        "indicators": Value::Object(indicators),
        "outputs": outputs.iter().map(|p| p.display().to_string()).collect::<Vec<_>>(),
    });
    write_json(&json_path, &summary)?;
    Ok(AuditOutcome { rows, layers, outputs, missed })
}

/// Prints an audit's rows and files.
pub fn print_outcome(city: &City, o: &AuditOutcome) {
    println!("{}: {} indicator rows, {} targets missed", city.config.city.name, o.rows.len(), o.missed);
    println!("indicator\tarea_id\tarea_name\tvalue\ttarget\tunit\tmet");
    for r in &o.rows {
        let t = match (r.target, r.target_max) {
            (Some(a), Some(b)) => format!("{a}-{b}"),
            (Some(a), None) => a.to_string(),
            _ => "-".into(),
        };
        let met = match r.met {
            Some(true) => "yes",
            Some(false) => "NO",
            None => "-",
        };
        println!(
            "{}\t{}\t{}\t{:.3}\t{}\t{}\t{}",
            r.indicator,
            r.area_id,
            r.area_name.as_deref().unwrap_or("-"),
            r.value,
            t,
            r.unit,
            met
        );
    }
    print!("{}", super::report_lines(&o.layers.iter().collect::<Vec<_>>()));
    for p in &o.outputs {
        println!("wrote {}", p.display());
    }
}

/// `planaudit check`: the file parses, every layer opens, has its fields and a CRS; counts.
pub fn check(city: &City) -> Result<Vec<String>> {
    let mut lines = Vec::new();
    if let Some(args) = road_density_args(city, Path::new(".")) {
        super::road_density::check_options(&args)?;
    }
    let layers = &city.config.layers;
    let specs: Vec<(&str, &LayerConfig, GeomKind, Vec<&str>)> = [
        ("areas", layers.areas.as_ref(), GeomKind::Polygons, vec!["id", "name", "kind"]),
        ("roads", layers.roads.as_ref(), GeomKind::Lines, vec!["grade", "width"]),
    ]
    .into_iter()
    .filter_map(|(n, l, g, f)| l.map(|l| (n, l, g, f)))
    .collect();
    for (name, layer, geom, roles) in specs {
        let source = LayerSource::parse(&layer.source_text(&city.base));
        let spec = LayerSpec {
            source: source.clone(),
            filter: layer.filter.clone(),
            encoding: layer.encoding.clone().or(city.config.city.encoding.clone()),
            role: name.to_string(),
            fields: roles.iter().filter_map(|r| layer.field(r)).collect(),
            optional_fields: vec![],
            geom,
        };
        let raw = read_layer(&spec)?;
        let override_ = layer.crs.as_deref().or(city.config.city.crs.as_deref());
        let crs = SourceCrs::resolve(
            &raw.label(),
            raw.crs_wkt.as_deref(),
            override_.map(SourceCrs::parse).transpose()?.as_ref(),
            &format!("layers.{name}.crs"),
        )?;
        ToLonLat::new(&crs, &raw.label())?;
        lines.push(format!(
            "layers.{name}: {} — {} features read, {} usable, {} repaired, {} skipped; CRS {}",
            raw.label(),
            raw.report.read,
            raw.report.used,
            raw.report.repaired,
            raw.report.skipped_total(),
            crs.label()
        ));
    }
    Ok(lines)
}

/// Exit code of an audit whose targets were missed, with `--fail-on-miss`.
pub const EXIT_TARGET_MISSED: u8 = 3;

/// `planaudit audit`.
pub fn run(args: &AuditArgs) -> Result<u8> {
    let city = City::load(&args.config)?;
    let outcome = audit(&city, &args.output)?;
    if !args.quiet {
        print_outcome(&city, &outcome);
    }
    Ok(if args.fail_on_miss && outcome.missed > 0 { EXIT_TARGET_MISSED } else { 0 })
}

/// `planaudit check`.
pub fn run_check(args: &CheckArgs) -> Result<()> {
    let city = City::load(&args.config)?;
    for line in check(&city)? {
        println!("{line}");
    }
    println!("{}: ok", args.config.display());
    Ok(())
}

/// `planaudit init`.
pub fn run_init(args: &InitArgs) -> Result<()> {
    if args.path.exists() && !args.force {
        return Err(Error::Usage(format!("{} exists; use --force to overwrite it", args.path.display())));
    }
    crate::output::atomic::write_atomic(&args.path, |w| {
        std::io::Write::write_all(w, crate::config::TEMPLATE.as_bytes())
    })?;
    println!("wrote {}", args.path.display());
    Ok(())
}
