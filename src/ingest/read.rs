//! Reading OGR layers through GDAL. The only reading code that names `gdal::`.

use gdal::cpl::CslStringList;
use gdal::errors::GdalError;
use gdal::vector::{Geometry as GdalGeometry, LayerAccess, OGRwkbGeometryType};
use gdal::{Dataset, DatasetOptions, GdalOpenFlags};
use geo::{CoordsIter, Geometry, MultiPolygon};

use super::{parse_other_tags, GeomKind, LayerReport, LayerSource, LayerSpec, RawFeature, RawLayer};
use crate::{Error, Result};

/// The column in which GDAL's OSM driver keeps the tags that are not columns of their own.
const OTHER_TAGS: &str = "other_tags";

fn gdal_message(e: &GdalError) -> String {
    match e {
        GdalError::NullPointer { msg, .. } if !msg.is_empty() => msg.clone(),
        GdalError::CplError { msg, .. } => msg.clone(),
        other => other.to_string(),
    }
}

/// Dataset name prefixes through which GDAL would reach the network. planaudit reads local data
/// only, so these are refused rather than opened.
const NETWORK_PREFIXES: &[&str] = &[
    "http://",
    "https://",
    "ftp://",
    "/vsicurl",
    "/vsis3",
    "/vsigs",
    "/vsiaz",
    "/vsiadls",
    "/vsioss",
    "/vsiswift",
    "/vsiwebhdfs",
    "/vsihdfs",
];

/// Opens a dataset for vector reading, with an optional Shapefile encoding override.
fn open(source: &LayerSource, encoding: Option<&str>) -> Result<Dataset> {
    let lower = source.dataset.to_ascii_lowercase();
    if NETWORK_PREFIXES.iter().any(|p| lower.starts_with(p) || lower.contains(&format!("{p}/"))) {
        return Err(Error::Usage(format!(
            "{}: planaudit reads local files only and makes no network request; download the data first",
            source.dataset
        )));
    }
    let enc_opt = encoding.map(|e| format!("ENCODING={e}"));
    let open_options: Vec<&str> = enc_opt.iter().map(String::as_str).collect();
    let options = DatasetOptions {
        open_flags: GdalOpenFlags::GDAL_OF_VECTOR | GdalOpenFlags::GDAL_OF_READONLY,
        open_options: if open_options.is_empty() { None } else { Some(&open_options) },
        ..Default::default()
    };
    Dataset::open_ex(&source.dataset, options).map_err(|e| {
        let mut reason = gdal_message(&e);
        if !source.dataset.contains(':') && !std::path::Path::new(&source.dataset).exists() {
            reason = "no such file".to_string();
        }
        Error::Open { dataset: source.dataset.clone(), reason }
    })
}

/// The names of a dataset's layers, in order.
pub fn layer_names(source: &LayerSource) -> Result<Vec<String>> {
    let ds = open(source, None)?;
    Ok(ds.layers().map(|l| l.name()).collect())
}

fn flat(t: OGRwkbGeometryType::Type) -> OGRwkbGeometryType::Type {
    gdal::vector::geometry_type_flatten(t)
}

/// Whether a (flattened) OGR geometry type fits a role; `None` when the type says nothing
/// (unknown, or a collection that may hold anything).
fn type_fits(kind: GeomKind, t: OGRwkbGeometryType::Type) -> Option<bool> {
    use OGRwkbGeometryType::*;
    let t = linear_type(t);
    match t {
        x if x == wkbUnknown || x == wkbGeometryCollection => None,
        x => Some(match kind {
            GeomKind::Lines => x == wkbLineString || x == wkbMultiLineString,
            GeomKind::Polygons => x == wkbPolygon || x == wkbMultiPolygon,
            GeomKind::PointsOrPolygons => {
                x == wkbPoint || x == wkbMultiPoint || x == wkbPolygon || x == wkbMultiPolygon
            }
        }),
    }
}

/// The linear counterpart of a curve type (FileGDB and GeoPackage may hold arcs).
fn linear_type(t: OGRwkbGeometryType::Type) -> OGRwkbGeometryType::Type {
    use OGRwkbGeometryType::*;
    match t {
        x if x == wkbCircularString || x == wkbCompoundCurve => wkbLineString,
        x if x == wkbMultiCurve => wkbMultiLineString,
        x if x == wkbCurvePolygon => wkbPolygon,
        x if x == wkbMultiSurface => wkbMultiPolygon,
        x => x,
    }
}

/// Approximates arcs by line segments of at most 0.5° of arc (chord error below 4e-6 of the
/// length; GDAL's default 4° step would lose 2e-4), through WKB.
#[allow(unsafe_code)]
fn linearize(geom: &GdalGeometry) -> Result<GdalGeometry, String> {
    // SAFETY: `geom` owns a valid OGR geometry for the duration of the call.
    // OGR_G_GetLinearGeometry returns a new geometry that we own and destroy below, after
    // exporting it to a buffer of exactly OGR_G_WkbSize bytes.
    unsafe {
        let lin = gdal_sys::OGR_G_GetLinearGeometry(geom.c_geometry(), ARC_STEP_DEG, std::ptr::null_mut());
        if lin.is_null() {
            return Err("curve geometry that GDAL cannot approximate by lines".to_string());
        }
        let size = gdal_sys::OGR_G_WkbSize(lin).max(0) as usize;
        let mut buf = vec![0u8; size];
        let rc = gdal_sys::OGR_G_ExportToWkb(lin, gdal_sys::OGRwkbByteOrder::wkbNDR, buf.as_mut_ptr());
        gdal_sys::OGR_G_DestroyGeometry(lin);
        if rc != gdal_sys::OGRErr::OGRERR_NONE {
            return Err("curve geometry that GDAL cannot export".to_string());
        }
        GdalGeometry::from_wkb(&buf).map_err(|e| format!("curve geometry: {}", gdal_message(&e)))
    }
}

/// Largest angle of arc, in degrees, replaced by one segment when arcs are linearised.
const ARC_STEP_DEG: f64 = 0.5;

/// Where a requested attribute comes from.
#[derive(Clone)]
enum FieldSource {
    Column(usize),
    OtherTag(String),
    Absent,
}

/// Reads a whole layer for one role.
///
/// Every feature the layer returns is either kept (possibly repaired) or counted as skipped with
/// its reason in the [`LayerReport`]. Layer-level problems (missing field, wrong geometry type,
/// no usable feature) are errors.
pub fn read_layer(spec: &LayerSpec) -> Result<RawLayer> {
    let ds = open(&spec.source, spec.encoding.as_deref())?;
    let names: Vec<String> = ds.layers().map(|l| l.name()).collect();
    let mut layer = match &spec.source.layer {
        Some(name) => ds.layer_by_name(name).map_err(|_| Error::NoLayer {
            dataset: spec.source.dataset.clone(),
            layer: name.clone(),
            available: names.join(", "),
        })?,
        None if names.len() == 1 => ds
            .layer(0)
            .map_err(|e| Error::Gdal { context: format!("{}: reading its layer", spec.source.dataset), source: e })?,
        None if names.is_empty() => {
            return Err(Error::EmptyLayer {
                layer: spec.source.dataset.clone(),
                reason: "the dataset has no vector layer".to_string(),
            })
        }
        None => {
            return Err(Error::AmbiguousLayer {
                dataset: spec.source.dataset.clone(),
                count: names.len(),
                available: names.join(", "),
            })
        }
    };
    let layer_name = layer.name();
    let label = format!("{}#{}", spec.source.dataset, layer_name);

    let declared = flat(layer.defn().geometry_type());
    if type_fits(spec.geom, declared) == Some(false) {
        return Err(Error::WrongGeometry {
            layer: label,
            role: spec.role.clone(),
            expected: spec.geom.describe().to_string(),
            found: gdal::vector::geometry_type_to_name(declared),
        });
    }

    let columns: Vec<String> = layer.defn().fields().map(|f| f.name()).collect();
    let other_tags_idx = columns.iter().position(|c| c == OTHER_TAGS);
    let mut sources = Vec::with_capacity(spec.fields.len() + spec.optional_fields.len());
    for name in &spec.fields {
        match columns.iter().position(|c| c == name) {
            Some(i) => sources.push(FieldSource::Column(i)),
            None if other_tags_idx.is_some() => sources.push(FieldSource::OtherTag(name.clone())),
            None => {
                return Err(Error::MissingField {
                    layer: label,
                    field: name.clone(),
                    role: spec.role.clone(),
                    available: columns.join(", "),
                })
            }
        }
    }
    let mut optional_present = Vec::with_capacity(spec.optional_fields.len());
    for name in &spec.optional_fields {
        match columns.iter().position(|c| c == name) {
            Some(i) => {
                sources.push(FieldSource::Column(i));
                optional_present.push(true);
            }
            None if other_tags_idx.is_some() => {
                sources.push(FieldSource::OtherTag(name.clone()));
                optional_present.push(true);
            }
            None => {
                sources.push(FieldSource::Absent);
                optional_present.push(false);
            }
        }
    }
    let needs_tags = sources.iter().any(|s| matches!(s, FieldSource::OtherTag(_)));

    if let Some(filter) = &spec.filter {
        layer.set_attribute_filter(filter).map_err(|e| Error::BadFilter {
            layer: label.clone(),
            filter: filter.clone(),
            reason: gdal_message(&e),
        })?;
    }

    let crs_wkt = layer.spatial_ref().and_then(|s| s.to_wkt().ok());
    let mut report = LayerReport { layer: label.clone(), ..Default::default() };
    let mut features = Vec::new();
    let mut wrong_type = 0u64;
    for (i, feature) in layer.features().enumerate() {
        report.read += 1;
        let fid = feature.fid().unwrap_or(i as u64);
        let Some(geom) = feature.geometry() else {
            report.skip(fid, "no geometry");
            continue;
        };
        if geom.is_empty() {
            report.skip(fid, "empty geometry");
            continue;
        }
        let t = flat(geom.geometry_type());
        if type_fits(spec.geom, t) != Some(true) {
            wrong_type += 1;
            report.skip(
                fid,
                &format!(
                    "{} geometry where {} {} expected",
                    gdal::vector::geometry_type_to_name(t),
                    spec.geom.describe(),
                    if spec.geom == GeomKind::PointsOrPolygons { "is" } else { "geometries are" }
                ),
            );
            continue;
        }
        let converted = match convert_geometry(geom, spec.geom) {
            Ok(c) => c,
            Err(reason) => {
                report.skip(fid, &reason);
                continue;
            }
        };
        let (geometry, repaired) = converted;
        if !geometry.coords_iter().all(|c| c.x.is_finite() && c.y.is_finite()) {
            report.skip(fid, "non-finite coordinate (NaN or infinity)");
            continue;
        }
        if repaired {
            report.repaired += 1;
            report.example(format!("feature {fid}: invalid polygon repaired with make-valid"));
        }

        let tags = if needs_tags {
            other_tags_idx
                .and_then(|i| feature.field_as_string(i).ok().flatten())
                .map(|t| parse_other_tags(&t))
                .unwrap_or_default()
        } else {
            Default::default()
        };
        let attrs = sources
            .iter()
            .map(|s| match s {
                FieldSource::Column(i) => feature.field_as_string(*i).ok().flatten(),
                FieldSource::OtherTag(k) => tags.get(k).cloned(),
                FieldSource::Absent => None,
            })
            .collect();
        report.used += 1;
        features.push(RawFeature { fid, geometry, attrs });
    }

    if features.is_empty() {
        if report.read > 0 && wrong_type == report.read {
            return Err(Error::WrongGeometry {
                layer: label,
                role: spec.role.clone(),
                expected: spec.geom.describe().to_string(),
                found: "only other geometry types".to_string(),
            });
        }
        let reason = if report.read == 0 {
            match &spec.filter {
                Some(f) => format!("no feature matches the filter \"{f}\""),
                None => "the layer is empty".to_string(),
            }
        } else {
            let reasons: Vec<String> = report.skipped.iter().map(|(r, n)| format!("{n} {r}")).collect();
            format!("all {} features were skipped: {}", report.read, reasons.join("; "))
        };
        return Err(Error::EmptyLayer { layer: label, reason });
    }

    Ok(RawLayer { source: spec.source.clone(), layer_name, crs_wkt, features, optional_present, report })
}

/// Converts one OGR geometry to `geo`, repairing invalid polygons with GEOS make-valid.
/// Returns the geometry and whether it was repaired, or the reason it cannot be used.
fn convert_geometry(geom: &GdalGeometry, kind: GeomKind) -> Result<(Geometry<f64>, bool), String> {
    let t = flat(geom.geometry_type());
    if linear_type(t) != t {
        return convert_geometry(&linearize(geom)?, kind);
    }
    let is_polygonal =
        matches!(flat(geom.geometry_type()), OGRwkbGeometryType::wkbPolygon | OGRwkbGeometryType::wkbMultiPolygon);
    if kind != GeomKind::Lines && is_polygonal && !geom.is_valid() {
        let fixed = geom
            .make_valid(&CslStringList::new())
            .map_err(|e| format!("invalid polygon that make-valid could not repair: {}", gdal_message(&e)))?;
        let g = fixed.to_geo().map_err(|e| format!("unreadable repaired geometry: {e}"))?;
        let polys = polygons_of(g);
        if polys.0.is_empty() {
            return Err("invalid polygon with no area left after repair".to_string());
        }
        return Ok((Geometry::MultiPolygon(polys), true));
    }
    let g = geom.to_geo().map_err(|e| format!("unreadable geometry: {e}"))?;
    Ok((g, false))
}

/// The polygonal parts of any geometry (make-valid may return a collection with lines).
fn polygons_of(g: Geometry<f64>) -> MultiPolygon<f64> {
    match g {
        Geometry::Polygon(p) => MultiPolygon(vec![p]),
        Geometry::MultiPolygon(mp) => mp,
        Geometry::GeometryCollection(gc) => MultiPolygon(gc.0.into_iter().flat_map(|g| polygons_of(g).0).collect()),
        _ => MultiPolygon(vec![]),
    }
}
