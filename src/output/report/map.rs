//! Inline SVG maps for the HTML report, drawn from planaudit's RFC 7946 GeoJSON outputs.
//!
//! Longitude/latitude go through an equirectangular projection at the map's mean latitude
//! (x = lon·cos φ₀, y = lat), which keeps shapes true to within a fraction of a percent over a
//! city. Features that fall into well-separated groups (a central city and a county town 40 km
//! apart) are drawn as one panel per group, each at its own scale, so that neither becomes a speck.
//! Every panel has a scale bar and a north arrow; a legend with counts sits under the map.
//!
//! # Limitations
//! Each feature becomes SVG markup, so a map of hundreds of thousands of features makes a page of
//! tens of megabytes. Vertices closer than half a pixel to the previous one are dropped.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use serde_json::{Map, Value};

use super::{escape, fmt_num, MapStyle};
use crate::{Error, Result};

/// Metres per degree of latitude on a sphere of the mean Earth radius (6,371,008.8 m, IUGG), used
/// only for the scale bar.
const M_PER_DEG: f64 = 111_195.08;

/// Width and tallest height of a map drawn as one panel, in SVG units, chosen so that one unit is
/// about one CSS pixel in the page's column (and text keeps its size).
const SINGLE_PANEL: (f64, f64) = (1040.0, 560.0);
/// The same for each of several panels side by side.
const MULTI_PANEL: (f64, f64) = (520.0, 440.0);
/// Lowest panel, in SVG units (flat extents are centred in it).
const PANEL_MIN_H: f64 = 240.0;
/// Margin around the features, in SVG units; the scale bar and the north arrow sit in it.
const PAD: f64 = 40.0;
/// Vertices closer than this to the previous kept vertex are dropped, in SVG units.
const MIN_STEP: f64 = 0.5;
/// Cells across the occupancy raster that finds separate groups of features.
const RASTER_CELLS: f64 = 48.0;
/// At most this many panels; more groups are drawn as one map.
const MAX_PANELS: usize = 6;

pub const RED: &str = "#d73027";
pub const DARK_RED: &str = "#7f0000";
pub const GREEN: &str = "#1a9850";
pub const GREY: &str = "#9e9e9e";
pub const PURPLE: &str = "#7b3294";
const CONTEXT_FILL: &str = "#e4e8ec";
const CONTEXT_STROKE: &str = "#9aa5b1";

/// Grid cells by density ÷ target (diverging red–blue): upper bounds and colours.
const RATIO_CLASSES: [(f64, &str, &str); 6] = [
    (0.5, "#b2182b", "< 50%"),
    (0.75, "#ef8a62", "50–75%"),
    (1.0, "#fddbc7", "75–100%"),
    (1.25, "#d1e5f0", "100–125%"),
    (1.5, "#67a9cf", "125–150%"),
    (f64::INFINITY, "#2166ac", "≥ 150%"),
];

/// Grid cells without a target, by density in km/km² (yellow–green–blue): upper bounds and colours.
const DENSITY_CLASSES: [(f64, &str, &str); 6] = [
    (4.0, "#ffffcc", "0–4"),
    (8.0, "#c7e9b4", "4–8"),
    (12.0, "#7fcdbb", "8–12"),
    (16.0, "#41b6c4", "12–16"),
    (20.0, "#2c7fb8", "16–20"),
    (f64::INFINITY, "#253494", "≥ 20"),
];

/// Land-use categories of the park-mix parcels: key, colour, label.
const CATEGORIES: [(&str, &str, &str); 13] = [
    ("residential", "#f6d55c", "居住 residential"),
    ("community_service", "#f4a261", "社区服务 community service"),
    ("public_service", "#e377c2", "公共服务 public service"),
    ("commercial", "#e63946", "商业 commercial"),
    ("industrial", "#a47148", "工业 industrial"),
    ("warehouse", "#9b7fe6", "仓储 warehouse"),
    ("transport", "#a0a0a0", "交通 transport"),
    ("utilities", "#4a90c2", "公用设施 utilities"),
    ("green", "#57b65f", "绿地 green space"),
    ("water", "#74c7ec", "水域 water"),
    ("agricultural", "#cde6a8", "农业 agricultural"),
    ("other", "#d9d9d9", "其他 other"),
    ("unclassified", "#ffffff", "未分类 unclassified"),
];

/// Homes by the number of required facility types they miss: colour and label for 0, 1, 2, 3+.
const MISSING_CLASSES: [(&str, &str); 4] = [
    (GREEN, "齐全 all facilities reached"),
    ("#fee08b", "缺 1 类 missing 1 type"),
    ("#fc8d59", "缺 2 类 missing 2 types"),
    (RED, "缺 3 类及以上 missing 3+ types"),
];

/// How one feature is painted.
struct Paint {
    fill: &'static str,
    fill_opacity: f64,
    stroke: &'static str,
    stroke_width: f64,
    /// Circle radius for points, in SVG units.
    radius: f64,
    /// Legend entry this feature counts in.
    legend: usize,
    /// Drawn after features of a lower rank, so that what matters is on top.
    rank: u8,
    /// Marks a feature that misses its target or a home that misses facilities.
    miss: bool,
}

/// One legend row.
struct LegendEntry {
    color: &'static str,
    label: String,
    /// Drawn as a line rather than a box.
    line: bool,
    /// Drawn as a dot of this radius (SVG units) rather than a box.
    dot: Option<f64>,
    /// Shown even when no feature falls in it (entries of a scale).
    always: bool,
}

fn entry(color: &'static str, label: impl Into<String>) -> LegendEntry {
    LegendEntry { color, label: label.into(), line: false, dot: None, always: false }
}

fn legend_for(style: MapStyle) -> Vec<LegendEntry> {
    match style {
        MapStyle::MeetsTarget => {
            vec![entry(GREEN, "达标 meets target"), entry(RED, "未达标 misses target"), entry(GREY, "无目标 no target")]
        }
        MapStyle::DensityGrid => RATIO_CLASSES
            .iter()
            .map(|(_, c, l)| LegendEntry { always: true, ..entry(c, format!("密度 / 目标 density / target {l}")) })
            .chain(DENSITY_CLASSES.iter().map(|(_, c, l)| entry(c, format!("无目标 no target: {l} km/km²"))))
            .collect(),
        MapStyle::WideRoads => {
            vec![LegendEntry {
                line: true, always: true, ..entry(RED, "超过红线宽度 wider than the red-line cap")
            }]
        }
        MapStyle::ParkStatus => vec![
            entry(RED, "低于区间 below the band"),
            entry(GREEN, "区间内 within the band"),
            entry(PURPLE, "高于区间 above the band"),
            entry(GREY, "无状态 no status"),
        ],
        MapStyle::ParkParcels => {
            CATEGORIES.iter().map(|(_, c, l)| entry(c, *l)).chain([entry(GREY, "其他值 other values")]).collect()
        }
        MapStyle::Coverage => MISSING_CLASSES
            .iter()
            .map(|(c, l)| LegendEntry { always: true, ..entry(c, *l) })
            .chain([entry(GREY, "未知 unknown")])
            .collect(),
        MapStyle::Gaps => MISSING_CLASSES[1..]
            .iter()
            .enumerate()
            .map(|(i, (_, l))| LegendEntry {
                always: true,
                dot: Some(gap_radius(i as u64 + 1)),
                ..entry(RED, format!("未覆盖 not covered: {l}"))
            })
            .collect(),
    }
}

/// Radius of an uncovered home's circle, by the number of facility types it misses.
fn gap_radius(missing: u64) -> f64 {
    4.0 + 1.5 * (missing.min(6) as f64)
}

fn num(p: &Map<String, Value>, key: &str) -> Option<f64> {
    p.get(key).and_then(Value::as_f64)
}

/// The number of required facility types a home misses: `missing_count`, else the length of
/// `missing`.
fn missing_count(p: &Map<String, Value>) -> Option<u64> {
    p.get("missing_count").and_then(Value::as_u64).or_else(|| match p.get("missing") {
        Some(Value::Array(a)) => Some(a.len() as u64),
        Some(Value::Object(o)) => Some(o.len() as u64),
        _ => None,
    })
}

fn area_paint(color: &'static str, legend: usize, miss: bool) -> Paint {
    Paint {
        fill: color,
        fill_opacity: 0.38,
        stroke: color,
        stroke_width: 2.0,
        radius: 5.0,
        legend,
        rank: u8::from(miss),
        miss,
    }
}

fn paint(style: MapStyle, p: &Map<String, Value>) -> Paint {
    match style {
        MapStyle::MeetsTarget => match p.get("meets_target").and_then(Value::as_bool) {
            Some(true) => area_paint(GREEN, 0, false),
            Some(false) => area_paint(RED, 1, true),
            None => area_paint(GREY, 2, false),
        },
        MapStyle::DensityGrid => {
            let density = num(p, "density_km_per_km2").unwrap_or(0.0);
            let (color, legend, miss) = match num(p, "target_km_per_km2").filter(|t| *t > 0.0) {
                Some(t) => {
                    let i = RATIO_CLASSES.iter().position(|(hi, _, _)| density / t < *hi).unwrap_or(5);
                    (RATIO_CLASSES[i].1, i, density < t)
                }
                None => {
                    let i = DENSITY_CLASSES.iter().position(|(hi, _, _)| density < *hi).unwrap_or(5);
                    (DENSITY_CLASSES[i].1, RATIO_CLASSES.len() + i, false)
                }
            };
            Paint {
                fill: color,
                fill_opacity: 0.9,
                stroke: "#ffffff",
                stroke_width: 0.6,
                radius: 4.0,
                legend,
                rank: 0,
                miss,
            }
        }
        MapStyle::WideRoads => {
            let w = num(p, "width_m").unwrap_or(40.0);
            Paint {
                fill: "none",
                fill_opacity: 0.0,
                stroke: RED,
                stroke_width: (2.5 + (w - 40.0) / 8.0).clamp(2.5, 8.0),
                radius: 4.0,
                legend: 0,
                rank: 0,
                miss: true,
            }
        }
        MapStyle::ParkStatus => match p.get("status").and_then(Value::as_str) {
            Some("below") => area_paint(RED, 0, true),
            Some("within") => area_paint(GREEN, 1, false),
            Some("above") => area_paint(PURPLE, 2, true),
            _ => area_paint(GREY, 3, false),
        },
        MapStyle::ParkParcels => {
            let cat = p.get("category").and_then(Value::as_str).unwrap_or("");
            let (i, color) = CATEGORIES
                .iter()
                .position(|(k, _, _)| *k == cat)
                .map(|i| (i, CATEGORIES[i].1))
                .unwrap_or((CATEGORIES.len(), GREY));
            Paint {
                fill: color,
                fill_opacity: 0.9,
                stroke: "#5f6b76",
                stroke_width: 0.5,
                radius: 4.0,
                legend: i,
                rank: 0,
                miss: false,
            }
        }
        MapStyle::Coverage => {
            let (color, legend, miss) = match missing_count(p) {
                Some(n) => {
                    let i = (n as usize).min(3);
                    (MISSING_CLASSES[i].0, i, n > 0)
                }
                None => (GREY, MISSING_CLASSES.len(), false),
            };
            Paint {
                fill: color,
                fill_opacity: 0.85,
                stroke: if miss { DARK_RED } else { "#ffffff" },
                stroke_width: 0.6,
                radius: 4.5,
                legend,
                rank: u8::from(miss),
                miss,
            }
        }
        MapStyle::Gaps => {
            let n = missing_count(p).unwrap_or(1).max(1);
            Paint {
                fill: RED,
                fill_opacity: 0.9,
                stroke: DARK_RED,
                stroke_width: 0.8,
                radius: gap_radius(n),
                legend: (n as usize).clamp(1, 3) - 1,
                rank: 0,
                miss: true,
            }
        }
    }
}

/// Geometry in projected degrees (x = lon·cos φ₀, y = lat).
enum Shape {
    Polygon(Vec<Vec<[f64; 2]>>),
    Line(Vec<[f64; 2]>),
    Point([f64; 2]),
}

struct Feature {
    shapes: Vec<Shape>,
    props: Map<String, Value>,
    bbox: [f64; 4],
}

/// A map read from a GeoJSON file.
pub struct MapData {
    features: Vec<Feature>,
    pub attribution: Option<String>,
    /// cos φ₀ of the projection the coordinates are in.
    k: f64,
}

/// Another map of the report drawn in grey under this one, for orientation, and its legend label.
pub struct Context<'a> {
    pub map: &'a MapData,
    pub label: String,
}

/// Panel geometry: SVG width, height, and the transform from projected degrees.
struct Frame {
    w: f64,
    h: f64,
    scale: f64,
    cx: f64,
    cy: f64,
}

impl Frame {
    fn x(&self, x: f64) -> f64 {
        self.w / 2.0 + (x - self.cx) * self.scale
    }
    fn y(&self, y: f64) -> f64 {
        self.h / 2.0 - (y - self.cy) * self.scale
    }
}

fn intersects(a: [f64; 4], b: [f64; 4]) -> bool {
    a[0] <= b[2] && b[0] <= a[2] && a[1] <= b[3] && b[1] <= a[3]
}

fn bad(path: &Path, reason: String) -> Error {
    Error::io(path, std::io::Error::new(std::io::ErrorKind::InvalidData, reason))
}

/// A position `[lon, lat, ...]`.
fn position(v: &Value) -> Option<[f64; 2]> {
    let a = v.as_array()?;
    Some([a.first()?.as_f64()?, a.get(1)?.as_f64()?])
}

fn positions(v: &Value) -> Vec<[f64; 2]> {
    v.as_array().map(|a| a.iter().filter_map(position).collect()).unwrap_or_default()
}

fn rings(v: &Value) -> Vec<Vec<[f64; 2]>> {
    v.as_array().map(|a| a.iter().map(positions).collect()).unwrap_or_default()
}

fn each(v: &Value) -> impl Iterator<Item = &Value> {
    v.as_array().into_iter().flatten()
}

/// Adds the shapes of an RFC 7946 geometry object, in longitude/latitude.
fn collect(g: &Value, out: &mut Vec<Shape>) {
    let c = &g["coordinates"];
    match g["type"].as_str().unwrap_or("") {
        "Point" => out.extend(position(c).map(Shape::Point)),
        "MultiPoint" => out.extend(positions(c).into_iter().map(Shape::Point)),
        "LineString" => out.push(Shape::Line(positions(c))),
        "MultiLineString" => out.extend(each(c).map(|l| Shape::Line(positions(l)))),
        "Polygon" => out.push(Shape::Polygon(rings(c))),
        "MultiPolygon" => out.extend(each(c).map(|p| Shape::Polygon(rings(p)))),
        "GeometryCollection" => each(&g["geometries"]).for_each(|g| collect(g, out)),
        _ => {}
    }
}

fn coords_mut(s: &mut Shape) -> Box<dyn Iterator<Item = &mut [f64; 2]> + '_> {
    match s {
        Shape::Polygon(rs) => Box::new(rs.iter_mut().flatten()),
        Shape::Line(l) => Box::new(l.iter_mut()),
        Shape::Point(p) => Box::new(std::iter::once(p)),
    }
}

fn empty_bbox() -> [f64; 4] {
    [f64::INFINITY, f64::INFINITY, f64::NEG_INFINITY, f64::NEG_INFINITY]
}

fn extend(b: &mut [f64; 4], c: [f64; 2]) {
    b[0] = b[0].min(c[0]);
    b[1] = b[1].min(c[1]);
    b[2] = b[2].max(c[0]);
    b[3] = b[3].max(c[1]);
}

fn union(a: [f64; 4], b: [f64; 4]) -> [f64; 4] {
    [a[0].min(b[0]), a[1].min(b[1]), a[2].max(b[2]), a[3].max(b[3])]
}

impl MapData {
    /// Reads a FeatureCollection and projects it at its mean latitude.
    pub fn read(path: &Path) -> Result<MapData> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let fc: Value = serde_json::from_str(&text).map_err(|e| bad(path, format!("not JSON: {e}")))?;
        let Some(list) = fc.get("features").and_then(Value::as_array).filter(|_| fc["type"] == "FeatureCollection")
        else {
            return Err(bad(path, "not a GeoJSON FeatureCollection".into()));
        };
        let attribution = fc.get("attribution").and_then(Value::as_str).map(str::to_string);
        let mut features = Vec::with_capacity(list.len());
        let mut lonlat = empty_bbox();
        for f in list {
            let mut shapes = Vec::new();
            if let Some(g) = f.get("geometry").filter(|g| g.is_object()) {
                collect(g, &mut shapes);
            }
            shapes.iter_mut().for_each(|s| coords_mut(s).for_each(|c| extend(&mut lonlat, *c)));
            let props = f.get("properties").and_then(Value::as_object).cloned().unwrap_or_default();
            features.push(Feature { shapes, props, bbox: empty_bbox() });
        }
        // The map's mean latitude: the middle of its latitude range.
        let lat0 = if lonlat[1].is_finite() { (lonlat[1] + lonlat[3]) / 2.0 } else { 0.0 };
        let k = lat0.to_radians().cos();
        for f in &mut features {
            for s in &mut f.shapes {
                for c in coords_mut(s) {
                    c[0] *= k;
                    extend(&mut f.bbox, *c);
                }
            }
        }
        Ok(MapData { features, attribution, k })
    }

    /// Whether there is anything to draw.
    pub fn is_empty(&self) -> bool {
        self.features.iter().all(|f| f.shapes.is_empty())
    }

    /// Groups of feature indexes, one per panel, in the order of their first feature.
    fn panels(&self) -> Vec<Vec<usize>> {
        let drawn: Vec<usize> = (0..self.features.len()).filter(|&i| !self.features[i].shapes.is_empty()).collect();
        let all = drawn.iter().fold(empty_bbox(), |b, &i| union(b, self.features[i].bbox));
        let (dx, dy) = (all[2] - all[0], all[3] - all[1]);
        let cell = dx.max(dy) / RASTER_CELLS;
        if drawn.len() < 2 || cell <= 0.0 {
            return vec![drawn];
        }
        // Occupancy raster: mark the cells under each feature's box, then join occupied cells
        // within two cells of each other. Cost: one pass over the features, plus the raster.
        let nx = (dx / cell).floor() as usize + 1;
        let ny = (dy / cell).floor() as usize + 1;
        let cell_of = |x: f64, y: f64| {
            (
                ((x - all[0]) / cell).floor().clamp(0.0, (nx - 1) as f64) as usize,
                ((y - all[1]) / cell).floor().clamp(0.0, (ny - 1) as f64) as usize,
            )
        };
        let mut occupied = vec![false; nx * ny];
        for &i in &drawn {
            let b = self.features[i].bbox;
            let (c0, r0) = cell_of(b[0], b[1]);
            let (c1, r1) = cell_of(b[2], b[3]);
            for r in r0..=r1 {
                for c in c0..=c1 {
                    occupied[r * nx + c] = true;
                }
            }
        }
        let mut label = vec![usize::MAX; nx * ny];
        let mut groups = 0;
        for start in 0..nx * ny {
            if !occupied[start] || label[start] != usize::MAX {
                continue;
            }
            label[start] = groups;
            let mut stack = vec![start];
            while let Some(at) = stack.pop() {
                let (c, r) = ((at % nx) as i64, (at / nx) as i64);
                for rr in r - 2..=r + 2 {
                    for cc in c - 2..=c + 2 {
                        if rr < 0 || cc < 0 || rr >= ny as i64 || cc >= nx as i64 {
                            continue;
                        }
                        let j = rr as usize * nx + cc as usize;
                        if occupied[j] && label[j] == usize::MAX {
                            label[j] = groups;
                            stack.push(j);
                        }
                    }
                }
            }
            groups += 1;
        }
        if !(2..=MAX_PANELS).contains(&groups) {
            return vec![drawn];
        }
        // Group by the raster label of each feature's lower-left corner; order groups by first feature.
        let mut by_label: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
        let mut order = Vec::new();
        for &i in &drawn {
            let b = self.features[i].bbox;
            let (c, r) = cell_of(b[0], b[1]);
            let l = label[r * nx + c];
            if !by_label.contains_key(&l) {
                order.push(l);
            }
            by_label.entry(l).or_default().push(i);
        }
        // Panels only pay off when the groups leave most of the joint extent empty.
        let covered: f64 = by_label
            .values()
            .map(|g| {
                let b = g.iter().fold(empty_bbox(), |b, &i| union(b, self.features[i].bbox));
                (b[2] - b[0]).max(cell) * (b[3] - b[1]).max(cell)
            })
            .sum();
        if covered > 0.35 * dx.max(cell) * dy.max(cell) {
            return vec![drawn];
        }
        order.into_iter().map(|l| by_label.remove(&l).unwrap_or_default()).collect()
    }

    /// The map as HTML: panels of inline SVG, a legend and the attribution.
    ///
    /// `names` maps an `area_id` or `park_id` to a display name for the panel captions.
    pub fn render(&self, style: MapStyle, names: &BTreeMap<String, String>, context: Option<&Context>) -> String {
        let paints: Vec<Paint> = self.features.iter().map(|f| paint(style, &f.props)).collect();
        let mut html = String::new();
        let panels = self.panels();
        let multi = panels.len() > 1;
        html.push_str(if multi { "<div class=\"panels multi\">" } else { "<div class=\"panels\">" });
        for group in &panels {
            html.push_str("<div class=\"panel\">");
            if multi {
                let caption = self.caption(group, names);
                if !caption.is_empty() {
                    let _ = write!(html, "<div class=\"panel-caption\">{}</div>", escape(&caption));
                }
            }
            self.svg(&mut html, style, group, &paints, context, if multi { MULTI_PANEL } else { SINGLE_PANEL });
            html.push_str("</div>");
        }
        html.push_str("</div>");
        html.push_str(&self.legend(style, &paints, context));
        html
    }

    /// Names of the areas or parks in a panel.
    fn caption(&self, group: &[usize], names: &BTreeMap<String, String>) -> String {
        let mut seen: Vec<String> = Vec::new();
        for &i in group {
            let p = &self.features[i].props;
            let id = ["area_id", "park_id"].iter().find_map(|k| p.get(*k)).map(|v| match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            });
            let name = p
                .get("name")
                .and_then(Value::as_str)
                .map(str::to_string)
                .or_else(|| id.as_ref().and_then(|id| names.get(id).cloned()))
                .or(id);
            if let Some(n) = name {
                if !seen.contains(&n) {
                    seen.push(n);
                }
            }
            if seen.len() > 3 {
                break;
            }
        }
        if seen.len() > 3 {
            seen.truncate(3);
            seen.push("…".into());
        }
        seen.join(" · ")
    }

    fn svg(
        &self,
        html: &mut String,
        style: MapStyle,
        group: &[usize],
        paints: &[Paint],
        context: Option<&Context>,
        (w, max_h): (f64, f64),
    ) {
        let mut b = group.iter().fold(empty_bbox(), |b, &i| union(b, self.features[i].bbox));
        // Context features in this map's projection (their x scaled from their own cos φ₀); those
        // touching the panel widen it, so a road is seen within its whole town.
        let ctx: Vec<(&Feature, f64)> = match context {
            Some(c) => {
                let f = self.k / c.map.k;
                let near: Vec<(&Feature, f64)> = c
                    .map
                    .features
                    .iter()
                    .filter(|cf| !cf.shapes.is_empty())
                    .filter(|cf| intersects([cf.bbox[0] * f, cf.bbox[1], cf.bbox[2] * f, cf.bbox[3]], b))
                    .map(|cf| (cf, f))
                    .collect();
                for (cf, f) in &near {
                    b = union(b, [cf.bbox[0] * f, cf.bbox[1], cf.bbox[2] * f, cf.bbox[3]]);
                }
                near
            }
            None => vec![],
        };
        // A point or a flat extent still gets a sensible scale: at least ~550 m across.
        let min_span = 0.005;
        let (cx, cy) = ((b[0] + b[2]) / 2.0, (b[1] + b[3]) / 2.0);
        let (dx, dy) = ((b[2] - b[0]).max(min_span), (b[3] - b[1]).max(min_span));
        let scale = ((w - 2.0 * PAD) / dx).min((max_h - 2.0 * PAD) / dy);
        let h = (dy * scale + 2.0 * PAD).clamp(PANEL_MIN_H, max_h);
        let fr = Frame { w, h, scale, cx, cy };
        let tx = |x: f64| fr.x(x);
        let ty = |y: f64| fr.y(y);

        let _ = write!(
            html,
            "<svg class=\"map\" viewBox=\"0 0 {} {}\" xmlns=\"http://www.w3.org/2000/svg\" role=\"img\">",
            fmt1(w),
            fmt1(h)
        );
        let _ = write!(html, "<rect class=\"sea\" x=\"0\" y=\"0\" width=\"{}\" height=\"{}\"/>", fmt1(w), fmt1(h));

        // Context first, in grey.
        for (cf, f) in &ctx {
            let cx = |x: f64| fr.x(x * f);
            let mut polys = String::new();
            let mut lines = String::new();
            for shape in &cf.shapes {
                match shape {
                    Shape::Polygon(rings) => rings.iter().for_each(|r| path_part(&mut polys, r, true, &cx, &ty)),
                    Shape::Line(l) => path_part(&mut lines, l, false, &cx, &ty),
                    Shape::Point(c) => {
                        let _ = write!(
                            html,
                            "<circle class=\"context\" cx=\"{}\" cy=\"{}\" r=\"2.5\" fill=\"{CONTEXT_STROKE}\"/>",
                            fmt1(cx(c[0])),
                            fmt1(ty(c[1]))
                        );
                    }
                }
            }
            if !polys.is_empty() {
                let _ = write!(
                    html,
                    "<path class=\"context\" d=\"{polys}\" fill=\"{CONTEXT_FILL}\" fill-rule=\"evenodd\" stroke=\"{CONTEXT_STROKE}\" stroke-width=\"1.2\"/>"
                );
            }
            if !lines.is_empty() {
                let _ = write!(
                    html,
                    "<path class=\"context\" d=\"{lines}\" fill=\"none\" stroke=\"{CONTEXT_STROKE}\" stroke-width=\"1.2\"/>"
                );
            }
        }

        // Polygons, then lines, then points; within each, by rank, then input order.
        let mut order: Vec<usize> = group.to_vec();
        order.sort_by_key(|&i| (paints[i].rank, i));
        for pass in 0..3 {
            for &i in &order {
                let f = &self.features[i];
                let p = &paints[i];
                let mut d = String::new();
                for s in &f.shapes {
                    match (pass, s) {
                        (0, Shape::Polygon(rings)) => {
                            for r in rings {
                                path_part(&mut d, r, true, &tx, &ty);
                            }
                        }
                        (1, Shape::Line(l)) => path_part(&mut d, l, false, &tx, &ty),
                        _ => {}
                    }
                }
                let class = if p.miss { " class=\"miss\"" } else { "" };
                let tip = tooltip(style, &f.props);
                if !d.is_empty() {
                    if pass == 1 {
                        // A dark casing under the line makes it read on any background.
                        let _ = write!(
                            html,
                            "<path d=\"{d}\" fill=\"none\" stroke=\"{DARK_RED}\" stroke-width=\"{}\" stroke-linecap=\"round\" stroke-linejoin=\"round\"/>",
                            fmt1(p.stroke_width + 2.0)
                        );
                        let _ = write!(
                            html,
                            "<path{class} d=\"{d}\" fill=\"none\" stroke=\"{}\" stroke-width=\"{}\" stroke-linecap=\"round\" stroke-linejoin=\"round\">{tip}</path>",
                            p.stroke,
                            fmt1(p.stroke_width)
                        );
                    } else {
                        let _ = write!(
                            html,
                            "<path{class} d=\"{d}\" fill=\"{}\" fill-opacity=\"{}\" fill-rule=\"evenodd\" stroke=\"{}\" stroke-width=\"{}\" stroke-linejoin=\"round\">{tip}</path>",
                            p.fill,
                            fmt2(p.fill_opacity),
                            p.stroke,
                            fmt1(p.stroke_width)
                        );
                    }
                }
                if pass == 2 {
                    // Points, and a marker on every home polygon of the gaps map, sized by what it misses.
                    for s in &f.shapes {
                        let at = match s {
                            Shape::Point(c) => Some(*c),
                            Shape::Polygon(r) if style == MapStyle::Gaps => r.first().map(|r| centre(r)),
                            _ => None,
                        };
                        if let Some(c) = at {
                            let _ = write!(
                                html,
                                "<circle{class} cx=\"{}\" cy=\"{}\" r=\"{}\" fill=\"{}\" fill-opacity=\"{}\" stroke=\"{}\" stroke-width=\"{}\">{tip}</circle>",
                                fmt1(tx(c[0])),
                                fmt1(ty(c[1])),
                                fmt1(p.radius),
                                p.fill,
                                fmt2(p.fill_opacity.max(0.75)),
                                if p.miss { "#ffffff" } else { p.stroke },
                                fmt1(p.stroke_width.max(0.8))
                            );
                        }
                    }
                }
            }
        }

        // Labels on areas and parks: name and value, with a halo.
        if matches!(style, MapStyle::MeetsTarget | MapStyle::ParkStatus) {
            for &i in group {
                let f = &self.features[i];
                let Some(name) = f.props.get("name").and_then(Value::as_str) else { continue };
                let (x, y) = (tx((f.bbox[0] + f.bbox[2]) / 2.0), ty((f.bbox[1] + f.bbox[3]) / 2.0));
                let value = match style {
                    MapStyle::MeetsTarget => {
                        num(&f.props, "density_km_per_km2").map(|v| format!("{} km/km²", fmt_num(v)))
                    }
                    _ => num(&f.props, "mix_share").map(|v| format!("{:.1}%", 100.0 * v)),
                };
                let _ = write!(
                    html,
                    "<text class=\"label\" x=\"{}\" y=\"{}\">{}</text>",
                    fmt1(x),
                    fmt1(y - 2.0),
                    escape(name)
                );
                if let Some(v) = value {
                    let _ = write!(
                        html,
                        "<text class=\"label value\" x=\"{}\" y=\"{}\">{}</text>",
                        fmt1(x),
                        fmt1(y + 15.0),
                        escape(&v)
                    );
                }
            }
        }

        scale_bar(html, &fr);
        north_arrow(html, &fr);
        html.push_str("</svg>");
    }

    fn legend(&self, style: MapStyle, paints: &[Paint], context: Option<&Context>) -> String {
        let entries = legend_for(style);
        let mut counts = vec![0usize; entries.len()];
        for (i, p) in paints.iter().enumerate() {
            if !self.features[i].shapes.is_empty() {
                if let Some(c) = counts.get_mut(p.legend) {
                    *c += 1;
                }
            }
        }
        let mut html = String::from("<ul class=\"legend\">");
        if let Some(c) = context {
            let _ = write!(
                html,
                "<li><span class=\"swatch\" style=\"background:{CONTEXT_FILL};border-color:{CONTEXT_STROKE}\"></span>{}</li>",
                escape(&c.label)
            );
        }
        for (e, n) in entries.iter().zip(&counts) {
            if *n == 0 && !e.always {
                continue;
            }
            let (swatch, size) = match (e.line, e.dot) {
                (true, _) => ("swatch line", String::new()),
                (false, Some(r)) => ("swatch dot", format!(";width:{0}px;height:{0}px", fmt1(2.0 * r))),
                (false, None) => ("swatch", String::new()),
            };
            let _ = write!(
                html,
                "<li><span class=\"{swatch}\" style=\"background:{}{size}\"></span>{} <span class=\"count\">({n})</span></li>",
                e.color,
                escape(&e.label)
            );
        }
        html.push_str("</ul>");
        html
    }
}

/// A short hover text for areas, parks, cells and roads (none for homes and parcels, which can
/// be many).
fn tooltip(style: MapStyle, p: &Map<String, Value>) -> String {
    let text = |k: &str| p.get(k).and_then(Value::as_str).map(str::to_string);
    let t = match style {
        MapStyle::MeetsTarget => Some(format!(
            "{}: {} km/km²",
            text("name").or_else(|| text("area_id")).unwrap_or_default(),
            num(p, "density_km_per_km2").map(fmt_num).unwrap_or_default()
        )),
        MapStyle::DensityGrid => num(p, "density_km_per_km2").map(|d| format!("{} km/km²", fmt_num(d))),
        MapStyle::WideRoads => Some(format!(
            "{} {} m > {} m",
            text("grade").unwrap_or_default(),
            num(p, "width_m").map(fmt_num).unwrap_or_default(),
            num(p, "max_width_m").map(fmt_num).unwrap_or_default()
        )),
        MapStyle::ParkStatus => Some(format!(
            "{}: {}",
            text("name").or_else(|| text("park_id")).unwrap_or_default(),
            text("status").unwrap_or_default()
        )),
        _ => None,
    };
    t.map(|t| format!("<title>{}</title>", escape(&t))).unwrap_or_default()
}

/// The middle of a ring's bounding box.
fn centre(ring: &[[f64; 2]]) -> [f64; 2] {
    let b = ring.iter().fold(empty_bbox(), |mut b, c| {
        extend(&mut b, *c);
        b
    });
    [(b[0] + b[2]) / 2.0, (b[1] + b[3]) / 2.0]
}

/// Appends one ring or line to an SVG path, dropping vertices closer than [`MIN_STEP`].
fn path_part(d: &mut String, coords: &[[f64; 2]], closed: bool, tx: &dyn Fn(f64) -> f64, ty: &dyn Fn(f64) -> f64) {
    let mut pts: Vec<(f64, f64)> = Vec::with_capacity(coords.len());
    for c in coords {
        let p = (tx(c[0]), ty(c[1]));
        match pts.last() {
            Some(q) if (p.0 - q.0).hypot(p.1 - q.1) < MIN_STEP => {}
            _ => pts.push(p),
        }
    }
    // Keep a line's true end point.
    if let (false, Some(c)) = (closed, coords.last()) {
        let end = (tx(c[0]), ty(c[1]));
        if pts.last() != Some(&end) {
            pts.push(end);
        }
    }
    if pts.len() < if closed { 3 } else { 2 } {
        return;
    }
    for (i, (x, y)) in pts.iter().enumerate() {
        let _ = write!(
            d,
            "{}{} {}",
            if i == 0 {
                "M"
            } else if i == 1 {
                "L"
            } else {
                " "
            },
            fmt1(*x),
            fmt1(*y)
        );
    }
    if closed {
        d.push('Z');
    }
}

/// A scale bar of a round length, about a fifth of the panel wide, at the lower left.
fn scale_bar(html: &mut String, fr: &Frame) {
    let px_per_m = fr.scale / M_PER_DEG;
    let want_m = fr.w / 5.0 / px_per_m;
    let pow = 10f64.powf(want_m.log10().floor());
    let m = [5.0, 2.0, 1.0].into_iter().map(|k| k * pow).find(|v| *v <= want_m).unwrap_or(pow);
    let len = m * px_per_m;
    let (x, y) = (14.0, fr.h - 14.0);
    let label = if m >= 1000.0 { format!("{} km", m / 1000.0) } else { format!("{m:.0} m") };
    let _ = write!(
        html,
        "<g class=\"scale\"><rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"5\" fill=\"#ffffff\" stroke=\"#333\" stroke-width=\"1\"/><rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"5\" fill=\"#333\"/><text x=\"{}\" y=\"{}\">{}</text></g>",
        fmt1(x),
        fmt1(y),
        fmt1(len),
        fmt1(x),
        fmt1(y),
        fmt1(len / 2.0),
        fmt1(x),
        fmt1(y - 5.0),
        label
    );
}

fn north_arrow(html: &mut String, fr: &Frame) {
    let x = fr.w - 22.0;
    let _ = write!(
        html,
        "<g class=\"north\"><path d=\"M{} 8L{} 28L{} 24L{} 28Z\" fill=\"#333\"/><text x=\"{}\" y=\"40\">N</text></g>",
        fmt1(x),
        fmt1(x + 7.0),
        fmt1(x),
        fmt1(x - 7.0),
        fmt1(x)
    );
}

/// One decimal, without a negative zero.
fn fmt1(v: f64) -> String {
    let r = (v * 10.0).round() / 10.0;
    if r == 0.0 {
        "0".into()
    } else if r.fract() == 0.0 {
        format!("{r:.0}")
    } else {
        format!("{r:.1}")
    }
}

fn fmt2(v: f64) -> String {
    format!("{v:.2}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn separate_towns_get_one_panel_each() {
        let dir = tempfile::tempdir().unwrap();
        let square = |x: f64, y: f64, id: &str, met: bool| {
            format!(
                r#"{{"type":"Feature","geometry":{{"type":"Polygon","coordinates":[[[{x},{y}],[{},{y}],[{},{}],[{x},{}],[{x},{y}]]]}},"properties":{{"area_id":"{id}","meets_target":{met}}}}}"#,
                x + 0.02,
                x + 0.02,
                y + 0.02,
                y + 0.02
            )
        };
        let text = format!(
            r#"{{"type":"FeatureCollection","features":[{},{}]}}"#,
            square(116.5, 31.7, "1", true),
            square(116.2, 31.3, "2", false)
        );
        let map = MapData::read(&write(dir.path(), "a.geojson", &text)).unwrap();
        assert_eq!(map.panels(), vec![vec![0], vec![1]]);
        let names = BTreeMap::from([("2".to_string(), "<县城>".to_string())]);
        let html = map.render(MapStyle::MeetsTarget, &names, None);
        assert_eq!(html.matches("<svg").count(), 2);
        assert!(html.contains("&lt;县城&gt;"), "captions are escaped");
        assert_eq!(html.matches("class=\"miss\"").count(), 1);

        // Neighbouring squares stay on one map.
        let text = format!(
            r#"{{"type":"FeatureCollection","features":[{},{}]}}"#,
            square(116.5, 31.7, "1", true),
            square(116.52, 31.7, "2", false)
        );
        let map = MapData::read(&write(dir.path(), "b.geojson", &text)).unwrap();
        assert_eq!(map.panels(), vec![vec![0, 1]]);
    }

    #[test]
    fn points_and_missing_lists() {
        let dir = tempfile::tempdir().unwrap();
        let text = r#"{"type":"FeatureCollection","attribution":"© OpenStreetMap contributors","features":[
            {"type":"Feature","geometry":{"type":"Point","coordinates":[116.5,31.7]},"properties":{"missing":[]}},
            {"type":"Feature","geometry":{"type":"Point","coordinates":[116.501,31.701]},"properties":{"missing":["kindergarten","clinic"]}},
            {"type":"Feature","geometry":null,"properties":{"missing_count":1}}]}"#;
        let map = MapData::read(&write(dir.path(), "c.geojson", text)).unwrap();
        assert_eq!(map.attribution.as_deref(), Some("© OpenStreetMap contributors"));
        let html = map.render(MapStyle::Coverage, &BTreeMap::new(), None);
        assert_eq!(html.matches("<circle").count(), 2);
        assert_eq!(html.matches("<circle class=\"miss\"").count(), 1);
        // Legend counts: one covered, one missing two types; the feature without geometry is not counted.
        assert!(html.contains("齐全 all facilities reached <span class=\"count\">(1)</span>"), "{html}");
        assert!(html.contains("missing 2 types <span class=\"count\">(1)</span>"), "{html}");
        assert!(html.contains("missing 1 type <span class=\"count\">(0)</span>"), "{html}");
    }

    #[test]
    fn not_geojson_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(dir.path(), "bad.geojson", "{\"type\":\"Feature\"");
        let err = MapData::read(&p).err().expect("an error");
        assert!(err.to_string().contains("bad.geojson"), "{err}");
    }

    #[test]
    fn numbers_are_stable() {
        assert_eq!(fmt1(-0.04), "0");
        assert_eq!(fmt1(12.0), "12");
        assert_eq!(fmt1(12.349), "12.3");
    }
}
