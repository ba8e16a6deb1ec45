//! `planaudit living-circle`: read roads, origins and facilities; build the walking network; compute
//! distances and tier coverage; write the origins, the gaps, the service areas and a summary.

use std::collections::BTreeMap;
use std::path::PathBuf;

use geo::{Centroid, LineString};
use rayon::prelude::*;
use serde_json::{json, Value};

use super::layers::{LayerRef, Layers};
use super::{
    choose_frame, field_value, finish_run, id_order, lines, sibling, warn_if_apart_from, FieldChoice, ID_FIELDS,
};
use crate::cli::{CommonArgs, DistanceArg, LivingCircleArgs, NodingArg, SnapArg, ThresholdsArg};
use crate::index::graph::{BuildStats, Component, Graph, Noding};
use crate::index::snap::SnapMode;
use crate::indicators::living_circle::{
    compute_buffer, compute_network, road_use, LivingCircle, Method, Params, RoadUse,
};
use crate::ingest::{GeomKind, LayerReport, LayerSource, LayerSpec, RawFeature, RawLayer};
use crate::model::{Facility, Origin};
use crate::normalise::crs::Frame;
use crate::normalise::facility_types::{Classified, FacilityTypes};
use crate::normalise::grades::GradeTable;
use crate::normalise::tiers::{Requirement, Thresholds, Tiers};
use crate::normalise::{lonlat_bounds, preset_for, project};
use crate::output::geojson::{write_collection, write_collection_read, CollectionMeta, OSM_ATTRIBUTION};
use crate::output::living_circle::{
    coverage_summary, gap_features, origin_features, service_area_features, table, write_graph, Context, OriginFeature,
};
use crate::output::report::{MapData, MapPart};
use crate::output::round6;
use crate::{Error, Result};

/// How many components the summary lists one by one (the rest are counted).
const LISTED_COMPONENTS: usize = 20;

/// The walking network as built, for the summary.
pub struct NetworkSummary {
    pub nodes: usize,
    pub edges: usize,
    pub length_km: f64,
    pub components: Vec<Component>,
    pub stats: BuildStats,
    /// Road features walked on.
    pub roads_walked: u64,
    /// Road features not walked on, by reason.
    pub roads_excluded: BTreeMap<String, u64>,
    /// Road features of grades the table does not know (walked on), by grade value.
    pub unknown_grades: BTreeMap<String, u64>,
}

/// What a run produced.
pub struct LivingCircleRun {
    pub result: LivingCircle,
    pub origins: Vec<Origin>,
    pub types: FacilityTypes,
    pub tiers: Tiers,
    pub reqs: Vec<Requirement>,
    pub population: bool,
    pub network: Option<NetworkSummary>,
    /// Facilities of types the table does not know, by first value (listed, not routed).
    pub unknown_types: BTreeMap<String, u64>,
    pub type_fields: Vec<String>,
    pub max_walk_m: f64,
    pub reports: Vec<LayerReport>,
    pub measure: String,
    pub frame_crs: String,
    pub outputs: Vec<PathBuf>,
    /// The report's maps of the files written, by path, when asked for: what reading the files
    /// back would give.
    pub maps: Vec<(PathBuf, MapData)>,
}

impl LivingCircleRun {
    fn context(&self) -> Context<'_> {
        Context { types: &self.types, tiers: &self.tiers, reqs: &self.reqs, population: self.population }
    }
}

fn positive(option: &str, v: f64) -> Result<f64> {
    if v.is_finite() && v > 0.0 {
        Ok(v)
    } else {
        Err(Error::Usage(format!("{option} {v}: must be a positive number")))
    }
}

fn spec(
    source: &LayerSource,
    filter: &Option<String>,
    common: &CommonArgs,
    role: &str,
    fields: Vec<String>,
    optional: Vec<String>,
    geom: GeomKind,
) -> LayerSpec {
    LayerSpec {
        source: source.clone(),
        filter: filter.clone(),
        encoding: common.encoding_for(source),
        role: role.into(),
        fields,
        optional_fields: optional,
        alternatives: false,
        geom,
        within: None,
    }
}

/// The field of an origin's id: `--id-field`, else the first of [`ID_FIELDS`] with a value.
fn origin_id(args: &LivingCircleArgs) -> FieldChoice {
    FieldChoice { given: args.id_field.clone(), defaults: &ID_FIELDS }
}

/// The homes' layer as read, its longitude/latitude extent before it was projected, and, once
/// placed, the frame they chose and the homes measured in it.
struct Homes {
    layer: RawLayer,
    lonlat: Option<geo::Rect<f64>>,
    placed: Result<(Frame, Result<Vec<Origin>>)>,
}

/// The facility layers as read, and the roads with their grade table when the method walks.
type Others = (Vec<RawLayer>, Option<(LayerRef, GradeTable)>);

/// Origins: a point, or a polygon's centroid; area and population.
fn origins_of(layer: &mut RawLayer, names: &[String], args: &LivingCircleArgs, frame: &Frame) -> Result<Vec<Origin>> {
    let id_names = origin_id(args).names();
    // Centroids and areas in parallel; what they give is counted in feature order below.
    // Each geometry is taken to longitude/latitude once, for its area and for the output.
    type Measured = (Option<geo::Point<f64>>, Result<(f64, geo::Geometry<f64>)>);
    let measured: Vec<Measured> =
        layer.features.par_iter().map(|f| (f.geometry.centroid(), frame.area_m2_and_lonlat(&f.geometry))).collect();
    let mut out = Vec::with_capacity(layer.features.len());
    let report = &mut layer.report;
    for (f, (centre, measured)) in layer.features.drain(..).zip(measured) {
        let Some(centre) = centre else {
            report.used -= 1;
            report.skip(f.fid, "no centroid (empty geometry)");
            continue;
        };
        if matches!(&f.geometry, geo::Geometry::MultiPoint(mp) if mp.0.len() > 1) {
            report.flag(f.fid, "multipoint: walks from the centroid of its points");
        }
        let (area_m2, lonlat) = measured?;
        let population = match &args.population_field {
            None => None,
            Some(field) => match field_value(names, &f.attrs, field) {
                None => {
                    report.flag(f.fid, &format!("field '{field}': no population (counted as 0)"));
                    Some(0.0)
                }
                Some(text) => match text.trim().parse::<f64>() {
                    Ok(p) if p.is_finite() && p >= 0.0 => Some(p),
                    Ok(p) if p < 0.0 => {
                        report.flag(f.fid, &format!("field '{field}': population is negative (counted as 0)"));
                        Some(0.0)
                    }
                    _ => {
                        report.flag(f.fid, &format!("field '{field}': population is not a number (counted as 0)"));
                        Some(0.0)
                    }
                },
            },
        };
        let id = id_names.iter().find_map(|n| field_value(names, &f.attrs, n)).unwrap_or_else(|| f.fid.to_string());
        out.push(Origin {
            id,
            fid: f.fid,
            point: centre.0,
            area_m2,
            population,
            geometry: f.geometry,
            lonlat: Some(lonlat),
        });
    }
    out.sort_by(|a, b| id_order(&a.id, &b.id).then(a.fid.cmp(&b.fid)));
    Ok(out)
}

/// The fields a facilities layer's types are read from (its table's when none is named), for
/// `check` to read them.
pub(crate) fn type_fields(args: &LivingCircleArgs) -> Result<Vec<String>> {
    Ok(Options::of(args)?.type_fields)
}

/// The features of a facilities layer read by `check` (with the [`type_fields`]), classified as
/// the audit classifies them, into the layer's report: features without a type skipped, types the
/// table does not know flagged. The unknown types, by value.
pub(crate) fn classify_facilities(args: &LivingCircleArgs, layer: &mut RawLayer) -> Result<BTreeMap<String, u64>> {
    let Options { type_fields, types, .. } = Options::of(args)?;
    let mut unknown = BTreeMap::new();
    facilities_of(std::slice::from_mut(layer), &type_fields, &types, &mut unknown);
    Ok(unknown)
}

/// Facilities of known types; unknown types are counted by value, features without any type value
/// are skipped and counted.
fn facilities_of(
    layers: &mut [RawLayer],
    fields: &[String],
    types: &FacilityTypes,
    unknown: &mut BTreeMap<String, u64>,
) -> Vec<Facility> {
    let mut out = Vec::new();
    for (li, layer) in layers.iter_mut().enumerate() {
        for f in &layer.features {
            // A multipoint is one facility at several places (entrances, sites): each is a
            // location of it, as its centroid between them is none.
            let points: Vec<geo::Coord<f64>> = match &f.geometry {
                geo::Geometry::MultiPoint(mp) if mp.0.len() > 1 => mp.0.iter().map(|p| p.0).collect(),
                g => g.centroid().map(|p| vec![p.0]).unwrap_or_default(),
            };
            match (types.classify(fields, &f.attrs), points.first()) {
                (_, None) => {
                    layer.report.used -= 1;
                    layer.report.skip(f.fid, "no centroid (empty geometry)");
                }
                (Classified::Known(kind), Some(_)) => {
                    if points.len() > 1 {
                        layer.report.flag(f.fid, "multipoint: each of its points is a location of the facility");
                    }
                    out.extend(points.iter().map(|&point| Facility { layer: li, fid: f.fid, kind, point }));
                }
                (Classified::Unknown(code), Some(_)) => {
                    *unknown.entry(code).or_insert(0) += 1;
                    layer.report.flag(f.fid, "facility type not in the table (listed in unknown_types, not routed)");
                }
                (Classified::NoValue, Some(_)) => {
                    layer.report.used -= 1;
                    layer.report.skip(f.fid, &format!("no value in the type field(s) {}", fields.join(", ")));
                }
            }
        }
    }
    out
}

impl NetworkSummary {
    /// A warning when the network falls into more pieces than a quarter of its lines: its lines
    /// mostly do not meet. With vertex noding, lines that cross without a shared vertex (as
    /// centrelines drawn in CAD often do) do not connect, and every distance across them is lost.
    pub fn fragmentation_warning(&self, noding: Noding, roads: &str) -> Option<String> {
        let lines = self.stats.lines.saturating_sub(self.stats.degenerate_lines);
        let pieces = self.components.len() as u64;
        (noding == Noding::Vertices && lines >= 4 && pieces * 4 > lines).then(|| {
            format!(
                "{roads}: the walking network falls into {pieces} separate pieces for {lines} lines (or parts of multi-lines); with noding \"vertices\" lines that cross without a shared vertex do not connect: if the roads are drawn that way, set noding = \"planar\" (--noding planar)"
            )
        })
    }
}

/// The walking network from the roads layer (whose lines it borrows while it is built).
fn network_of(
    layer: &LayerRef,
    grades: &GradeTable,
    noding: Noding,
    frame: &Frame,
) -> Result<(Graph, Vec<u64>, NetworkSummary)> {
    let all = &layer.layer().features;
    let read = all.len();
    // One line a road mostly: sized once rather than grown.
    let mut lines_in: Vec<&LineString<f64>> = Vec::with_capacity(read);
    let mut road_fids = Vec::with_capacity(read);
    // Each line's level, with planar noding (attributes 3 to 5: `LEVEL_FIELDS`).
    let mut levels = Vec::new();
    let level = |f: &RawFeature| road_level(layer.attr(f, 3), layer.attr(f, 4), layer.attr(f, 5));
    let mut roads_walked = 0;
    let mut roads_excluded = BTreeMap::new();
    let mut unknown_grades = BTreeMap::new();
    // Roads in feature-id order: node and component numbers then do not depend on the order in
    // which the layer lists its features. (A layer read in fid order, as a GeoPackage is, is
    // taken as it is.)
    let by_fid: Option<Vec<usize>> = (!all.is_sorted_by_key(|f| f.fid)).then(|| {
        let mut order: Vec<usize> = (0..read).collect();
        order.sort_by_key(|&i| all[i].fid);
        order
    });
    let feature = |k: usize| &all[by_fid.as_ref().map_or(k, |o| o[k])];
    // Each road judged on its own, in parallel; then gathered and counted in fid order.
    fn grade<'a>(layer: &LayerRef, f: &'a RawFeature) -> &'a str {
        layer.attr(f, 0).unwrap_or("")
    }
    let judged: Vec<Option<RoadUse>> = (0..read)
        .into_par_iter()
        .map(|k| {
            let f = feature(k);
            lines(&f.geometry).map(|_| road_use(grade(layer, f), layer.attr(f, 1), layer.attr(f, 2), grades))
        })
        .collect();
    for (k, judged) in judged.into_iter().enumerate() {
        let f = feature(k);
        let (Some(parts), Some(judged)) = (lines(&f.geometry), judged) else { continue };
        match judged {
            RoadUse::Exclude(reason) => {
                *roads_excluded.entry(reason).or_insert(0) += 1;
                continue;
            }
            RoadUse::WalkUnknownGrade => *unknown_grades.entry(grade(layer, f).trim().to_string()).or_insert(0) += 1,
            RoadUse::Walk => {}
        }
        roads_walked += 1;
        for ls in parts {
            lines_in.push(ls);
            road_fids.push(f.fid);
            if noding == Noding::Planar {
                levels.push(level(f));
            }
        }
    }
    let graph = Graph::build_levelled(&lines_in, noding, &levels, frame)?;
    if graph.edge_count() == 0 {
        let reasons: Vec<String> = roads_excluded.iter().map(|(r, n)| format!("{n} {r}")).collect();
        return Err(Error::EmptyLayer {
            layer: layer.layer().label(),
            reason: format!(
                "no walkable road: {} features read, none usable for walking ({})",
                read,
                reasons.join("; ")
            ),
        });
    }
    let summary = NetworkSummary {
        nodes: graph.node_count(),
        edges: graph.edge_count(),
        length_km: graph.length_m() / 1000.0,
        components: graph.components().to_vec(),
        stats: graph.stats,
        roads_walked,
        roads_excluded,
        unknown_grades,
    };
    Ok((graph, road_fids, summary))
}

/// The optional road fields that can bar walking on a road (OSM `foot=no`, `access=private`).
pub const WALK_FIELDS: [&str; 2] = ["foot", "access"];

/// The OpenStreetMap tags of a road's level (read after [`WALK_FIELDS`] with planar noding): roads
/// of different levels cross without meeting, a bridge over a street as a tunnel under it.
pub const LEVEL_FIELDS: [&str; 3] = ["bridge", "tunnel", "layer"];

/// The optional fields the walking network reads of the roads: [`WALK_FIELDS`], and with planar
/// noding [`LEVEL_FIELDS`].
pub fn walk_fields(noding: NodingArg) -> Vec<String> {
    let level: &[&str] = if noding == NodingArg::Planar { &LEVEL_FIELDS } else { &[] };
    WALK_FIELDS.iter().chain(level).map(|f| f.to_string()).collect()
}

/// A road's level from its OpenStreetMap tags: `layer` when it is a whole number, else 1 for a
/// bridge and -1 for a tunnel (a passage through a building is at ground level), else 0.
///
/// ```
/// use planaudit::cmd::living_circle::road_level;
/// assert_eq!(road_level(None, None, None), 0);
/// assert_eq!(road_level(Some("yes"), None, None), 1);
/// assert_eq!(road_level(Some("viaduct"), None, Some("2")), 2);
/// assert_eq!(road_level(None, Some("yes"), None), -1);
/// assert_eq!(road_level(None, Some("building_passage"), None), 0);
/// assert_eq!(road_level(Some("no"), Some("no"), Some("x")), 0);
/// ```
pub fn road_level(bridge: Option<&str>, tunnel: Option<&str>, layer: Option<&str>) -> i32 {
    if let Some(n) = layer.and_then(|l| l.trim().parse::<i32>().ok()) {
        return n;
    }
    let tagged =
        |v: Option<&str>, ground: &[&str]| v.is_some_and(|v| !v.trim().is_empty() && !ground.contains(&v.trim()));
    if tagged(bridge, &["no"]) {
        1
    } else if tagged(tunnel, &["no", "building_passage"]) {
        -1
    } else {
        0
    }
}

/// The options of a run that need no data, checked, with the tables they name.
struct Options {
    max_snap_m: f64,
    types: FacilityTypes,
    tiers: Tiers,
    reqs: Vec<Requirement>,
    max_walk_m: f64,
    type_fields: Vec<String>,
    roads_src: LayerSource,
    origins_src: LayerSource,
    facility_srcs: Vec<LayerSource>,
    osm_facilities: bool,
}

impl Options {
    fn of(args: &LivingCircleArgs) -> Result<Options> {
        // What only a walk along the network gives is refused for straight lines, not ignored.
        if args.method == DistanceArg::Buffer {
            for (given, option, what) in [
                (args.service_areas, "--service-areas", "the network within each facility's service distance"),
                (args.export_graph.is_some(), "--export-graph", "the walking network"),
            ] {
                if given {
                    return Err(Error::Usage(format!(
                        "{option} writes {what}, which --method buffer does not build: use --method network, or leave {option} out"
                    )));
                }
            }
        }
        let max_snap_m = positive("--max-snap", args.max_snap)?;
        let walk_speed = positive("--walk-speed", args.walk_speed)?;
        let roads_src = LayerSource::parse(&args.road.roads);
        let origins_src = LayerSource::parse(&args.origins);
        let facility_srcs: Vec<LayerSource> = args.facilities.iter().map(|f| LayerSource::parse(f)).collect();
        let osm_facilities = facility_srcs.iter().any(LayerSource::is_osm);
        let types = FacilityTypes::load(args.facility_types.as_deref().unwrap_or(preset_for(osm_facilities, "cn")))?;
        let tiers = Tiers::load(args.tiers.as_deref().unwrap_or(preset_for(osm_facilities, "gb50180")))?;
        let thresholds = match args.thresholds {
            ThresholdsArg::Table => Thresholds::Table,
            ThresholdsArg::Minutes => Thresholds::Minutes { walk_speed_m_per_min: walk_speed },
        };
        let reqs = tiers.requirements(&types, thresholds)?;
        let largest = reqs.iter().map(|r| r.distance_m).fold(0.0, f64::max);
        let max_walk_m = match args.max_walk {
            None => 2.0 * largest.max(1.0),
            Some(m) => {
                let m = positive("--max-walk", m)?;
                if m < largest {
                    return Err(Error::Usage(format!(
                        "--max-walk {m}: must be at least the largest service distance of the tiers ({largest} m)"
                    )));
                }
                m
            }
        };
        let type_fields: Vec<String> = match &args.type_field {
            Some(t) => t.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect(),
            None => types.fields.clone(),
        };
        if type_fields.is_empty() {
            return Err(Error::Usage("--type-field: name at least one field".into()));
        }
        Ok(Options {
            max_snap_m,
            types,
            tiers,
            reqs,
            max_walk_m,
            type_fields,
            roads_src,
            origins_src,
            facility_srcs,
            osm_facilities,
        })
    }
}

/// Checks the options that need no data (distances, speed, the facility-type and tier tables);
/// returns the tier table, whose tiers a city file's coverage targets must name.
pub fn check_options(args: &LivingCircleArgs) -> Result<Tiers> {
    Options::of(args).map(|o| o.tiers)
}

/// Runs the indicator and writes its files; returns what it did.
pub fn execute(args: &LivingCircleArgs) -> Result<LivingCircleRun> {
    refuse_overwrite(args, &[], args.common.summary_json.as_slice())?;
    execute_with(args, &Layers::default(), false)
}

/// Refuses outputs (the origins, the gaps, the service areas and `more_outputs`) that would
/// overwrite an input (the layers and `more_inputs`).
pub(crate) fn refuse_overwrite(
    args: &LivingCircleArgs,
    more_inputs: &[String],
    more_outputs: &[PathBuf],
) -> Result<()> {
    let mut inputs = vec![args.road.roads.clone(), args.origins.clone()];
    inputs.extend(args.facilities.iter().cloned());
    inputs.extend(more_inputs.iter().cloned());
    inputs.extend(super::table_files([
        (args.road.grades.as_ref(), crate::normalise::grades::PRESETS),
        (args.facility_types.as_ref(), crate::normalise::facility_types::PRESETS),
        (args.tiers.as_ref(), crate::normalise::tiers::PRESETS),
    ]));
    let outputs = [
        &[args.output.clone(), super::sibling(&args.output, "gaps"), super::sibling(&args.output, "service_areas")],
        more_outputs,
    ]
    .concat();
    super::refuse_overwrite(&inputs, &outputs)
}

/// [`execute`], reading layers through `layers` (shared with the other indicators of an audit).
///
/// With `maps`, the run keeps the report's maps of the homes' and the gaps' files, made while they
/// were written ([`LivingCircleRun::maps`]).
pub fn execute_with(args: &LivingCircleArgs, layers: &Layers, maps: bool) -> Result<LivingCircleRun> {
    let o = Options::of(args)?;
    let (types, tiers, reqs, type_fields) = (o.types, o.tiers, o.reqs, o.type_fields);
    let (roads_src, origins_src, facility_srcs) = (o.roads_src, o.origins_src, o.facility_srcs);
    let (max_snap_m, max_walk_m, osm_facilities) = (o.max_snap_m, o.max_walk_m, o.osm_facilities);
    let common = &args.common;

    // Origins: id and population fields are required when named.
    let mut origin_fields: Vec<String> = args.id_field.iter().chain(&args.population_field).cloned().collect();
    let optional: Vec<String> = if args.id_field.is_none() { origin_id(args).names() } else { vec![] };
    let origin_spec = spec(
        &origins_src,
        &args.origins_where,
        common,
        "origins",
        origin_fields.clone(),
        optional.clone(),
        GeomKind::PointsOrPolygons,
    );
    origin_fields.extend(optional);
    // The homes need nothing of the other layers: once read (first, as in a sequential run, so
    // that a layer that serves two roles is reported under the homes' and its warnings come in
    // order), they are placed in the frame (which they choose) and measured on a thread of their
    // own while the facilities and the roads are read (or, in an audit, while another indicator
    // reads the roads). Errors keep the order of a sequential run: the homes' read, the other
    // reads, the frame, the projections, the homes. A failed read stops the other side's work.
    let (homes_read, homes_read_rx) = std::sync::mpsc::channel::<bool>();
    let others_failed = std::sync::atomic::AtomicBool::new(false);
    let go_on = || !others_failed.load(std::sync::atomic::Ordering::Relaxed);
    let homes = move || -> Result<Homes> {
        let read = layers.load(&origin_spec, args.origins_crs.as_deref(), common, "--origins-crs");
        let _ = homes_read.send(read.is_ok());
        let mut layer = read?;
        let lonlat = lonlat_bounds(&layer);
        let placed = choose_frame(common, &layer).and_then(|frame| {
            project(&mut layer, &frame)?;
            let origins = if go_on() {
                crate::timing::time(
                    || "origins living_circle".into(),
                    || origins_of(&mut layer, &origin_fields, args, &frame),
                )
            } else {
                // Never reported: the other reads' error comes first.
                Ok(Vec::new())
            };
            Ok((frame, origins))
        });
        Ok(Homes { layer, lonlat, placed })
    };
    let method = match args.method {
        DistanceArg::Network => Method::Network,
        DistanceArg::Buffer => Method::Buffer,
    };
    let others = || -> Result<Others> {
        // Homes that could not be read are reported first, and nothing else is read.
        if homes_read_rx.recv() != Ok(true) {
            return Ok((Vec::new(), None));
        }
        let mut facility_layers = Vec::with_capacity(facility_srcs.len());
        for src in &facility_srcs {
            let s = spec(
                src,
                &args.facilities_where,
                common,
                "facilities",
                type_fields.clone(),
                vec![],
                GeomKind::PointsOrPolygons,
            );
            // A facility's type is in the first of the type fields that has one.
            let s = LayerSpec { alternatives: true, ..s };
            facility_layers.push(layers.load(&s, args.facilities_crs.as_deref(), common, "--facilities-crs")?);
        }
        if method != Method::Network {
            return Ok((facility_layers, None));
        }
        let (grades, grade_field) = super::grade_table(&args.road)?;
        let s = spec(
            &roads_src,
            &args.road.roads_where,
            common,
            "roads",
            vec![grade_field],
            walk_fields(args.noding),
            GeomKind::Lines,
        );
        let layer = crate::timing::time(
            || "roads living_circle (shared read)".into(),
            || layers.load_shared(&s, args.road.roads_crs.as_deref(), common, "--roads-crs"),
        )?;
        Ok((facility_layers, Some((layer, grades))))
    };
    let (homes, others) = std::thread::scope(|scope| {
        // The stack the main thread would have given the read in a single command.
        let homes = std::thread::Builder::new().stack_size(8 << 20).spawn_scoped(scope, homes);
        let others = others();
        if others.is_err() {
            others_failed.store(true, std::sync::atomic::Ordering::Relaxed);
        }
        let homes = match homes {
            Ok(thread) => thread.join(),
            // No thread to be had: a sequential run's error (what `homes` holds is dropped).
            Err(e) => Ok(Err(Error::io(std::path::Path::new("(a thread for the homes)"), e))),
        };
        match (homes, others) {
            (Ok(homes), others) => (homes, others),
            // A panic after the homes were read, beside a failed read: the read's error, as a
            // sequential run, which never measured the homes, gives.
            (Err(_), Err(e)) => (Err(e), Ok((Vec::new(), None))),
            (Err(panic), Ok(_)) => std::panic::resume_unwind(panic),
        }
    });
    let Homes { layer: mut origins_layer, lonlat: origins_lonlat, placed } = homes?;
    let (mut facility_layers, roads) = others?;
    let (mut roads_layer, grade_table) = match roads {
        Some((layer, grades)) => {
            warn_if_apart_from(
                &mut origins_layer,
                origins_lonlat,
                layer.layer(),
                common,
                ["--origins-crs", "--roads-crs"],
            );
            (Some(layer), Some(grades))
        }
        None => (None, None),
    };
    for f in &facility_layers {
        warn_if_apart_from(&mut origins_layer, origins_lonlat, f, common, ["--origins-crs", "--facilities-crs"]);
    }

    let (frame, origins) = placed?;
    for f in &mut facility_layers {
        project(f, &frame)?;
    }
    if let Some(r) = roads_layer.as_mut() {
        r.project(&frame)?;
    }

    let noding = match args.noding {
        NodingArg::Vertices => Noding::Vertices,
        NodingArg::Planar => Noding::Planar,
    };
    let mut unknown_types = BTreeMap::new();
    let facilities = facilities_of(&mut facility_layers, &type_fields, &types, &mut unknown_types);
    let origins = origins?;
    // The walking network only when there is a facility to walk to.
    let network = match (&roads_layer, &grade_table) {
        (Some(roads), Some(grades)) if !facilities.is_empty() => {
            Some(crate::timing::time(|| "network living_circle".into(), || network_of(roads, grades, noding, &frame)))
        }
        _ => None,
    };
    if facilities.is_empty() {
        let labels: Vec<String> = facility_layers.iter().map(RawLayer::label).collect();
        let found: Vec<String> =
            most_frequent(&unknown_types).take(NAMED_UNKNOWN_TYPES).map(|(k, n)| format!("{k} ({n})")).collect();
        return Err(Error::EmptyLayer {
            layer: labels.join(", "),
            reason: format!(
                "no facility of a type the facility-type table '{}' knows in the field(s) {}; found: {}",
                types.name,
                type_fields.join(", "),
                if found.is_empty() { "nothing".into() } else { found.join(", ") }
            ),
        });
    }

    let mut params = Params {
        method,
        snap: match args.snap {
            SnapArg::Edge => SnapMode::Edge,
            SnapArg::Node => SnapMode::Node,
        },
        max_snap_m,
        max_walk_m,
        service_areas: args.service_areas,
        origins_layer: origins_layer.label(),
    };
    let mut outputs = vec![args.output.clone()];
    let mut roads_report = None;
    let (result, network) = match (roads_layer.take(), network) {
        (Some(roads), Some(network)) => {
            let (graph, road_fids, summary) = network?;
            // The graph holds what the search needs: the layer is let go (freed once road
            // density is done with it too, beside the search).
            let mut report = roads.layer().report.clone();
            if let Some(w) = summary.fragmentation_warning(noding, &roads.layer().label()) {
                super::errln!("planaudit: warning: {w}");
                report.warnings.push(w);
            }
            roads_report = Some(report);
            super::free_aside(roads);
            let result = crate::timing::time(
                || "compute living_circle".into(),
                || compute_network(&graph, &origins, &facilities, &tiers, &reqs, &params),
            )?;
            if let Some(dir) = &args.export_graph {
                write_graph(dir, &graph, &road_fids, &origins, &facilities, &result, &types)?;
                outputs.push(dir.clone());
            }
            (result, Some(summary))
        }
        _ => {
            params.service_areas = false;
            (compute_buffer(&frame, &origins, &facilities, &tiers, &reqs, &params)?, None)
        }
    };

    // What the coverage alone does not say, in the origins' report, so that the summary, the
    // report and a batch show it too.
    for w in coverage_warnings(&result, &facilities, &types, &tiers, &reqs, origins.len(), max_snap_m) {
        super::errln!("planaudit: warning: {w}");
        origins_layer.report.warnings.push(w);
    }
    let measure = frame.describe();
    let osm = roads_src.is_osm() || origins_src.is_osm() || osm_facilities;
    let mut reports = vec![origins_layer.report];
    reports.extend(facility_layers.into_iter().map(|l| l.report));
    reports.extend(roads_report);
    let run = LivingCircleRun {
        result,
        origins,
        types,
        tiers,
        reqs,
        population: args.population_field.is_some(),
        network,
        unknown_types,
        type_fields,
        max_walk_m,
        reports,
        measure,
        frame_crs: frame.crs.clone(),
        outputs: Vec::new(),
        maps: Vec::new(),
    };
    let ctx = run.context();
    // Collection names carry the method, so that a buffer result is never taken for a network one.
    let names = ["living_circle", "living_circle_gaps", "living_circle_service_areas"]
        .map(|base| format!("{base}_{}", run.result.method.label()));
    let meta = |i: usize| CollectionMeta { name: &names[i], frame: &frame, osm };
    // The homes and their gaps written side by side: each one's text is made on the pool while
    // the other's is written out. As in a sequential run, the gaps' file takes its place only once
    // the homes' has, and an error of the homes' file is the one reported.
    let gaps = sibling(&args.output, "gaps");
    // With `maps`, each file's features are also read into the report's map of it as they are
    // written, as the report would read them from the file.
    let read = |part: &mut MapPart, f: &OriginFeature, g: &geo::Geometry<f64>| {
        if maps {
            part.push_home(g, f.missing_count() as u64);
        }
    };
    let map_of = |parts: Vec<MapPart>| MapData::from_parts(parts, osm.then(|| OSM_ATTRIBUTION.to_string()));
    let write_homes = || {
        let features = origin_features(&run.result, &ctx, &run.origins);
        write_collection_read(&args.output, &meta(0), &features, || Ok(()), read)
    };
    let write_gaps = |last: &dyn Fn() -> std::io::Result<()>| {
        write_collection_read(&gaps, &meta(1), &gap_features(&run.result, &ctx, &run.origins), last, read)
    };
    let (homes_map, gaps_map) = std::thread::scope(|scope| {
        let (homes_done, homes_known) = std::sync::mpsc::channel::<bool>();
        let after_homes = move || match homes_known.recv() {
            Ok(true) => Ok(()),
            _ => Err(std::io::Error::other("not written: the homes' file was not")),
        };
        match std::thread::Builder::new().spawn_scoped(scope, move || write_gaps(&after_homes).map(map_of)) {
            Ok(gaps_thread) => {
                let homes = write_homes().map(map_of);
                let _ = homes_done.send(homes.is_ok());
                let gaps = gaps_thread.join().unwrap_or_else(|e| std::panic::resume_unwind(e));
                homes.and_then(|h| gaps.map(|g| (h, g)))
            }
            // No thread to be had: one after the other.
            Err(_) => {
                let homes = write_homes()?;
                Ok((map_of(homes), map_of(write_gaps(&|| Ok(()))?)))
            }
        }
    })?;
    let report_maps = if maps { vec![(args.output.clone(), homes_map), (gaps.clone(), gaps_map)] } else { Vec::new() };
    outputs.push(gaps);
    if args.service_areas && method == Method::Network {
        let p = sibling(&args.output, "service_areas");
        write_collection(&p, &meta(2), &service_area_features(&run.result, &ctx))?;
        outputs.push(p);
    }
    Ok(LivingCircleRun { outputs, maps: report_maps, ..run })
}

/// Homes no walk reaches (too far from any walkable road), and needs that no facility of the layers
/// meets: every home misses those, so the coverage of their tiers is 0 whatever the plan, which
/// the coverage figures alone do not tell from homes that are merely far.
fn coverage_warnings(
    result: &LivingCircle,
    facilities: &[Facility],
    types: &FacilityTypes,
    tiers: &Tiers,
    reqs: &[Requirement],
    homes: usize,
    max_snap_m: f64,
) -> Vec<String> {
    let mut warnings = Vec::new();
    if result.unreachable_origins > 0 {
        warnings.push(format!(
            "{} of {homes} homes are farther than {max_snap_m} m from every walkable road: no walk reaches them, and they miss every need",
            result.unreachable_origins
        ));
    }
    let mut present = vec![false; types.rows.len()];
    for f in facilities {
        present[f.kind] = true;
    }
    // The facilities of each type the network method could not use, all beyond the snap limit.
    let mut unusable = vec![None; types.rows.len()];
    for (&t, s) in result.types.iter().zip(&result.facility_stats) {
        if s.facilities > 0 && s.beyond_max_snap == s.facilities {
            unusable[t] = Some(s.facilities);
        }
    }
    // Needs no facility meets: none of their types is in the layers (`None`), or all their
    // facilities are beyond the snap limit (how many); with their types' labels and tiers.
    type Missing<'a> = (Option<u64>, Vec<&'a str>, Vec<u32>);
    let mut missing: BTreeMap<&str, Missing> = BTreeMap::new();
    for r in reqs {
        let far = if r.types.iter().all(|&t| !present[t]) {
            None
        } else if r.types.iter().all(|&t| !present[t] || unusable[t].is_some()) {
            Some(r.types.iter().filter_map(|&t| unusable[t]).sum())
        } else {
            continue;
        };
        let (count, labels, minutes) = missing.entry(&r.need).or_default();
        if labels.is_empty() {
            *count = far;
            labels.extend(r.types.iter().map(|&t| types.rows[t].label.as_str()));
        }
        minutes.push(tiers.tiers[r.tier].minutes);
    }
    for (need, (far, labels, minutes)) in missing {
        // Cumulative tiers take in the needs of the narrower ones.
        let first = minutes.iter().copied().min().unwrap_or(0);
        let affected: Vec<String> = tiers
            .tiers
            .iter()
            .map(|t| t.minutes)
            .filter(|m| if tiers.cumulative { *m >= first } else { minutes.contains(m) })
            .map(|m| m.to_string())
            .collect();
        let (tiers, cover) = match affected.as_slice() {
            [one] => (format!("{one}-minute tier"), "covers"),
            [init @ .., last] => (format!("{}- and {last}-minute tiers", init.join("-, ")), "cover"),
            [] => continue,
        };
        let why = match far {
            None => format!("the facility layers hold no facility of its types ({})", labels.join(", ")),
            Some(n) => {
                let (noun, verb, them) =
                    if n == 1 { ("facility", "lies", "it") } else { ("facilities", "lie", "them") };
                format!(
                    "the {n} {noun} of its types ({}) {verb} farther than {max_snap_m} m from every walkable road, and no walk reaches {them}",
                    labels.join(", ")
                )
            }
        };
        warnings.push(format!("need '{need}': {why}: every home misses it, so the {tiers} {cover} no home"));
    }
    warnings
}

/// The machine-readable summary of a run.
pub fn summary_json(run: &LivingCircleRun, args: &LivingCircleArgs) -> Value {
    let ctx = run.context();
    let mut coverage = coverage_summary(&run.result, &ctx);
    for need in coverage["needs"].as_array_mut().into_iter().flatten() {
        let d = need["distance_m"].as_f64().unwrap_or(f64::NAN);
        need["distance_min"] = json!(round6(d / args.walk_speed));
    }
    let network = run.network.as_ref().map(|n| {
        let listed: Vec<Value> = n
            .components
            .iter()
            .take(LISTED_COMPONENTS)
            .map(|c| json!({"nodes": c.nodes, "edges": c.edges, "length_km": round6(c.length_m / 1000.0)}))
            .collect();
        json!({
            "nodes": n.nodes,
            "edges": n.edges,
            "length_km": round6(n.length_km),
            "components": n.components.len(),
            "largest_components": listed,
            "single_edge_components": n.components.iter().filter(|c| c.edges <= 1).count(),
            "lines": n.stats.lines,
            "degenerate_lines": n.stats.degenerate_lines,
            "crossing_points": n.stats.crossing_points,
            "roads_walked": n.roads_walked,
            "roads_excluded": n.roads_excluded,
            "unknown_grades_walked": n.unknown_grades,
        })
    });
    let method = run.result.method;
    json!({
        "indicator": "living_circle",
        "method": method.label(),
        "method_description": method.describe(),
        "measure": run.measure,
        "frame_crs": run.frame_crs,
        "facility_types": run.types.name,
        "type_fields": run.type_fields,
        "tiers": run.tiers.name,
        "cumulative_tiers": run.tiers.cumulative,
        "thresholds": format!("{:?}", args.thresholds).to_lowercase(),
        "walk_speed_m_per_min": args.walk_speed,
        "snap": if method == Method::Network { json!(format!("{:?}", args.snap).to_lowercase()) } else { Value::Null },
        "max_snap_m": args.max_snap,
        "max_walk_m": run.max_walk_m,
        "noding": if method == Method::Network { json!(format!("{:?}", args.noding).to_lowercase()) } else { Value::Null },
        "origins": run.origins.len(),
        "unreachable_origins": run.result.unreachable_origins,
        "coverage": coverage,
        "unknown_types": run.unknown_types,
        "network": network,
        "layers": run.reports,
        "outputs": run.outputs.iter().map(|p| p.display().to_string()).collect::<Vec<_>>(),
    })
}

/// Values by count, most frequent first; equal counts in the map's (value) order.
fn most_frequent(counts: &BTreeMap<String, u64>) -> impl Iterator<Item = (&String, &u64)> {
    let mut by_count: Vec<(&String, &u64)> = counts.iter().collect();
    by_count.sort_by(|a, b| b.1.cmp(a.1));
    by_count.into_iter()
}

/// How many of the most frequent unknown facility types the printout (and the error when no type
/// is known) names.
const NAMED_UNKNOWN_TYPES: usize = 10;

/// The printout's line on facilities of types the table does not know: how many, and the most
/// frequent values (a typo such as 幼儿圆 stands out); `None` when there are none.
///
/// ```
/// use std::collections::BTreeMap;
/// use planaudit::cmd::living_circle::unknown_types_line;
/// let mut u: BTreeMap<String, u64> = (0..12).map(|i| (format!("t{i:02}"), 1)).collect();
/// u.insert("幼儿圆".into(), 3);
/// let line = unknown_types_line(&u).unwrap();
/// assert!(line.starts_with("facilities of types the table does not know (not routed): 15 in 13 types: '幼儿圆' (3), 't00' (1),"));
/// assert!(line.ends_with("'t08' (1), and 3 more (unknown_types in the summary)"), "{line}");
/// assert!(unknown_types_line(&BTreeMap::new()).is_none());
/// ```
pub fn unknown_types_line(unknown: &BTreeMap<String, u64>) -> Option<String> {
    if unknown.is_empty() {
        return None;
    }
    let total: u64 = unknown.values().sum();
    let named: Vec<String> =
        most_frequent(unknown).take(NAMED_UNKNOWN_TYPES).map(|(v, n)| format!("'{v}' ({n})")).collect();
    let more = unknown.len().saturating_sub(NAMED_UNKNOWN_TYPES);
    Some(format!(
        "facilities of types the table does not know (not routed): {total} in {} types: {}{}",
        unknown.len(),
        named.join(", "),
        if more > 0 { format!(", and {more} more (unknown_types in the summary)") } else { String::new() }
    ))
}

/// `planaudit living-circle`.
pub fn run(args: &LivingCircleArgs) -> Result<()> {
    let run = execute(args)?;
    let ctx = run.context();
    outln!("method: {}", run.result.method.describe());
    out!("{}", table(&run.result, &ctx));
    match run.result.method {
        Method::Network => outln!(
            "origins: {}, unreachable (beyond --max-snap {} m): {}",
            run.origins.len(),
            args.max_snap,
            run.result.unreachable_origins
        ),
        // Straight lines neither build a network nor attach points to one.
        Method::Buffer => {
            outln!("origins: {} (straight lines: --snap, --max-snap and --noding do not apply)", run.origins.len())
        }
    }
    if let Some(n) = &run.network {
        outln!(
            "network: {} nodes, {} edges, {:.3} km, {} components (largest {} nodes)",
            n.nodes,
            n.edges,
            n.length_km,
            n.components.len(),
            n.components.first().map(|c| c.nodes).unwrap_or(0)
        );
    }
    if let Some(line) = unknown_types_line(&run.unknown_types) {
        outln!("{line}");
    }
    finish_run(&run.measure, &run.reports, &run.outputs, args.common.summary_json.as_deref(), || {
        summary_json(&run, args)
    })
}
