//! Ingest: read any OGR layer into plain `geo` geometries with the attributes a role needs.
//!
//! This folder is the only place that talks to GDAL. What leaves it is a [`RawLayer`]: features in
//! the layer's own coordinates, the layer's CRS as WKT, the requested attributes as text, and the
//! count of every feature that was repaired or skipped, with the reason.

pub mod arrow;
pub mod read;
pub mod wkb;
pub mod write;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

pub use read::{layer_names, read_layer};

/// Where a layer comes from: `DATASET` or `DATASET#LAYER`.
///
/// The dataset is anything GDAL opens (a path, or a connection string such as `PG:dbname=x`).
/// The layer is taken after the last `#`, unless the whole text names an existing file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerSource {
    pub dataset: String,
    pub layer: Option<String>,
}

impl LayerSource {
    /// Parses `DATASET` or `DATASET#LAYER`.
    ///
    /// ```
    /// use planaudit::ingest::LayerSource;
    /// let s = LayerSource::parse("data/liechtenstein-2015.osm.pbf#lines");
    /// assert_eq!(s.dataset, "data/liechtenstein-2015.osm.pbf");
    /// assert_eq!(s.layer.as_deref(), Some("lines"));
    /// assert_eq!(LayerSource::parse("PG:dbname=gis").layer, None);
    /// ```
    pub fn parse(text: &str) -> LayerSource {
        if std::path::Path::new(text).exists() {
            return LayerSource { dataset: text.to_string(), layer: None };
        }
        match text.rsplit_once('#') {
            Some((dataset, layer)) if !dataset.is_empty() && !layer.is_empty() => {
                LayerSource { dataset: dataset.to_string(), layer: Some(layer.to_string()) }
            }
            _ => LayerSource { dataset: text.to_string(), layer: None },
        }
    }

    /// Whether the source is a Shapefile (the one format whose text encoding is the reader's to
    /// give: [`LayerSource::shapefile`]), and whether it has a `.cpg` saying which it is; `None`
    /// for a format that is no Shapefile. A source that may hold one whose `.cpg` cannot be seen
    /// (a zipped Shapefile, a folder GDAL reads otherwise) counts as one without.
    pub fn shapefile_has_cpg(&self) -> Option<bool> {
        if let Some(shp) = self.shapefile() {
            return Some(read::side_file(&shp, "cpg").is_some());
        }
        let d = self.dataset.to_ascii_lowercase();
        let other = OTHER_FORMATS.iter().any(|ext| d.ends_with(ext)) || d.starts_with("pg:");
        (!other).then_some(false)
    }

    /// The Shapefile (its `.shp`, or a lone `.dbf`) the source reads: the dataset itself, a
    /// folder's layer, or the only Shapefile in a folder named without a layer.
    pub fn shapefile(&self) -> Option<PathBuf> {
        let path = Path::new(&self.dataset);
        let ext = path.extension().map(|e| e.to_ascii_lowercase());
        if matches!(ext.as_deref().and_then(|e| e.to_str()), Some("shp" | "dbf")) {
            return Some(path.to_path_buf());
        }
        if !path.is_dir() {
            return None;
        }
        let is_shp = |p: &Path| p.extension().is_some_and(|e| e.eq_ignore_ascii_case("shp")) && p.is_file();
        let mut shps = std::fs::read_dir(path).ok()?.flatten().map(|e| e.path()).filter(|p| is_shp(p));
        match &self.layer {
            Some(layer) => shps.find(|p| p.file_stem().is_some_and(|s| s.to_string_lossy() == layer.as_str())),
            None => shps.next().filter(|_| shps.next().is_none()),
        }
    }

    /// True when the dataset is OpenStreetMap data (its outputs must carry the ODbL attribution).
    pub fn is_osm(&self) -> bool {
        let d = self.dataset.to_ascii_lowercase();
        d.ends_with(".osm.pbf") || d.ends_with(".osm") || d.ends_with(".pbf")
    }
}

impl fmt::Display for LayerSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.layer {
            Some(l) => write!(f, "{}#{}", self.dataset, l),
            None => write!(f, "{}", self.dataset),
        }
    }
}

/// The endings of datasets in formats other than Shapefile, whose text encoding the format itself
/// defines.
const OTHER_FORMATS: [&str; 19] = [
    ".gpkg",
    ".geojson",
    ".json",
    ".geojsonl",
    ".geojsons",
    ".fgb",
    ".gdb",
    ".osm",
    ".pbf",
    ".kml",
    ".kmz",
    ".csv",
    ".sqlite",
    ".db",
    ".gml",
    ".dxf",
    ".gpx",
    ".tab",
    ".mif",
];

/// The geometry a role needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GeomKind {
    /// LineString / MultiLineString (roads).
    Lines,
    /// Polygon / MultiPolygon (areas, parcels, parks).
    Polygons,
    /// Point / MultiPoint; polygons are accepted and reduced to their centroid later.
    PointsOrPolygons,
}

impl GeomKind {
    pub fn describe(self) -> &'static str {
        match self {
            GeomKind::Lines => "line",
            GeomKind::Polygons => "polygon",
            GeomKind::PointsOrPolygons => "point or polygon",
        }
    }
}

/// What to read and how.
#[derive(Debug, Clone)]
pub struct LayerSpec {
    pub source: LayerSource,
    /// OGR attribute filter (`--roads-where`).
    pub filter: Option<String>,
    /// Shapefile encoding override (`--encoding GBK`); `.cpg` is honoured without it.
    pub encoding: Option<String>,
    /// The role, for messages: `roads`, `areas`, ...
    pub role: String,
    /// Fields to read, by name. A name the layer lacks is looked up among OSM `other_tags`
    /// when the layer has that column, and is otherwise an error that lists the fields.
    pub fields: Vec<String>,
    /// Optional fields: read when present, `None` for every feature when not.
    pub optional_fields: Vec<String>,
    /// Whether the fields are alternatives for one value (a facility's type or a parcel's class,
    /// from the first field that has one): an OSM tag no feature has is then no error while
    /// another of the fields has values. Otherwise each required field must be there.
    pub alternatives: bool,
    pub geom: GeomKind,
    /// Read only the features that meet one of these boxes (GDAL's spatial filter), through the
    /// layer's spatial index, when it has one and the boxes are in its CRS; `None` reads every
    /// feature.
    pub within: Option<Within>,
}

/// Boxes that bound what a read needs (the parks' boxes for their parcels). The features outside
/// them are not read: the layer report counts them under `not_read`, with `reason`.
#[derive(Debug, Clone, PartialEq)]
pub struct Within {
    /// In the coordinates of the layer's own CRS.
    pub boxes: Vec<geo::Rect<f64>>,
    /// The WKT of the CRS of the boxes, which must be the layer's for the boxes to be used;
    /// `None` when the caller knows the layer to be in the boxes' CRS (both given one override).
    pub crs_wkt: Option<String>,
    /// Why the features not read are not needed, for the report: "outside every park's box, or
    /// without geometry" (features without geometry are in no index).
    pub reason: String,
}

/// One feature as read: geometry in the layer's own coordinates, and the requested attributes in
/// the order of `LayerSpec::fields` followed by `LayerSpec::optional_fields`.
#[derive(Debug, Clone)]
pub struct RawFeature {
    pub fid: u64,
    pub geometry: geo::Geometry<f64>,
    pub attrs: Vec<Option<String>>,
}

/// Counts of what happened to a layer's features. Nothing is dropped without being counted here.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct LayerReport {
    /// `dataset#layer`.
    pub layer: String,
    /// What the layer is read as (`roads`, `areas`, `origins`, ...): one dataset may be read for
    /// several.
    pub role: String,
    /// Features the layer returned (after the attribute filter).
    pub read: u64,
    /// Features kept for the computation.
    pub used: u64,
    /// Features repaired and kept (an invalid polygon made valid, an unclosed ring closed,
    /// duplicate vertices removed); a feature with several repairs counts once, and one skipped
    /// after its repair is counted as skipped only.
    pub repaired: u64,
    /// Repairs by kind; a feature with several repairs counts under each.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub repairs: BTreeMap<String, u64>,
    /// Features skipped, by reason.
    pub skipped: BTreeMap<String, u64>,
    /// Features not read because the computation does not need them (outside the boxes of
    /// [`Within`]), by reason; not counted in `read`.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub not_read: BTreeMap<String, u64>,
    /// Features kept with an attribute that could not be used (a width that is not a number, ...), by reason.
    pub flagged: BTreeMap<String, u64>,
    /// The first few skipped or repaired features, with fid and reason.
    pub examples: Vec<String>,
    /// Doubts about the layer as a whole (text that looks wrongly decoded, ...), printed on
    /// stderr as warnings.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// The repairs of each feature counted in `repaired`, to take back if it is skipped later
    /// (a repaired polygon found out of range, or without area, once converted).
    #[serde(skip)]
    repaired_fids: std::collections::HashMap<u64, Vec<String>>,
}

/// How many example messages a report keeps.
pub const MAX_EXAMPLES: usize = 20;

impl LayerReport {
    /// Counts one skipped feature; a feature repaired before is no longer counted as repaired (nor
    /// are its repairs), and the examples of its repairs say that it was skipped after all.
    pub fn skip(&mut self, fid: u64, reason: &str) {
        *self.skipped.entry(reason.to_string()).or_insert(0) += 1;
        if let Some(repairs) = self.repaired_fids.remove(&fid) {
            self.repaired -= 1;
            for r in &repairs {
                let example = format!("feature {fid}: {r}");
                if let Some(e) = self.examples.iter_mut().find(|e| **e == example) {
                    e.push_str(&format!(" (then skipped: {reason})"));
                }
            }
            for r in repairs {
                if let Some(n) = self.repairs.get_mut(&r) {
                    *n -= 1;
                    if *n == 0 {
                        self.repairs.remove(&r);
                    }
                }
            }
        }
        self.example(format!("feature {fid}: skipped: {reason}"));
    }

    /// Counts one repair of a kept feature. Call once per repair; the feature counts once in
    /// `repaired` however many repairs it needed.
    pub fn repair(&mut self, fid: u64, reason: &str) {
        *self.repairs.entry(reason.to_string()).or_insert(0) += 1;
        let repairs = self.repaired_fids.entry(fid).or_default();
        if repairs.is_empty() {
            self.repaired += 1;
        }
        repairs.push(reason.to_string());
        self.example(format!("feature {fid}: {reason}"));
    }

    /// Counts one kept feature with an unusable attribute.
    pub fn flag(&mut self, fid: u64, reason: &str) {
        *self.flagged.entry(reason.to_string()).or_insert(0) += 1;
        self.example(format!("feature {fid}: {reason}"));
    }

    /// Records an example message (bounded).
    pub fn example(&mut self, msg: String) {
        if self.examples.len() < MAX_EXAMPLES {
            self.examples.push(msg);
        }
    }

    /// Total skipped features.
    pub fn skipped_total(&self) -> u64 {
        self.skipped.values().sum()
    }
}

/// A layer as read from GDAL.
#[derive(Debug, Clone)]
pub struct RawLayer {
    pub source: LayerSource,
    /// The layer's name inside the dataset.
    pub layer_name: String,
    /// The layer's CRS as WKT, if it has one.
    pub crs_wkt: Option<String>,
    pub features: Vec<RawFeature>,
    /// Which optional fields exist.
    pub optional_present: Vec<bool>,
    /// The fields, required or optional, that are no column and were looked up among the OSM
    /// `other_tags`, which no feature read has.
    pub absent_tags: Vec<String>,
    pub report: LayerReport,
    /// The PROJ definition of the CRS the features are still in, when their conversion to
    /// longitude/latitude is put off until the frame is known (a layer already in the frame's CRS
    /// is then kept as it is); `None` once they are in longitude/latitude.
    pub pending_crs: Option<String>,
    /// The extent of the whole layer as GDAL states it, in the layer's own coordinates, when only
    /// part of it was read ([`LayerSpec::within`]): what the layer covers, for the checks that
    /// compare layers; `None` once the coordinates are converted.
    pub extent: Option<geo::Rect<f64>>,
}

impl RawLayer {
    /// `dataset#layer` for messages.
    pub fn label(&self) -> String {
        format!("{}#{}", self.source.dataset, self.layer_name)
    }
}

/// Parses the hstore text GDAL's OSM driver writes into `other_tags`:
/// `"key"=>"value","key2"=>"value2"`, with `\"` and `\\` escapes.
///
/// ```
/// use planaudit::ingest::parse_other_tags;
/// let tags = parse_other_tags(r#""foot"=>"no","name:zh"=>"路 \"A\"""#);
/// assert_eq!(tags.get("foot").map(String::as_str), Some("no"));
/// assert_eq!(tags.get("name:zh").map(String::as_str), Some("路 \"A\""));
/// ```
pub fn parse_other_tags(text: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut chars = text.chars().peekable();
    loop {
        // Skip separators up to the next quoted key.
        while let Some(&c) = chars.peek() {
            if c == '"' {
                break;
            }
            chars.next();
        }
        let Some(key) = read_quoted(&mut chars) else { break };
        // Expect =>
        while let Some(&c) = chars.peek() {
            if c == '"' {
                break;
            }
            chars.next();
        }
        let Some(value) = read_quoted(&mut chars) else { break };
        out.insert(key, value);
    }
    out
}

fn read_quoted(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) -> Option<String> {
    if chars.next()? != '"' {
        return None;
    }
    let mut s = String::new();
    loop {
        match chars.next()? {
            '\\' => s.push(chars.next()?),
            '"' => return Some(s),
            c => s.push(c),
        }
    }
}

/// The files a Shapefile is read from besides its `.shp` (attributes, index, CRS, encoding, spatial
/// indexes, metadata).
pub const SHAPEFILE_PARTS: [&str; 8] = ["shp", "dbf", "shx", "prj", "cpg", "qix", "sbn", "sbx"];

/// Whether `file` is one of the files of the Shapefile `shp` (a `.shp` path): the same folder and
/// name, with one of [`SHAPEFILE_PARTS`] or `.shp.xml`, in any case.
pub fn is_shapefile_part(shp: &Path, file: &Path) -> bool {
    let ext = |p: &Path| p.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
    if ext(shp).as_deref() != Some("shp") || shp.parent() != file.parent() {
        return false;
    }
    let (Some(stem), Some(name)) = (shp.file_stem(), file.file_name().and_then(|n| n.to_str())) else { return false };
    let stem = stem.to_string_lossy();
    let Some(rest) = name.strip_prefix(&*stem).and_then(|r| r.strip_prefix('.')) else { return false };
    let rest = rest.to_ascii_lowercase();
    SHAPEFILE_PARTS.contains(&rest.as_str()) || rest == "shp.xml"
}

/// The files of the Shapefile `shp` that exist, `shp` first, then the others by name: its side
/// files in whatever case they were delivered (`BUA.SHP` with `BUA.DBF`, `BUA.prj`).
pub fn shapefile_files(shp: &Path) -> Vec<PathBuf> {
    let dir = shp.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let mut parts: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| shp.with_file_name(entry.file_name()))
        .filter(|p| p != shp && is_shapefile_part(shp, p) && p.is_file())
        .collect();
    parts.sort();
    std::iter::once(shp.to_path_buf()).filter(|p| p.exists()).chain(parts).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_without_layer() {
        let s = LayerSource::parse("roads.gpkg");
        assert_eq!(s.dataset, "roads.gpkg");
        assert!(s.layer.is_none());
        assert_eq!(s.to_string(), "roads.gpkg");
    }

    #[test]
    fn source_with_colons_and_layer() {
        let s = LayerSource::parse("PG:host=localhost dbname=city#public.roads");
        assert_eq!(s.dataset, "PG:host=localhost dbname=city");
        assert_eq!(s.layer.as_deref(), Some("public.roads"));
    }

    #[test]
    fn a_repaired_feature_skipped_later_is_no_longer_counted_as_repaired() {
        let mut r = LayerReport::default();
        r.repair(3, "ring closed");
        r.repair(3, "made valid");
        r.repair(5, "made valid");
        assert_eq!((r.repaired, r.repairs.len()), (2, 2));
        r.skip(3, "coordinate out of range");
        assert_eq!(r.repaired, 1);
        assert_eq!(r.repairs, BTreeMap::from([("made valid".to_string(), 1)]));
        // A feature never repaired: the repairs stay.
        r.skip(4, "no area");
        assert_eq!((r.repaired, r.skipped_total()), (1, 2));
        r.skip(5, "no area");
        assert_eq!((r.repaired, r.repairs.len(), r.skipped_total()), (0, 0, 3));
        // The examples keep what happened, in order, a repair saying that its feature was skipped.
        assert_eq!(r.examples.len(), 6);
        assert_eq!(r.examples[0], "feature 3: ring closed (then skipped: coordinate out of range)");
        assert_eq!(r.examples[1], "feature 3: made valid (then skipped: coordinate out of range)");
        assert_eq!(r.examples[2], "feature 5: made valid (then skipped: no area)");
        assert_eq!(r.examples[3], "feature 3: skipped: coordinate out of range");
    }

    #[test]
    fn other_tags_truncated_or_empty() {
        assert!(parse_other_tags("").is_empty());
        let t = parse_other_tags(r#""a"=>"1","b"=>"#);
        assert_eq!(t.len(), 1);
        assert_eq!(t["a"], "1");
        let t = parse_other_tags(r#""oneway"=>"yes","access"=>"private""#);
        assert_eq!(t["access"], "private");
    }
}
