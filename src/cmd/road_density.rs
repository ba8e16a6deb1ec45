//! `planaudit road-density`: read roads and areas, compute the density of each area, write GeoJSON.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use super::layers::Layers;
use super::{choose_frame, finish_run, lines, sibling, warn_if_apart, AreaFields, FieldChoice, ID_FIELDS};
use crate::cli::RoadDensityArgs;
use crate::indicators::road_density::{compute, AreaDensity, Params, RoadDensity};
use crate::ingest::{GeomKind, LayerReport, LayerSource, LayerSpec};
use crate::model::Road;
use crate::normalise::kinds::Kinds;
use crate::normalise::project;
use crate::output::geojson::{write_collection, CollectionMeta};
use crate::output::road_density::{area_features, area_properties, grid_features, table, wide_features};
use crate::units::KahanSum;
use crate::{Error, Result};

/// What a run produced.
pub struct RoadDensityRun {
    pub result: RoadDensity,
    pub reports: Vec<LayerReport>,
    pub measure: String,
    pub frame_crs: String,
    pub outputs: Vec<PathBuf>,
}

/// Targets per kind (`KIND=VALUE`), and the default (`VALUE`).
pub type Targets = (Vec<(String, f64)>, Option<f64>);

/// Parses `--target KIND=VALUE` / `--target VALUE`.
pub fn parse_targets(items: &[String]) -> Result<Targets> {
    let mut by_kind = Vec::new();
    let mut default = None;
    for item in items {
        let (kind, value) = match item.rsplit_once('=') {
            Some((k, v)) => (Some(k.trim()), v),
            None => (None, item.as_str()),
        };
        let v: f64 = value.trim().parse().ok().filter(|v: &f64| v.is_finite() && *v >= 0.0).ok_or_else(|| {
            Error::Usage(format!(
                "--target {item}: expected KIND=VALUE or VALUE, with VALUE a non-negative number of km/km²"
            ))
        })?;
        match kind {
            Some(k) if !k.is_empty() => by_kind.push((k.to_string(), v)),
            Some(_) => return Err(Error::Usage(format!("--target {item}: the kind before '=' is empty"))),
            None => default = Some(v),
        }
    }
    Ok((by_kind, default))
}

/// Where a run writes its layers.
#[derive(Debug, Clone)]
pub struct OutPaths {
    pub areas: PathBuf,
    pub grid: PathBuf,
    pub wide_roads: PathBuf,
}

impl OutPaths {
    /// `OUT.geojson`, `OUT_grid.geojson`, `OUT_wide_roads.geojson`.
    pub fn beside(out: &Path) -> OutPaths {
        OutPaths { areas: out.to_path_buf(), grid: sibling(out, "grid"), wide_roads: sibling(out, "wide_roads") }
    }
}

/// Runs the indicator and writes its files where `args.output` says; returns what it did.
pub fn execute(args: &RoadDensityArgs) -> Result<RoadDensityRun> {
    let paths = OutPaths::beside(&args.output);
    refuse_overwrite(args, &paths, &[], args.common.summary_json.as_slice())?;
    execute_to(args, &paths, &Layers::default())
}

/// Refuses outputs (`paths` and `more_outputs`) that would overwrite an input (the layers and
/// `more_inputs`).
pub(crate) fn refuse_overwrite(
    args: &RoadDensityArgs,
    paths: &OutPaths,
    more_inputs: &[String],
    more_outputs: &[PathBuf],
) -> Result<()> {
    let tables = super::table_files([(args.road.grades.as_ref(), crate::normalise::grades::PRESETS)]);
    let inputs = [&[args.road.roads.clone(), args.areas.clone()], more_inputs, &tables].concat();
    let outputs = [&[paths.areas.clone(), paths.grid.clone(), paths.wide_roads.clone()], more_outputs].concat();
    super::refuse_overwrite(&inputs, &outputs)
}

/// Cell sizes the density grid takes, in metres: from a block face (10 m, a million cells in 100 km²)
/// to a whole county (100 km).
const GRID_M: std::ops::RangeInclusive<f64> = 10.0..=100_000.0;

/// Checks the options that need no data: grid, widths, targets, the grade table. `planaudit check`
/// runs this too, so that a city file with a bad option fails there and not only in the audit.
pub fn check_options(args: &RoadDensityArgs) -> Result<()> {
    if let Some(g) = args.grid {
        if !(GRID_M.contains(&g)) {
            return Err(Error::Usage(format!(
                "--grid {g:?}: the cell size must be between {} and {} metres",
                GRID_M.start(),
                GRID_M.end()
            )));
        }
    }
    if let Some(w) = args.max_width {
        if !(w.is_finite() && w > 0.0) {
            return Err(Error::Usage(format!("--max-width {w}: must be a positive number of metres")));
        }
    }
    if args.max_width.is_some() && args.width_field.is_none() {
        return Err(Error::Usage("--max-width needs --width-field (the field holding the red-line width)".into()));
    }
    parse_targets(&args.target)?;
    super::grade_table(&args.road)?;
    Ok(())
}

/// The fields the areas' ids, names and kinds are read from.
pub(crate) fn area_fields(args: &RoadDensityArgs) -> AreaFields {
    AreaFields {
        id: FieldChoice { given: args.id_field.clone(), defaults: &ID_FIELDS },
        name: FieldChoice { given: args.name_field.clone(), defaults: &["name"] },
        kind: FieldChoice { given: args.kind_field.clone(), defaults: &["kind"] },
    }
}

/// Runs the indicator and writes its files to `paths`.
pub fn execute_to(args: &RoadDensityArgs, paths: &OutPaths, layers: &Layers) -> Result<RoadDensityRun> {
    check_options(args)?;
    let (targets, default_target) = parse_targets(&args.target)?;
    let kinds = Kinds::builtin()?;
    let roads_src = LayerSource::parse(&args.road.roads);
    let areas_src = LayerSource::parse(&args.areas);
    let (grades, grade_field) = super::grade_table(&args.road)?;
    let common = &args.common;

    let area_fields = area_fields(args);
    let (fields, optional_fields) = area_fields.split();
    let areas_spec = LayerSpec {
        source: areas_src.clone(),
        filter: args.areas_where.clone(),
        encoding: common.encoding_for(&areas_src),
        role: "areas".into(),
        fields,
        optional_fields,
        alternatives: false,
        geom: GeomKind::Polygons,
        within: None,
    };
    let mut areas_layer = layers.load(&areas_spec, args.areas_crs.as_deref(), common, "--areas-crs")?;

    let roads_spec = LayerSpec {
        source: roads_src.clone(),
        filter: args.road.roads_where.clone(),
        encoding: common.encoding_for(&roads_src),
        role: "roads".into(),
        fields: std::iter::once(grade_field.clone()).chain(args.width_field.clone()).collect(),
        optional_fields: vec![],
        alternatives: false,
        geom: GeomKind::Lines,
        within: None,
    };
    let mut roads_layer = layers.load_shared(&roads_spec, args.road.roads_crs.as_deref(), common, "--roads-crs")?;
    warn_if_apart(&mut areas_layer, roads_layer.layer(), common, ["--areas-crs", "--roads-crs"]);

    let frame = choose_frame(common, &areas_layer)?;
    project(&mut areas_layer, &frame)?;
    roads_layer.project(&frame)?;

    let areas = area_fields.areas(&areas_spec, &mut areas_layer);
    // A target for a kind no area is of is most likely misspelt: it would set no target at all.
    for (kind, value) in &targets {
        if !areas.iter().any(|a| a.kind.as_deref().is_some_and(|k| kinds.same(kind, k))) {
            let mut found: Vec<&str> = areas.iter().filter_map(|a| a.kind.as_deref()).collect();
            found.sort_unstable();
            found.dedup();
            let w = format!(
                "target {kind}={value}: no area is of kind '{kind}' (kinds: {})",
                if found.is_empty() { "none".to_string() } else { found.join(", ") }
            );
            super::errln!("planaudit: warning: {w}");
            // In the areas' report too, so that the summary, the report and a batch show it.
            areas_layer.report.warnings.push(w);
        }
    }
    let mut roads_report = roads_layer.layer().report.clone();
    let mut roads = Vec::with_capacity(roads_layer.layer().features.len());
    // The roads borrow their lines and grades from the layer (which the living circle may read too).
    for f in &roads_layer.layer().features {
        let Some(line) = lines(&f.geometry) else { continue };
        let width_m = match (&args.width_field, roads_layer.attr(f, 1).map(str::trim).filter(|t| !t.is_empty())) {
            (Some(field), None) => {
                roads_report.flag(f.fid, &format!("field '{field}': no width (no width check)"));
                None
            }
            (Some(field), Some(text)) => match text.parse::<f64>() {
                Ok(w) if w.is_finite() && w >= 0.0 => Some(w),
                _ => {
                    roads_report.flag(
                        f.fid,
                        &format!("field '{field}': width '{text}' is not a number of metres (no width check)"),
                    );
                    None
                }
            },
            (None, _) => None,
        };
        let grade_value = roads_layer.attr(f, 0).unwrap_or_default();
        roads.push(Road { fid: f.fid, grade_value, width_m, line });
    }

    // A stable order whatever the input order (areas are sorted by id): roads by feature id.
    roads.sort_by_key(|r| r.fid);

    let params = Params {
        targets,
        default_target,
        max_width_m: args.max_width,
        has_width: args.width_field.is_some(),
        grid_cell_m: args.grid,
    };
    let result = crate::timing::time(
        || "compute road_density".into(),
        || compute(&areas, &roads, &grades, &kinds, &frame, &params),
    )?;
    if let Some(w) = unknown_grades_warning(&result.areas, &grades.name) {
        super::errln!("planaudit: warning: {w}");
        // In the roads' report too, so that the summary, the report and a batch show it.
        roads_report.warnings.push(w);
    }
    let measure = frame.describe();
    let osm = roads_src.is_osm() || areas_src.is_osm();
    let meta = |name| CollectionMeta { name, frame: &frame, osm };

    let mut outputs = vec![paths.areas.clone()];
    write_collection(&paths.areas, &meta("road_density"), &area_features(&result, &measure))?;
    if args.grid.is_some() {
        write_collection(&paths.grid, &meta("road_density_grid"), &grid_features(&result, &measure))?;
        outputs.push(paths.grid.clone());
    }
    if args.width_field.is_some() {
        write_collection(&paths.wide_roads, &meta("wide_roads"), &wide_features(&result, &measure))?;
        outputs.push(paths.wide_roads.clone());
    }
    Ok(RoadDensityRun {
        result,
        reports: vec![areas_layer.report, roads_report],
        measure,
        frame_crs: frame.crs.clone(),
        outputs,
    })
}

/// A warning when roads inside the areas have grade values the table does not know: they are not
/// counted, and a table that does not fit the data (`cn` on OpenStreetMap's `highway` values)
/// would otherwise show only as low densities.
fn unknown_grades_warning(areas: &[AreaDensity], table: &str) -> Option<String> {
    let mut unknown: BTreeMap<&str, KahanSum> = BTreeMap::new();
    let mut all_km = KahanSum::default();
    for a in areas {
        for (value, km) in &a.unknown_grades {
            unknown.entry(value).or_default().add(*km);
            all_km.add(*km);
        }
        a.by_grade.values().chain(a.excluded_by_value.values()).for_each(|km| all_km.add(*km));
    }
    let mut by_length: Vec<(&str, f64)> = unknown.into_iter().map(|(v, km)| (v, km.total())).collect();
    let unknown_km = crate::units::sum(by_length.iter().map(|(_, km)| *km));
    if unknown_km <= 0.0 {
        return None;
    }
    by_length.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(b.0)));
    let most: Vec<String> = by_length.iter().take(5).map(|(v, km)| format!("'{v}' {km:.1} km")).collect();
    let more = if by_length.len() > 5 { format!(", and {} more", by_length.len() - 5) } else { String::new() };
    Some(format!(
        "{unknown_km:.1} km of roads inside the areas ({:.1}% of their length) have grades the table '{table}' does not know, and are not counted: {}{more} (a table that fits the data's grades may be needed)",
        100.0 * unknown_km / all_km.total(),
        most.join(", ")
    ))
}

/// The machine-readable summary of a run.
pub fn summary_json(run: &RoadDensityRun) -> Value {
    let areas: Vec<Value> = run
        .result
        .areas
        .iter()
        .map(|a| {
            let mut p = area_properties(a, &run.measure);
            p.remove("measure");
            Value::Object(p)
        })
        .collect();
    json!({
        "indicator": "road_density",
        "measure": run.measure,
        "frame_crs": run.frame_crs,
        "layers": run.reports,
        "areas": areas,
        "wide_road_pieces": run.result.wide_roads.len(),
        "grid_cells": run.result.grid.len(),
        "outputs": run.outputs.iter().map(|p| p.display().to_string()).collect::<Vec<_>>(),
    })
}

/// `planaudit road-density`.
pub fn run(args: &RoadDensityArgs) -> Result<()> {
    let run = execute(args)?;
    out!("{}", table(&run.result));
    finish_run(&run.measure, &run.reports, &run.outputs, args.common.summary_json.as_deref(), || summary_json(&run))
}
