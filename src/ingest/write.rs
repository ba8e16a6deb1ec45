//! Writing plain `geo` features to an OGR dataset: GeoPackage, ESRI Shapefile or GeoJSON.
//!
//! A [`LayerData`] is a self-contained layer (name, EPSG code, typed fields, features) with no
//! GDAL types in it, so that the rest of the crate can build layers without touching GDAL.
//!
//! Overwrite rules:
//! - `GPKG`: the file may already hold other layers; the new layer is added to it. A layer of the
//!   same name is deleted first, so writing the same layer twice leaves one copy.
//! - `ESRI Shapefile`: the `.shp` and every side-car file (`.shx`, `.dbf`, `.prj`, `.cpg`, spatial
//!   indexes) are deleted first. The layer takes its name from the file stem.
//! - any other driver: the file is deleted first.
//!
//! Text encoding of a Shapefile: GDAL writes the `.dbf` in the encoding named by the layer creation
//! option `ENCODING=...` (for example `ENCODING=GBK` or `ENCODING=CP936`), converting from UTF-8,
//! and records that name in a `.cpg` file beside it; the language driver byte of the `.dbf` header
//! is then left at 0. `ENCODING=LDID/77` instead sets that byte (code page 936) and writes no
//! `.cpg`. Without the option the `.dbf` is written as ISO-8859-1 (`LDID/87`) and every Chinese
//! character becomes `?`. String fields start 80 bytes wide and grow up to the DBF limit of 254
//! bytes as longer values arrive; longer values are cut at 254 bytes *after* re-encoding, which
//! can split a two-byte GBK character (GDAL drops the half character when reading back, other
//! readers may not). Characters GBK cannot represent are dropped with a warning.

use std::path::Path;

use gdal::spatial_ref::{AxisMappingStrategy, SpatialRef};
use gdal::vector::{Feature, FieldDefn, Layer, LayerAccess, LayerOptions, OGRFieldType, OGRwkbGeometryType, ToGdal};
use gdal::{Dataset, DatasetOptions, DriverManager, GdalOpenFlags};

use crate::{Error, Result};

/// Side-car extensions of a Shapefile that are removed together with the `.shp`.
pub const SHAPEFILE_PARTS: &[&str] = &["shp", "shx", "dbf", "prj", "cpg", "qix", "sbn", "sbx", "qpj", "shp.xml"];

/// The geometry type of an output layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GeometryKind {
    Point,
    LineString,
    Polygon,
    MultiPoint,
    MultiLineString,
    MultiPolygon,
}

impl GeometryKind {
    fn ogr_type(self) -> OGRwkbGeometryType::Type {
        match self {
            GeometryKind::Point => OGRwkbGeometryType::wkbPoint,
            GeometryKind::LineString => OGRwkbGeometryType::wkbLineString,
            GeometryKind::Polygon => OGRwkbGeometryType::wkbPolygon,
            GeometryKind::MultiPoint => OGRwkbGeometryType::wkbMultiPoint,
            GeometryKind::MultiLineString => OGRwkbGeometryType::wkbMultiLineString,
            GeometryKind::MultiPolygon => OGRwkbGeometryType::wkbMultiPolygon,
        }
    }

    /// The name used in error messages.
    pub fn name(self) -> &'static str {
        match self {
            GeometryKind::Point => "Point",
            GeometryKind::LineString => "LineString",
            GeometryKind::Polygon => "Polygon",
            GeometryKind::MultiPoint => "MultiPoint",
            GeometryKind::MultiLineString => "MultiLineString",
            GeometryKind::MultiPolygon => "MultiPolygon",
        }
    }
}

/// The type of an attribute field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    /// A 32-bit integer field (`OFTInteger`); values outside the `i32` range are rejected.
    Integer,
    /// A double-precision field (`OFTReal`).
    Real,
    /// A text field (`OFTString`), UTF-8 in memory, re-encoded by the driver where asked.
    String,
}

impl FieldKind {
    fn ogr_type(self) -> OGRFieldType::Type {
        match self {
            FieldKind::Integer => OGRFieldType::OFTInteger,
            FieldKind::Real => OGRFieldType::OFTReal,
            FieldKind::String => OGRFieldType::OFTString,
        }
    }
}

/// One attribute value.
#[derive(Debug, Clone, PartialEq)]
pub enum FieldValue {
    Integer(i64),
    Real(f64),
    String(String),
    Null,
}

/// A layer to be written: everything GDAL needs, held in plain Rust types.
#[derive(Debug, Clone, PartialEq)]
pub struct LayerData {
    /// Layer name (ignored by the Shapefile driver, which names the layer after the file).
    pub name: String,
    /// EPSG code of the coordinates. Coordinates are written as given: for projected Chinese
    /// systems such as EPSG:4527 that means easting as X, the way GIS files store them.
    pub epsg: u32,
    /// Geometry type of the layer.
    pub geometry: GeometryKind,
    /// Field names and types, in order.
    pub fields: Vec<(String, FieldKind)>,
    /// Features: a geometry and one value per field, in field order.
    pub features: Vec<(geo::Geometry<f64>, Vec<FieldValue>)>,
}

impl LayerData {
    /// An empty layer with the given name, CRS, geometry type and fields.
    pub fn new(name: &str, epsg: u32, geometry: GeometryKind, fields: &[(&str, FieldKind)]) -> Self {
        LayerData {
            name: name.to_string(),
            epsg,
            geometry,
            fields: fields.iter().map(|(n, k)| (n.to_string(), *k)).collect(),
            features: Vec::new(),
        }
    }

    /// Index of a field by name.
    pub fn field_index(&self, name: &str) -> Option<usize> {
        self.fields.iter().position(|(n, _)| n == name)
    }
}

fn gdal_err(context: String) -> impl FnOnce(gdal::errors::GdalError) -> Error {
    move |source| Error::Gdal { context, source }
}

/// Deletes an output dataset and, for a Shapefile, all its side-car files. Missing files are fine.
pub fn remove_dataset(path: &Path, driver: &str) -> Result<()> {
    let mut paths = vec![path.to_path_buf()];
    if driver == "ESRI Shapefile" {
        paths = SHAPEFILE_PARTS.iter().map(|ext| path.with_extension(ext)).collect();
    } else if driver == "GPKG" {
        // Journal files of an interrupted write.
        for suffix in ["-wal", "-shm", "-journal"] {
            let mut name = path.as_os_str().to_os_string();
            name.push(suffix);
            paths.push(name.into());
        }
    }
    for p in paths {
        match std::fs::remove_file(&p) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io(p, e)),
        }
    }
    Ok(())
}

/// Writes one layer to `path` with the OGR driver `driver` (`"GPKG"`, `"ESRI Shapefile"`,
/// `"GeoJSON"`, ...), passing `layer_options` (`NAME=VALUE`) to layer creation, e.g.
/// `&["ENCODING=GBK"]` for a Shapefile with a GBK `.dbf`.
///
/// See the module documentation for what happens to existing files.
pub fn write_layer(path: &Path, driver: &str, layer: &LayerData, layer_options: &[&str]) -> Result<()> {
    check_layer(layer)?;
    let display = path.display().to_string();
    let drv =
        DriverManager::get_driver_by_name(driver).map_err(gdal_err(format!("{display}: OGR driver '{driver}'")))?;

    let mut dataset = if driver == "GPKG" && path.exists() {
        let mut ds = Dataset::open_ex(
            path,
            DatasetOptions {
                open_flags: GdalOpenFlags::GDAL_OF_UPDATE | GdalOpenFlags::GDAL_OF_VECTOR,
                allowed_drivers: Some(&["GPKG"]),
                ..Default::default()
            },
        )
        .map_err(|e| Error::Open { dataset: display.clone(), reason: e.to_string() })?;
        let existing = ds.layers().position(|l| l.name() == layer.name);
        if let Some(idx) = existing {
            ds.delete_layer(idx).map_err(gdal_err(format!("{display}: deleting old layer '{}'", layer.name)))?;
        }
        ds
    } else {
        remove_dataset(path, driver)?;
        drv.create_vector_only(path).map_err(gdal_err(format!("{display}: creating dataset")))?
    };

    let mut srs = SpatialRef::from_epsg(layer.epsg).map_err(gdal_err(format!("{display}: EPSG:{}", layer.epsg)))?;
    srs.set_axis_mapping_strategy(AxisMappingStrategy::TraditionalGisOrder);
    let options = LayerOptions {
        name: &layer.name,
        srs: Some(&srs),
        ty: layer.geometry.ogr_type(),
        options: Some(layer_options),
    };

    let context = format!("{display}: layer '{}'", layer.name);
    if driver == "GPKG" {
        // One transaction for the whole layer: orders of magnitude faster for large layers.
        let mut txn = dataset.start_transaction().map_err(gdal_err(format!("{context}: transaction")))?;
        {
            let mut lyr = txn.create_layer(options).map_err(gdal_err(format!("{context}: creating")))?;
            fill_layer(&mut lyr, layer, &context)?;
        }
        txn.commit().map_err(gdal_err(format!("{context}: commit")))?;
    } else {
        let mut lyr = dataset.create_layer(options).map_err(gdal_err(format!("{context}: creating")))?;
        fill_layer(&mut lyr, layer, &context)?;
    }
    dataset.close().map_err(gdal_err(format!("{display}: closing")))?;
    Ok(())
}

/// Checks geometry types and attribute values before anything is written.
fn check_layer(layer: &LayerData) -> Result<()> {
    for (fid, (geom, values)) in layer.features.iter().enumerate() {
        let found = geometry_name(geom);
        let fits = match layer.geometry {
            GeometryKind::Point => found == "Point",
            GeometryKind::LineString => found == "LineString",
            GeometryKind::Polygon => found == "Polygon",
            GeometryKind::MultiPoint => matches!(found, "Point" | "MultiPoint"),
            GeometryKind::MultiLineString => matches!(found, "LineString" | "MultiLineString"),
            GeometryKind::MultiPolygon => matches!(found, "Polygon" | "MultiPolygon"),
        };
        if !fits {
            return Err(Error::WrongGeometry {
                layer: layer.name.clone(),
                role: format!("output feature {fid}"),
                expected: layer.geometry.name().to_string(),
                found: found.to_string(),
            });
        }
        if values.len() != layer.fields.len() {
            return Err(Error::BadFeature {
                layer: layer.name.clone(),
                fid: fid as u64,
                field: "*".to_string(),
                reason: format!("{} values for {} fields", values.len(), layer.fields.len()),
            });
        }
        for ((name, kind), value) in layer.fields.iter().zip(values) {
            let reason = match (kind, value) {
                (_, FieldValue::Null) => None,
                (FieldKind::Integer, FieldValue::Integer(v)) => {
                    i32::try_from(*v).is_err().then(|| format!("{v} does not fit a 32-bit integer"))
                }
                (FieldKind::Real, FieldValue::Real(_) | FieldValue::Integer(_)) => None,
                (FieldKind::String, FieldValue::String(s)) => {
                    s.contains('\0').then(|| "text contains a NUL character".to_string())
                }
                (kind, value) => Some(format!("value {value:?} for a {kind:?} field")),
            };
            if let Some(reason) = reason {
                return Err(Error::BadFeature {
                    layer: layer.name.clone(),
                    fid: fid as u64,
                    field: name.clone(),
                    reason,
                });
            }
        }
    }
    Ok(())
}

fn geometry_name(geom: &geo::Geometry<f64>) -> &'static str {
    match geom {
        geo::Geometry::Point(_) => "Point",
        geo::Geometry::Line(_) => "Line",
        geo::Geometry::LineString(_) => "LineString",
        geo::Geometry::Polygon(_) => "Polygon",
        geo::Geometry::MultiPoint(_) => "MultiPoint",
        geo::Geometry::MultiLineString(_) => "MultiLineString",
        geo::Geometry::MultiPolygon(_) => "MultiPolygon",
        geo::Geometry::GeometryCollection(_) => "GeometryCollection",
        geo::Geometry::Rect(_) => "Rect",
        geo::Geometry::Triangle(_) => "Triangle",
    }
}

/// Creates the fields and writes every feature into a freshly created layer.
fn fill_layer(lyr: &mut Layer<'_>, layer: &LayerData, context: &str) -> Result<()> {
    for (name, kind) in &layer.fields {
        let defn = FieldDefn::new(name, kind.ogr_type()).map_err(gdal_err(format!("{context}: field '{name}'")))?;
        defn.add_to_layer(lyr).map_err(gdal_err(format!("{context}: adding field '{name}'")))?;
    }
    let promote =
        matches!(layer.geometry, GeometryKind::MultiPoint | GeometryKind::MultiLineString | GeometryKind::MultiPolygon);
    for (fid, (geom, values)) in layer.features.iter().enumerate() {
        let feature_context = || format!("{context}: feature {fid}");
        let geom = if promote { promote_to_multi(geom) } else { geom.clone() };
        let ogr_geom = geom.to_gdal().map_err(gdal_err(feature_context()))?;
        let mut feature = Feature::new(lyr.defn()).map_err(gdal_err(feature_context()))?;
        feature.set_geometry(ogr_geom).map_err(gdal_err(feature_context()))?;
        for (idx, ((_, kind), value)) in layer.fields.iter().zip(values).enumerate() {
            let set = match (kind, value) {
                (_, FieldValue::Null) => feature.set_field_null(idx),
                (FieldKind::Integer, FieldValue::Integer(v)) => {
                    // Range checked in `check_layer`.
                    feature.set_field_integer(idx, *v as i32)
                }
                (FieldKind::Real, FieldValue::Real(v)) => feature.set_field_double(idx, *v),
                (FieldKind::Real, FieldValue::Integer(v)) => feature.set_field_double(idx, *v as f64),
                (FieldKind::String, FieldValue::String(s)) => feature.set_field_string(idx, s),
                // Kind mismatches are rejected in `check_layer`.
                _ => Ok(()),
            };
            set.map_err(gdal_err(feature_context()))?;
        }
        feature.create(lyr).map_err(gdal_err(feature_context()))?;
    }
    Ok(())
}

fn promote_to_multi(geom: &geo::Geometry<f64>) -> geo::Geometry<f64> {
    match geom {
        geo::Geometry::Point(p) => geo::MultiPoint(vec![*p]).into(),
        geo::Geometry::LineString(l) => geo::MultiLineString(vec![l.clone()]).into(),
        geo::Geometry::Polygon(p) => geo::MultiPolygon(vec![p.clone()]).into(),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use geo::{coord, line_string, point, polygon};

    fn sample(name: &str) -> LayerData {
        let mut layer = LayerData::new(
            name,
            4527,
            GeometryKind::Polygon,
            &[("id", FieldKind::Integer), ("name", FieldKind::String), ("w", FieldKind::Real)],
        );
        let poly = polygon![
            (x: 39_450_000.0, y: 3_512_000.0),
            (x: 39_450_100.0, y: 3_512_000.0),
            (x: 39_450_100.0, y: 3_512_100.0),
            (x: 39_450_000.0, y: 3_512_000.0),
        ];
        layer.features.push((
            poly.into(),
            vec![FieldValue::Integer(1), FieldValue::String("中心城区".into()), FieldValue::Real(1.5)],
        ));
        layer
    }

    fn read_names(path: &Path, layer: &str) -> Vec<String> {
        let ds = Dataset::open(path).unwrap();
        let mut lyr = ds.layer_by_name(layer).unwrap();
        let idx = lyr.defn().field_index("name").unwrap();
        lyr.features().map(|f| f.field_as_string(idx).unwrap().unwrap_or_default()).collect()
    }

    #[test]
    fn gpkg_layers_append_and_replace() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.gpkg");
        write_layer(&path, "GPKG", &sample("one"), &[]).unwrap();
        write_layer(&path, "GPKG", &sample("two"), &[]).unwrap();
        // Writing "one" again replaces it rather than adding a second copy.
        write_layer(&path, "GPKG", &sample("one"), &[]).unwrap();
        let ds = Dataset::open(&path).unwrap();
        let mut names: Vec<String> = ds.layers().map(|l| l.name()).collect();
        names.sort();
        assert_eq!(names, ["one", "two"]);
        assert_eq!(ds.layer_by_name("one").unwrap().feature_count(), 1);
        assert_eq!(read_names(&path, "two"), ["中心城区"]);
    }

    #[test]
    fn shapefile_with_gbk_dbf() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("areas.shp");
        write_layer(&path, "ESRI Shapefile", &sample("ignored"), &["ENCODING=GBK"]).unwrap();
        // Overwrite: a second write must not fail or append.
        write_layer(&path, "ESRI Shapefile", &sample("ignored"), &["ENCODING=GBK"]).unwrap();
        let cpg = std::fs::read_to_string(dir.path().join("areas.cpg")).unwrap();
        assert_eq!(cpg.trim(), "GBK");
        let dbf = std::fs::read(dir.path().join("areas.dbf")).unwrap();
        let gbk: &[u8] = &[0xd6, 0xd0, 0xd0, 0xc4, 0xb3, 0xc7, 0xc7, 0xf8];
        assert!(dbf.windows(gbk.len()).any(|w| w == gbk), "GBK bytes of 中心城区 not in .dbf");
        let utf8 = "中心城区".as_bytes();
        assert!(!dbf.windows(utf8.len()).any(|w| w == utf8), "UTF-8 text in a GBK .dbf");
        assert_eq!(read_names(&path, "areas"), ["中心城区"]);
    }

    #[test]
    fn geojson_points_and_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.geojson");
        let mut layer = LayerData::new("p", 4527, GeometryKind::MultiPoint, &[("name", FieldKind::String)]);
        layer.features.push((point!(x: 1.0, y: 2.0).into(), vec![FieldValue::Null]));
        write_layer(&path, "GeoJSON", &layer, &[]).unwrap();
        let ds = Dataset::open(&path).unwrap();
        assert_eq!(ds.layer(0).unwrap().feature_count(), 1);

        let mut lines = LayerData::new("l", 4527, GeometryKind::LineString, &[("w", FieldKind::Real)]);
        lines.features.push((
            line_string![coord! {x: 0.0, y: 0.0}, coord! {x: 1.0, y: 1.0}].into(),
            vec![FieldValue::Integer(3)],
        ));
        write_layer(&path, "GeoJSON", &lines, &[]).unwrap();
        let ds = Dataset::open(&path).unwrap();
        let mut lyr = ds.layer(0).unwrap();
        let f = lyr.features().next().unwrap();
        assert_eq!(f.field_as_double(0).unwrap(), Some(3.0));
    }

    #[test]
    fn rejects_bad_features() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.gpkg");
        let mut layer = sample("bad");
        layer.features[0].1[0] = FieldValue::Integer(i64::from(i32::MAX) + 1);
        assert!(matches!(write_layer(&path, "GPKG", &layer, &[]), Err(Error::BadFeature { .. })));
        let mut layer = sample("bad");
        layer.geometry = GeometryKind::Point;
        assert!(matches!(write_layer(&path, "GPKG", &layer, &[]), Err(Error::WrongGeometry { .. })));
        let mut layer = sample("bad");
        layer.features[0].1.pop();
        assert!(matches!(write_layer(&path, "GPKG", &layer, &[]), Err(Error::BadFeature { .. })));
        assert!(!path.exists(), "nothing is created for a rejected layer");
    }
}
