//! Inline SVG maps for the HTML report, drawn from planaudit's RFC 7946 GeoJSON outputs.
//!
//! Longitude/latitude go through an equirectangular projection at the map's mean latitude
//! (x = lon·cos φ₀, y = lat), which keeps shapes true to within a fraction of a percent over a
//! city. Features that fall into well-separated groups (a central city and a county town 40 km
//! apart) are drawn as one panel per group, each at its own scale, so that neither becomes a speck.
//! Every panel has a scale bar and a north arrow; a legend with counts sits under the map.
//!
//! A file is read in one pass that keeps only what the map draws: coordinates go into flat arrays
//! shared by the whole map, and of the properties only those that paint, label or caption a
//! feature ([`Props`]); everything else is skipped unparsed. A province's 150 MB layer of homes
//! is read in a fraction of a second.
//!
//! # Limitations
//! Each feature becomes SVG markup, so a map of hundreds of thousands of features makes a page of
//! tens of megabytes. Vertices closer than half a pixel to the previous one are dropped.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::{self, Write as _};
use std::ops::Range;
use std::path::Path;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::Value;

use super::{escape, fmt_num, MapStyle};
use crate::{Error, Result};

/// Metres per degree of latitude, used only for the scale bar.
const M_PER_DEG: f64 = crate::units::M_PER_DEGREE;

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

/// Homes by the number of needs (a kindergarten, a clinic, …; each met by facilities of one or more
/// types) they miss: colour and label for 0, 1, 2, 3+.
const MISSING_CLASSES: [(&str, &str); 4] = [
    (GREEN, "齐全 all facilities reached"),
    ("#fee08b", "缺 1 项 missing 1 need"),
    ("#fc8d59", "缺 2 项 missing 2 needs"),
    (RED, "缺 3 项及以上 missing 3+ needs"),
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

fn paint(style: MapStyle, p: &Props) -> Paint {
    match style {
        MapStyle::MeetsTarget => match p.meets_target {
            Some(true) => area_paint(GREEN, 0, false),
            Some(false) => area_paint(RED, 1, true),
            None => area_paint(GREY, 2, false),
        },
        MapStyle::DensityGrid => {
            let density = p.extra().density.unwrap_or(0.0);
            let (color, legend, miss) = match p.extra().target.filter(|t| *t > 0.0) {
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
            let w = p.extra().width.unwrap_or(40.0);
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
        MapStyle::ParkStatus => match p.extra().status.as_deref() {
            Some("below") => area_paint(RED, 0, true),
            Some("within") => area_paint(GREEN, 1, false),
            Some("above") => area_paint(PURPLE, 2, true),
            _ => area_paint(GREY, 3, false),
        },
        MapStyle::ParkParcels => {
            let cat = p.extra().category.as_deref().unwrap_or("");
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
            let (color, legend, miss) = match p.missing_count() {
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
            let n = p.missing_count().unwrap_or(1).max(1);
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

/// What a feature's properties say to the map: the few members that paint, label or caption it.
/// Each is read as `serde_json::Value`'s accessors would read it (`as_bool`, `as_f64`, `as_u64`,
/// `as_str`), and a repeated member counts with its last value.
#[derive(Default)]
struct Props {
    meets_target: Option<bool>,
    /// `missing_count` as a whole number.
    missing_count: Option<u64>,
    /// The length of `missing` (a list, or an object by its distinct keys).
    missing_len: Option<u64>,
    /// The members of areas, parks, cells and roads; none for homes, which can be many.
    extra: Option<Box<Extra>>,
}

#[derive(Default)]
struct Extra {
    density: Option<f64>,
    target: Option<f64>,
    width: Option<f64>,
    max_width: Option<f64>,
    mix_share: Option<f64>,
    status: Option<String>,
    category: Option<String>,
    name: Option<String>,
    grade: Option<String>,
    area_id: Option<Value>,
    park_id: Option<Value>,
}

static NO_EXTRA: Extra = Extra {
    density: None,
    target: None,
    width: None,
    max_width: None,
    mix_share: None,
    status: None,
    category: None,
    name: None,
    grade: None,
    area_id: None,
    park_id: None,
};

impl Props {
    fn extra(&self) -> &Extra {
        self.extra.as_deref().unwrap_or(&NO_EXTRA)
    }

    /// The number of required facility types a home misses: `missing_count`, else the length of
    /// `missing`.
    fn missing_count(&self) -> Option<u64> {
        self.missing_count.or(self.missing_len)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Polygon,
    Line,
    Point,
}

/// A polygon (its rings), a line or a point: a range of [`Geometry::parts`].
struct Shape {
    kind: Kind,
    parts: Range<usize>,
}

/// The geometry of every feature of a map, flat: shapes name ranges of parts (rings, lines, a
/// point), parts name ranges of coordinates, in projected degrees (x = lon·cos φ₀, y = lat).
#[derive(Default)]
struct Geometry {
    coords: Vec<[f64; 2]>,
    parts: Vec<Range<usize>>,
    shapes: Vec<Shape>,
}

/// Lengths of the three arrays, to cut back to.
#[derive(Clone, Copy)]
struct Mark {
    coords: usize,
    parts: usize,
    shapes: usize,
}

impl Geometry {
    fn mark(&self) -> Mark {
        Mark { coords: self.coords.len(), parts: self.parts.len(), shapes: self.shapes.len() }
    }

    fn truncate(&mut self, m: Mark) {
        self.coords.truncate(m.coords);
        self.parts.truncate(m.parts);
        self.shapes.truncate(m.shapes);
    }

    /// Ends a part that started at coordinate `from`.
    fn end_part(&mut self, from: usize) {
        self.parts.push(from..self.coords.len());
    }

    /// Ends a shape that started at part `from`.
    fn end_shape(&mut self, kind: Kind, from: usize) {
        self.shapes.push(Shape { kind, parts: from..self.parts.len() });
    }

    fn parts(&self, s: &Shape) -> impl Iterator<Item = &[[f64; 2]]> + '_ {
        self.parts[s.parts.clone()].iter().map(|r| &self.coords[r.clone()])
    }

    /// A point's position.
    fn point(&self, s: &Shape) -> Option<[f64; 2]> {
        self.parts(s).next().and_then(|p| p.first()).copied()
    }
}

struct Feature {
    /// A range of [`Geometry::shapes`].
    shapes: Range<usize>,
    props: Props,
    bbox: [f64; 4],
}

impl Feature {
    fn drawn(&self) -> bool {
        !self.shapes.is_empty()
    }
}

/// A map of a GeoJSON FeatureCollection: read from its file, or made from its features as they
/// are written ([`MapData::from_parts`]).
pub struct MapData {
    features: Vec<Feature>,
    geom: Geometry,
    pub attribution: Option<String>,
    /// cos φ₀ of the projection the coordinates are in.
    k: f64,
}

/// Display names for the panel captions of features without a name of their own: built-up areas
/// by `area_id`, parks by `park_id`.
#[derive(Debug, Clone, Default)]
pub struct Names {
    pub areas: BTreeMap<String, String>,
    pub parks: BTreeMap<String, String>,
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

// ---- Reading: serde visitors that take any JSON value where GeoJSON expects one kind, the way
// `serde_json::Value`'s accessors do (a position that is not an array of two numbers is skipped,
// a ring that is not an array is empty), and skip whatever the map does not draw.

/// A visitor's answer `$v` to the kinds of JSON value it does not expect, after skipping the value:
/// `bool`, `num` (any number), `str`, `unit` (null), `seq` (array), `map` (object).
macro_rules! otherwise {
    ($v:expr; $($kind:ident),+) => {
        $(otherwise!(@$kind $v);)+
    };
    (@bool $v:expr) => {
        fn visit_bool<E: de::Error>(self, _: bool) -> std::result::Result<Self::Value, E> {
            Ok($v)
        }
    };
    (@num $v:expr) => {
        fn visit_i64<E: de::Error>(self, _: i64) -> std::result::Result<Self::Value, E> {
            Ok($v)
        }
        fn visit_u64<E: de::Error>(self, _: u64) -> std::result::Result<Self::Value, E> {
            Ok($v)
        }
        fn visit_f64<E: de::Error>(self, _: f64) -> std::result::Result<Self::Value, E> {
            Ok($v)
        }
    };
    (@str $v:expr) => {
        fn visit_str<E: de::Error>(self, _: &str) -> std::result::Result<Self::Value, E> {
            Ok($v)
        }
    };
    (@unit $v:expr) => {
        fn visit_unit<E: de::Error>(self) -> std::result::Result<Self::Value, E> {
            Ok($v)
        }
    };
    (@seq $v:expr) => {
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<Self::Value, A::Error> {
            skip_rest(&mut seq)?;
            Ok($v)
        }
    };
    (@map $v:expr) => {
        fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> std::result::Result<Self::Value, A::Error> {
            while m.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
            Ok($v)
        }
    };
}

/// Seeds that are their own visitor, of any JSON value.
macro_rules! seed_is_visitor {
    ($($t:ty),+) => {$(
        impl<'de> DeserializeSeed<'de> for $t {
            type Value = <Self as Visitor<'de>>::Value;
            fn deserialize<D: Deserializer<'de>>(self, d: D) -> std::result::Result<Self::Value, D::Error> {
                d.deserialize_any(self)
            }
        }
    )+};
}

seed_is_visitor!(
    Positions<'_>,
    Rings<'_>,
    Multi<'_>,
    GeometrySeed<'_>,
    Geometries<'_>,
    FeaturesSeed<'_>,
    CollectionSeed
);

/// Skips the rest of a JSON array.
fn skip_rest<'de, A: SeqAccess<'de>>(seq: &mut A) -> std::result::Result<(), A::Error> {
    while seq.next_element::<IgnoredAny>()?.is_some() {}
    Ok(())
}

/// A JSON value read for what a property can be to the map.
enum Scalar {
    Other,
    Bool(bool),
    /// As `as_f64`, and as `as_u64`.
    Num(f64, Option<u64>),
    Str(String),
    /// The length of an array, or the number of distinct keys of an object.
    Len(u64),
}

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Scalar;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_bool<E: de::Error>(self, b: bool) -> std::result::Result<Scalar, E> {
                Ok(Scalar::Bool(b))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> std::result::Result<Scalar, E> {
                Ok(Scalar::Num(v as f64, u64::try_from(v).ok()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> std::result::Result<Scalar, E> {
                Ok(Scalar::Num(v as f64, Some(v)))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> std::result::Result<Scalar, E> {
                Ok(Scalar::Num(v, None))
            }
            fn visit_str<E: de::Error>(self, s: &str) -> std::result::Result<Scalar, E> {
                Ok(Scalar::Str(s.to_string()))
            }
            fn visit_string<E: de::Error>(self, s: String) -> std::result::Result<Scalar, E> {
                Ok(Scalar::Str(s))
            }
            fn visit_unit<E: de::Error>(self) -> std::result::Result<Scalar, E> {
                Ok(Scalar::Other)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<Scalar, A::Error> {
                let mut n = 0;
                while seq.next_element::<IgnoredAny>()?.is_some() {
                    n += 1;
                }
                Ok(Scalar::Len(n))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> std::result::Result<Scalar, A::Error> {
                let mut keys = BTreeSet::new();
                while let Some(k) = m.next_key::<String>()? {
                    m.next_value::<IgnoredAny>()?;
                    keys.insert(k);
                }
                Ok(Scalar::Len(keys.len() as u64))
            }
        }
        d.deserialize_any(V)
    }
}

impl Scalar {
    fn as_bool(&self) -> Option<bool> {
        match self {
            Scalar::Bool(b) => Some(*b),
            _ => None,
        }
    }
    fn as_f64(&self) -> Option<f64> {
        match self {
            Scalar::Num(v, _) => Some(*v),
            _ => None,
        }
    }
    fn as_u64(&self) -> Option<u64> {
        match self {
            Scalar::Num(_, u) => *u,
            _ => None,
        }
    }
    fn into_string(self) -> Option<String> {
        match self {
            Scalar::Str(s) => Some(s),
            _ => None,
        }
    }
}

#[derive(Deserialize)]
#[serde(field_identifier)]
enum PropKey {
    #[serde(rename = "meets_target")]
    MeetsTarget,
    #[serde(rename = "missing_count")]
    MissingCount,
    #[serde(rename = "missing")]
    Missing,
    #[serde(rename = "density_km_per_km2")]
    Density,
    #[serde(rename = "target_km_per_km2")]
    Target,
    #[serde(rename = "width_m")]
    Width,
    #[serde(rename = "max_width_m")]
    MaxWidth,
    #[serde(rename = "mix_share")]
    MixShare,
    #[serde(rename = "status")]
    Status,
    #[serde(rename = "category")]
    Category,
    #[serde(rename = "name")]
    Name,
    #[serde(rename = "grade")]
    Grade,
    #[serde(rename = "area_id")]
    AreaId,
    #[serde(rename = "park_id")]
    ParkId,
    #[serde(other)]
    Other,
}

impl<'de> Deserialize<'de> for Props {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Props;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("properties")
            }
            otherwise!(Props::default(); bool, num, str, unit, seq);
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> std::result::Result<Props, A::Error> {
                let mut p = Props::default();
                while let Some(key) = m.next_key::<PropKey>()? {
                    if matches!(key, PropKey::Other) {
                        m.next_value::<IgnoredAny>()?;
                        continue;
                    }
                    let extra = || -> Box<Extra> { Box::default() };
                    match key {
                        PropKey::AreaId => p.extra.get_or_insert_with(extra).area_id = Some(m.next_value()?),
                        PropKey::ParkId => p.extra.get_or_insert_with(extra).park_id = Some(m.next_value()?),
                        _ => {
                            let v: Scalar = m.next_value()?;
                            match key {
                                PropKey::MeetsTarget => p.meets_target = v.as_bool(),
                                PropKey::MissingCount => p.missing_count = v.as_u64(),
                                PropKey::Missing => {
                                    p.missing_len = match v {
                                        Scalar::Len(n) => Some(n),
                                        _ => None,
                                    }
                                }
                                _ => {
                                    let e = p.extra.get_or_insert_with(extra);
                                    match key {
                                        PropKey::Density => e.density = v.as_f64(),
                                        PropKey::Target => e.target = v.as_f64(),
                                        PropKey::Width => e.width = v.as_f64(),
                                        PropKey::MaxWidth => e.max_width = v.as_f64(),
                                        PropKey::MixShare => e.mix_share = v.as_f64(),
                                        PropKey::Status => e.status = v.into_string(),
                                        PropKey::Category => e.category = v.into_string(),
                                        PropKey::Name => e.name = v.into_string(),
                                        PropKey::Grade => e.grade = v.into_string(),
                                        _ => {}
                                    }
                                }
                            }
                        }
                    }
                }
                Ok(p)
            }
        }
        d.deserialize_any(V)
    }
}

/// A number, as `as_f64` reads it; anything else is `None`.
struct Num(Option<f64>);

impl<'de> Deserialize<'de> for Num {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Num;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a number")
            }
            otherwise!(Num(None); bool, str, unit, seq, map);
            fn visit_i64<E: de::Error>(self, v: i64) -> std::result::Result<Num, E> {
                Ok(Num(Some(v as f64)))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> std::result::Result<Num, E> {
                Ok(Num(Some(v as f64)))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> std::result::Result<Num, E> {
                Ok(Num(Some(v)))
            }
        }
        d.deserialize_any(V)
    }
}

/// A position `[lon, lat, ...]`; anything else is `None`.
struct Position(Option<[f64; 2]>);

impl<'de> Deserialize<'de> for Position {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Position;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a position")
            }
            otherwise!(Position(None); bool, num, str, unit, map);
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<Position, A::Error> {
                let x = seq.next_element::<Num>()?;
                let y = if x.is_some() { seq.next_element::<Num>()? } else { None };
                if y.is_some() {
                    skip_rest(&mut seq)?;
                }
                Ok(Position(match (x, y) {
                    (Some(Num(Some(x))), Some(Num(Some(y)))) => Some([x, y]),
                    _ => None,
                }))
            }
        }
        d.deserialize_any(V)
    }
}

/// An array of positions, appended to the coordinates.
struct Positions<'a>(&'a mut Vec<[f64; 2]>);

impl<'de> Visitor<'de> for Positions<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of positions")
    }
    otherwise!((); bool, num, str, unit, map);
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<(), A::Error> {
        while let Some(Position(p)) = seq.next_element()? {
            self.0.extend(p);
        }
        Ok(())
    }
}

/// An array of rings (or lines), each appended as a part.
struct Rings<'a>(&'a mut Geometry);

impl<'de> Visitor<'de> for Rings<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of rings")
    }
    otherwise!((); bool, num, str, unit, map);
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<(), A::Error> {
        loop {
            let from = self.0.coords.len();
            if seq.next_element_seed(Positions(&mut self.0.coords))?.is_none() {
                return Ok(());
            }
            self.0.end_part(from);
        }
    }
}

/// The members of a MultiLineString or MultiPolygon, each appended as a shape of `kind`.
struct Multi<'a>(&'a mut Geometry, Kind);

impl<'de> Visitor<'de> for Multi<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of lines or polygons")
    }
    otherwise!((); bool, num, str, unit, map);
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<(), A::Error> {
        let g = self.0;
        loop {
            let from = g.parts.len();
            let more = if self.1 == Kind::Line {
                let start = g.coords.len();
                let more = seq.next_element_seed(Positions(&mut g.coords))?.is_some();
                if more {
                    g.end_part(start);
                }
                more
            } else {
                seq.next_element_seed(Rings(g))?.is_some()
            };
            if !more {
                return Ok(());
            }
            g.end_shape(self.1, from);
        }
    }
}

/// The RFC 7946 geometry types.
#[derive(Clone, Copy, PartialEq, Eq)]
enum GeomType {
    Point,
    MultiPoint,
    LineString,
    MultiLineString,
    Polygon,
    MultiPolygon,
    GeometryCollection,
    Unknown,
}

impl<'de> Deserialize<'de> for GeomType {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = GeomType;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a geometry type")
            }
            otherwise!(GeomType::Unknown; bool, num, unit, seq, map);
            fn visit_str<E: de::Error>(self, s: &str) -> std::result::Result<GeomType, E> {
                Ok(match s {
                    "Point" => GeomType::Point,
                    "MultiPoint" => GeomType::MultiPoint,
                    "LineString" => GeomType::LineString,
                    "MultiLineString" => GeomType::MultiLineString,
                    "Polygon" => GeomType::Polygon,
                    "MultiPolygon" => GeomType::MultiPolygon,
                    "GeometryCollection" => GeomType::GeometryCollection,
                    _ => GeomType::Unknown,
                })
            }
        }
        d.deserialize_any(V)
    }
}

/// The `coordinates` of a geometry of a known type, appended as its shapes. A LineString or a
/// Polygon is one shape whatever its coordinates hold.
struct Coordinates<'a>(&'a mut Geometry, GeomType);

impl<'de> DeserializeSeed<'de> for Coordinates<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> std::result::Result<(), D::Error> {
        let g = self.0;
        let (coord0, part0) = (g.coords.len(), g.parts.len());
        match self.1 {
            GeomType::Point => {
                if let Position(Some(p)) = Position::deserialize(d)? {
                    g.coords.push(p);
                    g.end_part(coord0);
                    g.end_shape(Kind::Point, part0);
                }
            }
            GeomType::MultiPoint => {
                Positions(&mut g.coords).deserialize(d)?;
                for i in coord0..g.coords.len() {
                    let part = g.parts.len();
                    g.parts.push(i..i + 1);
                    g.end_shape(Kind::Point, part);
                }
            }
            GeomType::LineString => {
                Positions(&mut g.coords).deserialize(d)?;
                g.end_part(coord0);
                g.end_shape(Kind::Line, part0);
            }
            GeomType::Polygon => {
                Rings(g).deserialize(d)?;
                g.end_shape(Kind::Polygon, part0);
            }
            GeomType::MultiLineString => Multi(g, Kind::Line).deserialize(d)?,
            GeomType::MultiPolygon => Multi(g, Kind::Polygon).deserialize(d)?,
            GeomType::GeometryCollection | GeomType::Unknown => {
                IgnoredAny::deserialize(d)?;
            }
        }
        Ok(())
    }
}

#[derive(Deserialize)]
#[serde(field_identifier, rename_all = "lowercase")]
enum GeomKey {
    Type,
    Coordinates,
    Geometries,
    #[serde(other)]
    Other,
}

/// A geometry object, appended as its shapes; anything else adds none.
struct GeometrySeed<'a>(&'a mut Geometry);

impl<'de> Visitor<'de> for GeometrySeed<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a geometry")
    }
    otherwise!((); bool, num, str, unit, seq);
    fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> std::result::Result<(), A::Error> {
        let g = self.0;
        let start = g.mark();
        let mut ty = None;
        // What was read into `g` as it came, and under which type; members that came before
        // their type (or again) are kept as values and read at the end.
        let mut direct: Option<GeomType> = None;
        let (mut coordinates, mut geometries): (Option<Value>, Option<Value>) = (None, None);
        while let Some(key) = m.next_key::<GeomKey>()? {
            match key {
                GeomKey::Type => ty = Some(m.next_value::<GeomType>()?),
                GeomKey::Coordinates => match ty {
                    Some(t) if direct.is_none() && coordinates.is_none() && t != GeomType::GeometryCollection => {
                        m.next_value_seed(Coordinates(g, t))?;
                        direct = Some(t);
                    }
                    _ => coordinates = Some(m.next_value()?),
                },
                GeomKey::Geometries => match ty {
                    Some(GeomType::GeometryCollection) if direct.is_none() && geometries.is_none() => {
                        m.next_value_seed(Geometries(g))?;
                        direct = Some(GeomType::GeometryCollection);
                    }
                    _ => geometries = Some(m.next_value()?),
                },
                GeomKey::Other => {
                    m.next_value::<IgnoredAny>()?;
                }
            }
        }
        let ty = ty.unwrap_or(GeomType::Unknown);
        let late = if ty == GeomType::GeometryCollection { &geometries } else { &coordinates };
        if direct == Some(ty) && late.is_none() {
            return Ok(());
        }
        g.truncate(start);
        let late = late.as_ref().unwrap_or(&Value::Null);
        if ty == GeomType::GeometryCollection {
            Geometries(g).deserialize(late).map_err(de::Error::custom)
        } else {
            Coordinates(g, ty).deserialize(late).map_err(de::Error::custom)
        }
    }
}

/// The `geometries` of a GeometryCollection.
struct Geometries<'a>(&'a mut Geometry);

impl<'de> Visitor<'de> for Geometries<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of geometries")
    }
    otherwise!((); bool, num, str, unit, map);
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<(), A::Error> {
        while seq.next_element_seed(GeometrySeed(self.0))?.is_some() {}
        Ok(())
    }
}

#[derive(Deserialize)]
#[serde(field_identifier, rename_all = "lowercase")]
enum FeatureKey {
    Geometry,
    Properties,
    #[serde(other)]
    Other,
}

/// One member of `features`: its shapes appended to the geometry. Anything but an object is a
/// feature without geometry or properties.
struct FeatureSeed<'a>(&'a mut Geometry);

impl<'de> DeserializeSeed<'de> for FeatureSeed<'_> {
    type Value = Feature;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> std::result::Result<Feature, D::Error> {
        let g = self.0;
        let start = g.shapes.len();
        let props = d.deserialize_any(FeatureVisitor(&mut *g))?;
        Ok(Feature { shapes: start..g.shapes.len(), props, bbox: empty_bbox() })
    }
}

struct FeatureVisitor<'a>(&'a mut Geometry);

impl<'de> Visitor<'de> for FeatureVisitor<'_> {
    type Value = Props;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a feature")
    }
    otherwise!(Props::default(); bool, num, str, unit, seq);
    fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> std::result::Result<Props, A::Error> {
        let start = self.0.mark();
        let mut props = Props::default();
        while let Some(key) = m.next_key::<FeatureKey>()? {
            match key {
                FeatureKey::Geometry => {
                    // A repeated member counts with its last value.
                    self.0.truncate(start);
                    m.next_value_seed(GeometrySeed(self.0))?;
                }
                FeatureKey::Properties => props = m.next_value()?,
                FeatureKey::Other => {
                    m.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(props)
    }
}

/// `features`: appended to the list; whether it was an array.
struct FeaturesSeed<'a>(&'a mut Vec<Feature>, &'a mut Geometry);

impl<'de> Visitor<'de> for FeaturesSeed<'_> {
    type Value = bool;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of features")
    }
    otherwise!(false; bool, num, str, unit, map);
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<bool, A::Error> {
        while let Some(f) = seq.next_element_seed(FeatureSeed(self.1))? {
            self.0.push(f);
        }
        Ok(true)
    }
}

#[derive(Deserialize)]
#[serde(field_identifier, rename_all = "lowercase")]
enum CollectionKey {
    Type,
    Features,
    Attribution,
    #[serde(other)]
    Other,
}

/// A whole file, read into a map (not yet projected); `None` unless it is a FeatureCollection.
struct CollectionSeed;

impl<'de> Visitor<'de> for CollectionSeed {
    type Value = Option<MapData>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a FeatureCollection")
    }
    otherwise!(None; bool, num, str, unit, seq);
    fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> std::result::Result<Option<MapData>, A::Error> {
        let mut map = MapData { features: Vec::new(), geom: Geometry::default(), attribution: None, k: 1.0 };
        let (mut collection, mut listed) = (false, false);
        while let Some(key) = m.next_key::<CollectionKey>()? {
            match key {
                CollectionKey::Type => {
                    collection = matches!(m.next_value::<Scalar>()?, Scalar::Str(t) if t == "FeatureCollection")
                }
                CollectionKey::Features => {
                    map.features.clear();
                    map.geom = Geometry::default();
                    listed = m.next_value_seed(FeaturesSeed(&mut map.features, &mut map.geom))?;
                }
                CollectionKey::Attribution => map.attribution = m.next_value::<Scalar>()?.into_string(),
                CollectionKey::Other => {
                    m.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok((collection && listed).then_some(map))
    }
}

/// Features of a map taken one at a time as a GeoJSON writer writes them: what
/// [`MapData::from_parts`] puts together in order.
#[derive(Default)]
pub struct MapPart {
    features: Vec<Feature>,
    geom: Geometry,
}

impl MapPart {
    /// A home's feature (a living circle's homes or gaps), its geometry as written and the
    /// `missing_count` written: what the map reads of it from the file ([`MapData::read`]).
    pub fn push_home(&mut self, g: &geo::Geometry<f64>, missing_count: u64) {
        let start = self.geom.shapes.len();
        self.geom.push(g);
        let props = Props { missing_count: Some(missing_count), ..Props::default() };
        self.features.push(Feature { shapes: start..self.geom.shapes.len(), props, bbox: empty_bbox() });
    }
}

impl Geometry {
    /// Appends a geometry's shapes as they are read from its GeoJSON ([`GeometrySeed`]): a
    /// position that JSON cannot hold (not finite, written as `null`) is no position.
    fn push(&mut self, g: &geo::Geometry<f64>) {
        use geo::Geometry as G;
        let positions = |g: &mut Geometry, ls: &geo::LineString<f64>| {
            let from = g.coords.len();
            g.coords.extend(ls.0.iter().filter(|c| c.x.is_finite() && c.y.is_finite()).map(|c| [c.x, c.y]));
            g.end_part(from);
        };
        // (A polygon without exterior positions is written without rings.)
        let polygon = |g: &mut Geometry, p: &geo::Polygon<f64>| {
            let from = g.parts.len();
            if !p.exterior().0.is_empty() {
                positions(g, p.exterior());
                p.interiors().iter().for_each(|r| positions(g, r));
            }
            g.end_shape(Kind::Polygon, from);
        };
        let line = |g: &mut Geometry, ls: &geo::LineString<f64>| {
            let from = g.parts.len();
            positions(g, ls);
            g.end_shape(Kind::Line, from);
        };
        let point = |g: &mut Geometry, p: &geo::Point<f64>| {
            let (from, part) = (g.coords.len(), g.parts.len());
            if p.x().is_finite() && p.y().is_finite() {
                g.coords.push([p.x(), p.y()]);
                g.end_part(from);
                g.end_shape(Kind::Point, part);
            }
        };
        match g {
            G::Point(p) => point(self, p),
            G::MultiPoint(mp) => mp.0.iter().for_each(|p| point(self, p)),
            G::Line(l) => line(self, &geo::LineString::from(*l)),
            G::LineString(ls) => line(self, ls),
            G::MultiLineString(mls) => mls.0.iter().for_each(|ls| line(self, ls)),
            G::Polygon(p) => polygon(self, p),
            G::MultiPolygon(mp) => mp.0.iter().for_each(|p| polygon(self, p)),
            G::Rect(r) => polygon(self, &r.to_polygon()),
            G::Triangle(t) => polygon(self, &t.to_polygon()),
            G::GeometryCollection(gc) => gc.0.iter().for_each(|g| self.push(g)),
        }
    }
}

impl MapData {
    /// Reads a FeatureCollection and projects it at its mean latitude.
    pub fn read(path: &Path) -> Result<MapData> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let mut de = serde_json::Deserializer::from_str(&text);
        let map = CollectionSeed.deserialize(&mut de).and_then(|m| de.end().map(|()| m));
        let Some(map) = map.map_err(|e| bad(path, format!("not JSON: {e}")))? else {
            return Err(bad(path, "not a GeoJSON FeatureCollection".into()));
        };
        drop(text);
        Ok(map.projected())
    }

    /// The map of a FeatureCollection with `attribution` whose features were read, in order, into
    /// `parts`: the map [`MapData::read`] reads from the file.
    pub fn from_parts(parts: Vec<MapPart>, attribution: Option<String>) -> MapData {
        let mut map = MapData { features: Vec::new(), geom: Geometry::default(), attribution, k: 1.0 };
        let g = &mut map.geom;
        for part in parts {
            let at = g.mark();
            let shift = |r: &Range<usize>, by: usize| r.start + by..r.end + by;
            g.coords.extend(part.geom.coords);
            g.parts.extend(part.geom.parts.iter().map(|r| shift(r, at.coords)));
            g.shapes
                .extend(part.geom.shapes.into_iter().map(|s| Shape { kind: s.kind, parts: shift(&s.parts, at.parts) }));
            map.features
                .extend(part.features.into_iter().map(|f| Feature { shapes: shift(&f.shapes, at.shapes), ..f }));
        }
        map.projected()
    }

    /// The map projected at its mean latitude, each feature with its box.
    fn projected(mut self) -> MapData {
        // The map's mean latitude: the middle of its latitude range.
        let lonlat = self.geom.coords.iter().fold(empty_bbox(), |mut b, c| {
            extend(&mut b, *c);
            b
        });
        let lat0 = if lonlat[1].is_finite() { (lonlat[1] + lonlat[3]) / 2.0 } else { 0.0 };
        let k = lat0.to_radians().cos();
        self.k = k;
        self.geom.coords.iter_mut().for_each(|c| c[0] *= k);
        let g = &self.geom;
        for f in &mut self.features {
            for s in &g.shapes[f.shapes.clone()] {
                g.parts(s).flatten().for_each(|c| extend(&mut f.bbox, *c));
            }
        }
        self
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

    /// The map as HTML: panels of inline SVG, a legend and the attribution; `names` gives the
    /// panel captions of features without a name of their own.
    pub fn render(&self, style: MapStyle, names: &Names, context: Option<&Context>) -> String {
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
    fn caption(&self, group: &[usize], names: &Names) -> String {
        let mut seen: Vec<String> = Vec::new();
        for &i in group {
            let p = self.features[i].props.extra();
            // An area's id among the areas' names, a park's (a parcel's park) among the parks':
            // the two are numbered apart, and both may start at 1.
            let (id, table) = match (&p.area_id, &p.park_id) {
                (Some(v), _) => (Some(v), &names.areas),
                (None, v) => (v.as_ref(), &names.parks),
            };
            let id = id.map(|v| match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            });
            let name = p.name.clone().or_else(|| id.as_ref().and_then(|id| table.get(id).cloned())).or(id);
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
        let (ctx, f, cg): (Vec<&Feature>, f64, Option<&Geometry>) = match context {
            Some(c) => {
                let f = self.k / c.map.k;
                let near: Vec<&Feature> = c
                    .map
                    .features
                    .iter()
                    .filter(|cf| cf.drawn())
                    .filter(|cf| intersects([cf.bbox[0] * f, cf.bbox[1], cf.bbox[2] * f, cf.bbox[3]], b))
                    .collect();
                for cf in &near {
                    b = union(b, [cf.bbox[0] * f, cf.bbox[1], cf.bbox[2] * f, cf.bbox[3]]);
                }
                (near, f, Some(&c.map.geom))
            }
            None => (vec![], 1.0, None),
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
            F1(w),
            F1(h)
        );
        let _ = write!(html, "<rect class=\"sea\" x=\"0\" y=\"0\" width=\"{}\" height=\"{}\"/>", F1(w), F1(h));

        // Context first, in grey.
        let (mut polys, mut lines) = (String::new(), String::new());
        for (cf, cg) in ctx.iter().zip(std::iter::repeat(cg).flatten()) {
            let cx = |x: f64| fr.x(x * f);
            polys.clear();
            lines.clear();
            for shape in &cg.shapes[cf.shapes.clone()] {
                match shape.kind {
                    Kind::Polygon => cg.parts(shape).for_each(|r| path_part(&mut polys, r, true, cx, ty)),
                    Kind::Line => cg.parts(shape).for_each(|l| path_part(&mut lines, l, false, cx, ty)),
                    Kind::Point => {
                        if let Some(c) = cg.point(shape) {
                            let _ = write!(
                                html,
                                "<circle class=\"context\" cx=\"{}\" cy=\"{}\" r=\"2.5\" fill=\"{CONTEXT_STROKE}\"/>",
                                F1(cx(c[0])),
                                F1(ty(c[1]))
                            );
                        }
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
        let g = &self.geom;
        let mut d = String::new();
        for pass in 0..3 {
            for &i in &order {
                let f = &self.features[i];
                let p = &paints[i];
                let shapes = &g.shapes[f.shapes.clone()];
                d.clear();
                for s in shapes {
                    match (pass, s.kind) {
                        (0, Kind::Polygon) => g.parts(s).for_each(|r| path_part(&mut d, r, true, tx, ty)),
                        (1, Kind::Line) => g.parts(s).for_each(|l| path_part(&mut d, l, false, tx, ty)),
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
                            F1(p.stroke_width + 2.0)
                        );
                        let _ = write!(
                            html,
                            "<path{class} d=\"{d}\" fill=\"none\" stroke=\"{}\" stroke-width=\"{}\" stroke-linecap=\"round\" stroke-linejoin=\"round\">{tip}</path>",
                            p.stroke,
                            F1(p.stroke_width)
                        );
                    } else {
                        let _ = write!(
                            html,
                            "<path{class} d=\"{d}\" fill=\"{}\" fill-opacity=\"{:.2}\" fill-rule=\"evenodd\" stroke=\"{}\" stroke-width=\"{}\" stroke-linejoin=\"round\">{tip}</path>",
                            p.fill,
                            p.fill_opacity,
                            p.stroke,
                            F1(p.stroke_width)
                        );
                    }
                }
                if pass == 2 {
                    // Points, and a marker on every home polygon of the gaps map, sized by what it misses.
                    for s in shapes {
                        let at = match s.kind {
                            Kind::Point => g.point(s),
                            Kind::Polygon if style == MapStyle::Gaps => g.parts(s).next().map(centre),
                            _ => None,
                        };
                        if let Some(c) = at {
                            let _ = write!(
                                html,
                                "<circle{class} cx=\"{}\" cy=\"{}\" r=\"{}\" fill=\"{}\" fill-opacity=\"{:.2}\" stroke=\"{}\" stroke-width=\"{}\">{tip}</circle>",
                                F1(tx(c[0])),
                                F1(ty(c[1])),
                                F1(p.radius),
                                p.fill,
                                p.fill_opacity.max(0.75),
                                if p.miss { "#ffffff" } else { p.stroke },
                                F1(p.stroke_width.max(0.8))
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
                let e = f.props.extra();
                let Some(name) = e.name.as_deref() else { continue };
                let (x, y) = (tx((f.bbox[0] + f.bbox[2]) / 2.0), ty((f.bbox[1] + f.bbox[3]) / 2.0));
                let value = match style {
                    MapStyle::MeetsTarget => e.density.map(|v| format!("{} km/km²", fmt_num(v))),
                    _ => e.mix_share.map(|v| format!("{:.1}%", 100.0 * v)),
                };
                let _ =
                    write!(html, "<text class=\"label\" x=\"{}\" y=\"{}\">{}</text>", F1(x), F1(y - 2.0), escape(name));
                if let Some(v) = value {
                    let _ = write!(
                        html,
                        "<text class=\"label value\" x=\"{}\" y=\"{}\">{}</text>",
                        F1(x),
                        F1(y + 15.0),
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
                (false, Some(r)) => ("swatch dot", format!(";width:{0}px;height:{0}px", F1(2.0 * r))),
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
fn tooltip(style: MapStyle, p: &Props) -> String {
    let e = p.extra();
    let id = |v: &Option<Value>| v.as_ref().and_then(Value::as_str).map(str::to_string);
    let t = match style {
        MapStyle::MeetsTarget => Some(format!(
            "{}: {} km/km²",
            e.name.clone().or_else(|| id(&e.area_id)).unwrap_or_default(),
            e.density.map(fmt_num).unwrap_or_default()
        )),
        MapStyle::DensityGrid => e.density.map(|d| format!("{} km/km²", fmt_num(d))),
        MapStyle::WideRoads => Some(format!(
            "{} {} m > {} m",
            e.grade.as_deref().unwrap_or_default(),
            e.width.map(fmt_num).unwrap_or_default(),
            e.max_width.map(fmt_num).unwrap_or_default()
        )),
        MapStyle::ParkStatus => Some(format!(
            "{}: {}",
            e.name.clone().or_else(|| id(&e.park_id)).unwrap_or_default(),
            e.status.as_deref().unwrap_or_default()
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
fn path_part(d: &mut String, coords: &[[f64; 2]], closed: bool, tx: impl Fn(f64) -> f64, ty: impl Fn(f64) -> f64) {
    let start = d.len();
    let mut n = 0;
    let mut last = (0.0, 0.0);
    for c in coords {
        let p = (tx(c[0]), ty(c[1]));
        let near = near(p, last);
        if n == 0 || !near {
            vertex(d, n, p);
            (n, last) = (n + 1, p);
        }
    }
    // Keep a line's true end point.
    if let (false, Some(c)) = (closed, coords.last()) {
        let end = (tx(c[0]), ty(c[1]));
        if n == 0 || last != end {
            vertex(d, n, end);
            n += 1;
        }
    }
    if n < if closed { 3 } else { 2 } {
        d.truncate(start);
    } else if closed {
        d.push('Z');
    }
}

/// Whether two points are closer than [`MIN_STEP`], by their distance as `hypot` gives it (and
/// only computed so where the squared distance leaves a doubt).
fn near(p: (f64, f64), q: (f64, f64)) -> bool {
    let (dx, dy) = (p.0 - q.0, p.1 - q.1);
    let d2 = dx * dx + dy * dy;
    if d2 < 0.99 * MIN_STEP * MIN_STEP {
        true
    } else if d2 > 1.01 * MIN_STEP * MIN_STEP {
        false
    } else {
        dx.hypot(dy) < MIN_STEP
    }
}

/// The `n`-th vertex of a path part.
fn vertex(d: &mut String, n: usize, (x, y): (f64, f64)) {
    d.push_str(match n {
        0 => "M",
        1 => "L",
        _ => " ",
    });
    put1(d, x);
    d.push(' ');
    put1(d, y);
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
        F1(x),
        F1(y),
        F1(len),
        F1(x),
        F1(y),
        F1(len / 2.0),
        F1(x),
        F1(y - 5.0),
        label
    );
}

fn north_arrow(html: &mut String, fr: &Frame) {
    let x = fr.w - 22.0;
    let _ = write!(
        html,
        "<g class=\"north\"><path d=\"M{} 8L{} 28L{} 24L{} 28Z\" fill=\"#333\"/><text x=\"{}\" y=\"40\">N</text></g>",
        F1(x),
        F1(x + 7.0),
        F1(x),
        F1(x - 7.0),
        F1(x)
    );
}

/// One decimal, without a negative zero.
fn put1(out: &mut String, v: f64) {
    let _ = write1(out, v);
}

fn write1<W: fmt::Write + ?Sized>(w: &mut W, v: f64) -> fmt::Result {
    let t = (v * 10.0).round();
    if t.is_nan() || t.abs() >= 1e15 {
        // Far outside any panel, or not a number.
        let r = t / 10.0;
        return if r.fract() == 0.0 { write!(w, "{r:.0}") } else { write!(w, "{r:.1}") };
    }
    if t == 0.0 {
        return w.write_str("0");
    }
    // Tenths as a whole number below 10^15, written backwards: "-123.4", "-12", "0.5".
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    let mut n = t.abs() as u64;
    if n % 10 != 0 {
        i -= 2;
        buf[i] = b'.';
        buf[i + 1] = b'0' + (n % 10) as u8;
    }
    n /= 10;
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    if t < 0.0 {
        i -= 1;
        buf[i] = b'-';
    }
    w.write_str(std::str::from_utf8(&buf[i..]).map_err(|_| fmt::Error)?)
}

/// A number written with one decimal, without a negative zero.
struct F1(f64);

impl fmt::Display for F1 {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write1(f, self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    /// A map made from homes as they are written is the map read back from their file: the same
    /// positions, parts, shapes and boxes, whatever the geometry, split into parts anywhere.
    #[test]
    fn homes_taken_as_written_are_the_homes_read_back() {
        use geo::{line_string, point, polygon, Coord};
        let square =
            |x: f64, y: f64| polygon![(x: x, y: y), (x: x + 0.01, y: y), (x: x + 0.01, y: y + 0.01), (x: x, y: y)];
        let holed: geo::Polygon<f64> = geo::Polygon::new(
            square(116.5, 31.7).exterior().clone(),
            vec![
                line_string![(x: 116.502, y: 31.701), (x: 116.503, y: 31.701), (x: 116.503, y: 31.702), (x: 116.502, y: 31.701)],
            ],
        );
        let homes: Vec<(geo::Geometry<f64>, u64)> = vec![
            (square(116.4, 31.6).into(), 0),
            (holed.clone().into(), 2),
            (geo::MultiPolygon(vec![square(116.45, 31.65), square(116.47, 31.66)]).into(), 1),
            (point!(x: 116.41, y: 31.61).into(), 3),
            (geo::MultiPoint(vec![point!(x: 116.42, y: 31.62), point!(x: f64::NAN, y: 31.0)]).into(), 5),
            (line_string![(x: 116.43, y: 31.63), (x: 116.44, y: 31.64)].into(), 1),
            (geo::Geometry::Rect(geo::Rect::new(Coord { x: 116.3, y: 31.5 }, Coord { x: 116.31, y: 31.52 })), 0),
            (
                geo::Geometry::GeometryCollection(geo::GeometryCollection(vec![
                    point!(x: 116.6, y: 31.8).into(),
                    square(116.61, 31.81).into(),
                ])),
                4,
            ),
            (geo::Polygon::new(geo::LineString(vec![]), vec![]).into(), 1),
            (line_string![(x: f64::INFINITY, y: 31.0)].into(), 2),
            (
                geo::MultiPolygon(vec![geo::Polygon::new(geo::LineString(vec![]), vec![]), square(116.2, 31.2)]).into(),
                1,
            ),
            (geo::Line::new(Coord { x: 116.1, y: 31.1 }, Coord { x: 116.11, y: 31.12 }).into(), 0),
            (
                geo::Triangle::new(
                    Coord { x: 116.0, y: 31.0 },
                    Coord { x: 116.01, y: 31.0 },
                    Coord { x: 116.0, y: 31.01 },
                )
                .into(),
                2,
            ),
            (
                geo::MultiLineString(vec![
                    line_string![(x: 116.7, y: 31.9), (x: 116.71, y: 31.9)],
                    geo::LineString(vec![]),
                ])
                .into(),
                1,
            ),
            (geo::MultiPoint::<f64>(vec![]).into(), 0),
            (
                geo::Geometry::GeometryCollection(geo::GeometryCollection(vec![
                    geo::Geometry::GeometryCollection(geo::GeometryCollection(vec![point!(x: 116.8, y: 32.0).into()])),
                    line_string![(x: 116.8, y: 32.0), (x: 116.81, y: 32.01)].into(),
                ])),
                3,
            ),
            (geo::Polygon::new(geo::LineString(vec![]), vec![holed.interiors()[0].clone()]).into(), 1),
            (
                polygon![(x: 116.9, y: 32.1), (x: f64::NAN, y: 32.1), (x: 116.91, y: 32.11), (x: 116.9, y: 32.1)]
                    .into(),
                2,
            ),
        ];
        let features: Vec<String> = homes
            .iter()
            .map(|(g, n)| {
                let geometry = serde_json::to_string(&geojson::Geometry::from(g)).unwrap();
                format!(r#"{{"type":"Feature","geometry":{geometry},"properties":{{"id":"x","missing_count":{n}}}}}"#)
            })
            .collect();
        let dir = tempfile::tempdir().unwrap();
        let text = format!(r#"{{"type":"FeatureCollection","features":[{}]}}"#, features.join(",\n"));
        let read = MapData::read(&write(dir.path(), "homes.geojson", &text)).unwrap();
        for split in [0, 1, 4, homes.len()] {
            let parts = [&homes[..split], &homes[split..]].map(|half| {
                let mut part = MapPart::default();
                half.iter().for_each(|(g, n)| part.push_home(g, *n));
                part
            });
            let made = MapData::from_parts(parts.into(), None);
            assert_eq!(made.geom.coords, read.geom.coords, "split at {split}");
            assert_eq!(made.geom.parts, read.geom.parts, "split at {split}");
            let shapes = |m: &MapData| m.geom.shapes.iter().map(|s| (s.kind, s.parts.clone())).collect::<Vec<_>>();
            assert_eq!(shapes(&made), shapes(&read), "split at {split}");
            let features = |m: &MapData| {
                m.features.iter().map(|f| (f.shapes.clone(), f.bbox, f.props.missing_count())).collect::<Vec<_>>()
            };
            assert_eq!(features(&made), features(&read), "split at {split}");
            assert!((made.k - read.k).abs() < 1e-15);
            for style in [MapStyle::Coverage, MapStyle::Gaps] {
                assert_eq!(made.render(style, &Names::default(), None), read.render(style, &Names::default(), None));
            }
        }
        assert_eq!(read.features.len(), homes.len());
        let empty_polygon = &read.geom.shapes[read.features[8].shapes.clone()];
        assert!(empty_polygon.len() == 1 && empty_polygon[0].parts.is_empty(), "a polygon of no rings");
    }

    #[test]
    fn separate_towns_get_one_panel_each() {
        let dir = tempfile::tempdir().unwrap();
        // A square of 0.02° with these properties.
        let feature = |x: f64, y: f64, properties: String| {
            format!(
                r#"{{"type":"Feature","geometry":{{"type":"Polygon","coordinates":[[[{x},{y}],[{},{y}],[{},{}],[{x},{}],[{x},{y}]]]}},"properties":{properties}}}"#,
                x + 0.02,
                x + 0.02,
                y + 0.02,
                y + 0.02
            )
        };
        let square = |x: f64, y: f64, id: &str, met: bool| {
            feature(x, y, format!(r#"{{"area_id":"{id}","meets_target":{met}}}"#))
        };
        let text = format!(
            r#"{{"type":"FeatureCollection","features":[{},{}]}}"#,
            square(116.5, 31.7, "1", true),
            square(116.2, 31.3, "2", false)
        );
        let map = MapData::read(&write(dir.path(), "a.geojson", &text)).unwrap();
        assert_eq!(map.panels(), vec![vec![0], vec![1]]);
        // A park numbered as an area is: areas are captioned with the areas' names.
        let names = Names {
            areas: BTreeMap::from([("2".to_string(), "<县城>".to_string())]),
            parks: BTreeMap::from([("2".to_string(), "园区二".to_string()), ("1".to_string(), "园区一".to_string())]),
        };
        let html = map.render(MapStyle::MeetsTarget, &names, None);
        assert_eq!(html.matches("<svg").count(), 2);
        assert!(html.contains("&lt;县城&gt;"), "captions are escaped");
        assert!(!html.contains("园区"), "areas captioned with parks' names: {html}");
        assert_eq!(html.matches("class=\"miss\"").count(), 1);

        // Park parcels (a `park_id`, no name of their own) are captioned with their parks' names,
        // not with the names of the areas that share their ids.
        let parcel =
            |x: f64, y: f64, park: &str| feature(x, y, format!(r#"{{"park_id":"{park}","category":"residential"}}"#));
        let text = format!(
            r#"{{"type":"FeatureCollection","features":[{},{}]}}"#,
            parcel(116.5, 31.7, "1"),
            parcel(116.2, 31.3, "2")
        );
        let map = MapData::read(&write(dir.path(), "parcels.geojson", &text)).unwrap();
        let html = map.render(MapStyle::ParkParcels, &names, None);
        let captions: Vec<&str> =
            html.split("panel-caption\">").skip(1).map(|c| c.split('<').next().unwrap_or("")).collect();
        assert_eq!(captions.len(), 2, "{html}");
        assert!(captions.iter().all(|c| c.starts_with("园区")), "parcels captioned {captions:?}");
        assert!(captions.contains(&"园区一") && captions.contains(&"园区二"), "{captions:?}");

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
        let html = map.render(MapStyle::Coverage, &Names::default(), None);
        assert_eq!(html.matches("<circle").count(), 2);
        assert_eq!(html.matches("<circle class=\"miss\"").count(), 1);
        // Legend counts: one covered, one missing two needs; the feature without geometry is not counted.
        assert!(html.contains("齐全 all facilities reached <span class=\"count\">(1)</span>"), "{html}");
        assert!(html.contains("missing 2 needs <span class=\"count\">(1)</span>"), "{html}");
        assert!(html.contains("missing 1 need <span class=\"count\">(0)</span>"), "{html}");
    }

    #[test]
    fn not_geojson_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(dir.path(), "bad.geojson", "{\"type\":\"Feature\"");
        let err = MapData::read(&p).err().expect("an error");
        assert!(err.to_string().contains("bad.geojson"), "{err}");
    }

    /// Per feature, its shapes: kind (`A`rea, `L`ine, `P`oint) and parts in longitude/latitude.
    type Shapes = Vec<Vec<(char, Vec<Vec<[f64; 2]>>)>>;

    fn shapes(map: &MapData) -> Shapes {
        let g = &map.geom;
        map.features
            .iter()
            .map(|f| {
                g.shapes[f.shapes.clone()]
                    .iter()
                    .map(|s| {
                        let kind = match s.kind {
                            Kind::Polygon => 'A',
                            Kind::Line => 'L',
                            Kind::Point => 'P',
                        };
                        let parts = g.parts(s).map(|p| p.iter().map(|c| [c[0] / map.k, c[1]]).collect()).collect();
                        (kind, parts)
                    })
                    .collect()
            })
            .collect()
    }

    #[test]
    fn members_are_read_in_any_order_and_anything_unexpected_is_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let text = r#"{"features":[
            {"properties":{"missing":{"a":1,"b":[2],"a":3},"x":{"y":[1,{"z":null}]}},"geometry":{"coordinates":[[[0,0],[1,0],[1,1],[0,0]],"ring?",[[2,2,9],[3,2,"m"],[3,3],["x",1]]],"type":"Polygon","bbox":[0,0,3,3]}},
            {"type":"Feature","geometry":{"type":"MultiPoint","coordinates":[[1,2],[3],[4,5.5]]},"properties":null},
            {"type":"Feature","geometry":{"type":"LineString"},"properties":[1,2]},
            {"type":"Feature","geometry":{"geometries":[{"type":"Point","coordinates":[7,8]},{"coordinates":[[9,9],[10,10]],"type":"LineString"},"x"],"type":"GeometryCollection"}},
            {"type":"Feature","geometry":{"type":"MultiLineString","coordinates":[[[0,1],[1,1]],3,[]]},"geometry":{"type":"MultiPolygon","coordinates":[[[[5,5],[6,5],[6,6],[5,5]]],7]}},
            "not a feature",
            {"type":"Feature","geometry":[1,2],"properties":{"missing_count":-1,"missing":[1,2,3]}},
            {"type":"Feature","geometry":{"type":"Point","coordinates":[1,"2"]},"properties":{"missing_count":2.0,"missing":[]}}
        ],"attribution":7,"type":"FeatureCollection","attribution":"© A <b>"}"#;
        let map = MapData::read(&write(dir.path(), "any.geojson", text)).unwrap();
        assert_eq!(map.attribution.as_deref(), Some("© A <b>"));
        let ring = |c: &[[f64; 2]]| c.to_vec();
        let got = shapes(&map);
        let want: Shapes = vec![
            vec![(
                'A',
                vec![
                    ring(&[[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 0.0]]),
                    vec![],
                    ring(&[[2.0, 2.0], [3.0, 2.0], [3.0, 3.0]]),
                ],
            )],
            vec![('P', vec![ring(&[[1.0, 2.0]])]), ('P', vec![ring(&[[4.0, 5.5]])])],
            vec![('L', vec![vec![]])],
            vec![('P', vec![ring(&[[7.0, 8.0]])]), ('L', vec![ring(&[[9.0, 9.0], [10.0, 10.0]])])],
            vec![('A', vec![ring(&[[5.0, 5.0], [6.0, 5.0], [6.0, 6.0], [5.0, 5.0]])]), ('A', vec![])],
            vec![],
            vec![],
            vec![],
        ];
        assert_eq!(got.len(), want.len());
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            assert_eq!(g.len(), w.len(), "feature {i}");
            for ((gk, gp), (wk, wp)) in g.iter().zip(w) {
                assert_eq!(gk, wk, "feature {i}");
                let lens = |p: &Vec<Vec<[f64; 2]>>| p.iter().map(Vec::len).collect::<Vec<_>>();
                assert_eq!(lens(gp), lens(wp), "feature {i}");
                for (a, b) in gp.iter().flatten().zip(wp.iter().flatten()) {
                    assert!((a[0] - b[0]).abs() < 1e-12 && a[1] == b[1], "feature {i}: {a:?} {b:?}");
                }
            }
        }
        // `missing` counts as a list or by the distinct keys of an object; `missing_count` only as
        // a whole number that is not negative.
        let missing: Vec<Option<u64>> = map.features.iter().map(|f| f.props.missing_count()).collect();
        assert_eq!(missing, [Some(2), None, None, None, None, None, Some(3), Some(0)]);
    }

    #[test]
    fn member_order_does_not_change_the_map() {
        let dir = tempfile::tempdir().unwrap();
        let feature = |id: u32, x: f64, canonical: bool| {
            let geometry = format!(r#"[[[{x},31.7],[{},31.7],[{},31.71],[{x},31.7]]]"#, x + 0.01, x + 0.01);
            let props = format!(
                r#"{{"area_id":"{id}","name":"n{id}","meets_target":{},"density_km_per_km2":{}.25}}"#,
                id % 2 == 0,
                id
            );
            if canonical {
                format!(
                    r#"{{"type":"Feature","geometry":{{"type":"Polygon","coordinates":{geometry}}},"properties":{props}}}"#
                )
            } else {
                format!(
                    r#"{{"properties":{props},"geometry":{{"coordinates":{geometry},"type":"Polygon"}},"type":"Feature"}}"#
                )
            }
        };
        let collection = |canonical: bool| {
            let features: Vec<String> = (0..6).map(|i| feature(i, 116.5 + 0.013 * f64::from(i), canonical)).collect();
            format!(r#"{{"type":"FeatureCollection","features":[{}]}}"#, features.join(","))
        };
        let a = MapData::read(&write(dir.path(), "a.geojson", &collection(true))).unwrap();
        let b = MapData::read(&write(dir.path(), "b.geojson", &collection(false))).unwrap();
        let html = |m: &MapData| m.render(MapStyle::MeetsTarget, &Names::default(), None);
        assert_eq!(html(&a), html(&b));
        assert!(html(&a).contains("<title>n3: 3.25 km/km²</title>"));
    }

    #[test]
    fn numbers_are_stable() {
        let fmt1 = |v: f64| F1(v).to_string();
        assert_eq!(fmt1(-0.04), "0");
        assert_eq!(fmt1(12.0), "12");
        assert_eq!(fmt1(12.349), "12.3");
        assert_eq!(fmt1(-0.06), "-0.1");
        assert_eq!(fmt1(-1234.56), "-1234.6");
        assert_eq!(fmt1(f64::NAN), "NaN");
        // As `format!` rounds: tenths as a float, whole numbers without a decimal.
        let reference = |v: f64| {
            let r = (v * 10.0).round() / 10.0;
            if r == 0.0 {
                "0".to_string()
            } else if r.fract() == 0.0 {
                format!("{r:.0}")
            } else {
                format!("{r:.1}")
            }
        };
        let mut x = 0x2545_f491_4f6c_dd1d_u64;
        for i in 0..200_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let v = (x as f64 / u64::MAX as f64 - 0.5) * 10f64.powi(i % 17 - 2);
            assert_eq!(fmt1(v), reference(v), "{v:e}");
        }
        for v in [0.05, -0.05, 0.95, 9.95, 1e14, -1e14, 1e16, f64::INFINITY, 5e-324] {
            assert_eq!(fmt1(v), reference(v), "{v:e}");
        }
    }
}
