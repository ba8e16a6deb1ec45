//! `planaudit audit CITY.toml -o OUT_DIR`: every indicator the city file configures, the summary
//! (`summary.json`, `summary.csv`), in one run. Also `planaudit check` and `planaudit init`.

use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use super::layers::Layers;
use super::living_circle::LivingCircleRun;
use super::park_mix::ParkMixRun;
use super::road_density::{execute_to, summary_json, OutPaths, RoadDensityRun};
use super::write_json;
use crate::cli::{
    AuditArgs, CheckArgs, CommonArgs, DistanceArg, InitArgs, LivingCircleArgs, MeasureArg, NodingArg, ParkMixArgs,
    RoadDensityArgs, RoadsArgs, SnapArg, ThresholdsArg,
};
use crate::config::{City, LayerConfig};
use crate::indicators::living_circle::Method;
use crate::indicators::park_mix::Status;
use crate::ingest::{read_layer, GeomKind, LayerReport, LayerSource, LayerSpec};
use crate::normalise::crs::{SourceCrs, ToLonLat};
use crate::output::report::{read_maps, read_maps_but, write_report_read, MapLayer, MapStyle, ReportInput};
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
    /// Facilities of types the living circle's table does not know, by value.
    pub unknown_facility_types: std::collections::BTreeMap<String, u64>,
}

fn common(city: &City, summary: Option<PathBuf>) -> CommonArgs {
    let c = &city.config.city;
    CommonArgs {
        // `[city] crs` is for the layers that have none, not an override of every layer's.
        crs: None,
        fallback_crs: c.crs.clone(),
        encoding: c.encoding.clone(),
        layer_encodings: layer_encodings(city),
        from_city_file: true,
        measure: if c.measure == "planar" { MeasureArg::Planar } else { MeasureArg::Ellipsoidal },
        planar_crs: c.planar_crs.clone(),
        summary_json: summary,
    }
}

/// The `encoding` each layer of a city file gives, by source as the commands read it.
fn layer_encodings(city: &City) -> Vec<(String, String)> {
    let l = &city.config.layers;
    [&l.areas, &l.roads, &l.landuse, &l.parks, &l.origins]
        .into_iter()
        .flatten()
        .chain(&l.facilities)
        .filter_map(|layer| {
            let source = crate::ingest::LayerSource::parse(&layer.source_text(&city.base)).to_string();
            layer.encoding.clone().map(|e| (source, e))
        })
        .collect()
}

/// The road layer of a city file with the grade table of its `[road_density]` section.
fn roads_args(city: &City, roads: Option<&LayerConfig>) -> RoadsArgs {
    let grades = city.config.road_density.as_ref().and_then(|rd| rd.grades.clone());
    RoadsArgs {
        roads: roads.map(|r| r.source_text(&city.base)).unwrap_or_default(),
        roads_where: roads.and_then(|r| r.filter.clone()),
        roads_crs: roads.and_then(|r| r.crs.clone()),
        grade_field: roads.and_then(|r| r.field("grade")),
        grades: table_arg(city, crate::normalise::grades::PRESETS, &grades),
    }
}

/// The road-density arguments a city file stands for.
pub fn road_density_args(city: &City, out_dir: &Path) -> Option<RoadDensityArgs> {
    let rd = city.config.road_density.as_ref()?;
    let (areas, roads) = (city.config.layers.areas.as_ref()?, city.config.layers.roads.as_ref()?);
    let targets = rd.targets.iter().map(|(k, v)| if k == "*" { v.to_string() } else { format!("{k}={v}") }).collect();
    Some(RoadDensityArgs {
        road: roads_args(city, Some(roads)),
        areas: areas.source_text(&city.base),
        areas_where: areas.filter.clone(),
        areas_crs: areas.crs.clone(),
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

/// A table given in a city file: a preset name as it is, a file path resolved against the file.
fn table_arg(city: &City, presets: &[(&str, &str)], value: &Option<String>) -> Option<String> {
    value.as_ref().map(|v| {
        if presets.iter().any(|(n, _)| n == v) {
            v.clone()
        } else {
            crate::config::resolve(&city.base, v)
        }
    })
}

/// The park-mix arguments a city file stands for.
pub fn park_mix_args(city: &City, out_dir: &Path) -> Option<ParkMixArgs> {
    let pm = city.config.park_mix.as_ref()?;
    let landuse = city.config.layers.landuse.as_ref()?;
    let parks = city.config.layers.parks.as_ref();
    Some(ParkMixArgs {
        landuse: landuse.source_text(&city.base),
        landuse_where: landuse.filter.clone(),
        landuse_crs: landuse.crs.clone(),
        parks: parks.map(|p| p.source_text(&city.base)),
        parks_where: parks.and_then(|p| p.filter.clone()),
        parks_crs: parks.and_then(|p| p.crs.clone()),
        id_field: parks.and_then(|p| p.field("id")),
        name_field: parks.and_then(|p| p.field("name")),
        classes: table_arg(city, crate::normalise::classes::PRESETS, &pm.classes),
        class_field: landuse.field("class"),
        mix: pm.mix.as_ref().map(|m| m.join(",")),
        band: pm.band.map(|[a, b]| format!("{a}-{b}")).unwrap_or_else(|| "20-30".into()),
        parks_from_class: pm.parks_from_class.clone(),
        merge_gap_m: pm.merge_gap_m,
        common: common(city, None),
        output: out_dir.join("park_mix.geojson"),
    })
}

/// The living-circle arguments a city file stands for.
pub fn living_circle_args(city: &City, out_dir: &Path) -> Option<LivingCircleArgs> {
    let lc = city.config.living_circle.as_ref()?;
    let layers = &city.config.layers;
    let origins = layers.origins.as_ref()?;
    let first = layers.facilities.first()?;
    let roads = layers.roads.as_ref();
    Some(LivingCircleArgs {
        road: roads_args(city, roads),
        origins: origins.source_text(&city.base),
        origins_where: origins.filter.clone(),
        origins_crs: origins.crs.clone(),
        id_field: origins.field("id"),
        population_field: origins.field("population"),
        facilities: layers.facilities.iter().map(|f| f.source_text(&city.base)).collect(),
        facilities_where: first.filter.clone(),
        facilities_crs: first.crs.clone(),
        type_field: first.field("type"),
        facility_types: table_arg(city, crate::normalise::facility_types::PRESETS, &lc.facility_types),
        tiers: table_arg(city, crate::normalise::tiers::PRESETS, &lc.tiers),
        thresholds: if lc.thresholds.as_deref() == Some("minutes") {
            ThresholdsArg::Minutes
        } else {
            ThresholdsArg::Table
        },
        walk_speed: lc.walk_speed_m_per_min.unwrap_or(60.0),
        snap: if lc.snap.as_deref() == Some("node") { SnapArg::Node } else { SnapArg::Edge },
        max_snap: lc.max_snap_m.unwrap_or(500.0),
        max_walk: lc.max_walk_m,
        noding: if lc.noding.as_deref() == Some("planar") { NodingArg::Planar } else { NodingArg::Vertices },
        method: if lc.method.as_deref() == Some("buffer") { DistanceArg::Buffer } else { DistanceArg::Network },
        service_areas: lc.service_areas,
        export_graph: None,
        common: common(city, None),
        output: out_dir.join("living_circle.geojson"),
    })
}

/// The summary rows of a park-mix run: the mix share of each park against the band.
pub fn park_mix_rows(run: &ParkMixRun) -> Vec<SummaryRow> {
    run.result
        .parks
        .iter()
        .map(|p| {
            SummaryRow {
                indicator: "park_mix".into(),
                indicator_zh: "产业园区生活配套用地占比".into(),
                area_id: p.park_id.clone(),
                area_name: p.name.clone(),
                value: p.mix_share,
                target: Some(run.params.band_min),
                target_max: Some(run.params.band_max),
                unit: "share".into(),
                met: Some(p.status == Status::Within),
            }
            .rounded()
        })
        .collect()
}

/// The summary rows of a living-circle run: one per tier, for the whole city, by residential area
/// (by count of origins when they have no area), against the city file's coverage target if any.
pub fn living_circle_rows(run: &LivingCircleRun, targets: &std::collections::BTreeMap<String, f64>) -> Vec<SummaryRow> {
    run.tiers
        .tiers
        .iter()
        .zip(&run.result.tier_coverage)
        .filter_map(|(tier, cov)| {
            let value = cov.share_by_area().or_else(|| cov.share_by_count())?;
            let target = targets.get(&tier.minutes.to_string()).copied();
            // Straight-line coverage is another indicator than walking coverage: its rows say so,
            // and a batch's combined table does not mix the two.
            let (suffix, suffix_zh) = match run.result.method {
                Method::Network => ("", ""),
                Method::Buffer => ("_buffer", "（直线距离）"),
            };
            Some(
                SummaryRow {
                    indicator: format!("living_circle_{}min{suffix}", tier.minutes),
                    indicator_zh: format!("{}分钟生活圈覆盖率{suffix_zh}", tier.minutes),
                    area_id: "city".into(),
                    area_name: None,
                    value,
                    target,
                    target_max: None,
                    unit: if cov.share_by_area().is_some() { "share of residential area" } else { "share of origins" }
                        .into(),
                    met: target.map(|t| crate::units::reaches(value, t)),
                }
                .rounded(),
            )
        })
        .collect()
}

/// Runs every indicator the city file configures and writes the outputs into `out_dir`.
///
/// Either every output is written and `summary.json` (written last) lists them, or the error
/// names the files this run had already replaced or created before it stopped.
pub fn audit(city: &City, out_dir: &Path) -> Result<AuditOutcome> {
    let before = file_states(out_dir);
    audit_files(city, out_dir).map_err(|e| {
        let after = file_states(out_dir);
        let shown = |p: &&PathBuf| p.file_name().is_none_or(|n| n != EARLIER_OUTPUTS);
        let written: Vec<String> = after
            .iter()
            .filter(|(p, state)| before.get(*p) != Some(*state))
            .map(|(p, _)| p)
            .filter(shown)
            .map(|p| p.display().to_string())
            .collect();
        let removed: Vec<String> =
            before.keys().filter(|p| !after.contains_key(*p)).filter(shown).map(|p| p.display().to_string()).collect();
        if written.is_empty() && removed.is_empty() {
            e
        } else {
            Error::Partial { source: Box::new(e), written, removed }
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

/// The layers the audit's indicators read, each declared once per reading: a layer that two
/// indicators read (the roads of road density and of the living circle) is then read once.
fn shared_layers(city: &City, out_dir: &Path) -> Layers {
    let mut layers = Layers::default();
    let common = common(city, None);
    let mut declare =
        |source: &str, filter: &Option<String>, crs: &Option<String>, geom: GeomKind, fields: Vec<String>| {
            let crs = crs.as_deref().or(city.config.city.crs.as_deref());
            let encoding = common.encoding_for(&crate::ingest::LayerSource::parse(source));
            layers.share(source, filter.as_deref(), encoding.as_deref(), crs, geom, 1, &fields);
        };
    // The fields the city file names for a layer.
    let named = |l: Option<&LayerConfig>| -> Vec<String> {
        l.map(|l| l.fields.values().cloned().collect()).unwrap_or_default()
    };
    let cfg = &city.config.layers;
    if let Some(a) = road_density_args(city, out_dir) {
        declare(&a.areas, &a.areas_where, &a.areas_crs, GeomKind::Polygons, named(cfg.areas.as_ref()));
        declare(&a.road.roads, &a.road.roads_where, &a.road.roads_crs, GeomKind::Lines, named(cfg.roads.as_ref()));
    }
    if let Some(a) = park_mix_args(city, out_dir) {
        declare(&a.landuse, &a.landuse_where, &a.landuse_crs, GeomKind::Polygons, named(cfg.landuse.as_ref()));
        if let Some(p) = &a.parks {
            declare(p, &a.parks_where, &a.parks_crs, GeomKind::Polygons, named(cfg.parks.as_ref()));
        }
    }
    if let Some(a) = living_circle_args(city, out_dir) {
        declare(&a.origins, &a.origins_where, &a.origins_crs, GeomKind::PointsOrPolygons, named(cfg.origins.as_ref()));
        for (f, c) in a.facilities.iter().zip(&cfg.facilities) {
            declare(f, &a.facilities_where, &a.facilities_crs, GeomKind::PointsOrPolygons, named(Some(c)));
        }
        if a.method == DistanceArg::Network {
            let mut fields = named(cfg.roads.as_ref());
            fields.extend(super::living_circle::walk_fields(a.noding));
            declare(&a.road.roads, &a.road.roads_where, &a.road.roads_crs, GeomKind::Lines, fields);
        }
    }
    layers
}

/// Checks every option of a city file that needs no data (the indicators' options and tables,
/// the measurement, the coverage targets against the tier table), naming the city file: an audit
/// runs this before any indicator writes, and `check` runs it too.
fn check_options(city: &City, out_dir: &Path) -> Result<()> {
    let label = city.path.display();
    let in_file = &in_city_file(city);
    if city.config.road_density.is_none() && city.config.park_mix.is_none() && city.config.living_circle.is_none() {
        return Err(Error::Usage(format!(
            "{label}: configures no indicator (add [road_density], [park_mix] or [living_circle])"
        )));
    }
    let common = common(city, None);
    match (&common.measure, &common.planar_crs) {
        (MeasureArg::Planar, None) => {
            return Err(Error::Usage(format!(
                "{label}: [city] measure = \"planar\" needs planar_crs (the projected CRS to measure in)"
            )))
        }
        (MeasureArg::Ellipsoidal, Some(crs)) => {
            return Err(Error::Usage(format!(
                "{label}: [city] planar_crs = \"{crs}\" is only used with measure = \"planar\"; \
                 set that, or remove planar_crs to measure on the ellipsoid"
            )))
        }
        _ => {}
    }
    for (key, crs) in crs_keys(city) {
        SourceCrs::parse_as(crs, &format!("{label}: {key} = {crs:?}"))?;
    }
    if common.planar_crs.is_some() {
        // A projected CRS in metres; whether it is true to scale at the data, the indicators check.
        super::planar_frame(&common).map_err(in_file)?;
    }
    if let Some(args) = road_density_args(city, out_dir) {
        super::road_density::check_options(&args).map_err(in_file)?;
    }
    if let Some(args) = park_mix_args(city, out_dir) {
        super::park_mix::check_options(&args).map_err(in_file)?;
    }
    if let (Some(args), Some(lc)) = (living_circle_args(city, out_dir), &city.config.living_circle) {
        let tiers = super::living_circle::check_options(&args).map_err(in_file)?;
        let minutes: Vec<String> = tiers.tiers.iter().map(|t| t.minutes.to_string()).collect();
        for (key, share) in &lc.coverage_targets {
            if !minutes.contains(key) {
                return Err(Error::Usage(format!(
                    "{label}: [living_circle] coverage_targets: '{key}' is no tier of the tier table {} (tiers: {})",
                    tiers.name,
                    minutes.join(", ")
                )));
            }
            if !(0.0..=1.0).contains(share) {
                return Err(Error::Usage(format!(
                    "{label}: [living_circle] coverage_targets: \"{key}\" = {share} is not a share from 0 to 1 (0.8 for 80%)"
                )));
            }
        }
    }
    Ok(())
}

/// The CRSs a city file gives, with their keys: `city.crs`, `city.planar_crs` and each layer's
/// `crs`.
fn crs_keys(city: &City) -> Vec<(String, &str)> {
    let c = &city.config.city;
    let layers = city.config.layers.named().into_iter().map(|(name, l)| (format!("layers.{name}.crs"), &l.crs));
    [("city.crs".to_string(), &c.crs), ("city.planar_crs".to_string(), &c.planar_crs)]
        .into_iter()
        .chain(layers)
        .filter_map(|(key, crs)| Some((key, crs.as_deref()?)))
        .collect()
}

/// The command-line options the indicators' checks name, and the city-file keys that set them.
/// A longer option comes before any it begins with.
const CITY_FILE_KEYS: &[(&str, &str)] = &[
    (", e.g. --band 20-30", ", e.g. band = [20, 30]"),
    ("--band", "park_mix.band"),
    ("--mix", "park_mix.mix"),
    ("--parks-from-class", "park_mix.parks_from_class"),
    ("--merge-gap-m", "park_mix.merge_gap_m"),
    ("--classes", "park_mix.classes"),
    ("--grades", "road_density.grades"),
    ("--facility-types", "living_circle.facility_types"),
    ("--tiers", "living_circle.tiers"),
    ("--class-field", "layers.landuse.fields.class"),
    ("--grid", "road_density.grid_m"),
    ("--max-width", "road_density.max_width_m"),
    ("--width-field", "layers.roads.fields.width"),
    ("--target", "road_density.targets"),
    ("--max-snap", "living_circle.max_snap_m"),
    ("--service-areas", "living_circle.service_areas"),
    ("--method buffer", "living_circle.method = \"buffer\""),
    ("--method network", "living_circle.method = \"network\""),
    ("--walk-speed", "living_circle.walk_speed_m_per_min"),
    ("--max-walk", "living_circle.max_walk_m"),
    ("--type-field", "layers.facilities.fields.type"),
    ("--planar-crs", "city.planar_crs"),
    ("--areas-crs", "layers.areas.crs"),
    ("--roads-crs", "layers.roads.crs"),
    ("--landuse-crs", "layers.landuse.crs"),
    ("--parks-crs", "layers.parks.crs"),
    ("--origins-crs", "layers.origins.crs"),
    ("--facilities-crs", "layers.facilities.crs"),
    ("(--crs)", "(city.crs, layers.NAME.crs)"),
    (
        "the real encoding with --encoding GBK (Chinese data)",
        "the real encoding with the layer's encoding = \"GBK\" (Chinese data)",
    ),
    ("with --encoding GBK (Chinese data)", "with encoding = \"GBK\" (Chinese data; in [city] or the layer's table)"),
    ("(.cpg, --encoding GBK)", "(.cpg, encoding = \"GBK\")"),
    ("with --encoding", "with encoding = \"…\" (in [city] or the layer's table)"),
    ("(--encoding)", "(encoding, in [city] or the layer's table)"),
];

/// An error of an audit or a check in the city file's words ([`city_file_words`]; the paths and
/// values the file gives kept as they are): a usage error names the city file; any other message
/// naming an option becomes [`Error::Worded`], with the same exit code (a layer without a CRS
/// names the key to give it with, `layers.areas.crs`, not `--areas-crs`).
fn in_city_file(city: &City) -> impl Fn(Error) -> Error + '_ {
    let keep = user_texts(city);
    move |e| match e {
        Error::Usage(m) => {
            let label = format!("{}: ", city.path.display());
            let m = city_file_words_keeping(&m, &keep);
            Error::Usage(if m.starts_with(&label) { m } else { format!("{label}{m}") })
        }
        // A field the layer lacks: the key of the failing layer that names it.
        Error::MissingField { ref layer, ref field, ref role, .. } => {
            let keys = field_keys(city, layer, role, field);
            if keys.is_empty() {
                return e;
            }
            // The field names' encoding hint, if any, in the file's words.
            let text = city_file_words_keeping(&e.to_string(), &keep);
            let message = format!("{text} (set by {} in {})", keys.join(" or "), city.path.display());
            Error::Worded { source: Box::new(e), message }
        }
        // A dataset, layer or filter of the file's layers: the keys that set it.
        ref layer_error
            if let keys = layer_error_keys(city, layer_error)
                && !keys.is_empty() =>
        {
            let text = city_file_words_keeping(&e.to_string(), &keep);
            // A layer the file does not name is a key to give, not one that set something.
            let how = if matches!(layer_error, Error::AmbiguousLayer { .. }) { "give" } else { "set by" };
            let message = format!("{text} ({how} {} in {})", keys.join(" or "), city.path.display());
            Error::Worded { source: Box::new(e), message }
        }
        // Any other message that names an option (a layer's CRS, a snapping distance, an encoding,
        // a field).
        other => {
            let text = other.to_string();
            let message = city_file_words_keeping(&text, &keep);
            if message == text {
                other
            } else {
                Error::Worded { source: Box::new(other), message }
            }
        }
    }
}

/// The keys of a city file that name `field` for the layer `label` read in `role` (`roads`,
/// `land-use class`, `facilities` or `check`'s `facilities[1]`): `layers.roads.fields.grade`,
/// `layers.facilities[1].fields.type` when there are several facility layers.
fn field_keys(city: &City, label: &str, role: &str, field: &str) -> Vec<String> {
    let role = match role.split([',', '[']).next().unwrap_or_default().trim() {
        "land-use class" => "landuse",
        r => r,
    };
    let mut keys = Vec::new();
    for (key_name, name, l) in layer_keys(city) {
        // The layer that failed: its role, and its dataset and layer name.
        if name != role || !reads(city, l, label) {
            continue;
        }
        for (field_role, value) in &l.fields {
            if value.split(',').any(|f| f.trim() == field) {
                keys.push(format!("layers.{key_name}.fields.{field_role}"));
            }
        }
    }
    keys
}

/// Each layer of a city file with the name its keys take (`facilities[1]` when there are several
/// facility layers) and its role.
fn layer_keys(city: &City) -> Vec<(String, &'static str, &LayerConfig)> {
    let layers = &city.config.layers;
    let several = layers.facilities.len() > 1;
    let mut facility = 0;
    let mut keys = Vec::new();
    for (name, l) in layers.named() {
        let key_name = if name == "facilities" && several {
            facility += 1;
            format!("facilities[{}]", facility - 1)
        } else {
            name.to_string()
        };
        keys.push((key_name, name, l));
    }
    keys
}

/// Whether a message's `label` (`DATASET` or `DATASET#LAYER`) is the layer `l` of a city file.
fn reads(city: &City, l: &LayerConfig, label: &str) -> bool {
    let dataset = crate::config::resolve(&city.base, &l.source);
    label == dataset
        || label.strip_prefix(&format!("{dataset}#")).is_some_and(|n| l.layer.as_ref().is_none_or(|given| given == n))
}

/// The keys of a city file that set what a layer error is about: the `source` of a dataset that
/// does not open, the `layer` (or `source`, `DATASET#LAYER`) of a layer not found, the `layer` to
/// give of a dataset of several layers, the `where` of a filter refused or matching nothing; empty
/// when the error is about none of them.
fn layer_error_keys(city: &City, e: &Error) -> Vec<String> {
    // The filter a message quotes: the one refused, or the one matching nothing.
    fn matching_nothing(reason: &str) -> Option<&str> {
        reason.strip_prefix("no feature matches the filter \"")?.strip_suffix('"')
    }
    let (label, key, filter) = match e {
        Error::Open { dataset, .. } => (dataset.as_str(), "source", None),
        Error::NoLayer { dataset, .. } | Error::AmbiguousLayer { dataset, .. } => (dataset.as_str(), "layer", None),
        Error::BadFilter { layer, filter, .. } => (layer.as_str(), "where", Some(filter.as_str())),
        Error::EmptyLayer { layer, reason } if matching_nothing(reason).is_some() => {
            (layer.as_str(), "where", matching_nothing(reason))
        }
        _ => return Vec::new(),
    };
    // A layer's dataset, and the layer it names (in `layer`, or as `source = "DATASET#LAYER"`).
    let source = |l: &LayerConfig| LayerSource::parse(&l.source_text(&city.base));
    layer_keys(city)
        .into_iter()
        .filter_map(|(name, _, l)| {
            let (of_dataset, names_layer) = (source(l).dataset == label, source(l).layer.is_some());
            let key = match (e, key) {
                // A layer not found: the key that names it; several layers and none named: the
                // layer keys to give.
                (Error::NoLayer { .. }, _) if of_dataset && names_layer => {
                    if l.layer.is_some() {
                        "layer"
                    } else {
                        "source"
                    }
                }
                (Error::AmbiguousLayer { .. }, _) if of_dataset && !names_layer => "layer",
                (_, "source") if of_dataset || reads(city, l, label) => "source",
                (_, "where") if reads(city, l, label) && l.filter.as_deref() == filter => "where",
                _ => return None,
            };
            Some(format!("layers.{name}.{key}"))
        })
        .collect()
}

/// The text a city file gives that a message may quote: its path and folder, and every layer's
/// source (as written and as resolved), layer name, filter, CRS, encoding and field names, and
/// its table files; the longest first.
fn user_texts(city: &City) -> Vec<String> {
    let mut texts = vec![city.path.display().to_string(), city.base.display().to_string()];
    for (_, l) in city.config.layers.named() {
        texts.extend([l.source.clone(), l.source_text(&city.base), crate::config::resolve(&city.base, &l.source)]);
        texts.extend([&l.layer, &l.filter, &l.crs, &l.encoding].into_iter().flatten().cloned());
        texts.extend(l.fields.values().cloned());
    }
    for t in city.tables() {
        texts.extend([t.clone(), crate::config::resolve(&city.base, t)]);
    }
    texts.retain(|t| t.contains("--"));
    texts.sort_by(|a, b| b.len().cmp(&a.len()).then(a.cmp(b)));
    texts.dedup();
    texts
}

/// [`city_file_words`], leaving the texts `keep` (paths and values the user gave) as they are.
fn city_file_words_keeping(message: &str, keep: &[String]) -> String {
    let mut masked = message.to_string();
    let mut slots = Vec::new();
    for (i, text) in keep.iter().enumerate() {
        if masked.contains(text.as_str()) {
            let slot = format!("\u{1}{i}\u{1}");
            masked = masked.replace(text.as_str(), &slot);
            slots.push((slot, text));
        }
    }
    let mut out = city_file_words(&masked);
    for (slot, text) in slots.iter().rev() {
        out = out.replace(slot.as_str(), text);
    }
    out
}

/// A message of the indicators' option checks in the words of the city file: each option it
/// names (a whole word: `--max-walk`, not the start of `--max-walker`) becomes the key that sets it.
///
/// ```text
/// --walk-speed -1: must be a positive number
///   → living_circle.walk_speed_m_per_min -1: must be a positive number
/// ```
pub(crate) fn city_file_words(message: &str) -> String {
    let mut out = message.to_string();
    for (option, key) in CITY_FILE_KEYS {
        let mut from = 0;
        while let Some(at) = out[from..].find(option).map(|i| i + from) {
            let end = at + option.len();
            // An option stands alone: not inside a path or a value (`landuse--target.toml`).
            let before = |c: char| c.is_alphanumeric() || matches!(c, '-' | '_' | '.' | '/' | '\\');
            let after = |c: char| c.is_alphanumeric() || matches!(c, '-' | '_');
            let whole = !option.starts_with("--") || (!out[..at].ends_with(before) && !out[end..].starts_with(after));
            if whole {
                out.replace_range(at..end, key);
                from = at + key.len();
            } else {
                from = end;
            }
        }
    }
    out
}

/// [`audit`] without the account of what was written when it fails.
fn audit_files(city: &City, out_dir: &Path) -> Result<AuditOutcome> {
    let steps = [
        city.config.road_density.is_some(),
        city.config.park_mix.is_some(),
        city.config.living_circle.is_some(),
        true, // styles, report, summary
    ]
    .iter()
    .filter(|x| **x)
    .count();
    let mut progress = Progress::new(steps);
    let mut rows = Vec::new();
    let mut layers = Vec::new();
    let mut outputs = Vec::new();
    let mut indicators = serde_json::Map::new();
    let mut measure = None;
    let shared = shared_layers(city, out_dir);
    let rd_args = road_density_args(city, out_dir);
    let pm_args = park_mix_args(city, out_dir);
    let lc_args = living_circle_args(city, out_dir);
    let rd_paths = OutPaths {
        areas: out_dir.join("road_density.geojson"),
        grid: out_dir.join("road_density_grid.geojson"),
        wide_roads: out_dir.join("wide_roads.geojson"),
    };

    // Every option and overwrite check before any indicator writes.
    check_options(city, out_dir)?;
    let earlier = earlier_outputs(out_dir);
    let summaries = SUMMARY_FILES.map(|name| out_dir.join(name));
    let city_file = [city.path.display().to_string()];
    if let Some(args) = &rd_args {
        super::road_density::refuse_overwrite(args, &rd_paths, &city_file, &summaries)?;
    }
    if let Some(args) = &pm_args {
        super::park_mix::refuse_overwrite(args, &city_file, &summaries)?;
    }
    if let Some(args) = &lc_args {
        super::living_circle::refuse_overwrite(args, &city_file, &summaries)?;
    }
    // An earlier audit's summaries and report go before anything is written: an audit that fails
    // part-way (or is killed) leaves no summary describing files it has replaced.
    retire_summaries(out_dir)?;

    // The three indicators run side by side; a layer two of them read (the roads of road density
    // and the living circle) is read once, by whichever asks first. Results are gathered in indicator order,
    // whichever finishes first.
    let shared = &shared;
    let (rd, pm, lc) = std::thread::scope(|scope| {
        let rd = rd_args.as_ref().map(|args| {
            let paths = &rd_paths;
            scope.spawn(move || {
                crate::timing::time(|| "indicator road_density".into(), || execute_to(args, paths, shared))
            })
        });
        let pm = pm_args.as_ref().map(|args| {
            scope.spawn(move || {
                crate::timing::time(|| "indicator park_mix".into(), || super::park_mix::execute_with(args, shared))
            })
        });
        let lc = lc_args.as_ref().map(|args| {
            scope.spawn(move || {
                crate::timing::time(
                    || "indicator living_circle".into(),
                    || super::living_circle::execute_with(args, shared, true),
                )
            })
        });
        fn join<T>(
            what: &str,
            h: Option<std::thread::ScopedJoinHandle<'_, Result<T>>>,
            progress: &mut Progress,
        ) -> Option<Result<T>> {
            h.map(|h| {
                progress.step(what);
                h.join().unwrap_or_else(|_| Err(Error::Internal(what.to_string())))
            })
        }
        let rd = join("road network density 道路网密度", rd, &mut progress);
        let pm = join("industrial-park land mix 产业园区用地", pm, &mut progress);
        let lc = join("15-minute living circle 生活圈", lc, &mut progress);
        (rd, pm, lc)
    });
    // The first error in indicator order; a usage error is one of the city file's options.
    let rd = rd.transpose().map_err(in_city_file(city))?;
    let pm = pm.transpose().map_err(in_city_file(city))?;
    let mut lc = lc.transpose().map_err(in_city_file(city))?;
    if let Some(run) = &rd {
        rows.extend(road_density_rows(run));
        layers.extend(run.reports.iter().cloned());
        outputs.extend(run.outputs.iter().cloned());
        measure = Some(run.measure.clone());
        indicators.insert("road_density".into(), summary_json(run));
    }
    if let Some(run) = &pm {
        rows.extend(park_mix_rows(run));
        layers.extend(run.reports.iter().cloned());
        outputs.extend(run.outputs.iter().cloned());
        measure.get_or_insert(run.measure.clone());
        indicators.insert("park_mix".into(), super::park_mix::summary_json(run));
    }
    if let (Some(run), Some(args)) = (&lc, &lc_args) {
        let targets = city.config.living_circle.as_ref().map(|l| l.coverage_targets.clone()).unwrap_or_default();
        rows.extend(living_circle_rows(run, &targets));
        layers.extend(run.reports.iter().cloned());
        outputs.extend(run.outputs.iter().cloned());
        measure.get_or_insert(run.measure.clone());
        indicators.insert("living_circle".into(), super::living_circle::summary_json(run, args));
    }

    progress.step("styles, summary, report 报告");
    // Map styles for every GeoJSON layer written, beside them in OUT_DIR/styles/.
    let written = written_layers(out_dir, &outputs);
    let layer_names: Vec<&str> = written.iter().map(|(l, _)| *l).collect();
    // The report's maps, read from the layers just written while the styles and the summaries are
    // written (in place when no thread is to be had); those of the living circle were made while
    // its files were written.
    let maps: Vec<MapLayer> = written.iter().filter_map(|(l, p)| report_map(l, p)).collect();
    let known = lc.as_mut().map(|run| std::mem::take(&mut run.maps)).unwrap_or_default();
    let to_read = maps.clone();
    let maps_read = std::thread::Builder::new().spawn(move || read_maps_but(&to_read, known)).ok();
    // A layer is derived from OpenStreetMap when its indicator read an OSM layer (as its GeoJSON
    // says in its attribution).
    let osm = |layer: &str| {
        let reports = if layer.starts_with("park_mix") {
            pm.as_ref().map(|r| r.reports.as_slice())
        } else if layer.starts_with("living_circle") {
            lc.as_ref().map(|r| r.reports.as_slice())
        } else {
            rd.as_ref().map(|r| r.reports.as_slice())
        };
        reports.is_some_and(super::from_osm)
    };
    outputs.extend(crate::output::styles::write_styles(out_dir, &layer_names, osm)?);

    let missed = rows.iter().filter(|r| r.met == Some(false)).count();
    let csv = out_dir.join("summary.csv");
    write_csv(&csv, &city.config.city.name, &rows)?;
    outputs.push(csv);
    // summary.json is written last and lists every file of the audit, itself and the report included.
    let json_path = out_dir.join("summary.json");
    let report_path = out_dir.join("report.html");
    outputs.push(report_path.clone());
    outputs.push(json_path.clone());
    // The city file by its absolute path, and the outputs by their paths in the output folder: the
    // summary means the same read from any folder, and moves with its folder.
    let config = std::path::absolute(&city.path).unwrap_or_else(|_| city.path.clone());
    let mut summary = json!({
        "city": city.config.city.name,
        "config": config.display().to_string(),
        "generator": format!("planaudit {}", env!("CARGO_PKG_VERSION")),
        "measure": measure,
        "rows": rows,
        "missed_targets": missed,
        "layers": layers,
        "indicators": Value::Object(indicators),
        "outputs": outputs.iter().map(|p| p.display().to_string()).collect::<Vec<_>>(),
    });
    outputs_in(&mut summary, out_dir);
    let summary = super::with_attribution(summary, &layers);
    remove_stale(&earlier, &outputs);

    // The report states the summary, over the maps of the layers just written.
    let read = match maps_read {
        Some(thread) => thread.join().unwrap_or_else(|e| std::panic::resume_unwind(e)),
        // (Without a thread, the living circle's maps went with the closure: read back instead.)
        None => read_maps(&maps),
    };
    let title = format!("{} — planaudit", city.config.city.name);
    crate::timing::time(
        || "write report.html".into(),
        || write_report_read(&report_path, &ReportInput { title: &title, summary: &summary, maps }, read),
    )?;
    write_json(&json_path, &summary)?;
    // The summary lists what is there now: the record of what earlier audits wrote is no longer needed.
    super::remove_if_there(&out_dir.join(EARLIER_OUTPUTS))?;
    progress.done();
    let unknown_facility_types = lc.as_ref().map(|run| run.unknown_types.clone()).unwrap_or_default();
    Ok(AuditOutcome { rows, layers, outputs, missed, unknown_facility_types })
}

/// Every list of `outputs` in a summary (the audit's and each indicator's) by the files' paths in
/// `out_dir` (`road_density.geojson`, `styles/road_density.qml`).
fn outputs_in(summary: &mut Value, out_dir: &Path) {
    match summary {
        Value::Object(map) => {
            for (key, v) in map.iter_mut() {
                match (key.as_str(), v) {
                    ("outputs", Value::Array(paths)) => {
                        for p in paths.iter_mut() {
                            let inner = p.as_str().and_then(|s| Path::new(s).strip_prefix(out_dir).ok());
                            if let Some(inner) = inner.map(|i| i.display().to_string()) {
                                *p = Value::String(inner);
                            }
                        }
                    }
                    (_, v) => outputs_in(v, out_dir),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| outputs_in(v, out_dir)),
        _ => {}
    }
}

/// The record of the layers and styles earlier audits into a folder wrote, kept while no complete
/// `summary.json` lists them (from the start of an audit until its end): an audit that fails or is
/// stopped part-way leaves it for the next one, which removes the outputs that are no longer its own.
pub const EARLIER_OUTPUTS: &str = ".planaudit-earlier-outputs.json";

/// The files of an audit that describe its other outputs, written last.
const SUMMARY_FILES: [&str; 3] = ["summary.csv", "summary.json", "report.html"];

/// Removes the [`SUMMARY_FILES`] from `out_dir`, first adding the outputs
/// the summary listed to the record of earlier outputs ([`EARLIER_OUTPUTS`]): done when an audit
/// starts writing, and by `batch` when it stops an audit.
pub fn retire_summaries(out_dir: &Path) -> Result<()> {
    let earlier = earlier_outputs(out_dir);
    if !earlier.is_empty() {
        let listed: Vec<String> = earlier.iter().map(|p| p.display().to_string()).collect();
        write_json(&out_dir.join(EARLIER_OUTPUTS), &json!({ "outputs": listed }))?;
    }
    for name in SUMMARY_FILES {
        super::remove_if_there(&out_dir.join(name))?;
    }
    Ok(())
}

/// The layers and styles earlier audits into `out_dir` wrote, by its summary.json and the record
/// of [`EARLIER_OUTPUTS`]: those of planaudit's own names, in the folder and its `styles/`.
fn earlier_outputs(out_dir: &Path) -> Vec<PathBuf> {
    let mut all: Vec<PathBuf> = Vec::new();
    for record in ["summary.json", EARLIER_OUTPUTS] {
        for p in listed_outputs(out_dir, &out_dir.join(record)) {
            if !all.contains(&p) {
                all.push(p);
            }
        }
    }
    all
}

/// The outputs of planaudit's own names a summary (or the record of earlier outputs) lists.
fn listed_outputs(out_dir: &Path, record: &Path) -> Vec<PathBuf> {
    let Ok(text) = std::fs::read_to_string(record) else { return Vec::new() };
    let Ok(summary) = serde_json::from_str::<Value>(&text) else { return Vec::new() };
    let layers = crate::output::styles::STYLED_LAYERS.iter();
    let names: Vec<(String, bool)> = layers
        .flat_map(|l| {
            [(format!("{l}.geojson"), false), (format!("{l}.maplibre.json"), true), (format!("{l}.qml"), true)]
        })
        .collect();
    summary["outputs"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| {
            let p = Path::new(p.as_str()?);
            let in_styles = p.parent().and_then(Path::file_name).is_some_and(|d| d == "styles");
            let name = p.file_name()?.to_str()?;
            let (name, styled) = names.iter().find(|(n, _)| n == name)?;
            (*styled == in_styles).then(|| if *styled { out_dir.join("styles").join(name) } else { out_dir.join(name) })
        })
        .collect()
}

/// Removes what an earlier audit into the folder wrote and this one did not (a layer the city file
/// no longer configures), so that no map is loaded beside results it does not belong to.
fn remove_stale(earlier: &[PathBuf], written: &[PathBuf]) {
    let names: Vec<_> = written.iter().filter_map(|p| Some((p.file_name()?, p.parent()?.file_name()))).collect();
    for p in earlier {
        let key = (p.file_name().unwrap_or_default(), p.parent().and_then(Path::file_name));
        if !names.contains(&key) && p.is_file() && std::fs::remove_file(p).is_ok() {
            outln!("removed {} (an earlier audit's, not written by this one)", p.display());
        }
    }
}

/// The maps of the report of an audit into `out_dir` that wrote `outputs`: one for each layer it
/// wrote that has a map, in the order of [`crate::output::styles::STYLED_LAYERS`].
pub fn report_maps(out_dir: &Path, outputs: &[PathBuf]) -> Vec<MapLayer> {
    written_layers(out_dir, outputs).iter().filter_map(|(l, p)| report_map(l, p)).collect()
}

/// The styled layers (in the order of [`crate::output::styles::STYLED_LAYERS`]) of an audit into
/// `out_dir` that wrote `outputs` (paths, or paths in `out_dir` as its summary lists them), with
/// their paths.
fn written_layers(out_dir: &Path, outputs: &[PathBuf]) -> Vec<(&'static str, PathBuf)> {
    crate::output::styles::STYLED_LAYERS
        .iter()
        .map(|l| (*l, out_dir.join(format!("{l}.geojson"))))
        .filter(|(_, p)| outputs.iter().any(|o| o == p || out_dir.join(o) == *p))
        .collect()
}

/// The report map of an output layer: titles and drawing style.
fn report_map(layer: &str, path: &Path) -> Option<MapLayer> {
    let (title, title_zh, style) = match layer {
        "road_density" => ("Road network density against the target", "道路网密度达标情况", MapStyle::MeetsTarget),
        "road_density_grid" => ("Road network density by cell", "道路网密度分布", MapStyle::DensityGrid),
        "wide_roads" => ("Roads over the red-line width cap", "超宽道路", MapStyle::WideRoads),
        "park_mix" => {
            ("Residential and service land share of industrial parks", "产业园区生活配套用地占比", MapStyle::ParkStatus)
        }
        "park_mix_parcels" => {
            ("Residential and service parcels in the parks", "园区生活配套地块", MapStyle::ParkParcels)
        }
        "living_circle" => ("Living-circle coverage of homes", "生活圈覆盖情况", MapStyle::Coverage),
        "living_circle_gaps" => ("Homes outside the 15-minute living circle", "15分钟生活圈未覆盖住宅", MapStyle::Gaps),
        _ => return None,
    };
    Some(MapLayer { title: title.into(), title_zh: title_zh.into(), path: path.to_path_buf(), style })
}

/// Prints an audit's rows and files.
pub fn print_outcome(city: &City, o: &AuditOutcome) {
    // Rows without a target are neither met nor missed: said, so that the counts add up.
    let untargeted = o.rows.iter().filter(|r| r.met.is_none()).count();
    let count = |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    outln!(
        "{}: {}, {}, {}{}",
        city.config.city.name,
        count(o.rows.len(), "indicator row", "indicator rows"),
        count(o.rows.len() - o.missed - untargeted, "target met", "targets met"),
        count(o.missed, "target missed", "targets missed"),
        if untargeted > 0 { format!(", {untargeted} without a target") } else { String::new() }
    );
    use crate::output::table_cell;
    outln!("indicator\tarea_id\tarea_name\tvalue\ttarget\tunit\tmet");
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
        let bounds: Vec<f64> = r.target.into_iter().chain(r.target_max).collect();
        outln!(
            "{}\t{}\t{}\t{}\t{}\t{}\t{}",
            r.indicator,
            table_cell(&r.area_id),
            table_cell(r.area_name.as_deref().unwrap_or("-")),
            crate::units::shown_against(r.value, &bounds, 3, 1.0),
            t,
            r.unit,
            met
        );
    }
    out!("{}", super::report_lines(&o.layers.iter().collect::<Vec<_>>()));
    if let Some(line) = super::living_circle::unknown_types_line(&o.unknown_facility_types) {
        outln!("{line}");
    }
    for p in &o.outputs {
        outln!("wrote {}", p.display());
    }
}

/// `planaudit check`: the file parses, every layer opens, has its fields and a CRS PROJ can use;
/// counts. Nothing is computed.
pub fn check(city: &City) -> Result<Vec<String>> {
    check_layers(city).map_err(in_city_file(city))
}

/// [`check`], its errors still in the words of the command line's options.
fn check_layers(city: &City) -> Result<Vec<String>> {
    let mut lines = Vec::new();
    check_options(city, Path::new("."))?;
    let layers = &city.config.layers;
    let mut specs: Vec<(String, &LayerConfig, GeomKind)> = Vec::new();
    // Each layer's role, label and longitude/latitude extent.
    let mut extents: Vec<(String, String, Option<geo::Rect<f64>>)> = Vec::new();
    for (name, layer, geom) in [
        ("areas", &layers.areas, GeomKind::Polygons),
        ("roads", &layers.roads, GeomKind::Lines),
        ("landuse", &layers.landuse, GeomKind::Polygons),
        ("parks", &layers.parks, GeomKind::Polygons),
        ("origins", &layers.origins, GeomKind::PointsOrPolygons),
    ] {
        if let Some(l) = layer {
            specs.push((name.to_string(), l, geom));
        }
    }
    for (i, l) in layers.facilities.iter().enumerate() {
        specs.push((format!("facilities[{i}]"), l, GeomKind::PointsOrPolygons));
    }
    // The layers the indicators place their frames at.
    let common = common(city, None);
    let (rd_args, pm_args, lc_args) = (
        road_density_args(city, Path::new(".")),
        park_mix_args(city, Path::new(".")),
        living_circle_args(city, Path::new(".")),
    );
    let mut frame_roles = Vec::new();
    if rd_args.is_some() {
        frame_roles.push("areas");
    }
    if pm_args.is_some() {
        frame_roles.push(if layers.parks.is_some() { "parks" } else { "landuse" });
    }
    if lc_args.is_some() {
        frame_roles.push("origins");
    }
    for (name, layer, geom) in specs {
        // A role naming one field requires it; a comma-separated list (OSM tags tried in order)
        // is read where present.
        let (mut fields, mut optional) = (Vec::new(), Vec::new());
        for f in layer.fields.values() {
            if f.contains(',') {
                optional.extend(f.split(',').map(|x| x.trim().to_string()));
            } else {
                fields.push(f.clone());
            }
        }
        // The land use's codes, from the fields park mix reads them from (the table's when the
        // city file names none), to say whether the table knows them.
        let park_mix = pm_args.as_ref().filter(|_| name == "landuse");
        // The ids of areas and parks, to warn of ids that several share, as the audit does.
        let area_fields = match name.as_str() {
            "areas" => rd_args.as_ref().map(super::road_density::area_fields),
            "parks" => pm_args.as_ref().map(super::park_mix::park_fields),
            _ => None,
        };
        // A facilities layer's types, to count its features as the audit does.
        let living_circle = lc_args.as_ref().filter(|_| name.starts_with("facilities"));
        let type_fields = living_circle.map(super::living_circle::type_fields).transpose()?;
        let area_names = area_fields.iter().flat_map(|a| [a.id.names(), a.name.names(), a.kind.names()]).flatten();
        for f in area_names.chain(type_fields.into_iter().flatten()) {
            if !fields.contains(&f) && !optional.contains(&f) {
                optional.push(f);
            }
        }
        if let Some(args) = &park_mix {
            for f in super::park_mix::class_fields_of(args)? {
                if !fields.contains(&f) && !optional.contains(&f) {
                    optional.push(f);
                }
            }
        }
        let spec = LayerSpec {
            source: LayerSource::parse(&layer.source_text(&city.base)),
            filter: layer.filter.clone(),
            encoding: common.encoding_for(&LayerSource::parse(&layer.source_text(&city.base))),
            role: name.clone(),
            fields,
            optional_fields: optional,
            alternatives: false,
            geom,
            within: None,
        };
        let mut raw = read_layer(&spec)?;
        let (own, fallback) = (
            layer.crs.as_deref().map(SourceCrs::parse).transpose()?,
            city.config.city.crs.as_deref().map(SourceCrs::parse).transpose()?,
        );
        let crs = SourceCrs::resolve(
            &raw.label(),
            raw.crs_wkt.as_deref(),
            own.as_ref(),
            fallback.as_ref(),
            &format!("layers.{name}.crs"),
        )?;
        // The warnings the audit gives of the layer: its reading's, a city CRS it does not take,
        // ids several areas or parks share.
        let option = format!("--{}-crs", name.split('[').next().unwrap_or(&name));
        raw.report.warnings.extend(super::unused_offset_crs(&raw, own.as_ref(), fallback.as_ref(), &option));
        raw.report.warnings.extend(area_fields.and_then(|a| a.shared_ids_warning(&spec, &raw)));
        let unknown_types = match living_circle {
            Some(args) => super::living_circle::classify_facilities(args, &mut raw)?,
            None => Default::default(),
        };
        ToLonLat::new(&crs, &raw.label())?;
        // Where the layer lands, as the audit will check it.
        if !crate::normalise::defer_lonlat(&mut raw, &crs)? {
            crate::normalise::to_lonlat(&mut raw, &crs)?;
        }
        crate::normalise::check_area_of_use(&raw, &crs)?;
        // The frame an indicator places at its study layer, as the audit will choose it (a planar
        // CRS is checked for metres true to scale there).
        if frame_roles.contains(&name.as_str()) {
            super::choose_frame(&common, &raw).map_err(in_city_file(city))?;
        }
        extents.push((name.clone(), raw.label(), crate::normalise::lonlat_bounds(&raw)));
        lines.push(format!(
            "layers.{name}: {} — {} features read, {} usable, {} repaired, {} skipped; CRS {}",
            raw.label(),
            raw.report.read,
            raw.report.used,
            raw.report.repaired,
            raw.report.skipped_total(),
            crs.label()
        ));
        lines.extend(raw.report.warnings.iter().map(|w| format!("warning: {w}")));
        let unknown_line = super::living_circle::unknown_types_line(&unknown_types);
        lines.extend(unknown_line.map(|l| format!("  {}", l.replace(" (unknown_types in the summary)", ""))));
        // Why features are skipped, as the audit's report says.
        for (reason, n) in &raw.report.skipped {
            lines.push(format!("  skipped {n}: {reason}"));
        }
        // A class table that knows few of the parcels' codes, as the audit warns of it.
        if let Some(args) = &park_mix {
            let names: Vec<String> = spec.fields.iter().chain(&spec.optional_fields).cloned().collect();
            let warning = super::park_mix::class_warning(args, &raw, &names)?;
            lines.extend(warning.map(|w| format!("warning: {w}")));
        }
    }
    // Layers an indicator lays over one another that do not overlap: a wrong CRS, as the audit
    // warns.
    let extent = |name: &str| extents.iter().find(|(n, _, _)| n == name).and_then(|(_, l, r)| Some((l, (*r)?)));
    let mut pairs = vec![("areas", "roads".to_string()), ("parks", "landuse".into())];
    // The homes walk on the roads only with the network method.
    if city.config.living_circle.as_ref().and_then(|l| l.method.as_deref()) != Some("buffer") {
        pairs.push(("origins", "roads".into()));
    }
    pairs.extend((0..layers.facilities.len()).map(|i| ("origins", format!("facilities[{i}]"))));
    // The option of a layer's CRS, which the warning names as its key.
    let option = |name: &str| format!("--{}-crs", name.split('[').next().unwrap_or(name));
    for (a, b) in pairs {
        if let (Some((la, ra)), Some((lb, rb))) = (extent(a), extent(&b)) {
            let settings = super::crs_settings(&common, [&option(a), &option(&b)]);
            let warnings = super::overlap_warnings(la, ra, lb, rb, &settings);
            lines.extend(warnings.into_iter().map(|w| format!("warning: {w}")));
        }
    }
    Ok(lines)
}

/// Set by `--quiet`: no progress line even on a terminal.
static QUIET: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// A one-line progress display on stderr (`[2/4] industrial-park land mix …`), shown only when
/// stderr is a terminal and `--quiet` is not given, so logs and batch runs stay clean.
struct Progress {
    total: usize,
    done: usize,
    show: bool,
    started: std::time::Instant,
}

impl Progress {
    fn new(total: usize) -> Progress {
        use std::io::IsTerminal;
        let show = std::io::stderr().is_terminal() && !QUIET.load(std::sync::atomic::Ordering::Relaxed);
        Progress { total, done: 0, show, started: std::time::Instant::now() }
    }

    fn step(&mut self, what: &str) {
        self.done += 1;
        if self.show {
            let width = 20;
            let filled = (self.done - 1) * width / self.total.max(1);
            super::write_stderr(format_args!(
                "\r\x1b[2K[{}{}] {}/{} {what} … {:.1} s",
                "#".repeat(filled),
                " ".repeat(width - filled),
                self.done,
                self.total,
                self.started.elapsed().as_secs_f64()
            ));
        }
    }

    fn done(&self) {
        if self.show {
            super::errln!(
                "\r\x1b[2K[{}] {}/{} done in {:.1} s",
                "#".repeat(20),
                self.total,
                self.total,
                self.started.elapsed().as_secs_f64()
            );
        }
    }
}

/// Exit code of an audit whose targets were missed, with `--fail-on-miss`.
pub const EXIT_TARGET_MISSED: u8 = 3;

/// `planaudit audit`.
pub fn run(args: &AuditArgs) -> Result<u8> {
    QUIET.store(args.quiet, std::sync::atomic::Ordering::Relaxed);
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
    let lines = check(&city)?;
    for line in &lines {
        outln!("{line}");
    }
    // "ok" says the audit can run; the warnings above are what it would warn of.
    let warnings = lines.iter().filter(|l| l.starts_with("warning: ")).count();
    match warnings {
        0 => outln!("{}: ok", args.config.display()),
        1 => outln!("{}: ok, with 1 warning", args.config.display()),
        n => outln!("{}: ok, with {n} warnings", args.config.display()),
    }
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
    outln!("wrote {}", args.path.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::city_file_words;

    #[test]
    fn options_become_keys_only_as_whole_words() {
        assert_eq!(
            city_file_words("--walk-speed -1: must be a positive number"),
            "living_circle.walk_speed_m_per_min -1: must be a positive number"
        );
        assert_eq!(
            city_file_words("--band 30-20: expected MIN-MAX in percent, e.g. --band 20-30"),
            "park_mix.band 30-20: expected MIN-MAX in percent, e.g. band = [20, 30]"
        );
        // Inside a path or a longer option: left as it is.
        let path = "'d/landuse--target.toml' is neither a preset nor a file";
        assert_eq!(city_file_words(path), path);
        assert_eq!(city_file_words("--max-walker 3"), "--max-walker 3");
        assert_eq!(city_file_words("(--max-snap)"), "(living_circle.max_snap_m)");
    }
}
