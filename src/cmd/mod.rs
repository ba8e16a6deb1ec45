//! One file per subcommand, plus the glue they share: reading a layer into longitude/latitude,
//! choosing the frame, printing what was read.

/// `print!` to standard output through [`write_stdout`]: a closed output does not panic.
macro_rules! out {
    ($($arg:tt)*) => { $crate::cmd::write_stdout(format_args!($($arg)*)) };
}

/// `println!` to standard output through [`write_stdout`]: a closed output does not panic.
macro_rules! outln {
    ($($arg:tt)*) => { $crate::cmd::write_stdout(format_args!("{}\n", format_args!($($arg)*))) };
}

/// `eprintln!` to standard error through [`write_stderr`]: a closed standard error does not panic
/// (the exit code still says what happened).
macro_rules! errln {
    ($($arg:tt)*) => { $crate::cmd::write_stderr(format_args!("{}\n", format_args!($($arg)*))) };
}
pub(crate) use errln;

pub mod audit;
pub mod batch;
pub mod demo;
pub mod generate;
pub mod layers;
pub mod living_circle;
pub mod park_mix;
pub mod road_density;

use std::io::Write as _;
use std::path::{Path, PathBuf};

use geo::{Geometry, LineString, MultiPolygon, Rect};
use serde_json::Value;

use crate::cli::{CommonArgs, MeasureArg};
use crate::ingest::{read_layer, LayerReport, LayerSpec, RawLayer};
use crate::model::Area;
use crate::normalise::crs::{Frame, Method, SourceCrs};
use crate::normalise::{check_area_of_use, defer_lonlat, lonlat_bounds, to_lonlat};
use crate::output::atomic::write_atomic;
use crate::{Error, Result};

/// Whether standard output could not be written (a reader such as `head` stopped reading).
static STDOUT_CLOSED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Writes to standard output, as `print!` does, except that an output that cannot be written ends
/// the printout instead of panicking: the run still writes its files and exits with its own code.
/// A reader that stopped reading (`planaudit audit city.toml | head`) is silent; any other error
/// is a warning on standard error, once.
pub fn write_stdout(args: std::fmt::Arguments<'_>) {
    use std::sync::atomic::Ordering;
    if STDOUT_CLOSED.load(Ordering::Relaxed) {
        return;
    }
    let mut stdout = std::io::stdout().lock();
    if let Err(e) = stdout.write_fmt(args).and_then(|()| stdout.flush()) {
        if !STDOUT_CLOSED.swap(true, Ordering::Relaxed) && e.kind() != std::io::ErrorKind::BrokenPipe {
            errln!("planaudit: warning: standard output: {e}; the rest of the printout is dropped");
        }
    }
}

/// Writes to standard error; a write that fails (the reader of a pipe has gone) is dropped, where
/// `eprintln!` would panic and turn a data or usage error's exit code into 101.
pub fn write_stderr(args: std::fmt::Arguments<'_>) {
    let _ = std::io::stderr().lock().write_fmt(args);
}

/// Reads a layer and converts it to WGS84 longitude/latitude; a layer in a CRS PROJ knows keeps
/// its coordinates until [`project`] takes it into the frame (see [`defer_lonlat`]).
///
/// The CRS is the layer's own unless `layer_crs` (`--roads-crs`) or `common.crs` (`--crs`)
/// overrides it (a layer without one takes a city file's `[city] crs`); `option` names the
/// per-layer option in the error for a layer without a CRS.
pub fn load(spec: &LayerSpec, layer_crs: Option<&str>, common: &CommonArgs, option: &str) -> Result<RawLayer> {
    let mut layer = crate::timing::time(|| format!("read {}", spec.source), || read_layer(spec))?;
    for w in &layer.report.warnings {
        errln!("planaudit: warning: {w}");
    }
    let override_ = layer_crs.or(common.crs.as_deref()).map(SourceCrs::parse).transpose()?;
    let fallback = common.fallback_crs.as_deref().map(SourceCrs::parse).transpose()?;
    let crs =
        SourceCrs::resolve(&layer.label(), layer.crs_wkt.as_deref(), override_.as_ref(), fallback.as_ref(), option)?;
    if let Some(w) = unused_offset_crs(&layer, override_.as_ref(), fallback.as_ref(), option) {
        errln!("planaudit: warning: {w}");
        layer.report.warnings.push(w);
    }
    if !defer_lonlat(&mut layer, &crs)? {
        crate::timing::time(|| format!("to_lonlat {}", spec.source), || to_lonlat(&mut layer, &crs))?;
    }
    check_area_of_use(&layer, &crs)?;
    Ok(layer)
}

/// The warning for a city file's `[city] crs` of gcj02 or bd09 that a layer does not take: the
/// city's CRS is for layers without one, and the layer states its own longitude/latitude on WGS 84
/// (or CGCS2000), which is what data from Chinese web maps states whatever its coordinates are (a
/// GeoJSON file always does). Its coordinates may be offset by some 500 m unnoticed.
pub(crate) fn unused_offset_crs(
    layer: &RawLayer,
    override_: Option<&SourceCrs>,
    fallback: Option<&SourceCrs>,
    option: &str,
) -> Option<String> {
    let own = layer.crs_wkt.as_deref().filter(|w| crate::normalise::crs::states_wgs84_lonlat(w))?;
    let fallback = fallback.filter(|f| override_.is_none() && matches!(f, SourceCrs::Gcj02 | SourceCrs::Bd09))?;
    Some(format!(
        "{}: read in its own CRS ({}), not in city.crs = \"{f}\", which is for layers without one of their own; {f} data (from Chinese web maps) states WGS 84 as its CRS, as GeoJSON always does: if this layer's coordinates are {f}, set {} = \"{f}\"",
        layer.label(),
        SourceCrs::Proj(own.to_string()).label(),
        audit::city_file_words(option),
        f = fallback.label(),
    ))
}

/// Frees `value` on a thread of its own, off the calling thread's path: a layer read has a few
/// allocations a feature, and freeing a million roads' takes a twentieth of a second. Freed inline
/// when no thread can be started.
pub fn free_aside<T: Send + 'static>(value: T) {
    // When no thread can be started, the closure is dropped here, and `value` with it.
    let _ = std::thread::Builder::new().name("free".into()).spawn(move || drop(value));
}

/// Removes a file; one that is not there is no error.
pub fn remove_if_there(p: &Path) -> Result<()> {
    match std::fs::remove_file(p) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::io(p, e)),
        _ => Ok(()),
    }
}

/// The bureau's projected CRS of `--measure planar` as the frame, not yet checked at the data.
pub fn planar_frame(common: &CommonArgs) -> Result<Frame> {
    let crs = common.planar_crs.as_deref().ok_or_else(|| {
        Error::Usage("--measure planar needs --planar-crs EPSG:NNNN (the projected CRS to measure in)".into())
    })?;
    let crs = match SourceCrs::parse(crs)? {
        SourceCrs::Proj(def) => def,
        other => return Err(Error::Usage(format!("--planar-crs {} is not a projected CRS", other.label()))),
    };
    Frame::new(&crs, Method::Planar).map_err(|e| match e {
        Error::Usage(m) => Error::Usage(format!("--planar-crs {m}")),
        other => other,
    })
}

/// The frame: the bureau's projected CRS for `--measure planar`, else the automatic local
/// conformal projection at the centre of the study layer.
pub fn choose_frame(common: &CommonArgs, study: &RawLayer) -> Result<Frame> {
    match common.measure {
        MeasureArg::Planar => {
            let frame = planar_frame(common)?;
            if let Some(b) = lonlat_bounds(study) {
                frame.check_scale(b.center(), "--planar-crs")?;
            }
            Ok(frame)
        }
        MeasureArg::Ellipsoidal => {
            if common.planar_crs.is_some() {
                return Err(Error::Usage("--planar-crs is only used with --measure planar".into()));
            }
            let b = lonlat_bounds(study).ok_or_else(|| Error::EmptyLayer {
                layer: study.label(),
                reason: "no coordinates to place the frame".into(),
            })?;
            Frame::auto(b.center().x, b.center().y)
        }
    }
}

/// Warns when two layers that should overlap do not: the sign of mixed coordinate systems
/// (GCJ-02 points on CGCS2000 polygons sit ~500 m off) or a wrong --crs. See
/// [`overlap_warnings`]; `options` are the layers' own CRS options (`--areas-crs`), which
/// [`crs_settings`] names as a city file's keys when the run comes from one. Each warning goes to
/// stderr and into `a`'s layer report, so that `--summary-json`, `summary.json` and `report.html`
/// carry it too.
pub fn warn_if_apart(a: &mut RawLayer, b: &RawLayer, common: &CommonArgs, options: [&str; 2]) {
    let ra = lonlat_bounds(a);
    warn_if_apart_from(a, ra, b, common, options);
}

/// [`warn_if_apart`] with `a`'s longitude/latitude extent taken before `a` was projected.
pub fn warn_if_apart_from(
    a: &mut RawLayer,
    ra: Option<Rect<f64>>,
    b: &RawLayer,
    common: &CommonArgs,
    options: [&str; 2],
) {
    if let (Some(ra), Some(rb)) = (ra, lonlat_bounds(b)) {
        for w in overlap_warnings(&a.label(), ra, &b.label(), rb, &crs_settings(common, options)) {
            errln!("planaudit: warning: {w}");
            a.report.warnings.push(w);
        }
    }
}

/// Where the coordinate systems of two layers are set, for [`overlap_warnings`]: `--crs` on the
/// command line; from a city file, the two layers' `crs` keys (their CRS `options`, such as
/// `--areas-crs`, in the city file's words) and `city.crs`, which sets the CRS of layers without one.
///
/// ```text
/// ["--areas-crs", "--roads-crs"] → --crs
///                                → layers.areas.crs, layers.roads.crs, city.crs (from a city file)
/// ```
pub fn crs_settings(common: &CommonArgs, options: [&str; 2]) -> String {
    if common.from_city_file {
        let [a, b] = options.map(audit::city_file_words);
        format!("{a}, {b}, city.crs")
    } else {
        "--crs".into()
    }
}

/// Below this share of the smaller extent inside the larger one, two layers that should overlap
/// are reported as overlapping only in part.
const MIN_OVERLAP_SHARE: f64 = 0.5;

/// Extents farther apart than this (metres) do not overlap at all.
const APART_M: f64 = 1000.0;

/// The doubts about two layers that should cover the same ground, from their longitude/latitude
/// extents:
/// - they do not overlap at all: they are more than 1 km apart;
/// - less than half of the smaller extent lies inside the larger one;
/// - one of them lines up with the other only once moved back by the GCJ-02 offset at that place
///   (about 500 m in eastern China): most likely Amap or Tencent data read as WGS84. This is
///   tested on the extents: moved back, the smaller extent must lie (almost) wholly inside the
///   larger one, and clearly better than unmoved.
///
/// The first two suggest checking the coordinate systems where `settings` says they are set
/// ([`crs_settings`]).
///
/// ```
/// use geo::{coord, Rect};
/// use planaudit::cmd::overlap_warnings;
/// use planaudit::normalise::crs::offsets::wgs84_to_gcj02;
/// let true_ = Rect::new(coord! { x: 116.50, y: 31.70 }, coord! { x: 116.52, y: 31.72 });
/// let (x0, y0) = wgs84_to_gcj02(116.50, 31.70);
/// let (x1, y1) = wgs84_to_gcj02(116.52, 31.72);
/// let gcj = Rect::new(coord! { x: x0, y: y0 }, coord! { x: x1, y: y1 });
/// let w = overlap_warnings("a", true_, "b", gcj, "--crs");
/// assert!(w.iter().any(|m| m.contains("GCJ-02")), "{w:?}");
/// assert!(overlap_warnings("a", true_, "b", true_, "--crs").is_empty());
/// // A home 100 m east of the facilities' extent, and a layer 50 km away.
/// let home = Rect::new(coord! { x: 116.5211, y: 31.71 }, coord! { x: 116.5211, y: 31.71 });
/// assert!(overlap_warnings("a", true_, "home", home, "--crs").is_empty());
/// let far = Rect::new(coord! { x: 117.05, y: 31.70 }, coord! { x: 117.07, y: 31.72 });
/// let apart = overlap_warnings("a", true_, "far", far, "--crs");
/// assert!(apart[0].contains("do not overlap at all; check their coordinate systems (--crs, gcj02)"));
/// ```
pub fn overlap_warnings(a_label: &str, a: Rect<f64>, b_label: &str, b: Rect<f64>, settings: &str) -> Vec<String> {
    use crate::normalise::crs::offsets::{outside_china, wgs84_to_gcj02};
    let mut out = Vec::new();
    // Apart by more than a kilometre: a few features just beyond each other's extent are not.
    let gap_deg = |lo_a: f64, hi_a: f64, lo_b: f64, hi_b: f64| (lo_b - hi_a).max(lo_a - hi_b).max(0.0);
    let cos_lat = a.center().y.to_radians().cos().abs();
    let gap_m = (gap_deg(a.min().x, a.max().x, b.min().x, b.max().x) * crate::units::M_PER_DEGREE * cos_lat)
        .hypot(gap_deg(a.min().y, a.max().y, b.min().y, b.max().y) * crate::units::M_PER_DEGREE);
    // (NaN extents count as apart.)
    if gap_m.is_nan() || gap_m > APART_M {
        out.push(format!(
            "{a_label} and {b_label} do not overlap at all; check their coordinate systems ({settings}, gcj02)"
        ));
        return out;
    }
    let share = |p: Rect<f64>, q: Rect<f64>| -> Option<f64> {
        let (ap, aq) = (p.width() * p.height(), q.width() * q.height());
        let small = ap.min(aq);
        // Also refuses NaN.
        if small.is_nan() || small <= 0.0 {
            return None;
        }
        let w = (p.max().x.min(q.max().x) - p.min().x.max(q.min().x)).max(0.0);
        let h = (p.max().y.min(q.max().y) - p.min().y.max(q.min().y)).max(0.0);
        Some(w * h / small)
    };
    let Some(raw) = share(a, b) else { return out };
    let c = a.center();
    if !outside_china(c.x, c.y) {
        let (gx, gy) = wgs84_to_gcj02(c.x, c.y);
        let shift = |r: Rect<f64>, k: f64| {
            Rect::new(
                geo::coord! { x: r.min().x + k * (gx - c.x), y: r.min().y + k * (gy - c.y) },
                geo::coord! { x: r.max().x + k * (gx - c.x), y: r.max().y + k * (gy - c.y) },
            )
        };
        // b in GCJ-02 (moved back by -offset), or a in GCJ-02 (b moved forward).
        for (label, other, k) in [(b_label, a_label, -1.0), (a_label, b_label, 1.0)] {
            if let Some(moved) = share(a, shift(b, k)) {
                if moved >= 0.95 && moved >= raw + 0.1 {
                    out.push(format!(
                        "{label} lines up with {other} only once moved back by the GCJ-02 offset (about {:.0} m here): \
                         it looks like GCJ-02 data (Amap, Tencent) read as WGS84; if so, give its CRS as gcj02",
                        geo::Distance::distance(&geo::Geodesic, geo::Point(c), geo::Point::new(gx, gy))
                    ));
                    return out;
                }
            }
        }
    }
    if raw < MIN_OVERLAP_SHARE {
        out.push(format!(
            "{a_label} and {b_label} overlap only in part ({:.0}% of the smaller extent); check their coordinate systems ({settings}, gcj02) and that they cover the same place",
            raw * 100.0
        ));
    }
    out
}

/// The polygons of a frame geometry, taken without copying its coordinates (`None` for other
/// types).
pub fn polygons(g: Geometry<f64>) -> Option<MultiPolygon<f64>> {
    match g {
        Geometry::Polygon(p) => Some(MultiPolygon(vec![p])),
        Geometry::MultiPolygon(mp) => Some(mp),
        _ => None,
    }
}

/// The lines of a frame geometry, borrowed (`None` for other types).
pub fn lines(g: &Geometry<f64>) -> Option<&[LineString<f64>]> {
    match g {
        Geometry::LineString(l) => Some(std::slice::from_ref(l)),
        Geometry::MultiLineString(m) => Some(&m.0),
        _ => None,
    }
}

/// One line per layer: what was read, used, repaired, skipped.
pub fn report_lines(reports: &[&LayerReport]) -> String {
    let mut s = String::new();
    for r in reports {
        let role = if r.role.is_empty() { String::new() } else { format!(" ({})", r.role) };
        s.push_str(&format!(
            "{}{role}: read {}, used {}, repaired {}, skipped {}",
            r.layer,
            r.read,
            r.used,
            r.repaired,
            r.skipped_total()
        ));
        for (reason, n) in &r.repairs {
            s.push_str(&format!("\n  repaired {n}: {reason}"));
        }
        for (reason, n) in &r.skipped {
            s.push_str(&format!("\n  skipped {n}: {reason}"));
        }
        for (reason, n) in &r.flagged {
            s.push_str(&format!("\n  flagged {n}: {reason}"));
        }
        for (reason, n) in &r.not_read {
            s.push_str(&format!("\n  not read {n}: {reason}"));
        }
        s.push('\n');
    }
    s
}

/// The value of a named field of a feature read with `names` (the spec's fields, then its optional
/// fields, in order); `None` when absent, null or blank.
pub fn field_value(names: &[String], attrs: &[Option<String>], name: &str) -> Option<String> {
    let i = names.iter().position(|f| f == name)?;
    attrs[i].clone().filter(|v| !v.trim().is_empty())
}

/// Orders ids numerically when both are numbers, else as text.
pub fn id_order(a: &str, b: &str) -> std::cmp::Ordering {
    match (a.parse::<f64>(), b.parse::<f64>()) {
        (Ok(x), Ok(y)) => x.total_cmp(&y),
        _ => a.cmp(b),
    }
}

/// A path beside `out` with a suffix: `x.geojson` → `x_grid.geojson`.
pub fn sibling(out: &Path, suffix: &str) -> PathBuf {
    let stem = out.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "out".into());
    let ext = out.extension().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "geojson".into());
    out.with_file_name(format!("{stem}_{suffix}.{ext}"))
}

/// The end of every run on stdout: how it measured, what each layer gave, which files it wrote;
/// and the summary JSON (built only when asked for) written to `summary`, if given.
pub fn finish_run(
    measure: &str,
    reports: &[LayerReport],
    outputs: &[PathBuf],
    summary: Option<&Path>,
    summary_json: impl FnOnce() -> Value,
) -> Result<()> {
    outln!("measure: {measure}");
    out!("{}", report_lines(&reports.iter().collect::<Vec<_>>()));
    for p in outputs {
        outln!("wrote {}", p.display());
    }
    if let Some(path) = summary {
        write_json(path, &with_attribution(summary_json(), reports))?;
        outln!("wrote {}", path.display());
    }
    Ok(())
}

/// Whether any of the layers reported on came from OpenStreetMap (its outputs then carry the
/// ODbL attribution).
pub fn from_osm(reports: &[LayerReport]) -> bool {
    reports.iter().any(|r| crate::ingest::LayerSource::parse(&r.layer).is_osm())
}

/// A summary with the OpenStreetMap attribution (ODbL 1.0) when any layer it reports on came
/// from OpenStreetMap, as its GeoJSON carries.
pub fn with_attribution(mut summary: Value, reports: &[LayerReport]) -> Value {
    if let (true, Some(o)) = (from_osm(reports), summary.as_object_mut()) {
        o.insert("attribution".into(), crate::output::geojson::OSM_ATTRIBUTION.into());
    }
    summary
}

/// Writes a JSON value atomically, pretty-printed.
pub fn write_json(path: &Path, value: &Value) -> Result<()> {
    write_atomic(path, |w| {
        serde_json::to_writer_pretty(&mut *w, value).map_err(std::io::Error::other)?;
        w.write_all(b"\n")
    })
}

/// The fields that give a feature its id when no option names one, tried in order: a plain `id`,
/// then OpenStreetMap's as GDAL reads it (`osm_id` of a node or relation, `osm_way_id` of a closed
/// way, whose `osm_id` is empty); the feature id when none has a value. Road density's areas, the
/// living circle's origins and (after their own `park_id`) park mix's parks all take their ids
/// from this list, so that the outputs of the indicators join on id.
pub const ID_FIELDS: [&str; 3] = ["id", "osm_id", "osm_way_id"];

/// One attribute of a study area: the field an option names (then the layer must have it), or
/// else the first of some default fields the layer has (then it may have none).
#[derive(Debug, Clone)]
pub struct FieldChoice {
    /// The field named on the command line (`--id-field`).
    pub given: Option<String>,
    /// The fields tried without the option, in order.
    pub defaults: &'static [&'static str],
}

impl FieldChoice {
    /// The fields tried, in order: the one named, else the defaults.
    pub fn names(&self) -> Vec<String> {
        match &self.given {
            Some(f) => vec![f.clone()],
            None => self.defaults.iter().map(|s| s.to_string()).collect(),
        }
    }
}

/// The attributes that identify a study area (a built-up area, an industrial park).
#[derive(Debug, Clone)]
pub struct AreaFields {
    /// The id; the feature id when no field gives one.
    pub id: FieldChoice,
    pub name: FieldChoice,
    pub kind: FieldChoice,
}

impl AreaFields {
    /// The fields to read: required (named by an option) and optional (defaults), for a [`LayerSpec`].
    pub fn split(&self) -> (Vec<String>, Vec<String>) {
        let mut fields = Vec::new();
        let mut optional = Vec::new();
        for c in [&self.id, &self.name, &self.kind] {
            match &c.given {
                Some(f) => fields.push(f.clone()),
                None => optional.extend(c.names()),
            }
        }
        (fields, optional)
    }

    /// The areas of a layer read with `spec` (whose fields come from [`AreaFields::split`]), in a
    /// stable order whatever the input order: by id (numerically when ids are numbers), then fid.
    /// Ids that several areas share (the outputs join on id) are warned of, on stderr and in the
    /// layer's report.
    pub fn areas(&self, spec: &LayerSpec, layer: &mut RawLayer) -> Vec<Area> {
        let areas = self.collect(spec, layer);
        if let Some(w) = shared_ids(layer, &areas) {
            errln!("planaudit: warning: {w}");
            layer.report.warnings.push(w);
        }
        areas
    }

    /// [`AreaFields::areas`] without the warning.
    fn collect(&self, spec: &LayerSpec, layer: &RawLayer) -> Vec<Area> {
        let value_of = |attrs: &[Option<String>], name: &str| -> Option<String> {
            let i = spec.fields.iter().chain(spec.optional_fields.iter()).position(|f| f == name)?;
            attrs[i].clone().filter(|v| !v.trim().is_empty())
        };
        let first = |attrs: &[Option<String>], c: &FieldChoice| c.names().iter().find_map(|n| value_of(attrs, n));
        let mut areas: Vec<Area> = layer
            .features
            .iter()
            .filter_map(|f| {
                Some(Area {
                    id: first(&f.attrs, &self.id).unwrap_or_else(|| f.fid.to_string()),
                    fid: f.fid,
                    name: first(&f.attrs, &self.name),
                    kind: first(&f.attrs, &self.kind),
                    polygon: polygons(f.geometry.clone())?,
                })
            })
            .collect();
        areas.sort_by(|a, b| id_order(&a.id, &b.id).then(a.fid.cmp(&b.fid)));
        areas
    }

    /// The warning of ids that several areas of `layer` share, as [`AreaFields::areas`] gives it,
    /// for `check`.
    pub(crate) fn shared_ids_warning(&self, spec: &LayerSpec, layer: &RawLayer) -> Option<String> {
        shared_ids(layer, &self.collect(spec, layer))
    }
}

/// The warning for ids that several areas (or parks) of `layer` share: their rows in the outputs
/// and the summary cannot be told apart by id. An area without an id takes its feature id, which
/// may be another's id too. Ids are compared as written (`01` and `1` are two ids, whose order
/// among areas is the same).
fn shared_ids(layer: &RawLayer, areas: &[Area]) -> Option<String> {
    let mut ids: Vec<&str> = areas.iter().map(|a| a.id.as_str()).collect();
    ids.sort_by(|a, b| id_order(a, b).then(a.cmp(b)));
    let shared: Vec<&[&str]> = ids.chunk_by(|a, b| a == b).filter(|run| run.len() > 1).collect();
    if shared.is_empty() {
        return None;
    }
    let what = if layer.report.role.contains("park") { "parks" } else { "areas" };
    let listed: Vec<String> = shared.iter().take(5).map(|run| format!("'{}' ({} {what})", run[0], run.len())).collect();
    Some(format!(
        "{}: {} id{} shared by several {what}: {}{}; their rows in the outputs and the summary cannot be told apart by id (one without an id takes its feature id): give each its own",
        layer.label(),
        shared.len(),
        if shared.len() == 1 { " is" } else { "s are" },
        listed.join(", "),
        if shared.len() > 5 { ", …" } else { "" },
    ))
}

/// The grade table of a road layer (`--grades`, else `osm` for OpenStreetMap roads and `cn`
/// otherwise) and the field its values are read from (`--grade-field`, else the table's).
pub fn grade_table(road: &crate::cli::RoadsArgs) -> Result<(crate::normalise::grades::GradeTable, String)> {
    use crate::normalise::grades::{default_preset, GradeTable};
    let is_osm = crate::ingest::LayerSource::parse(&road.roads).is_osm();
    let table = GradeTable::load(road.grades.as_deref().unwrap_or(default_preset(is_osm)))?;
    let field = road.grade_field.clone().unwrap_or_else(|| table.field.clone());
    Ok((table, field))
}

/// A path as the file system resolves it: symbolic links, `.` and `..` followed. For a path that
/// does not exist yet, its deepest existing ancestor is resolved and the rest appended.
pub(crate) fn resolved(p: &Path) -> PathBuf {
    let abs = std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    let mut rest = Vec::new();
    let mut cur = abs.as_path();
    loop {
        if let Ok(c) = cur.canonicalize() {
            return rest.iter().rev().fold(c, |acc: PathBuf, part| acc.join(part));
        }
        match (cur.parent(), cur.file_name()) {
            (Some(parent), Some(name)) => {
                rest.push(name.to_os_string());
                cur = parent;
            }
            _ => return abs,
        }
    }
}

/// Refuses outputs that would overwrite an input (a layer's dataset or, for a Shapefile, any of
/// its files; a table file; the city file), however either path is spelled (`./`, `..`, symbolic
/// links): a usage error naming both.
pub(crate) fn refuse_overwrite(inputs: &[String], outputs: &[PathBuf]) -> Result<()> {
    for o in outputs {
        let o_abs = resolved(o);
        for i in inputs {
            let ds = crate::ingest::LayerSource::parse(i).dataset;
            let ds_abs = resolved(Path::new(&ds));
            if ds_abs == o_abs || crate::ingest::is_shapefile_part(&ds_abs, &o_abs) {
                return Err(Error::Usage(format!(
                    "output {} would overwrite the input {ds}; choose another output path",
                    o.display()
                )));
            }
        }
    }
    Ok(())
}

/// The table files among table options (`--grades`, `--classes`, ...), each given with its
/// presets: inputs that an output must not overwrite. A preset's name is read as the preset, never
/// as a file of that name (as the tables load them), so it is no input file.
pub(crate) fn table_files<'a>(
    tables: impl IntoIterator<Item = (Option<&'a String>, &'a [(&'a str, &'a str)])>,
) -> Vec<String> {
    tables
        .into_iter()
        .filter_map(|(t, presets)| t.filter(|t| !presets.iter().any(|(name, _)| name == t)))
        .filter(|t| Path::new(t.as_str()).is_file())
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    /// What `free_aside` is given is dropped, on another thread.
    #[test]
    fn free_aside_drops_on_another_thread() {
        struct Noted(std::sync::mpsc::Sender<std::thread::ThreadId>);
        impl Drop for Noted {
            fn drop(&mut self) {
                let _ = self.0.send(std::thread::current().id());
            }
        }
        let (tx, rx) = std::sync::mpsc::channel();
        super::free_aside(Noted(tx));
        let dropped_on = rx.recv_timeout(std::time::Duration::from_secs(60)).expect("dropped");
        assert_ne!(dropped_on, std::thread::current().id());
    }
}
