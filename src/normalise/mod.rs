//! Normalise: put every layer into one metric frame, measure there, and map source codes to
//! analysis categories through tables.
//!
//! - [`crs`]: the only coordinate-system code (PROJ, GCJ-02/BD-09, frame choice).
//! - [`measure`]: ellipsoidal and planar lengths and areas.
//! - [`grades`]: road grade tables.
//! - [`classes`]: land-use class tables (code → analysis category).
//! - [`kinds`]: kinds of study area and their plan targets.
//! - [`facility_types`]: facility types (幼儿园, amenity=school, ...) for the living circle.
//! - [`tiers`]: living-circle tiers, the needs of each and their service distances.

pub mod classes;
pub mod crs;
pub mod facility_types;
pub mod grades;
pub mod kinds;
pub mod measure;
pub mod tiers;

use std::borrow::Cow;
use std::path::Path;

use geo::{BoundingRect, Geometry, Rect};
use rayon::prelude::*;

use crate::ingest::RawLayer;
use crate::{Error, Result};
use crs::{Frame, SourceCrs, ToLonLat};

/// The default preset of a table for a dataset: `osm` for OpenStreetMap files, else `otherwise`.
pub fn preset_for(is_osm: bool, otherwise: &'static str) -> &'static str {
    if is_osm {
        "osm"
    } else {
        otherwise
    }
}

/// Parses a table's TOML; `label` names the table in the error, which carries the line and column.
pub fn parse_table<T: serde::de::DeserializeOwned>(label: &str, text: &str) -> Result<T> {
    toml::from_str(text).map_err(|e| Error::Table { name: label.to_string(), reason: e.to_string() })
}

/// The text of the preset a table `extends`; an unknown name is an error listing the presets.
pub fn base_preset(label: &str, presets: &[(&str, &'static str)], base: &str) -> Result<&'static str> {
    presets.iter().find(|(n, _)| *n == base).map(|(_, t)| *t).ok_or_else(|| {
        let names: Vec<&str> = presets.iter().map(|(n, _)| *n).collect();
        Error::Table {
            name: label.to_string(),
            reason: format!("extends unknown preset '{base}'; presets: {}", names.join(", ")),
        }
    })
}

/// Features per task when a layer's features are converted in parallel: enough to make a task
/// worth scheduling, few enough to balance two to a few dozen threads.
const FEATURES_PER_TASK: usize = 512;

/// Converts every feature of a layer to WGS84 longitude/latitude in place. A feature with a
/// coordinate that cannot be converted, or that lands outside ±180°/±90°, is skipped and counted.
///
/// Features are converted in parallel; they keep their order, and skips are counted in feature
/// order afterwards, so the layer and its report are the same whatever the number of threads.
pub fn to_lonlat(layer: &mut RawLayer, crs: &SourceCrs) -> Result<()> {
    let t = ToLonLat::new(crs, &layer.label())?;
    let before = layer.features.len();
    layer.extent = None;
    let converted: Vec<Result<bool>> = layer
        .features
        .par_iter_mut()
        .with_min_len(FEATURES_PER_TASK)
        .map(|f| t.geometry_in_place(&mut f.geometry))
        .collect();
    let report = &mut layer.report;
    let mut kept = Vec::with_capacity(layer.features.len());
    for (f, ok) in layer.features.drain(..).zip(converted) {
        if ok? {
            kept.push(f);
        } else {
            report.used -= 1;
            report.skip(f.fid, "coordinate out of range for its CRS (check the CRS and the axis order)");
        }
    }
    layer.features = kept;
    if layer.features.is_empty() && before > 0 && !read_in_part(layer) {
        return Err(crate::Error::EmptyLayer {
            layer: layer.label(),
            reason: format!(
                "no feature has coordinates valid in {}: check the CRS (--crs) and the axis order",
                crs.label()
            ),
        });
    }
    Ok(())
}

/// Whether only part of the layer was read (through boxes, [`crate::ingest::Within`]): that part
/// may hold no usable feature without the layer being unusable.
fn read_in_part(layer: &RawLayer) -> bool {
    !layer.report.not_read.is_empty()
}

/// The bounding box of a layer's coordinates as they are: of the whole layer, as GDAL states it,
/// when only part of it was read.
fn bounds(layer: &RawLayer) -> Option<Rect<f64>> {
    if layer.extent.is_some() {
        return layer.extent;
    }
    // In parallel: a box around boxes is the same whatever the order they are joined in.
    layer.features.par_iter().filter_map(|f| f.geometry.bounding_rect()).reduce_with(crate::units::rect_union)
}

/// Points per side of a bounding box taken to longitude/latitude (its sides curve).
const BOX_SIDE_POINTS: usize = 21;

/// The longitude/latitude box around a box of `crs` coordinates: its sides, densified, converted;
/// `None` if any point fails or lands outside ±180°/±90°.
fn box_to_lonlat(b: Rect<f64>, crs: &SourceCrs) -> Option<Rect<f64>> {
    let t = ToLonLat::new(crs, "").ok()?;
    let n = BOX_SIDE_POINTS - 1;
    let (min, max) = (b.min(), b.max());
    let mut out: Option<Rect<f64>> = None;
    for i in 0..=n {
        let s = i as f64 / n as f64;
        let x = min.x + s * (max.x - min.x);
        let y = min.y + s * (max.y - min.y);
        for c in [(x, min.y), (x, max.y), (min.x, y), (max.x, y)] {
            let p = t.coord(geo::coord! { x: c.0, y: c.1 })?;
            out = Some(match out {
                None => Rect::new(p, p),
                Some(r) => Rect::new(
                    geo::coord! { x: r.min().x.min(p.x), y: r.min().y.min(p.y) },
                    geo::coord! { x: r.max().x.max(p.x), y: r.max().y.max(p.y) },
                ),
            });
        }
    }
    out
}

/// Puts off converting a layer in a CRS PROJ knows to longitude/latitude until [`project`]
/// knows the frame: a layer already in the frame's CRS (CGCS2000 Gauss–Krüger data, whose zone
/// the automatic frame picks) then keeps its coordinates, with no round trip through PROJ. Only
/// when the layer's whole extent converts cleanly; otherwise (and for GCJ-02 and BD-09) returns
/// `false` and the caller converts it now, with [`to_lonlat`] counting what cannot be converted.
pub fn defer_lonlat(layer: &mut RawLayer, crs: &SourceCrs) -> Result<bool> {
    let SourceCrs::Proj(def) = crs else { return Ok(false) };
    if layer.features.is_empty() {
        // Nothing to convert (a read through boxes that met no feature).
        layer.pending_crs = Some(def.clone());
        return Ok(true);
    }
    let Some(b) = bounds(layer) else { return Ok(false) };
    if box_to_lonlat(b, crs).is_none() {
        return Ok(false);
    }
    layer.pending_crs = Some(def.clone());
    Ok(true)
}

/// How far (degrees of longitude, of latitude) a layer may reach beyond the area of use of its
/// CRS. EPSG's areas for China's Gauss–Krüger zones cover the mainland only: Taiwan lies 4° outside
/// some, the Nansha islands 12° south of EPSG:4547's and Zengmu Ansha 18°; a city across a zone
/// boundary may be kept in one zone. A Gauss–Krüger layer with x and y swapped lands 20° and more
/// east of its zone.
const AREA_OF_USE_MARGIN_DEG: (f64, f64) = (10.0, 20.0);

/// Checks that a layer lies where its CRS is used (PROJ's area of use, widened by
/// [`AREA_OF_USE_MARGIN_DEG`]): coordinates in the wrong CRS, or with x and y swapped, convert
/// without error to a place the CRS was never meant for, and every number measured there is wrong.
/// A data error naming the layer, the CRS, where the layer landed and where the CRS is used.
pub fn check_area_of_use(layer: &RawLayer, crs: &SourceCrs) -> Result<()> {
    let Some(b) = lonlat_bounds(layer) else { return Ok(()) };
    let Some(area) = ToLonLat::new(crs, &layer.label())?.area_of_use() else { return Ok(()) };
    let (mx, my) = AREA_OF_USE_MARGIN_DEG;
    let apart = b.max().x < area.min().x - mx
        || b.min().x > area.max().x + mx
        || b.max().y < area.min().y - my
        || b.min().y > area.max().y + my;
    if apart {
        return Err(Error::Crs(format!(
            "{}: in {} the layer lies at {:.2}–{:.2}°E, {:.2}–{:.2}°N, far from where that CRS is used ({:.2}–{:.2}°E, {:.2}–{:.2}°N): check the CRS (--crs) and the axis order (x and y swapped?)",
            layer.label(),
            crs.label(),
            b.min().x,
            b.max().x,
            b.min().y,
            b.max().y,
            area.min().x,
            area.max().x,
            area.min().y,
            area.max().y
        )));
    }
    Ok(())
}

/// The longitude/latitude bounding box of a layer (of its extent taken to longitude/latitude when
/// its conversion is put off).
pub fn lonlat_bounds(layer: &RawLayer) -> Option<Rect<f64>> {
    let b = bounds(layer)?;
    match &layer.pending_crs {
        None => Some(b),
        Some(def) => box_to_lonlat(b, &SourceCrs::Proj(def.clone())),
    }
}

/// The reason a polygon feature without area is skipped.
pub const NO_AREA: &str = "polygon with no area (under 1 mm²)";

/// Planar area in the frame, in m², under which a polygon counts as having none: 1 mm², far below
/// anything drawn on purpose in planning data, and above what rounding leaves of a collapsed ring.
const NO_AREA_M2: f64 = 1e-6;

/// Planar area in the frame, in m², below which a polygon's area is also measured by the frame's
/// method before it is kept: a polygon this small might measure zero once taken back to
/// longitude/latitude.
const SMALL_AREA_M2: f64 = 1.0;

/// Whether a frame geometry is a polygon (or multipolygon) without area (under 1 mm²): a closed
/// way of two or three points, a ring that collapsed when projected. Study areas and parks divide by their area,
/// parcels add nothing; such features are skipped and counted, whatever the command.
fn has_no_area(frame: &Frame, g: &Geometry<f64>) -> bool {
    use geo::Area as _;
    let planar = match g {
        Geometry::Polygon(p) => p.unsigned_area(),
        Geometry::MultiPolygon(mp) => mp.unsigned_area(),
        _ => return false,
    };
    if planar.is_nan() || planar < NO_AREA_M2 {
        return true;
    }
    if planar >= SMALL_AREA_M2 {
        return false;
    }
    let measured = match g {
        Geometry::Polygon(p) => frame.polygon_area_m2(p),
        Geometry::MultiPolygon(mp) => frame.area_m2(mp),
        _ => return false,
    };
    !measured.is_ok_and(|a| a > 0.0)
}

/// What projecting one feature gave.
enum Projected {
    Kept,
    NoArea,
    Failed,
}

/// Projects every feature of a longitude/latitude layer into the frame, in place. A feature that
/// cannot be projected, or a polygon that has no area in the frame, is skipped and counted; a layer
/// left with no feature is an error.
///
/// Features are projected in parallel; they keep their order, and skips are counted in feature
/// order afterwards, so the layer and its report are the same whatever the number of threads.
pub fn project(layer: &mut RawLayer, frame: &Frame) -> Result<()> {
    if let Some(def) = layer.pending_crs.take() {
        if crs::same::equivalent(&def, &frame.crs) {
            let stage = format!("project {} (already in the frame)", layer.source);
            return crate::timing::time(|| stage, || keep_in_frame(layer, frame));
        }
        let crs = SourceCrs::Proj(def);
        let label = layer.source.to_string();
        crate::timing::time(|| format!("to_lonlat {label}"), || to_lonlat(layer, &crs))?;
    }
    let stage = format!("project {}", layer.source);
    crate::timing::time(|| stage, || project_features(layer, frame))
}

/// Whether [`project`] would leave `layer` as it is: a layer waiting for the frame in a CRS PROJ
/// finds equivalent to the frame's, with no polygon without area. A layer several indicators
/// read is then used as read, by all of them.
pub fn unchanged_by_project(layer: &RawLayer, frame: &Frame) -> bool {
    let Some(def) = layer.pending_crs.as_deref() else { return false };
    if !crs::same::equivalent(def, &frame.crs) {
        return false;
    }
    let stage = format!("project {} (already in the frame)", layer.source);
    crate::timing::time(
        || stage,
        || !layer.features.par_iter().with_min_len(FEATURES_PER_TASK).any(|f| has_no_area(frame, &f.geometry)),
    )
}

fn project_features(layer: &mut RawLayer, frame: &Frame) -> Result<()> {
    let projected: Vec<Result<Projected>> = layer
        .features
        .par_iter_mut()
        .with_min_len(FEATURES_PER_TASK)
        .map(|f| {
            Ok(if !frame.project_in_place(&mut f.geometry)? {
                Projected::Failed
            } else if has_no_area(frame, &f.geometry) {
                Projected::NoArea
            } else {
                Projected::Kept
            })
        })
        .collect();
    let report = &mut layer.report;
    let before = layer.features.len();
    layer.extent = None;
    let mut kept = Vec::with_capacity(layer.features.len());
    for (f, outcome) in layer.features.drain(..).zip(projected) {
        match outcome? {
            Projected::Kept => kept.push(f),
            Projected::NoArea => {
                report.used -= 1;
                report.skip(f.fid, NO_AREA);
            }
            Projected::Failed => {
                report.used -= 1;
                report.skip(f.fid, &format!("cannot be projected into {}", frame.crs));
            }
        }
    }
    layer.features = kept;
    if layer.features.is_empty() && before > 0 && !read_in_part(layer) {
        let reasons: Vec<String> = layer.report.skipped.iter().map(|(r, n)| format!("{n} {r}")).collect();
        return Err(Error::EmptyLayer {
            layer: layer.label(),
            reason: format!("no usable feature in the frame {}: skipped {}", frame.crs, reasons.join("; ")),
        });
    }
    Ok(())
}

/// [`project`] for a layer already in the frame's CRS: its coordinates are kept; polygons without
/// area are skipped and counted.
fn keep_in_frame(layer: &mut RawLayer, frame: &Frame) -> Result<()> {
    let no_area: Vec<bool> =
        layer.features.par_iter().with_min_len(FEATURES_PER_TASK).map(|f| has_no_area(frame, &f.geometry)).collect();
    let report = &mut layer.report;
    let before = layer.features.len();
    let mut flags = no_area.into_iter();
    layer.features.retain(|f| {
        let none = flags.next().unwrap_or(false);
        if none {
            report.used -= 1;
            report.skip(f.fid, NO_AREA);
        }
        !none
    });
    if layer.features.is_empty() && before > 0 && !read_in_part(layer) {
        let reasons: Vec<String> = layer.report.skipped.iter().map(|(r, n)| format!("{n} {r}")).collect();
        return Err(Error::EmptyLayer {
            layer: layer.label(),
            reason: format!("no usable feature in the frame {}: skipped {}", frame.crs, reasons.join("; ")),
        });
    }
    Ok(())
}

/// The TOML text of a lookup table: a built-in preset by name, or a file by path. A name that is
/// neither is a usage error that lists the presets; `what` names the option that gives the table
/// (`--grades`, which a city file's messages turn into its key).
pub fn table_text(what: &str, presets: &[(&str, &'static str)], name_or_path: &str) -> Result<Cow<'static, str>> {
    if let Some((_, text)) = presets.iter().find(|(n, _)| *n == name_or_path) {
        return Ok(Cow::Borrowed(text));
    }
    let path = Path::new(name_or_path);
    if !path.is_file() {
        let names: Vec<&str> = presets.iter().map(|(n, _)| *n).collect();
        return Err(Error::Usage(format!(
            "{what}: '{name_or_path}' is neither a preset ({}) nor an existing file",
            names.join(", ")
        )));
    }
    Ok(Cow::Owned(std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::{LayerReport, LayerSource, RawFeature};
    use crs::Method;
    use geo::{polygon, Geometry};

    /// A one-parcel layer in EPSG:4527 (CGCS2000 GK zone 39, with zone prefix) at Lu'an.
    fn parcel_layer() -> RawLayer {
        let x0 = 39_450_000.123_456_7;
        let y0 = 3_512_000.987_654_3;
        let p = polygon![(x: x0, y: y0), (x: x0 + 80.0, y: y0), (x: x0 + 80.0, y: y0 + 50.0), (x: x0, y: y0 + 50.0)];
        let mut report = LayerReport::default();
        report.read = 1;
        report.used = 1;
        RawLayer {
            source: LayerSource::parse("parcels.gpkg#landuse"),
            layer_name: "landuse".into(),
            crs_wkt: None,
            features: vec![RawFeature { fid: 1, geometry: Geometry::Polygon(p), attrs: vec![] }],
            optional_present: vec![],
            absent_tags: vec![],
            report,
            pending_crs: None,
            extent: None,
        }
    }

    #[test]
    fn layer_in_the_frame_crs_keeps_its_coordinates() {
        let crs = SourceCrs::Proj("EPSG:4527".into());
        let original = parcel_layer();
        let mut layer = original.clone();
        assert!(defer_lonlat(&mut layer, &crs).unwrap());
        // Bounds are longitude/latitude even while the conversion is put off.
        let b = lonlat_bounds(&layer).unwrap();
        assert!((116.0..117.0).contains(&b.min().x) && (31.0..32.0).contains(&b.min().y), "{b:?}");
        project(&mut layer, &Frame::new("EPSG:4527", Method::Ellipsoidal).unwrap()).unwrap();
        // Bit for bit: no round trip through longitude/latitude.
        assert_eq!(layer.features[0].geometry, original.features[0].geometry);
        assert!(layer.pending_crs.is_none());
    }

    #[test]
    fn layer_in_another_crs_is_converted_when_projected() {
        let crs = SourceCrs::Proj("EPSG:4527".into());
        let mut layer = parcel_layer();
        assert!(defer_lonlat(&mut layer, &crs).unwrap());
        // The same zone without the zone prefix: x differs by 39,000,000 m, to PROJ's precision.
        project(&mut layer, &Frame::new("EPSG:4548", Method::Ellipsoidal).unwrap()).unwrap();
        let Geometry::Polygon(p) = &layer.features[0].geometry else { panic!() };
        let c = p.exterior().0[0];
        assert!((c.x - (39_450_000.123_456_7 - 39_000_000.0)).abs() < 1e-6, "{c:?}");
        assert!((c.y - 3_512_000.987_654_3).abs() < 1e-6, "{c:?}");
    }

    #[test]
    fn extent_that_does_not_convert_is_not_put_off() {
        let mut layer = parcel_layer();
        // Degrees read as if they were GK metres would convert; 1e12 m does not.
        if let Geometry::Polygon(p) = &mut layer.features[0].geometry {
            p.exterior_mut(|r| r.0[0].x = 1e12);
        }
        assert!(!defer_lonlat(&mut layer, &SourceCrs::Proj("EPSG:4527".into())).unwrap());
        assert!(layer.pending_crs.is_none());
    }
}
