//! Reading OGR layers through GDAL. The only reading code that names `gdal::`.

use gdal::cpl::CslStringList;
use gdal::errors::GdalError;
use gdal::vector::{Geometry as GdalGeometry, LayerAccess, LayerCaps, OGRwkbGeometryType};
use gdal::{Dataset, DatasetOptions, GdalOpenFlags};
use geo::{CoordsIter, Geometry, LineString, MultiPolygon, Rect};

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

/// Dataset name prefixes through which GDAL would reach the network: its virtual file systems
/// over HTTP and cloud storage, and the drivers of web services. planaudit reads local data only,
/// so these are refused rather than opened, as is any name holding a URL (`scheme://`), wherever
/// it sits (`WFS:https://...`, `/vsizip//vsicurl/...`). Database connection strings (`PG:`,
/// `MySQL:`) are passed to GDAL as given: they reach only the database the user names.
const NETWORK_PREFIXES: &[&str] = &[
    "/vsicurl",
    "/vsis3",
    "/vsigs",
    "/vsiaz",
    "/vsiadls",
    "/vsioss",
    "/vsiswift",
    "/vsiwebhdfs",
    "/vsihdfs",
    "wfs:",
    "oapif:",
    "carto:",
    "amigocloud:",
    "eeda:",
    "ngw:",
    "plscenes:",
    "es:",
    "couchdb:",
    "csw:",
];

/// Whether GDAL would reach the network to open this dataset name.
fn is_network(dataset: &str) -> bool {
    let lower = dataset.to_ascii_lowercase();
    lower.contains("://")
        || NETWORK_PREFIXES.iter().any(|p| {
            lower.starts_with(p)
                || (p.starts_with('/') && [format!("{p}/"), format!("{p}_")].iter().any(|q| lower.contains(q)))
        })
}

/// Routes GDAL's own messages away from stderr, once per process. Every GDAL failure that matters
/// reaches the user through an [`Error`] or a [`LayerReport`] count, with the file, layer and
/// feature named; GDAL's raw "ERROR 1: ..." and "Warning 1: ..." lines would only repeat them
/// without that context. GDAL still records the last error, which [`gdal_failure`] reads.
fn quiet_gdal() {
    static QUIET: std::sync::Once = std::sync::Once::new();
    QUIET.call_once(|| gdal::config::set_error_handler(|_, _, _| {}));
}

/// Clears GDAL's last error (of this thread).
#[allow(unsafe_code)]
pub(super) fn reset_gdal_error() {
    // SAFETY: CPLErrorReset only clears GDAL's thread-local error state.
    unsafe { gdal_sys::CPLErrorReset() }
}

/// GDAL's last error message (of this thread) if it was a failure, not a warning.
#[allow(unsafe_code)]
pub(super) fn gdal_failure() -> Option<String> {
    // SAFETY: both calls read GDAL's thread-local error state; the message pointer is valid
    // until the next GDAL call on this thread, and it is copied at once.
    unsafe {
        let t = gdal_sys::CPLGetLastErrorType();
        if t != gdal_sys::CPLErr::CE_Failure && t != gdal_sys::CPLErr::CE_Fatal {
            return None;
        }
        let msg = gdal_sys::CPLGetLastErrorMsg();
        let text =
            if msg.is_null() { String::new() } else { std::ffi::CStr::from_ptr(msg).to_string_lossy().into_owned() };
        Some(if text.is_empty() { "unknown GDAL failure".to_string() } else { text })
    }
}

/// The file beside `path` with extension `ext` in either case (`roads.dbf`, `roads.DBF`), if any.
pub(crate) fn side_file(path: &std::path::Path, ext: &str) -> Option<std::path::PathBuf> {
    [ext.to_ascii_lowercase(), ext.to_ascii_uppercase()]
        .into_iter()
        .map(|e| path.with_extension(e))
        .find(|p| p.is_file())
}

/// Checks the side files a Shapefile cannot be read without: GDAL would open a `.shp` without its
/// `.dbf` as a layer with no attribute at all, and the run would go on with every field absent.
fn check_shapefile(dataset: &str) -> Result<()> {
    let path = std::path::Path::new(dataset);
    if !path.extension().is_some_and(|e| e.eq_ignore_ascii_case("shp")) || !path.is_file() {
        return Ok(());
    }
    for (ext, what) in [("dbf", "attribute table"), ("shx", "shape index")] {
        if side_file(path, ext).is_none() {
            return Err(Error::Open {
                dataset: dataset.to_string(),
                reason: format!(
                    "its .{ext} ({what}) is missing: a Shapefile is the .shp, .shx and .dbf together; copy all of them"
                ),
            });
        }
    }
    Ok(())
}

/// What to tell the user when a field's text does not decode: where the encoding came from.
fn encoding_hint(source: &LayerSource, encoding: Option<&str>) -> String {
    let path = std::path::Path::new(&source.dataset);
    let is_shp = path.extension().is_some_and(|e| e.eq_ignore_ascii_case("shp"));
    if let Some(e) = encoding {
        return format!("the text does not decode as {e} (the encoding given); give the right one with --encoding");
    }
    if !is_shp {
        return "the text is not valid UTF-8".to_string();
    }
    match side_file(path, "cpg").and_then(|p| std::fs::read_to_string(p).ok()) {
        Some(cpg) => format!(
            "the .cpg says '{}' but the .dbf text does not decode as that; give the real encoding with --encoding GBK (Chinese data) or fix the .cpg",
            cpg.trim_start_matches('\u{feff}').trim()
        ),
        None => "the Shapefile has no .cpg saying how its .dbf text is encoded, and the text is not UTF-8; give the encoding with --encoding GBK (Chinese data) or add a .cpg".to_string(),
    }
}

/// Whether text looks like Chinese GBK bytes decoded as Latin-1 (`中心城区` read as `ÖÐÐÄ³ÇÇø`):
/// every non-ASCII character is in U+00A1..=U+00FE (the byte range of GB2312 characters), they
/// come in runs of even length (two bytes per character), and there are at least four.
pub fn looks_like_gbk_as_latin1(text: &str) -> bool {
    let mut total = 0usize;
    let mut run = 0usize;
    for c in text.chars().chain(std::iter::once(' ')) {
        if c.is_ascii() {
            if run % 2 == 1 {
                return false;
            }
            total += run;
            run = 0;
        } else if ('\u{a1}'..='\u{fe}').contains(&c) {
            run += 1;
        } else {
            return false;
        }
    }
    total >= 4
}

/// The encoding a Shapefile's `.cpg` names, where GDAL alone would not decode the text: a Windows
/// code page written `ANSI 936` (as some GIS software writes it) or after a byte-order mark,
/// which GDAL takes for an encoding of that name, is `CP936` (code pages 437–950 and 1250–1258,
/// as GDAL reads a bare number; 65001 is UTF-8); `GB2312` is read as its superset `CP936`, so
/// that characters outside GB2312 (堃, 㙟) are not decoded into other, valid-looking ones.
/// `None` for any other `.cpg`, which GDAL reads itself.
fn cpg_code_page(source: &LayerSource) -> Option<String> {
    let path = source.shapefile()?;
    if !path.extension().is_some_and(|e| e.eq_ignore_ascii_case("shp")) {
        return None;
    }
    let cpg = std::fs::read_to_string(side_file(&path, "cpg")?).ok()?;
    let cpg = cpg.trim_start_matches('\u{feff}').trim();
    if cpg.eq_ignore_ascii_case("GB2312") {
        return Some("CP936".into());
    }
    let code = match cpg.split_at_checked(4) {
        Some((word, rest)) if word.eq_ignore_ascii_case("ANSI") => rest.trim(),
        _ => cpg,
    };
    match code.parse::<u32>().ok()? {
        65001 => Some("UTF-8".into()),
        n @ (437..=950 | 1250..=1258) => Some(format!("CP{n}")),
        _ => None,
    }
}

/// Opens a dataset for vector reading, with an optional Shapefile encoding override (else the
/// `.cpg`'s, see [`cpg_code_page`]).
fn open(source: &LayerSource, encoding: Option<&str>) -> Result<Dataset> {
    quiet_gdal();
    if is_network(&source.dataset) {
        return Err(Error::Usage(format!(
            "{}: planaudit reads local files only and makes no network request; download the data first",
            source.dataset
        )));
    }
    if let Some(e) = encoding.filter(|e| !decodable(e)) {
        return Err(Error::Usage(format!(
            "{}: the encoding '{e}' (--encoding) is not one this system can decode text from; Chinese data is usually GBK (or GB18030, CP936, UTF-8)",
            source.dataset
        )));
    }
    let enc_opt = encoding.map(str::to_string).or_else(|| cpg_code_page(source)).map(|e| format!("ENCODING={e}"));
    let open_options: Vec<&str> = enc_opt.iter().map(String::as_str).collect();
    let options = DatasetOptions {
        open_flags: GdalOpenFlags::GDAL_OF_VECTOR | GdalOpenFlags::GDAL_OF_READONLY,
        open_options: if open_options.is_empty() { None } else { Some(&open_options) },
        ..Default::default()
    };
    check_shapefile(&source.dataset)?;
    Dataset::open_ex(&source.dataset, options).map_err(|e| {
        let mut reason = gdal_message(&e);
        let path = std::path::Path::new(&source.dataset);
        if !source.dataset.contains(':') && !path.exists() {
            reason = "no such file".to_string();
        } else if path.is_file() && std::fs::metadata(path).is_ok_and(|m| m.len() == 0) {
            reason = "the file is empty (0 bytes)".to_string();
        } else if matches!(&e, GdalError::NullPointer { msg, .. } if msg.is_empty()) {
            reason =
                "GDAL recognises no vector format in it (a truncated or corrupt file, or not a GIS file)".to_string();
        }
        Error::Open { dataset: source.dataset.clone(), reason }
    })
}

/// Whether GDAL can decode text in `encoding`: it recodes a Shapefile's `.dbf` through iconv, under
/// the name given (GDAL's `CPLRecode`), and a name iconv does not know leaves the text undecoded.
pub(crate) fn decodable(encoding: &str) -> bool {
    // iconv takes an empty name for the locale's encoding; GDAL, for no recoding at all.
    if encoding.trim().is_empty() {
        return false;
    }
    let (Ok(to), Ok(from)) = (std::ffi::CString::new("UTF-8"), std::ffi::CString::new(encoding)) else {
        return false;
    };
    // SAFETY: both are valid NUL-terminated strings; a descriptor iconv_open gives is closed once.
    #[allow(unsafe_code)]
    unsafe {
        let cd = libc::iconv_open(to.as_ptr(), from.as_ptr());
        if cd as isize == -1 {
            return false;
        }
        libc::iconv_close(cd);
    }
    true
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

/// The layer a source names, or the dataset's only layer.
fn select_layer<'a>(ds: &'a Dataset, source: &LayerSource) -> Result<gdal::vector::Layer<'a>> {
    let names: Vec<String> = ds.layers().map(|l| l.name()).collect();
    Ok(match &source.layer {
        Some(name) => ds.layer_by_name(name).map_err(|_| Error::NoLayer {
            dataset: source.dataset.clone(),
            layer: name.clone(),
            available: names.join(", "),
        })?,
        None if names.len() == 1 => ds
            .layer(0)
            .map_err(|e| Error::Gdal { context: format!("{}: reading its layer", source.dataset), source: e })?,
        None if names.is_empty() => {
            return Err(Error::EmptyLayer {
                layer: source.dataset.clone(),
                reason: "the dataset has no vector layer".to_string(),
            })
        }
        None => {
            return Err(Error::AmbiguousLayer {
                dataset: source.dataset.clone(),
                count: names.len(),
                available: names.join(", "),
            })
        }
    })
}

/// What SQLite says of a layer of an SQLite-based dataset that GDAL stopped reading before its
/// first feature ([`sqlite_verdict`]), in SQLite's words where it fails.
#[derive(Debug, PartialEq)]
enum Sqlite {
    /// It refuses the filter (preparing it fails).
    RefusesFilter(String),
    /// It takes the filter and stops reading with it, while the first row reads without it: the
    /// filter fails on a value it meets (`malformed JSON`), or a page it passes is corrupt.
    StopsWithFilter(String),
    /// It cannot read the first row, with or without the filter (a corrupt file).
    FailsToRead(String),
    /// It reads the first row (with the filter, if any): what stops GDAL lies further on.
    Reads,
}

/// The error of a read GDAL stopped after `rows` features. Some drivers (GeoPackage) take any
/// attribute filter and fail on it only when reading starts: a failure before the first feature
/// is worded by what SQLite says of the layer, with and without the filter, when the layer is one
/// of an SQLite-based dataset (`sqlite`, asked only then: [`sqlite_verdict`]); otherwise, with a
/// filter, the filter is named first.
fn read_failure(
    label: &str,
    filter: Option<&str>,
    reason: &str,
    rows: u64,
    sqlite: impl FnOnce(Option<&str>) -> Option<Sqlite>,
) -> Error {
    let corrupt = |reason: String| Error::Read {
        layer: label.to_string(),
        reason: format!("{reason} (after {rows} features; the file may be truncated or corrupt)"),
    };
    let bad_filter = |filter: &str, reason: String| Error::BadFilter {
        layer: label.to_string(),
        filter: filter.to_string(),
        reason,
    };
    if rows > 0 {
        return corrupt(reason.to_string());
    }
    match (sqlite(filter), filter) {
        (Some(Sqlite::RefusesFilter(words)), Some(filter)) => bad_filter(
            filter,
            format!("SQLite refuses it ({words}): check the filter's fields and syntax (SQLite's SQL)"),
        ),
        (Some(Sqlite::StopsWithFilter(words)), Some(filter)) => bad_filter(
            filter,
            format!(
                "SQLite takes it but stops reading the rows with it ({words}): the filter may fail on a value it meets (SQLite's SQL), or the file may be corrupt"
            ),
        ),
        (Some(Sqlite::FailsToRead(words)), _) => corrupt(format!("{reason}; SQLite cannot read the rows: {words}")),
        (Some(Sqlite::Reads), f) => corrupt(format!(
            "{reason}; SQLite reads the first row{}: the file or its spatial index may be corrupt further on",
            if f.is_some() { " with the attribute filter" } else { "" }
        )),
        (_, Some(filter)) => bad_filter(
            filter,
            format!(
                "GDAL stopped before the first feature ({reason}): check the filter's fields and syntax (OGR SQL); if they are right, the file may be corrupt"
            ),
        ),
        (_, None) => corrupt(reason.to_string()),
    }
}

/// What SQLite says of a layer of a GeoPackage (or another SQLite-based dataset) that GDAL
/// stopped reading before its first feature: such a driver hands a filter to SQLite only when the
/// read starts, and GDAL then states no reason (a field the layer lacks, a syntax error, a value
/// the filter fails on, a corrupt page). A statement that reads nothing from the layer is
/// prepared, then the same with the filter last; then the first row is read with the filter, and,
/// if that fails, without it. `None` when the driver is not SQLite-based, or when the statement
/// that reads nothing fails.
fn sqlite_verdict(ds: &Dataset, layer_name: &str, filter: Option<&str>) -> Option<Sqlite> {
    if !matches!(ds.driver().short_name().as_str(), "GPKG" | "SQLite") {
        return None;
    }
    let table = format!("\"{}\"", layer_name.replace('"', "\"\""));
    // A failure, not a warning, with SQLite's words from its message, which reads `In
    // ExecuteSQL(): sqlite3_prepare_v2(<the statement>):` (or `sqlite3_step(...)`), a line break
    // and the words.
    let fails = |sql: String| match ds.execute_sql(&sql, None, gdal::vector::sql::Dialect::DEFAULT) {
        Err(GdalError::CplError { class: gdal_sys::CPLErr::CE_Failure | gdal_sys::CPLErr::CE_Fatal, msg, .. }) => {
            let words = msg.rsplit_once("):\n").map_or(msg.as_str(), |(_, w)| w).trim();
            Some(if words.is_empty() { msg.trim().to_string() } else { words.to_string() })
        }
        _ => None,
    };
    // A layer that is no table of that name (a view's, a second geometry column's) is not asked.
    let nothing = format!("SELECT 1 FROM (SELECT * FROM {table} LIMIT 0)");
    if fails(nothing.clone()).is_some() {
        return None;
    }
    let first_row = format!("SELECT * FROM {table}");
    let Some(filter) = filter else {
        return Some(fails(format!("{first_row} LIMIT 1")).map_or(Sqlite::Reads, Sqlite::FailsToRead));
    };
    // The filter in brackets: a comment at its end leaves the rest of the statement standing.
    if let Some(words) = fails(format!("{nothing} WHERE ({filter}\n)")) {
        return Some(Sqlite::RefusesFilter(words));
    }
    Some(match fails(format!("{first_row} WHERE ({filter}\n) LIMIT 1")) {
        None => Sqlite::Reads,
        Some(words) => match fails(format!("{first_row} LIMIT 1")) {
            None => Sqlite::StopsWithFilter(words),
            Some(_) => Sqlite::FailsToRead(words),
        },
    })
}

/// Reads a whole layer for one role.
///
/// Every feature the layer returns is either kept (possibly repaired) or counted as skipped with
/// its reason in the [`LayerReport`]. Layer-level problems (missing field, wrong geometry type,
/// no usable feature) are errors.
pub fn read_layer(spec: &LayerSpec) -> Result<RawLayer> {
    let ds = open(&spec.source, spec.encoding.as_deref())?;
    let mut layer = select_layer(&ds, &spec.source)?;
    // GeoPackage layers go through GDAL's Arrow stream, which GDAL 3.6 serves from the geometry
    // blobs without building OGR features; other formats are read feature by feature.
    let fast_arrow = ds.driver().short_name() == "GPKG";
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
            // A layer without features may have no fields either (GeoJSON learns its fields from
            // its features): empty is what is wrong with it.
            None if layer.feature_count() == 0 => {
                return Err(Error::EmptyLayer { layer: label, reason: "the layer is empty".to_string() })
            }
            None => {
                let mut available = columns.join(", ");
                // Names read in the wrong encoding cannot match: say how to read them.
                if columns.iter().any(|c| c.contains('\u{fffd}') || looks_like_gbk_as_latin1(c)) {
                    available.push_str(&format!(
                        " (names that do not decode: {})",
                        encoding_hint(&spec.source, spec.encoding.as_deref())
                    ));
                }
                return Err(Error::MissingField {
                    layer: label,
                    field: name.clone(),
                    role: spec.role.clone(),
                    available,
                });
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
        reset_gdal_error();
        // GDAL's own words (a field it does not know, a syntax error) rather than the error
        // number the binding returns.
        layer.set_attribute_filter(filter).map_err(|e| Error::BadFilter {
            layer: label.clone(),
            filter: filter.clone(),
            reason: gdal_failure().unwrap_or_else(|| gdal_message(&e)),
        })?;
    }

    let crs_wkt = layer.spatial_ref().and_then(|s| s.to_wkt().ok());
    let field_names: Vec<&String> = spec.fields.iter().chain(&spec.optional_fields).collect();
    let mut report = LayerReport { layer: label.clone(), role: spec.role.clone(), ..Default::default() };
    if let Some(e) = spec.encoding.as_deref().filter(|_| ds.driver().short_name() != "ESRI Shapefile") {
        report.warnings.push(format!(
            "{label}: the encoding {e} given is for a Shapefile's .dbf; this {} layer's text is read as its format defines, and the encoding is not used",
            ds.driver().long_name()
        ));
    }
    let mut wrong_type = 0u64;
    let mut warned_fields: Vec<usize> = Vec::new();

    // GDAL reads on this thread (its dataset and feature objects stay here); each feature leaves
    // as WKB with its attributes, in chunks, and the chunks are decoded, checked and repaired on
    // other threads while the next ones are read. Outcomes come back in the layer's order.
    // The kept features go straight into one vector, sized from the count the layer states when
    // its format keeps one (GeoPackage, Shapefile and FlatGeobuf headers) and no filter applies;
    // the other outcomes are kept as events, in order.
    let (sender, receiver) = std::sync::mpsc::sync_channel::<Chunk>(CHUNKS_IN_FLIGHT);
    // The chunks' WKB buffers go back to the reading thread once converted, to be filled again:
    // the WKB of a whole layer passes through a few buffers, not one fresh allocation a feature.
    let (give_back, given_back) = std::sync::mpsc::sync_channel::<Vec<u8>>(CHUNKS_IN_FLIGHT + 2);
    let kind = spec.geom;
    // The boxes to read, one pass each through the layer's spatial index: only when the caller
    // gives some in the layer's CRS and the layer has an index (else a pass per box would read
    // the whole layer each time); otherwise one pass over every feature.
    let within = spec.within.as_ref().filter(|w| {
        !w.boxes.is_empty()
            && (w.crs_wkt.is_none() || w.crs_wkt == crs_wkt)
            && layer.has_capability(LayerCaps::OLCFastSpatialFilter)
    });
    let passes: Vec<Option<Rect<f64>>> = match within {
        Some(w) => merge_boxes(&w.boxes).into_iter().map(Some).collect(),
        None => vec![None],
    };
    // The features the attribute filter lets through, to count those not read, and the extent of
    // the whole layer, for the checks that compare layers.
    let in_layer = within.map(|_| layer.feature_count());
    let extent = within
        .and_then(|_| layer.get_extent().ok())
        .map(|e| Rect::new(geo::coord! { x: e.MinX, y: e.MinY }, geo::coord! { x: e.MaxX, y: e.MaxY }));
    let mut seen: std::collections::HashSet<u64> = std::collections::HashSet::new();
    let states_count = matches!(ds.driver().short_name().as_str(), "GPKG" | "ESRI Shapefile" | "FlatGeobuf");
    let expected = match spec.filter {
        None if states_count && within.is_none() => layer.try_feature_count().unwrap_or(0),
        _ => 0,
    };
    let (read_result, converted) = std::thread::scope(|scope| {
        let worker = scope.spawn(move || {
            use rayon::prelude::*;
            // A reservation the allocator refuses is skipped: the vector then grows as it fills.
            let mut features = Vec::new();
            let _ = features.try_reserve_exact(expected.min(MAX_RESERVED_FEATURES) as usize);
            let mut events: Vec<Event> = Vec::new();
            for Chunk { wkb, records } in receiver {
                let outcomes: Vec<Outcome> = records.into_par_iter().map(|r| convert_record(r, &wkb, kind)).collect();
                // Refused when the reader has stopped or holds enough buffers: then freed here.
                let _ = give_back.try_send(wkb);
                for outcome in outcomes {
                    match outcome.result {
                        Err(reason) => {
                            events.push(Event::Skipped { fid: outcome.fid, reason, wrong_type: outcome.wrong_type })
                        }
                        Ok(Converted { geometry, attrs, repairs }) => {
                            if !repairs.is_empty() {
                                events.push(Event::Repaired { fid: outcome.fid, repairs });
                            }
                            features.push(RawFeature { fid: outcome.fid, geometry, attrs });
                        }
                    }
                }
            }
            // A count that overstated the layer leaves no idle room behind.
            if features.len() < features.capacity() / 2 {
                features.shrink_to_fit();
            }
            (features, events)
        });
        let new_chunk = || Chunk {
            wkb: given_back
                .try_recv()
                .map(|mut b| {
                    b.clear();
                    b
                })
                .unwrap_or_default(),
            records: Vec::with_capacity(CHUNK),
        };
        let mut chunk = new_chunk();
        // One feature: its WKB is copied into the chunk's buffer.
        let mut emit = |fid: u64, body: std::result::Result<(&[u8], Vec<Option<String>>), String>, checked: bool| {
            let body = body.map(|(wkb, attrs)| {
                let start = chunk.wkb.len();
                chunk.wkb.extend_from_slice(wkb);
                (start..chunk.wkb.len(), attrs)
            });
            chunk.records.push(Record { fid, body, checked });
            if chunk.records.len() == CHUNK {
                // The worker only stops early by panicking, which `join` reports below.
                let _ = sender.send(std::mem::replace(&mut chunk, new_chunk()));
            }
        };
        // The requested attributes of one feature, from its columns' text (`column(i)` for the
        // layer's column `i`, which may hand each column's text out once), checked for text that
        // does not decode. A column asked for twice (two roles naming one field) is taken once and
        // copied; so is the OSM tags column when it is asked for as a field too.
        let first_use: Vec<Option<usize>> = sources
            .iter()
            .enumerate()
            .map(|(k, s)| match s {
                FieldSource::Column(i) => {
                    sources[..k].iter().position(|e| matches!(e, FieldSource::Column(j) if j == i))
                }
                _ => None,
            })
            .collect();
        let mut attrs_of = |fid: u64, column: &mut dyn FnMut(usize) -> Option<String>, report: &mut LayerReport| {
            let tags_column = other_tags_idx.filter(|_| needs_tags);
            let tags_text = tags_column.and_then(&mut *column);
            let tags = tags_text.as_deref().map(parse_other_tags).unwrap_or_default();
            let mut attrs: Vec<Option<String>> = Vec::with_capacity(sources.len());
            for (k, s) in sources.iter().enumerate() {
                let value = match (s, first_use[k]) {
                    (FieldSource::Column(_), Some(j)) => attrs[j].clone(),
                    (FieldSource::Column(i), None) if Some(*i) == tags_column => tags_text.clone(),
                    (FieldSource::Column(i), None) => column(*i),
                    (FieldSource::OtherTag(key), _) => tags.get(key).cloned(),
                    (FieldSource::Absent, _) => None,
                };
                if let Some(v) = &value {
                    if let Some(w) = check_text(v, k, &warned_fields).map_err(|()| Error::BadFeature {
                        layer: label.clone(),
                        fid,
                        field: field_names[k].clone(),
                        reason: format!(
                            "'{v}' is not readable text: {}",
                            encoding_hint(&spec.source, spec.encoding.as_deref())
                        ),
                    })? {
                        warned_fields.push(k);
                        report
                            .warnings
                            .push(format!("{label}: feature {fid}: field '{}' reads '{v}', which {w}", field_names[k]));
                    }
                }
                attrs.push(value);
            }
            Ok::<_, Error>(attrs)
        };
        // The columns to read: those of the requested fields, and the OSM tags when needed.
        let mut wanted: Vec<usize> = sources
            .iter()
            .filter_map(|s| if let FieldSource::Column(i) = s { Some(*i) } else { None })
            .chain(other_tags_idx.filter(|_| needs_tags))
            .collect();
        wanted.sort_unstable();
        wanted.dedup();
        let arrow_columns: Vec<String> = wanted.iter().map(|&i| columns[i].clone()).collect();

        // GDAL's failure after `rows` features, worded by what SQLite says of the layer where it can.
        let failure = |reason: &str, rows: u64| {
            read_failure(&label, spec.filter.as_deref(), reason, rows, |filter| {
                sqlite_verdict(&ds, &layer_name, filter)
            })
        };
        let mut result: Result<()> = Ok(());
        for pass in &passes {
            if let Some(b) = pass {
                layer.set_spatial_filter_rect(b.min().x, b.min().y, b.max().x, b.max().y);
            }
            // A feature that meets several of the boxes is read once.
            let mut first_time = |fid: u64| passes.len() < 2 || seen.insert(fid);
            // `None` until one of the two ways has read the layer (or failed).
            let mut done: Option<Result<()>> = None;
            if fast_arrow {
                let read = super::arrow::read(&mut layer, &arrow_columns, |row| {
                    if !first_time(row.fid) {
                        return Ok(());
                    }
                    report.read += 1;
                    let body = match row.wkb {
                        None => Err("no geometry".to_string()),
                        Some(wkb) => {
                            let values = row.values;
                            let mut column =
                                |i: usize| wanted.iter().position(|&w| w == i).and_then(|k| values[k].take());
                            let attrs = attrs_of(row.fid, &mut column, &mut report)?;
                            Ok((wkb, attrs))
                        }
                    };
                    emit(row.fid, body, false);
                    Ok(())
                });
                done = match read {
                    Ok(_) => Some(Ok(())),
                    Err(super::arrow::ArrowError::Stopped(e)) => Some(Err(e)),
                    Err(super::arrow::ArrowError::Failed { reason, rows }) => Some(Err(failure(&reason, rows))),
                    // Nothing was read: the layer is read feature by feature below.
                    Err(super::arrow::ArrowError::Unsupported(_)) => None,
                };
            }
            let pass_result = done.unwrap_or_else(|| {
                let mut iter = features_from_start(&mut layer);
                let mut wkb = Vec::new();
                (|| -> Result<()> {
                    for i in 0usize.. {
                        // A failure while GDAL reads the next feature (a GeoPackage page that is corrupt,
                        // an .osm.pbf cut short) ends its iteration early, as if the layer ended there.
                        // Check for it after every feature: a run must never go on with part of a layer.
                        reset_gdal_error();
                        let next = iter.next();
                        if let Some(reason) = gdal_failure() {
                            return Err(failure(&reason, report.read));
                        }
                        let Some(feature) = next else { break };
                        let fid = match feature.fid() {
                            Some(fid) => fid,
                            None if passes.len() < 2 => i as u64,
                            // Formats with a spatial index number their features; without, a
                            // feature met by two boxes could not be told from two features.
                            None => {
                                return Err(Error::Read {
                                    layer: label.clone(),
                                    reason: "a feature without a FID, which a read through several boxes needs".into(),
                                })
                            }
                        };
                        if !first_time(fid) {
                            continue;
                        }
                        report.read += 1;
                        let body = match feature.geometry() {
                            None => Err("no geometry".to_string()),
                            Some(geom) if geom.is_empty() => Err("empty geometry".to_string()),
                            Some(geom) => {
                                let t = flat(geom.geometry_type());
                                if type_fits(kind, t) == Some(true) {
                                    export_wkb(geom, &mut wkb)
                                } else {
                                    wrong_type += 1;
                                    Err(wrong_type_reason(t, kind))
                                }
                            }
                        };
                        let body = match body {
                            Err(e) => Err(e),
                            Ok(()) => {
                                let mut column = |i: usize| feature.field_as_string(i).ok().flatten();
                                Ok((wkb.as_slice(), attrs_of(fid, &mut column, &mut report)?))
                            }
                        };
                        emit(fid, body, true);
                    }
                    Ok(())
                })()
            });
            if pass_result.is_err() {
                result = pass_result;
                break;
            }
        }
        if result.is_ok() && !chunk.records.is_empty() {
            let _ = sender.send(chunk);
        }
        drop(sender);
        (result, worker.join())
    });
    read_result?;
    let converted = converted.map_err(|_| Error::Internal(format!("{label}: the geometry conversion")))?;

    let (mut features, mut events) = converted;
    if within.is_some() {
        // A spatial filter gives the index's order, and passes come in box order: the layer's
        // order again, as a whole read gives.
        features.sort_by_key(|f| f.fid);
        events.sort_by_key(|e| match e {
            Event::Skipped { fid, .. } | Event::Repaired { fid, .. } => *fid,
        });
    }
    if let (Some(w), Some(n)) = (within, in_layer) {
        let outside = n.saturating_sub(report.read);
        if outside > 0 {
            report.not_read.insert(w.reason.clone(), outside);
        }
    }
    for event in events {
        match event {
            Event::Skipped { fid, reason, wrong_type: w } => {
                wrong_type += u64::from(w);
                report.skip(fid, &reason);
            }
            Event::Repaired { fid, repairs } => {
                for r in repairs {
                    report.repair(fid, r);
                }
            }
        }
    }
    report.used = features.len() as u64;

    // Fields that are no column were looked up among the OSM tags: one that no feature has there
    // is misnamed (a typo, or a table's field on data that has none), not empty. A required one is
    // an error, unless the fields are alternatives and another of them has values.
    let absent: Vec<usize> = (0..sources.len())
        .filter(|&k| matches!(sources[k], FieldSource::OtherTag(_)) && !features.iter().any(|f| f.attrs[k].is_some()))
        .collect();
    let required = spec.fields.len();
    let any_value = (0..required).any(|k| !absent.contains(&k) && features.iter().any(|f| f.attrs[k].is_some()));
    let missing = absent.iter().find(|&&k| k < required).filter(|_| !(spec.alternatives && any_value));
    if let (Some(&k), false) = (missing, features.is_empty()) {
        return Err(Error::MissingField {
            layer: label,
            field: spec.fields[k].clone(),
            role: spec.role.clone(),
            available: format!("{}; and no feature's {OTHER_TAGS} has the key", columns.join(", ")),
        });
    }
    let absent_tags: Vec<String> =
        if features.is_empty() { Vec::new() } else { absent.iter().map(|&k| field_names[k].clone()).collect() };

    // A layer read in part (through boxes) may have no usable feature in that part: no error, the
    // part needed is empty (and what was skipped in it is counted).
    if features.is_empty() && report.not_read.is_empty() {
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

    Ok(RawLayer {
        source: spec.source.clone(),
        layer_name,
        crs_wkt,
        features,
        optional_present,
        absent_tags,
        report,
        pending_crs: None,
        extent,
    })
}

/// The layer's features from its first. The `gdal` crate counts the features when it makes the
/// iterator (for its size hint), and GDAL lets a count move the read position: OpenFileGDB, asked
/// for the count under a spatial filter, leaves it at the end (GDAL 3.6), and the pass would read
/// nothing. The position is set back to the start after the count.
#[allow(unsafe_code)]
fn features_from_start<'a>(layer: &'a mut gdal::vector::Layer<'_>) -> gdal::vector::FeatureIterator<'a> {
    // SAFETY: the handle is the layer's own, valid while the layer is borrowed by the iterator;
    // OGR_L_ResetReading only sets the layer's read position back to its first feature.
    let c_layer = unsafe { layer.c_layer() };
    let iter = layer.features();
    unsafe { gdal_sys::OGR_L_ResetReading(c_layer) };
    iter
}

/// Boxes merged until none meets another: a feature in the overlap of two is then looked up
/// once, and there are fewer passes. In the order of their lower-left corners.
fn merge_boxes(boxes: &[Rect<f64>]) -> Vec<Rect<f64>> {
    use geo::Intersects as _;
    let mut merged: Vec<Rect<f64>> = Vec::with_capacity(boxes.len());
    for b in boxes {
        let mut b = *b;
        // A box grown by a merge may now meet boxes kept before it.
        while let Some(i) = merged.iter().position(|m| m.intersects(&b)) {
            b = crate::units::rect_union(merged.swap_remove(i), b);
        }
        merged.push(b);
    }
    merged.sort_by(|a, b| a.min().x.total_cmp(&b.min().x).then(a.min().y.total_cmp(&b.min().y)));
    merged
}

/// Features per chunk handed from the reading thread to the conversion.
const CHUNK: usize = 4096;
/// Chunks read ahead of the conversion at most (bounds the WKB held in memory).
const CHUNKS_IN_FLIGHT: usize = 4;

/// Features handed from the reading thread to the conversion: their records, and the WKB of
/// their geometries one after another.
struct Chunk {
    wkb: Vec<u8>,
    records: Vec<Record>,
}

/// One feature as the reading thread leaves it: where its geometry's WKB lies in its chunk's
/// buffer, with its attributes, or the reason it is skipped.
struct Record {
    fid: u64,
    body: std::result::Result<(std::ops::Range<usize>, Vec<Option<String>>), String>,
    /// Whether the geometry is known to be non-empty and of the role's type.
    checked: bool,
}

/// The most features a read reserves room for from the count the layer states (about 370 MB of
/// address space, touched only as features arrive): a damaged header cannot make it reserve more.
const MAX_RESERVED_FEATURES: u64 = 1 << 22;

/// What a read counts of a feature other than its plain use, in the layer's order.
enum Event {
    Skipped { fid: u64, reason: String, wrong_type: bool },
    Repaired { fid: u64, repairs: Vec<&'static str> },
}

/// A converted feature, or the reason it is skipped.
struct Outcome {
    fid: u64,
    result: std::result::Result<Converted, String>,
    /// Skipped for a geometry type the role does not take.
    wrong_type: bool,
}

/// A feature's geometry as decoded and repaired, its attributes, and the repairs made.
struct Converted {
    geometry: Geometry<f64>,
    attrs: Vec<Option<String>>,
    repairs: Vec<&'static str>,
}

fn convert_record(r: Record, chunk_wkb: &[u8], kind: GeomKind) -> Outcome {
    let mut wrong_type = false;
    let checked = r.checked;
    let result = r.body.and_then(|(at, attrs)| {
        let wkb = &chunk_wkb[at];
        let decoded = super::wkb::decode(wkb).map_err(|e| format!("unreadable geometry: {e}"));
        if !checked {
            if matches!(&decoded, Ok((super::wkb::Wkb::Geometry(g), _)) if g.coords_count() == 0) {
                return Err("empty geometry".to_string());
            }
            let t = super::wkb::type_code(wkb).map(|c| {
                // SAFETY: OGR_GT_Flatten is a pure function of its argument.
                #[allow(unsafe_code)]
                unsafe {
                    gdal_sys::OGR_GT_Flatten(c)
                }
            });
            if let Some(t) = t {
                if type_fits(kind, t) != Some(true) {
                    wrong_type = true;
                    return Err(wrong_type_reason(t, kind));
                }
            }
        }
        let (g, repairs) = convert_decoded(decoded?, wkb, kind)?;
        if !g.coords_iter().all(|c| c.x.is_finite() && c.y.is_finite()) {
            return Err(NON_FINITE.to_string());
        }
        Ok(Converted { geometry: g, attrs, repairs })
    });
    Outcome { fid: r.fid, result, wrong_type }
}

/// The reason a feature of a geometry type the role does not take is skipped.
fn wrong_type_reason(t: OGRwkbGeometryType::Type, kind: GeomKind) -> String {
    format!(
        "{} geometry where {} {} expected",
        gdal::vector::geometry_type_to_name(t),
        kind.describe(),
        if kind == GeomKind::PointsOrPolygons { "is" } else { "geometries are" }
    )
}

/// Exports an OGR geometry as little-endian WKB into `buf` (reused between features).
#[allow(unsafe_code)]
fn export_wkb(geom: &GdalGeometry, buf: &mut Vec<u8>) -> std::result::Result<(), String> {
    // SAFETY: `geom` owns a valid OGR geometry; the buffer is resized to exactly OGR_G_WkbSize
    // bytes, which OGR_G_ExportToWkb fills.
    unsafe {
        let n = gdal_sys::OGR_G_WkbSize(geom.c_geometry()).max(0) as usize;
        buf.clear();
        buf.resize(n, 0);
        let rc = gdal_sys::OGR_G_ExportToWkb(geom.c_geometry(), gdal_sys::OGRwkbByteOrder::wkbNDR, buf.as_mut_ptr());
        if rc != gdal_sys::OGRErr::OGRERR_NONE {
            return Err("geometry that GDAL cannot export".to_string());
        }
    }
    Ok(())
}

/// Checks one attribute's text. GDAL's text comes through a lossy UTF-8 conversion: U+FFFD marks
/// bytes that are not text in the encoding GDAL assumed; codes and kinds read that way would be
/// matched against the tables as garbage, so that is an error (`Err`). Text that looks like
/// Chinese decoded as Latin-1 is a warning, once per field (`Ok(Some(what it looks like))`).
fn check_text(v: &str, field: usize, warned: &[usize]) -> std::result::Result<Option<&'static str>, ()> {
    if v.contains('\u{fffd}') {
        return Err(());
    }
    if !warned.contains(&field) && looks_like_gbk_as_latin1(v) {
        return Ok(Some("looks like Chinese (GBK) text decoded as Latin-1; check the encoding (.cpg, --encoding GBK)"));
    }
    Ok(None)
}

/// The reason a feature with a NaN or infinite coordinate is skipped.
const NON_FINITE: &str = "non-finite coordinate (NaN or infinity)";

/// Repair reasons, as counted in [`LayerReport::repairs`].
pub const REPAIR_MAKE_VALID: &str = "invalid polygon repaired with make-valid";
pub const REPAIR_CLOSED_RING: &str = "unclosed polygon ring closed";
pub const REPAIR_DUPLICATE_VERTICES: &str = "duplicate consecutive vertices removed";
pub const REPAIR_DEGENERATE_PARTS: &str = "parts of fewer than two distinct points dropped";

/// Repairs an invalid polygon or multipolygon the way a planner reads it: the land is the union
/// of the shells, minus the union of the holes, each ring first made valid on its own with GEOS
/// make-valid (a self-intersecting ring becomes the areas it encloses; a spike or a ring of no
/// area vanishes). GEOS's own "linework" repair of the whole polygon would turn a hole that lies
/// outside its shell into extra land; GDAL 3.6's make-valid has no "structure" method that
/// would not, so it is built here from rings.
fn make_valid_structure(raw: &Geometry<f64>) -> Result<MultiPolygon<f64>, String> {
    use gdal::vector::ToGdal;
    let polygons: Vec<&geo::Polygon<f64>> = match raw {
        Geometry::Polygon(p) => vec![p],
        Geometry::MultiPolygon(mp) => mp.0.iter().collect(),
        _ => return Err("not a polygon".to_string()),
    };
    let fail = |what: &str| format!("invalid polygon that make-valid could not repair ({what})");
    let valid_ring = |ring: &LineString<f64>| -> Result<Option<GdalGeometry>, String> {
        if ring.0.len() < 4 {
            return Ok(None);
        }
        let g = geo::Polygon::new(ring.clone(), vec![]).to_gdal().map_err(|e| fail(&gdal_message(&e)))?;
        let v = g.make_valid(&CslStringList::new()).map_err(|e| fail(&gdal_message(&e)))?;
        let polys = polygons_of(v.to_geo().map_err(|e| fail(&e.to_string()))?);
        if polys.0.is_empty() {
            return Ok(None);
        }
        Ok(Some(polys.to_gdal().map_err(|e| fail(&gdal_message(&e)))?))
    };
    let union = |a: Option<GdalGeometry>, b: GdalGeometry| -> Result<Option<GdalGeometry>, String> {
        match a {
            None => Ok(Some(b)),
            Some(a) => a.union(&b).map(Some).ok_or_else(|| fail("union")),
        }
    };
    let mut land: Option<GdalGeometry> = None;
    for p in polygons {
        let Some(mut part) = valid_ring(p.exterior())? else { continue };
        for hole in p.interiors() {
            if let Some(h) = valid_ring(hole)? {
                part = part.difference(&h).ok_or_else(|| fail("difference"))?;
            }
        }
        land = union(land, part)?;
    }
    match land {
        None => Ok(MultiPolygon(vec![])),
        Some(g) => Ok(polygons_of(g.to_geo().map_err(|e| fail(&e.to_string()))?)),
    }
}

/// Converts one geometry, as WKB, to `geo`: arcs linearised, unclosed polygon rings closed,
/// invalid polygons repaired with GEOS make-valid, duplicate consecutive vertices removed and line
/// parts of fewer than two distinct points dropped. Returns the geometry and the repairs made, or
/// the reason it cannot be used. Runs on any thread (GDAL is used only for arcs and repairs, on
/// geometry objects of its own).
///
/// Validity is judged first by [`is_clearly_convex`] (a strictly convex ring, valid for any judge),
/// then by `geo` (no GEOS round trip for the valid polygons that make up almost all data); a
/// polygon `geo` finds invalid is judged again by GEOS, and repaired only if GEOS agrees, so
/// repairs are exactly those GEOS validity calls for among the polygons `geo` questions.
fn convert_wkb(wkb: &[u8], kind: GeomKind) -> Result<(Geometry<f64>, Vec<&'static str>), String> {
    let decoded = super::wkb::decode(wkb).map_err(|e| format!("unreadable geometry: {e}"))?;
    convert_decoded(decoded, wkb, kind)
}

/// [`convert_wkb`] for a geometry already decoded from `wkb`.
fn convert_decoded(
    (decoded, info): (super::wkb::Wkb, super::wkb::Decoded),
    wkb: &[u8],
    kind: GeomKind,
) -> Result<(Geometry<f64>, Vec<&'static str>), String> {
    use geo::Validation;
    let g = match decoded {
        super::wkb::Wkb::Geometry(g) => g,
        super::wkb::Wkb::Curve => {
            let geom = GdalGeometry::from_wkb(wkb).map_err(|e| format!("unreadable geometry: {}", gdal_message(&e)))?;
            let mut lin = Vec::new();
            export_wkb(&linearize(&geom)?, &mut lin)?;
            return convert_wkb(&lin, kind);
        }
    };
    let mut repairs = Vec::new();
    let is_polygonal = matches!(g, Geometry::Polygon(_) | Geometry::MultiPolygon(_));
    let g = if kind != GeomKind::Lines && is_polygonal {
        if info.unclosed_ring {
            repairs.push(REPAIR_CLOSED_RING);
        }
        if is_clearly_convex(&g) || (g.is_valid() && !has_flat_ring(&g)) || geos_is_valid(&g)? {
            g
        } else {
            // GEOS is not asked to repair coordinates that are not numbers.
            if !g.coords_iter().all(|c| c.x.is_finite() && c.y.is_finite()) {
                return Err(NON_FINITE.to_string());
            }
            let polys = make_valid_structure(&g)?;
            if polys.0.is_empty() {
                return Err("invalid polygon with no area left after repair".to_string());
            }
            repairs.push(REPAIR_MAKE_VALID);
            Geometry::MultiPolygon(polys)
        }
    } else {
        g
    };
    let (g, deduped, dropped) = clean_vertices(g);
    if deduped {
        repairs.push(REPAIR_DUPLICATE_VERTICES);
    }
    if dropped {
        repairs.push(REPAIR_DEGENERATE_PARTS);
    }
    match &g {
        Geometry::LineString(l) if l.0.len() < 2 => Err(DEGENERATE_LINE.to_string()),
        Geometry::MultiLineString(m) if m.0.is_empty() => Err(DEGENERATE_LINE.to_string()),
        _ => Ok((g, repairs)),
    }
}

/// Whether a polygon is one closed ring without holes that turns the same way at every vertex by a
/// clear margin and goes round once: such a ring is simple and has area, so GEOS and `geo` both call
/// it valid, and the pairwise segment tests of a full validation are not needed. Most parcels and
/// blocks are such quadrilaterals. Anything else (a hole, several parts, a repeated or nearly
/// collinear vertex, a coordinate that is not a number) answers `false` and goes to the full tests.
fn is_clearly_convex(g: &Geometry<f64>) -> bool {
    let p = match g {
        Geometry::Polygon(p) => p,
        Geometry::MultiPolygon(mp) if mp.0.len() == 1 => &mp.0[0],
        _ => return false,
    };
    if !p.interiors().is_empty() {
        return false;
    }
    let ring = &p.exterior().0;
    let n = ring.len().saturating_sub(1); // distinct vertices of the closed ring
    if n < 3 || ring[0] != ring[n] {
        return false;
    }
    // A turn counts when |cross| is above this share of the two edge lengths' product (compared
    // squared): far above the rounding of the cross product, so its sign is certain.
    const MIN_SINE: f64 = 1e-9;
    let mut sign = 0.0;
    // Sign changes of one direction component along the ring, and the last non-zero sign.
    let (mut x_flips, mut y_flips) = ((0, 0.0), (0, 0.0));
    let flip = |(flips, last): &mut (u32, f64), d: f64| {
        if d != 0.0 {
            if *last != 0.0 && d.signum() != *last {
                *flips += 1;
            }
            *last = d.signum();
        }
    };
    for i in 0..=n {
        let (a, b, c) = (ring[i % n], ring[(i + 1) % n], ring[(i + 2) % n]);
        let (e, f) = (b - a, c - b);
        let cross = e.x * f.y - e.y * f.x;
        let scale_sq = (e.x * e.x + e.y * e.y) * (f.x * f.x + f.y * f.y);
        let clear_turn = cross * cross > MIN_SINE * MIN_SINE * scale_sq;
        if !clear_turn {
            return false; // collinear, repeated, or not a number
        }
        if sign == 0.0 {
            sign = cross.signum();
        } else if cross.signum() != sign {
            return false;
        }
        // Going round once: each direction component changes sign twice over the ring (the
        // first edge is seen twice, so that the change across the closing vertex counts).
        flip(&mut x_flips, e.x);
        flip(&mut y_flips, e.y);
    }
    x_flips.0 <= 2 && y_flips.0 <= 2
}

/// Whether a polygon has a ring without area (all its points on one line), which GEOS calls
/// invalid and `geo`'s validation lets through.
fn has_flat_ring(g: &Geometry<f64>) -> bool {
    use geo::Area;
    let flat = |r: &LineString<f64>| geo::Polygon::new(r.clone(), vec![]).signed_area() == 0.0;
    let polygon_flat = |p: &geo::Polygon<f64>| flat(p.exterior()) || p.interiors().iter().any(flat);
    match g {
        Geometry::Polygon(p) => polygon_flat(p),
        Geometry::MultiPolygon(mp) => mp.0.iter().any(polygon_flat),
        _ => false,
    }
}

/// GEOS's judgement of a polygon's validity (through an OGR geometry of its own).
fn geos_is_valid(g: &Geometry<f64>) -> Result<bool, String> {
    use gdal::vector::ToGdal;
    Ok(g.to_gdal().map_err(|e| format!("unreadable geometry: {}", gdal_message(&e)))?.is_valid())
}

/// The reason a line of one point (or of one point repeated) is skipped.
const DEGENERATE_LINE: &str = "line of fewer than two distinct points";

/// Removes duplicate consecutive vertices, and drops line parts left with fewer than two points.
/// Returns the geometry, whether any vertex was removed, and whether any part was dropped.
/// Polygon rings are left to make-valid (a ring of fewer than four points is invalid).
fn clean_vertices(g: Geometry<f64>) -> (Geometry<f64>, bool, bool) {
    fn dedup(ls: &mut LineString<f64>) -> bool {
        let n = ls.0.len();
        ls.0.dedup();
        ls.0.len() != n
    }
    let mut deduped = false;
    let mut dropped = false;
    let g = match g {
        Geometry::LineString(mut l) => {
            deduped |= dedup(&mut l);
            Geometry::LineString(l)
        }
        Geometry::MultiLineString(mut m) => {
            for l in &mut m.0 {
                deduped |= dedup(l);
            }
            let n = m.0.len();
            m.0.retain(|l| l.0.len() >= 2);
            dropped = m.0.len() != n;
            Geometry::MultiLineString(m)
        }
        Geometry::Polygon(mut p) => {
            p.exterior_mut(|r| deduped |= dedup(r));
            p.interiors_mut(|rs| rs.iter_mut().for_each(|r| deduped |= dedup(r)));
            Geometry::Polygon(p)
        }
        Geometry::MultiPolygon(mut mp) => {
            for p in &mut mp.0 {
                p.exterior_mut(|r| deduped |= dedup(r));
                p.interiors_mut(|rs| rs.iter_mut().for_each(|r| deduped |= dedup(r)));
            }
            Geometry::MultiPolygon(mp)
        }
        other => other,
    };
    (g, deduped, dropped)
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The `.cpg` contents GDAL alone does not decode, and the encodings they are read as.
    #[test]
    fn cpg_code_pages() {
        let dir = tempfile::tempdir().unwrap();
        let shp = dir.path().join("a.shp");
        let shp = shp.to_str().unwrap();
        for (cpg, want) in [
            ("ANSI 936", Some("CP936")),
            ("ansi  1252 \r\n", Some("CP1252")),
            ("\u{feff}ANSI 936", Some("CP936")),
            ("\u{feff}936", Some("CP936")),
            ("936", Some("CP936")),
            ("GB2312\n", Some("CP936")),
            ("ANSI 65001", Some("UTF-8")),
            ("UTF-8", None),
            ("GBK", None),
            ("ANSI_936", None),
            ("ANSI 99999", None),
            ("", None),
        ] {
            std::fs::write(dir.path().join("a.cpg"), cpg).unwrap();
            assert_eq!(cpg_code_page(&LayerSource::parse(shp)).as_deref(), want, "{cpg:?}");
        }
        // Only a Shapefile's .cpg counts.
        std::fs::write(dir.path().join("a.cpg"), "ANSI 936").unwrap();
        assert_eq!(cpg_code_page(&LayerSource::parse(dir.path().join("a.dbf").to_str().unwrap())), None);
        // A folder's Shapefile, named as its layer or the folder's only one.
        std::fs::write(dir.path().join("a.shp"), b"").unwrap();
        let folder = dir.path().to_str().unwrap();
        assert_eq!(cpg_code_page(&LayerSource::parse(&format!("{folder}#a"))).as_deref(), Some("CP936"));
        assert_eq!(cpg_code_page(&LayerSource::parse(folder)).as_deref(), Some("CP936"));
        std::fs::remove_file(dir.path().join("a.cpg")).unwrap();
        assert_eq!(cpg_code_page(&LayerSource::parse(shp)), None);
    }
    use geo::Area;

    fn convert(wkt: &str, kind: GeomKind) -> Result<(Geometry<f64>, Vec<&'static str>), String> {
        let mut wkb = Vec::new();
        export_wkb(&GdalGeometry::from_wkt(wkt).unwrap(), &mut wkb).unwrap();
        convert_wkb(&wkb, kind)
    }

    #[test]
    fn hole_outside_the_shell_is_dropped_not_added() {
        let (g, repairs) =
            convert("POLYGON((0 0,10 0,10 10,0 10,0 0),(20 0,20 5,25 5,25 0,20 0))", GeomKind::Polygons).unwrap();
        assert_eq!(repairs, [REPAIR_MAKE_VALID]);
        assert!((g.unsigned_area() - 100.0).abs() < 1e-9, "{g:?}");
    }

    #[test]
    fn bow_tie_becomes_its_two_triangles() {
        let (g, repairs) = convert("POLYGON((0 0,10 10,10 0,0 10,0 0))", GeomKind::Polygons).unwrap();
        assert_eq!(repairs, [REPAIR_MAKE_VALID]);
        assert!((g.unsigned_area() - 50.0).abs() < 1e-9, "{g:?}");
    }

    #[test]
    fn hole_inside_a_self_intersecting_shell_is_kept() {
        let (g, _) =
            convert("POLYGON((0 0,20 20,20 0,0 20,0 0),(14 8,14 12,18 12,18 8,14 8))", GeomKind::Polygons).unwrap();
        assert!((g.unsigned_area() - (200.0 - 16.0)).abs() < 1e-9, "{g:?}");
    }

    fn polygon(wkt: &str) -> Geometry<f64> {
        let mut wkb = Vec::new();
        export_wkb(&GdalGeometry::from_wkt(wkt).unwrap(), &mut wkb).unwrap();
        match super::super::wkb::decode(&wkb).unwrap().0 {
            super::super::wkb::Wkb::Geometry(g) => g,
            super::super::wkb::Wkb::Curve => panic!("not a curve"),
        }
    }

    #[test]
    fn clearly_convex_rings() {
        for (wkt, convex) in [
            ("POLYGON((0 0,10 0,10 10,0 10,0 0))", true),
            ("POLYGON((0 0,0 10,10 10,10 0,0 0))", true),
            ("MULTIPOLYGON(((0 0,10 0,5 8,0 0)))", true),
            // A pentagram turns the same way at every vertex but goes round twice.
            ("POLYGON((0 0,6 4,-2 4,4 0,2 6,0 0))", false),
            ("POLYGON((0 0,10 10,10 0,0 10,0 0))", false),
            ("POLYGON((0 0,10 0,20 0,10 5,0 0))", false),
            ("POLYGON((0 0,10 0,10 0,10 10,0 10,0 0))", false),
            ("POLYGON((0 0,10 0,10 10,5 10.000000000001,0 10,0 0))", false),
            ("POLYGON((0 0,10 0,10 10,0 10,0 0),(2 2,2 3,3 3,3 2,2 2))", false),
            ("MULTIPOLYGON(((0 0,1 0,1 1,0 0)),((5 5,6 5,6 6,5 5)))", false),
            ("POLYGON((0 0,10 0,0 10,10 10,0 0))", false),
        ] {
            let g = polygon(wkt);
            assert_eq!(is_clearly_convex(&g), convex, "{wkt}");
        }
    }

    /// Seeded random rings of 3 to 7 points (many self-intersecting): every ring called clearly
    /// convex is valid for GEOS and for `geo`, and has area.
    #[test]
    fn clearly_convex_rings_are_valid() {
        use geo::Validation;
        let mut next = crate::testing::uniform(0x243f6a8885a308d3);
        let (mut convex, mut others) = (0, 0);
        for i in 0..20_000 {
            let n = 3 + i % 5;
            // Points on a jittered circle, in order or shuffled by the random angles.
            let mut ring: Vec<geo::Coord<f64>> = (0..n)
                .map(|k| {
                    let t = if i % 2 == 0 { (k as f64 + next() * 0.9) / n as f64 } else { next() };
                    let r = 100.0 * (0.5 + next());
                    let t = t * std::f64::consts::TAU;
                    geo::coord! { x: 39_500_000.0 + r * t.cos(), y: 3_500_000.0 + r * t.sin() }
                })
                .collect();
            ring.push(ring[0]);
            let g = Geometry::Polygon(geo::Polygon::new(LineString(ring), vec![]));
            if is_clearly_convex(&g) {
                convex += 1;
                assert!(g.is_valid() && !has_flat_ring(&g) && geos_is_valid(&g).unwrap(), "{g:?}");
                assert!(g.unsigned_area() > 0.0);
            } else {
                others += 1;
            }
        }
        assert!(convex > 2000 && others > 2000, "{convex} convex, {others} others");
    }

    #[test]
    fn spike_is_removed() {
        let (g, repairs) = convert("POLYGON((0 0,10 0,10 5,20 5,10 5,10 10,0 10,0 0))", GeomKind::Polygons).unwrap();
        assert_eq!(repairs, [REPAIR_MAKE_VALID]);
        assert!((g.unsigned_area() - 100.0).abs() < 1e-9, "{g:?}");
    }

    #[test]
    fn zero_area_ring_has_nothing_left() {
        let e = convert("POLYGON((0 0,10 0,20 0,0 0))", GeomKind::Polygons).unwrap_err();
        assert!(e.contains("no area"), "{e}");
    }

    #[test]
    fn duplicate_vertices_and_one_point_lines() {
        let (g, repairs) = convert("LINESTRING(0 0,0 0,1 1,1 1,2 2)", GeomKind::Lines).unwrap();
        assert_eq!(repairs, [REPAIR_DUPLICATE_VERTICES]);
        assert_eq!(g.coords_count(), 3);
        assert_eq!(convert("LINESTRING(3 3,3 3,3 3)", GeomKind::Lines).unwrap_err(), DEGENERATE_LINE);
        let (g, repairs) = convert("MULTILINESTRING((0 0,1 1),(5 5,5 5))", GeomKind::Lines).unwrap();
        assert_eq!(repairs, [REPAIR_DUPLICATE_VERTICES, REPAIR_DEGENERATE_PARTS]);
        assert_eq!(g.coords_count(), 2);
    }

    /// GeoPackage layers are read through the Arrow stream, others feature by feature: both give
    /// the same attribute text (OGR's own for integers, reals, booleans, text and nulls) and the
    /// same geometries, the GeoJSON read standing as the independent reference.
    #[test]
    fn arrow_and_feature_reads_agree() {
        let dir = tempfile::tempdir().unwrap();
        let json = dir.path().join("t.geojson");
        let features: Vec<String> = [
            (r#"{"i": 7, "big": 12345678901, "r": 12.5, "w": 30.0, "e": 1e20, "t": 1.5e-7, "s": "中心城区", "b": true, "n": null, "other_tags": "\"foot\"=>\"no\""}"#, "[[0,0],[1,1]]"),
            (r#"{"i": -3, "big": 1, "r": 0.1, "w": 1234567.891, "e": -2.5, "t": 100000000000000.0, "s": "", "b": false, "n": "x", "other_tags": null}"#, "[[2,2],[3,3],[4,2]]"),
            (r#"{"i": null, "big": null, "r": null, "w": 0.0, "e": 0.0, "t": 0.0, "s": null, "b": null, "n": null, "other_tags": "\"access\"=>\"private\""}"#, "[[5,5],[6,5]]"),
        ]
        .iter()
        .map(|(p, c)| format!(r#"{{"type":"Feature","properties":{p},"geometry":{{"type":"LineString","coordinates":{c}}}}}"#))
        .collect();
        std::fs::write(&json, format!(r#"{{"type":"FeatureCollection","features":[{}]}}"#, features.join(",")))
            .unwrap();
        let gpkg = dir.path().join("t.gpkg");
        let ok = std::process::Command::new("ogr2ogr")
            .args([gpkg.to_str().unwrap(), json.to_str().unwrap(), "-nln", "t"])
            .status()
            .unwrap()
            .success();
        assert!(ok, "ogr2ogr");
        // A field asked for twice, and the OSM tags column asked for both as a field and for the
        // tags read from it ("foot", which the layer has only as a tag).
        let fields: Vec<String> =
            ["i", "big", "r", "w", "e", "t", "s", "b", "i", "other_tags"].iter().map(|f| f.to_string()).collect();
        let read = |path: &std::path::Path, layer: Option<&str>| {
            read_layer(&LayerSpec {
                source: LayerSource { dataset: path.display().to_string(), layer: layer.map(str::to_string) },
                filter: None,
                encoding: None,
                role: "test".into(),
                fields: fields.clone(),
                optional_fields: vec!["n".into(), "missing".into(), "foot".into()],
                alternatives: false,
                geom: GeomKind::Lines,
                within: None,
            })
            .unwrap()
        };
        let (a, f) = (read(&gpkg, Some("t")), read(&json, None));
        assert_eq!(a.features.len(), 3);
        assert_eq!(a.optional_present, f.optional_present);
        for (x, y) in a.features.iter().zip(&f.features) {
            assert_eq!(x.attrs, y.attrs);
            assert_eq!(x.geometry, y.geometry);
        }
        // The values themselves, as OGR prints them.
        let first = &a.features[0].attrs;
        assert_eq!(first[0].as_deref(), Some("7"));
        assert_eq!(first[2].as_deref(), Some("12.5"));
        assert_eq!(first[3].as_deref(), Some("30"));
        assert_eq!(first[6].as_deref(), Some("中心城区"));
        assert_eq!(first[8].as_deref(), Some("7"));
        assert_eq!(first[9].as_deref(), Some(r#""foot"=>"no""#));
        assert_eq!(first[12].as_deref(), Some("no"));
        let third = &a.features[2].attrs;
        assert_eq!((third[9].as_deref(), third[12].as_deref()), (Some(r#""access"=>"private""#), None));
    }

    #[test]
    fn boxes_that_meet_are_merged_into_one() {
        let r =
            |x0: f64, y0: f64, x1: f64, y1: f64| Rect::new(geo::coord! { x: x0, y: y0 }, geo::coord! { x: x1, y: y1 });
        // A chain met only through the box that comes last, a box touching another at a corner,
        // and one alone.
        let boxes = [r(0.0, 0.0, 1.0, 1.0), r(2.0, 0.0, 3.0, 1.0), r(10.0, 10.0, 11.0, 11.0), r(0.5, 0.5, 2.5, 0.6)];
        assert_eq!(merge_boxes(&boxes), vec![r(0.0, 0.0, 3.0, 1.0), r(10.0, 10.0, 11.0, 11.0)]);
        let touching = [r(5.0, 5.0, 6.0, 6.0), r(4.0, 4.0, 5.0, 5.0)];
        assert_eq!(merge_boxes(&touching), vec![r(4.0, 4.0, 6.0, 6.0)]);
        assert_eq!(
            merge_boxes(&[r(1.0, 1.0, 2.0, 2.0), r(-3.0, 0.0, -2.0, 1.0)]),
            vec![r(-3.0, 0.0, -2.0, 1.0), r(1.0, 1.0, 2.0, 2.0)]
        );
    }

    #[test]
    fn network_names_are_recognised() {
        for n in
            ["https://x/r.gpkg", "WFS:http://x/wfs", "/vsizip//vsicurl/https://x/a.zip", "/vsis3/b/r.gpkg", "carto:me"]
        {
            assert!(is_network(n), "{n}");
        }
        for n in
            ["roads.gpkg", "/data/vsicurl.gpkg", "PG:dbname=gis", "C:/data/roads.shp", "/vsizip/local.zip/roads.shp"]
        {
            assert!(!is_network(n), "{n}");
        }
    }

    #[test]
    fn gbk_read_as_latin1_is_recognised() {
        assert!(looks_like_gbk_as_latin1("ÖÐÐÄ³ÇÇø"));
        assert!(looks_like_gbk_as_latin1("A-ÖÐÐÄ 3"));
        assert!(!looks_like_gbk_as_latin1("中心城区"));
        assert!(!looks_like_gbk_as_latin1("Schönbühl"));
        assert!(!looks_like_gbk_as_latin1("plain"));
        assert!(!looks_like_gbk_as_latin1("Müßig"));
    }
}
