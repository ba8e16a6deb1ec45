//! The 15-minute living circle (15分钟生活圈): walking distance from every home to the nearest facility
//! of each type, and whether each tier's needs are met.
//!
//! # Definition
//! For origin *o* and facility type *t*, `dist(o, t)` is the shortest walk from *o* to any facility of
//! type *t* over the walking network (`method = network`), or the straight-line distance
//! (`method = buffer`, the 城市体检 "service radius" reading; DOMAIN.md §B3.1). A need is met when
//! one of its types lies within its service distance; a tier is met when all its needs are (with a
//! cumulative tier table, also those of the lower tiers). Coverage of a tier or need is the share of
//! origins meeting it, by count, by residential area (polygon origins) and by population (when given).
//!
//! With edge snapping the walk is: the origin's snap leg, the way along its edge to an end node, the
//! network distance, the way along the facility's edge, and the facility's snap leg; a home and a
//! facility on the same edge walk directly along it. With node snapping there are no legs.
//!
//! # Computation
//! One multi-source Dijkstra per facility type ([`crate::index::routing`]), bounded at `max_walk_m`;
//! each origin then reads its distance off its edge's end nodes. Cost: O(types × E log V) for the
//! searches plus O(origins × types) for the reads; no search per origin. A need is met when the
//! distance, as reported (to the centimetre), is within the need's distance.
//!
//! # Preconditions
//! Geometries are in the frame's metres; the graph was built from the walkable roads
//! ([`road_use`] decides which).
//!
//! # Limitations
//! A polygon origin walks from its centroid (which can fall outside a concave parcel); facility
//! polygons likewise. Entrances, gates and walls of gated compounds are not known. Distances farther
//! than `max_walk_m` are reported as not reached (`null`). Straight-line distances use the nearest
//! facility in the frame's plane, measured geodesically.
//!
//! # Reference
//! GB 50180-2018 §3.0.4 and Appendices B, C (DOMAIN.md §A); coverage conventions DOMAIN.md §B3.

use geo::{Coord, Distance, Geodesic, LineString, MultiLineString, Point};
use rayon::prelude::*;
use rstar::primitives::GeomWithData;
use rstar::RTree;

use crate::index::graph::Graph;
use crate::index::routing::{distance_to, sources, Bypass, EdgeSources, Search, Targets};
use crate::index::snap::{Snap, SnapMode, Snapper, Unsnapped};
use crate::model::{Facility, Origin};
use crate::normalise::crs::Frame;
use crate::normalise::grades::GradeTable;
use crate::normalise::tiers::{Requirement, Tiers};
use crate::units::KahanSum;
use crate::{Error, Result};

/// The default limit for snapping a point to the network, metres.
pub const DEFAULT_MAX_SNAP_M: f64 = 500.0;

/// How distances are measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Method {
    /// Along the walking network.
    #[default]
    Network,
    /// Straight lines (service-radius buffers).
    Buffer,
}

impl Method {
    /// The label every output carries.
    pub fn label(self) -> &'static str {
        match self {
            Method::Network => "network",
            Method::Buffer => "buffer",
        }
    }

    /// A sentence for summaries.
    pub fn describe(self) -> &'static str {
        match self {
            Method::Network => "network: walking distance along the road network",
            Method::Buffer => "buffer: straight-line distance (service radius), not walking distance",
        }
    }
}

/// Options of the computation.
#[derive(Debug, Clone)]
pub struct Params {
    pub method: Method,
    pub snap: SnapMode,
    pub max_snap_m: f64,
    /// Search limit: distances beyond it are not reached.
    pub max_walk_m: f64,
    /// Also compute the network within each type's service distance.
    pub service_areas: bool,
    /// The origins' layer, for messages.
    pub origins_layer: String,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            method: Method::Network,
            snap: SnapMode::Edge,
            max_snap_m: DEFAULT_MAX_SNAP_M,
            max_walk_m: 2000.0,
            service_areas: false,
            origins_layer: "origins".into(),
        }
    }
}

/// Whether a road may be walked on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoadUse {
    /// Walkable by its grade.
    Walk,
    /// A grade the table does not know: walked on, and listed.
    WalkUnknownGrade,
    /// Not walkable, with the reason.
    Exclude(String),
}

/// Decides whether a road is walkable: by the grade table's `walkable`, and for OpenStreetMap by the
/// tags `foot=no` and `access=private` (unless `foot` allows walking). A road without a grade value
/// is not a road (the OSM lines layer also holds rivers and railways) and is excluded.
///
/// ```
/// use planaudit::indicators::living_circle::{road_use, RoadUse};
/// use planaudit::normalise::grades::GradeTable;
/// let osm = GradeTable::load("osm").unwrap();
/// assert_eq!(road_use("footway", None, None, &osm), RoadUse::Walk);
/// assert!(matches!(road_use("motorway", None, None, &osm), RoadUse::Exclude(_)));
/// assert!(matches!(road_use("service", None, Some("private"), &osm), RoadUse::Exclude(_)));
/// assert_eq!(road_use("service", Some("yes"), Some("private"), &osm), RoadUse::Walk);
/// ```
pub fn road_use(grade: &str, foot: Option<&str>, access: Option<&str>, grades: &GradeTable) -> RoadUse {
    let grade = grade.trim();
    if grade.is_empty() {
        return RoadUse::Exclude("no grade value".into());
    }
    let foot = foot.map(str::trim);
    if foot == Some("no") {
        return RoadUse::Exclude("foot=no".into());
    }
    let foot_allowed = matches!(foot, Some("yes" | "designated" | "permissive"));
    if access.map(str::trim) == Some("private") && !foot_allowed {
        return RoadUse::Exclude("access=private".into());
    }
    match grades.get(grade) {
        Some(row) if row.walkable => RoadUse::Walk,
        Some(_) => RoadUse::Exclude(format!("grade '{grade}' not walkable")),
        None => RoadUse::WalkUnknownGrade,
    }
}

/// What happened to the facilities of one routed type.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct FacilityStats {
    /// Facilities (features: a multipoint facility's points, each a location, count once).
    pub facilities: u64,
    /// Facilities farther than the snap limit from the network (every point of a multipoint): not
    /// used.
    pub beyond_max_snap: u64,
    /// Facilities snapped to pieces of network other than the largest component only.
    pub outside_largest_component: u64,
}

/// Coverage of one tier or need.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct Coverage {
    pub origins: u64,
    pub covered: u64,
    pub area_m2: f64,
    pub covered_area_m2: f64,
    pub population: f64,
    pub covered_population: f64,
}

impl Coverage {
    pub fn share_by_count(&self) -> Option<f64> {
        (self.origins > 0).then(|| self.covered as f64 / self.origins as f64)
    }
    pub fn share_by_area(&self) -> Option<f64> {
        (self.area_m2 > 0.0).then(|| self.covered_area_m2 / self.area_m2)
    }
    pub fn share_by_population(&self) -> Option<f64> {
        (self.population > 0.0).then(|| self.covered_population / self.population)
    }
}

/// The network within a type's service distance.
#[derive(Debug, Clone)]
pub struct ServiceArea {
    /// Facility type index.
    pub kind: usize,
    pub distance_m: f64,
    pub lines: MultiLineString<f64>,
    pub length_m: f64,
}

/// The indicator's output.
#[derive(Debug, Clone)]
pub struct LivingCircle {
    pub method: Method,
    /// The routed facility types (indexes into the facility-type table), in table order: every type
    /// a need names, and every other type with a facility.
    pub types: Vec<usize>,
    /// Metres, `origins × types` row by row; `f64::INFINITY` when not reached within `max_walk_m`.
    pub dist_m: Vec<f64>,
    /// Each origin's snap (network method); `None` when beyond the snap limit (or buffer method).
    pub snaps: Vec<Option<Snap>>,
    /// Each facility's snap, in the order of the facilities given (network method).
    pub facility_snaps: Vec<Option<Snap>>,
    /// Each origin's component (network method, when snapped).
    pub components: Vec<Option<u32>>,
    /// `origins × requirements`: whether the need is met.
    pub met: Vec<bool>,
    /// `origins × tiers`: whether the tier is met.
    pub within: Vec<bool>,
    pub requirements: usize,
    pub tiers: usize,
    pub facility_stats: Vec<FacilityStats>,
    pub tier_coverage: Vec<Coverage>,
    pub need_coverage: Vec<Coverage>,
    /// Origins farther than the snap limit from the network.
    pub unreachable_origins: u64,
    pub service_areas: Vec<ServiceArea>,
}

impl LivingCircle {
    /// The distances of origin `o`, one per routed type.
    pub fn distances(&self, o: usize) -> &[f64] {
        &self.dist_m[o * self.types.len()..(o + 1) * self.types.len()]
    }

    /// Whether origin `o` meets requirement `r`.
    pub fn meets(&self, o: usize, r: usize) -> bool {
        self.met[o * self.requirements + r]
    }

    /// Whether origin `o` meets tier `t`.
    pub fn within_tier(&self, o: usize, t: usize) -> bool {
        self.within[o * self.tiers + t]
    }

    /// The distance of origin `o` to the nearest type of a requirement.
    pub fn need_distance(&self, o: usize, req: &Requirement) -> f64 {
        let d = self.distances(o);
        req.types
            .iter()
            .filter_map(|t| self.types.iter().position(|x| x == t))
            .map(|i| d[i])
            .fold(f64::INFINITY, f64::min)
    }
}

/// The routed types: every type a requirement names, and every type with a facility.
fn routed_types(facilities: &[Facility], reqs: &[Requirement]) -> Vec<usize> {
    let mut types: Vec<usize> = reqs.iter().flat_map(|r| r.types.iter().copied()).collect();
    types.extend(facilities.iter().map(|f| f.kind));
    types.sort_unstable();
    types.dedup();
    types
}

/// The largest service distance of each routed type (`None` for a type no need names).
fn service_distance(kind: usize, reqs: &[Requirement]) -> Option<f64> {
    reqs.iter().filter(|r| r.types.contains(&kind)).map(|r| r.distance_m).reduce(f64::max)
}

/// What the search of one facility type gave.
struct TypeResult {
    stats: FacilityStats,
    /// The distance of every origin (`None` when no facility of the type was snapped).
    column: Option<Vec<f64>>,
    service_area: Option<ServiceArea>,
}

/// Computes distances along the network from every origin to every routed type.
pub fn compute_network(
    graph: &Graph,
    origins: &[Origin],
    facilities: &[Facility],
    tiers: &Tiers,
    reqs: &[Requirement],
    params: &Params,
) -> Result<LivingCircle> {
    let snapper = Snapper::new(graph, params.snap);
    // Points are snapped in parallel; the nearest miss is a minimum, the same in any order.
    let mut nearest_unsnapped = f64::INFINITY;
    let mut snap_all = |points: Vec<Coord<f64>>| -> Vec<Option<Snap>> {
        let snapped: Vec<std::result::Result<Snap, Unsnapped>> =
            points.into_par_iter().map(|p| snapper.snap(graph, p, params.max_snap_m)).collect();
        snapped
            .into_iter()
            .map(|s| match s {
                Ok(s) => Some(s),
                Err(Unsnapped::TooFar { nearest_m }) => {
                    nearest_unsnapped = nearest_unsnapped.min(nearest_m);
                    None
                }
                Err(Unsnapped::NoNetwork) => None,
            })
            .collect()
    };
    let origin_snaps = snap_all(origins.iter().map(|o| o.point).collect());
    let unreachable_origins = origin_snaps.iter().filter(|s| s.is_none()).count() as u64;
    if !origins.is_empty() && unreachable_origins == origins.len() as u64 {
        return Err(Error::EmptyLayer {
            layer: params.origins_layer.clone(),
            reason: format!(
                "all {} origins are farther than --max-snap {} m from the walking network (the nearest is {:.1} m away): check the layers' coordinate systems, or raise --max-snap",
                origins.len(),
                params.max_snap_m,
                nearest_unsnapped
            ),
        });
    }
    let facility_snaps = snap_all(facilities.iter().map(|f| f.point).collect());

    let types = routed_types(facilities, reqs);
    let nt = types.len();
    // Facilities grouped by type: one search per type, the types searched in parallel. Each search
    // gives its type's column of distances (and service area); they are put together in type order.
    let mut order: Vec<usize> = (0..facilities.len()).collect();
    order.sort_by_key(|&i| facilities[i].kind);
    // Without service areas only the homes' distances are needed: each search stops where they are
    // all known.
    let targets = (!params.service_areas)
        .then(|| Targets::new(graph, origin_snaps.iter().flatten().flat_map(|s| Targets::of_snap(graph, s))));
    // Likewise the nodes only passed through on the way are bypassed: the searches walk the
    // chains between the nodes they start from or read as single edges.
    let bypass = targets.is_some().then(|| {
        let mut kept = vec![false; graph.node_count()];
        for s in origin_snaps.iter().chain(&facility_snaps).flatten() {
            Targets::of_snap(graph, s).for_each(|n| kept[n as usize] = true);
        }
        Bypass::new(graph, &kept)
    });
    let per_type: Vec<TypeResult> = types
        .par_iter()
        .map_init(Search::new, |search, &kind| {
            let start = order.partition_point(|&i| facilities[i].kind < kind);
            let end = order.partition_point(|&i| facilities[i].kind <= kind);
            let mut stats = FacilityStats::default();
            let mut snaps = Vec::with_capacity(end - start);
            // The points of one multipoint facility are neighbours here (a stable sort): each
            // facility counts once, beyond the snap limit when all its points are, outside the
            // largest component when none of its snapped points is in it.
            let feature_of = |i: usize| (facilities[i].layer, facilities[i].fid);
            for run in order[start..end].chunk_by(|&a, &b| feature_of(a) == feature_of(b)) {
                stats.facilities += 1;
                let before = snaps.len();
                snaps.extend(run.iter().filter_map(|&i| facility_snaps[i]));
                match &snaps[before..] {
                    [] => stats.beyond_max_snap += 1,
                    snapped if snapped.iter().all(|s| s.component(graph) != 0) => stats.outside_largest_component += 1,
                    _ => {}
                }
            }
            if snaps.is_empty() {
                return TypeResult { stats, column: None, service_area: None };
            }
            let (srcs, same_edge) = sources(graph, &snaps);
            let node_dist = match &bypass {
                Some(bypass) => search.run_for(bypass, &srcs, params.max_walk_m, targets.as_ref()),
                None => search.run_for(graph, &srcs, params.max_walk_m, targets.as_ref()),
            };
            let column = origin_snaps
                .iter()
                .map(|s| s.map_or(f64::INFINITY, |s| distance_to(graph, node_dist, &same_edge, &s, params.max_walk_m)))
                .collect();
            let service_area = params
                .service_areas
                .then(|| service_distance(kind, reqs))
                .flatten()
                .map(|d| service_area(graph, node_dist, &same_edge, kind, d));
            TypeResult { stats, column: Some(column), service_area }
        })
        .collect();
    let mut dist_m = vec![f64::INFINITY; origins.len() * nt];
    let mut facility_stats = Vec::with_capacity(nt);
    let mut service_areas = Vec::new();
    for (ti, r) in per_type.into_iter().enumerate() {
        facility_stats.push(r.stats);
        if let Some(column) = r.column {
            for (o, d) in column.into_iter().enumerate() {
                dist_m[o * nt + ti] = d;
            }
        }
        service_areas.extend(r.service_area);
    }
    let components = origin_snaps.iter().map(|s| s.map(|s| s.component(graph))).collect();
    let mut lc = finish(
        Method::Network,
        types,
        dist_m,
        origin_snaps,
        components,
        facility_stats,
        unreachable_origins,
        service_areas,
        origins,
        tiers,
        reqs,
    );
    lc.facility_snaps = facility_snaps;
    Ok(lc)
}

/// Computes straight-line distances from every origin to the nearest facility of every routed type.
pub fn compute_buffer(
    frame: &Frame,
    origins: &[Origin],
    facilities: &[Facility],
    tiers: &Tiers,
    reqs: &[Requirement],
    params: &Params,
) -> Result<LivingCircle> {
    let types = routed_types(facilities, reqs);
    let nt = types.len();
    let lonlat = |c: Coord<f64>| -> Result<Point<f64>> { Ok(Point(frame.unproject_coord(c)?)) };
    let mut trees = Vec::with_capacity(nt);
    let mut facility_stats = vec![FacilityStats::default(); nt];
    let facility_ll: Vec<Result<Point<f64>>> = facilities.par_iter().map(|f| lonlat(f.point)).collect();
    let facility_ll: Vec<Point<f64>> = facility_ll.into_iter().collect::<Result<_>>()?;
    for (ti, &kind) in types.iter().enumerate() {
        let entries: Vec<GeomWithData<[f64; 2], usize>> = facilities
            .iter()
            .enumerate()
            .filter(|(_, f)| f.kind == kind)
            .map(|(i, f)| GeomWithData::new([f.point.x, f.point.y], i))
            .collect();
        let mut features: Vec<(usize, u64)> =
            facilities.iter().filter(|f| f.kind == kind).map(|f| (f.layer, f.fid)).collect();
        features.dedup();
        facility_stats[ti].facilities = features.len() as u64;
        trees.push(RTree::bulk_load(entries));
    }
    // One row of distances per origin, computed in parallel.
    let rows: Vec<Result<Vec<f64>>> = origins
        .par_iter()
        .map(|origin| {
            let here = lonlat(origin.point)?;
            let mut row = vec![f64::INFINITY; nt];
            for (ti, tree) in trees.iter().enumerate() {
                let Some(f) = tree.nearest_neighbor(&[origin.point.x, origin.point.y]) else { continue };
                let d = match frame.method {
                    crate::normalise::crs::Method::Planar => {
                        let p = facilities[f.data].point;
                        (p.x - origin.point.x).hypot(p.y - origin.point.y)
                    }
                    crate::normalise::crs::Method::Ellipsoidal => Geodesic.distance(here, facility_ll[f.data]),
                };
                if d <= params.max_walk_m {
                    row[ti] = d;
                }
            }
            Ok(row)
        })
        .collect();
    let mut dist_m = Vec::with_capacity(origins.len() * nt);
    for row in rows {
        dist_m.extend(row?);
    }
    let n = origins.len();
    Ok(finish(
        Method::Buffer,
        types,
        dist_m,
        vec![None; n],
        vec![None; n],
        facility_stats,
        0,
        vec![],
        origins,
        tiers,
        reqs,
    ))
}

/// Evaluates needs and tiers per origin and sums the coverage.
#[allow(clippy::too_many_arguments)]
fn finish(
    method: Method,
    types: Vec<usize>,
    dist_m: Vec<f64>,
    snaps: Vec<Option<Snap>>,
    components: Vec<Option<u32>>,
    facility_stats: Vec<FacilityStats>,
    unreachable_origins: u64,
    service_areas: Vec<ServiceArea>,
    origins: &[Origin],
    tiers: &Tiers,
    reqs: &[Requirement],
) -> LivingCircle {
    let (nr, ntier, nt) = (reqs.len(), tiers.tiers.len(), types.len());
    // Positions of each requirement's types among the routed types.
    let req_cols: Vec<Vec<usize>> =
        reqs.iter().map(|r| r.types.iter().filter_map(|t| types.iter().position(|x| x == t)).collect()).collect();
    let mut met = vec![false; origins.len() * nr];
    let mut within = vec![false; origins.len() * ntier];
    let mut sums = vec![[KahanSum::default(); 4]; nr + ntier];
    let mut counts = vec![0u64; nr + ntier];
    let (mut area, mut pop) = (KahanSum::default(), KahanSum::default());
    for (o, origin) in origins.iter().enumerate() {
        let d = &dist_m[o * nt..(o + 1) * nt];
        let a = origin.area_m2;
        let p = origin.population.unwrap_or(0.0);
        area.add(a);
        pop.add(p);
        for (r, req) in reqs.iter().enumerate() {
            // Judged on the distance as reported, to the centimetre.
            let ok = req_cols[r].iter().any(|&c| crate::units::round2(d[c]) <= req.distance_m);
            met[o * nr + r] = ok;
        }
        for t in 0..ntier {
            within[o * ntier + t] =
                reqs.iter().enumerate().filter(|(_, req)| tiers.counts_for(req.tier, t)).all(|(r, _)| met[o * nr + r]);
        }
        let flags = (0..nr).map(|r| met[o * nr + r]).chain((0..ntier).map(|t| within[o * ntier + t]));
        for (k, ok) in flags.enumerate() {
            if ok {
                counts[k] += 1;
                sums[k][0].add(a);
                sums[k][1].add(p);
            }
        }
    }
    let coverage = |k: usize| Coverage {
        origins: origins.len() as u64,
        covered: counts[k],
        area_m2: area.total(),
        covered_area_m2: sums[k][0].total(),
        population: pop.total(),
        covered_population: sums[k][1].total(),
    };
    LivingCircle {
        method,
        types,
        dist_m,
        snaps,
        facility_snaps: Vec::new(),
        components,
        met,
        within,
        requirements: nr,
        tiers: ntier,
        facility_stats,
        need_coverage: (0..nr).map(coverage).collect(),
        tier_coverage: (nr..nr + ntier).map(coverage).collect(),
        unreachable_origins,
        service_areas,
    }
}

/// The parts of the network within `distance_m` of the sources of a search: on each edge, the stretch
/// reached from either end node, and around facilities on the edge itself.
fn service_area(
    graph: &Graph,
    node_dist: &[f64],
    same_edge: &EdgeSources,
    kind: usize,
    distance_m: f64,
) -> ServiceArea {
    let mut lines = Vec::new();
    let mut length = KahanSum::default();
    let mut spans: Vec<(f64, f64)> = Vec::new();
    for e in 0..graph.edge_count() as u32 {
        let edge = graph.edge(e);
        let len = edge.length_m;
        spans.clear();
        let (du, dv) = (node_dist[edge.from as usize], node_dist[edge.to as usize]);
        if du < distance_m {
            spans.push((0.0, (distance_m - du).min(len)));
        }
        if dv < distance_m {
            spans.push(((len - (distance_m - dv)).max(0.0), len));
        }
        for (along, leg) in same_edge.on(e) {
            if leg < distance_m {
                let r = distance_m - leg;
                spans.push(((along - r).max(0.0), (along + r).min(len)));
            }
        }
        if spans.is_empty() {
            continue;
        }
        spans.sort_by(|a, b| a.0.total_cmp(&b.0));
        let mut merged: Vec<(f64, f64)> = Vec::with_capacity(spans.len());
        for &(a, b) in spans.iter() {
            match merged.last_mut() {
                Some(last) if a <= last.1 => last.1 = last.1.max(b),
                _ => merged.push((a, b)),
            }
        }
        for (a, b) in merged {
            if b > a {
                length.add(b - a);
                lines.push(sub_line(graph.edge_coords(e), a / edge.scale(), b / edge.scale()));
            }
        }
    }
    ServiceArea { kind, distance_m, lines: MultiLineString(lines), length_m: length.total() }
}

/// The part of a polyline between two planar distances from its start.
fn sub_line(coords: &[Coord<f64>], from: f64, to: f64) -> LineString<f64> {
    let mut out = Vec::new();
    let mut at = 0.0;
    for w in coords.windows(2) {
        let len = (w[1].x - w[0].x).hypot(w[1].y - w[0].y);
        let (s, e) = (at, at + len);
        if e >= from && s <= to && len > 0.0 {
            let point = |d: f64| w[0] + (w[1] - w[0]) * ((d - s) / len).clamp(0.0, 1.0);
            if out.is_empty() {
                out.push(point(from.max(s)));
            }
            out.push(point(to.min(e)));
        }
        at = e;
        if at > to {
            break;
        }
    }
    if out.len() == 1 {
        out.push(out[0]);
    }
    LineString(out)
}

#[cfg(test)]
#[path = "living_circle_tests.rs"]
mod tests;
