//! Living-circle results as GeoJSON features, summary rows, a terminal table, and the graph export.

use std::io::Write;
use std::path::Path;

use geo::Geometry;
use serde_json::{json, Map, Value};

use super::atomic::write_atomic;
use super::geojson::{lonlat_to_rfc7946, to_rfc7946, Feature, ObjectWriter, OutFeature};
use super::{round2, round6};
use crate::index::graph::Graph;
use crate::index::snap::{Anchor, Snap};
use crate::indicators::living_circle::{Coverage, LivingCircle};
use crate::model::{Facility, Origin};
use crate::normalise::crs::Frame;
use crate::normalise::facility_types::FacilityTypes;
use crate::normalise::tiers::{Requirement, Tiers};
use crate::Result;

/// What the writers need besides the result.
pub struct Context<'a> {
    pub types: &'a FacilityTypes,
    pub tiers: &'a Tiers,
    pub reqs: &'a [Requirement],
    /// Whether a population field was given.
    pub population: bool,
}

/// A distance in metres to the centimetre; `None` (JSON null) when there is none.
fn metres(d: f64) -> Option<f64> {
    d.is_finite().then(|| round2(d))
}

/// The name of tier `t`'s flag: `within_15min`.
pub fn tier_key(tiers: &Tiers, t: usize) -> String {
    format!("within_{}min", tiers.tiers[t].minutes)
}

/// The needs origin `o` misses (for tier `tier`, or for any tier), in table order, once each.
fn missing<'a>(lc: &LivingCircle, ctx: &'a Context, o: usize, tier: Option<usize>) -> Vec<&'a str> {
    let mut out: Vec<&str> = Vec::new();
    for (r, req) in ctx.reqs.iter().enumerate() {
        let counts = tier.is_none_or(|t| ctx.tiers.counts_for(req.tier, t));
        if counts && !lc.meets(o, r) && !out.contains(&req.need.as_str()) {
            out.push(&req.need);
        }
    }
    out
}

fn common_tail(
    p: &mut ObjectWriter,
    lc: &LivingCircle,
    ctx: &Context,
    o: usize,
    origin: &Origin,
) -> serde_json::Result<()> {
    p.member("snap_m", &lc.snaps[o].and_then(|s| metres(s.snap_m)))?;
    p.member("component", &lc.components[o])?;
    p.member("area_m2", &round2(origin.area_m2))?;
    if ctx.population {
        p.member("population", &origin.population)?;
    }
    Ok(())
}

/// An origin's output feature: its geometry as read, and its properties, written straight from
/// the result (no map per feature is built).
pub struct OriginFeature<'a> {
    lc: &'a LivingCircle,
    ctx: &'a Context<'a>,
    o: usize,
    origin: &'a Origin,
    /// Whether this is the origin's gap feature (it misses a need of the largest tier) rather
    /// than its full record.
    gap: Option<usize>,
}

impl OriginFeature<'_> {
    /// The `missing_count` of its properties.
    pub fn missing_count(&self) -> usize {
        missing(self.lc, self.ctx, self.o, self.gap).len()
    }
}

impl Feature for OriginFeature<'_> {
    fn geometry(&self) -> &Geometry<f64> {
        &self.origin.geometry
    }

    fn rfc7946(&self, frame: &Frame) -> Result<Geometry<f64>> {
        match &self.origin.lonlat {
            Some(ll) => Ok(lonlat_to_rfc7946(ll.clone())),
            None => to_rfc7946(frame, &self.origin.geometry),
        }
    }

    fn write_properties(&self, out: &mut Vec<u8>) -> serde_json::Result<()> {
        let (lc, ctx, o, origin) = (self.lc, self.ctx, self.o, self.origin);
        let mut p = ObjectWriter::new(out);
        p.member("origin_id", &origin.id)?;
        p.member("method", lc.method.label())?;
        match self.gap {
            None => {
                let mut dist = p.object("dist_m")?;
                for (&k, &m) in lc.types.iter().zip(lc.distances(o)) {
                    dist.member(&ctx.types.rows[k].code, &metres(m))?;
                }
                dist.end();
                for t in 0..ctx.tiers.tiers.len() {
                    p.member(&tier_key(ctx.tiers, t), &lc.within_tier(o, t))?;
                }
                let miss = missing(lc, ctx, o, None);
                // The count, for map styles: MapLibre and QGIS colour by a number more easily than
                // by a list.
                p.member("missing_count", &miss.len())?;
                p.member("missing", &miss)?;
            }
            Some(last) => {
                let miss = missing(lc, ctx, o, Some(last));
                p.member("tier", &tier_key(ctx.tiers, last))?;
                p.member("missing_count", &miss.len())?;
                p.member("missing", &miss)?;
                let mut nearest = p.object("nearest_m")?;
                for need in miss {
                    let d = ctx
                        .reqs
                        .iter()
                        .filter(|r| r.need == need)
                        .map(|r| lc.need_distance(o, r))
                        .fold(f64::INFINITY, f64::min);
                    nearest.member(need, &metres(d))?;
                }
                nearest.end();
            }
        }
        common_tail(&mut p, lc, ctx, o, origin)?;
        p.end();
        Ok(())
    }
}

/// One feature per origin, in origin order, with the properties in the documented order.
pub fn origin_features<'a>(
    lc: &'a LivingCircle,
    ctx: &'a Context<'a>,
    origins: &'a [Origin],
) -> Vec<OriginFeature<'a>> {
    origins.iter().enumerate().map(|(o, origin)| OriginFeature { lc, ctx, o, origin, gap: None }).collect()
}

/// The origins not within the largest tier, with the needs they miss and the distance to each.
pub fn gap_features<'a>(lc: &'a LivingCircle, ctx: &'a Context<'a>, origins: &'a [Origin]) -> Vec<OriginFeature<'a>> {
    let Some(last) = ctx.tiers.tiers.len().checked_sub(1) else { return vec![] };
    origins
        .iter()
        .enumerate()
        .filter(|&(o, _)| !lc.within_tier(o, last))
        .map(|(o, origin)| OriginFeature { lc, ctx, o, origin, gap: Some(last) })
        .collect()
}

/// One feature per facility type: the network within its service distance.
pub fn service_area_features(lc: &LivingCircle, ctx: &Context) -> Vec<OutFeature> {
    lc.service_areas
        .iter()
        .map(|a| {
            let row = &ctx.types.rows[a.kind];
            let mut p = Map::new();
            p.insert("type".into(), json!(row.code));
            p.insert("label".into(), json!(row.label));
            p.insert("service_m".into(), json!(a.distance_m));
            p.insert("length_km".into(), json!(round6(a.length_m / 1000.0)));
            p.insert("method".into(), json!(lc.method.label()));
            OutFeature { geometry: Geometry::MultiLineString(a.lines.clone()), properties: p }
        })
        .collect()
}

/// Coverage as summary JSON.
pub fn coverage_json(c: &Coverage) -> Value {
    json!({
        "origins": c.origins,
        "covered": c.covered,
        "share_by_count": c.share_by_count().map(round6),
        "area_km2": round6(c.area_m2 / 1e6),
        "covered_area_km2": round6(c.covered_area_m2 / 1e6),
        "share_by_area": c.share_by_area().map(round6),
        "population": round2(c.population),
        "covered_population": round2(c.covered_population),
        "share_by_population": c.share_by_population().map(round6),
    })
}

/// Coverage per tier and per need, and what happened to the facilities of each type.
pub fn coverage_summary(lc: &LivingCircle, ctx: &Context) -> Value {
    let tiers: Vec<Value> = ctx
        .tiers
        .tiers
        .iter()
        .enumerate()
        .map(|(t, tier)| {
            let needs: Vec<&str> =
                ctx.reqs.iter().filter(|r| ctx.tiers.counts_for(r.tier, t)).map(|r| r.need.as_str()).collect();
            let mut v = coverage_json(&lc.tier_coverage[t]);
            v["tier"] = json!(tier_key(ctx.tiers, t));
            v["minutes"] = json!(tier.minutes);
            v["needs"] = json!(needs);
            v
        })
        .collect();
    let needs: Vec<Value> = ctx
        .reqs
        .iter()
        .enumerate()
        .map(|(r, req)| {
            let mut v = coverage_json(&lc.need_coverage[r]);
            v["need"] = json!(req.need);
            v["tier"] = json!(tier_key(ctx.tiers, req.tier));
            v["distance_m"] = json!(req.distance_m);
            v["types"] = json!(req.types.iter().map(|&k| ctx.types.rows[k].code.as_str()).collect::<Vec<_>>());
            v["source"] = json!(req.source);
            v
        })
        .collect();
    let types: Map<String, Value> = lc
        .types
        .iter()
        .zip(&lc.facility_stats)
        .map(|(&k, s)| {
            let row = &ctx.types.rows[k];
            let mut v = serde_json::to_value(s).expect("stats serialise");
            v["label"] = json!(row.label);
            (row.code.clone(), v)
        })
        .collect();
    json!({ "tiers": tiers, "needs": needs, "facility_types": types })
}

/// The terminal table: coverage per tier and per need.
pub fn table(lc: &LivingCircle, ctx: &Context) -> String {
    let pct = |v: Option<f64>| v.map(|x| format!("{:.1}%", x * 100.0)).unwrap_or_else(|| "-".into());
    let mut s = format!("{:<28}\t{:>9}\tcovered\tby_count\tby_area\tby_population\n", "tier / need", "distance");
    let mut row = |name: String, dist: String, c: &Coverage| {
        s.push_str(&format!(
            "{name:<28}\t{dist:>9}\t{}/{}\t{}\t{}\t{}\n",
            c.covered,
            c.origins,
            pct(c.share_by_count()),
            pct(c.share_by_area()),
            pct(c.share_by_population())
        ));
    };
    for (t, _) in ctx.tiers.tiers.iter().enumerate() {
        row(tier_key(ctx.tiers, t), "-".into(), &lc.tier_coverage[t]);
    }
    for (r, req) in ctx.reqs.iter().enumerate() {
        row(format!("  {}", req.need), format!("{} m", req.distance_m), &lc.need_coverage[r]);
    }
    s
}

fn anchor_columns(s: &Option<Snap>) -> String {
    match s {
        None => ",,,".into(),
        Some(Snap { anchor: Anchor::Node(n), snap_m }) => format!("{n},,,{snap_m}"),
        Some(Snap { anchor: Anchor::Edge { edge, along_m }, snap_m }) => format!(",{edge},{along_m},{snap_m}"),
    }
}

/// Writes the walking network and the snaps as CSV files in `dir`, for inspection and for checking
/// the distances with other tools on the same graph:
/// - `nodes.csv`: `node,x,y,component` (frame coordinates);
/// - `edges.csv`: `edge,from,to,length_m,road_fid`;
/// - `snaps.csv`: `role,index,id,type,x,y,node,edge,along_m,snap_m`, one row per origin (in output
///   order) and per facility; `node` is set with node snapping, `edge` and `along_m` with edge
///   snapping, all empty when the point is beyond the snap limit.
pub fn write_graph(
    dir: &Path,
    graph: &Graph,
    road_fids: &[u64],
    origins: &[Origin],
    facilities: &[Facility],
    lc: &LivingCircle,
    types: &FacilityTypes,
) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| crate::Error::io(dir, e))?;
    write_atomic(&dir.join("nodes.csv"), |w| {
        writeln!(w, "node,x,y,component")?;
        for n in 0..graph.node_count() as u32 {
            let c = graph.node(n);
            writeln!(w, "{n},{},{},{}", c.x, c.y, graph.component_of(n))?;
        }
        Ok(())
    })?;
    write_atomic(&dir.join("edges.csv"), |w| {
        writeln!(w, "edge,from,to,length_m,road_fid")?;
        for (i, e) in graph.edges().iter().enumerate() {
            writeln!(w, "{i},{},{},{},{}", e.from, e.to, e.length_m, road_fids[e.line as usize])?;
        }
        Ok(())
    })?;
    write_atomic(&dir.join("snaps.csv"), |w| {
        writeln!(w, "role,index,id,type,x,y,node,edge,along_m,snap_m")?;
        for (i, o) in origins.iter().enumerate() {
            let id = o.id.replace([',', '\n', '"'], " ");
            writeln!(w, "origin,{i},{id},,{},{},{}", o.point.x, o.point.y, anchor_columns(&lc.snaps[i]))?;
        }
        for (i, f) in facilities.iter().enumerate() {
            let id = format!("{}:{}", f.layer, f.fid);
            let code = &types.rows[f.kind].code;
            writeln!(
                w,
                "facility,{i},{id},{code},{},{},{}",
                f.point.x,
                f.point.y,
                anchor_columns(&lc.facility_snaps[i])
            )?;
        }
        Ok(())
    })
}
