//! Coordinate systems: the only module that talks to PROJ.
//!
//! Every layer goes from its own CRS to WGS84 longitude/latitude, then into one local conformal
//! projection, the *frame*, where clipping and overlay happen. The frame is chosen from the
//! study area's centre: the CGCS2000 3-degree Gauss–Krüger zone inside China (EPSG:4513–4533, with
//! zone prefix), otherwise the WGS84 UTM zone. With `--measure planar --planar-crs EPSG:NNNN` the
//! frame is the bureau's own projected CRS and measurements are planar in it.
//!
//! CGCS2000 and WGS84 are treated as one datum: they differ by centimetres to decimetres, far below
//! the precision of planning data (DOMAIN.md §F). GCJ-02 and BD-09, the offset systems of Chinese
//! consumer maps, are not known to PROJ; [`offsets`] converts them to WGS84.

pub mod offsets;
pub mod same;

use geo::{Coord, Geometry, MapCoords, MapCoordsInPlace};
use std::cell::RefCell;
use std::rc::Rc;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use proj::{Proj, ProjCreateError};

use crate::{Error, Result};

/// The geographic CRS every layer passes through, with longitude first.
pub const LONLAT_CRS: &str = "EPSG:4326";

/// How a layer's coordinates are defined.
#[derive(Debug, Clone, PartialEq)]
pub enum SourceCrs {
    /// Anything PROJ understands: `EPSG:4527`, WKT, a PROJ string.
    Proj(String),
    /// GCJ-02 longitude/latitude (高德, 腾讯).
    Gcj02,
    /// BD-09 longitude/latitude (百度).
    Bd09,
}

impl SourceCrs {
    /// Parses an override given on the command line or in a config file:
    /// `EPSG:4527`, `4527`, `gcj02`, `bd09`, `wgs84`, `cgcs2000`, or any PROJ definition.
    ///
    /// ```
    /// use planaudit::normalise::crs::SourceCrs;
    /// assert_eq!(SourceCrs::parse("4527").unwrap(), SourceCrs::Proj("EPSG:4527".into()));
    /// assert_eq!(SourceCrs::parse("GCJ-02").unwrap(), SourceCrs::Gcj02);
    /// assert!(SourceCrs::parse("").is_err());
    /// assert!(SourceCrs::parse("foo").is_err());
    /// assert!(SourceCrs::parse("EPSG:99999").is_err());
    /// ```
    pub fn parse(text: &str) -> Result<SourceCrs> {
        let t = text.trim();
        let name = match local_crs_name(t) {
            Some(local) => format!("CRS '{local}'"),
            None if t.is_empty() => "empty CRS".into(),
            None => format!("CRS '{t}'"),
        };
        SourceCrs::parse_as(text, &name)
    }

    /// [`SourceCrs::parse`], its errors naming the CRS as `name` (a city file's key and value, as
    /// `city.toml: layers.roads.crs = "EPSG:999999"`) where `parse` says `CRS 'EPSG:999999'`.
    ///
    /// ```
    /// use planaudit::normalise::crs::SourceCrs;
    /// let e = SourceCrs::parse_as("EPSG:99999", "c.toml: city.crs = \"EPSG:99999\"").unwrap_err();
    /// assert!(e.to_string().starts_with("c.toml: city.crs = \"EPSG:99999\": PROJ cannot use it"), "{e}");
    /// ```
    pub fn parse_as(text: &str, name: &str) -> Result<SourceCrs> {
        let crs = SourceCrs::parse_text(text, name)?;
        // A CRS PROJ cannot take to longitude/latitude is a mistyped option, not bad data.
        if let SourceCrs::Proj(def) = &crs {
            Transform::new(def, LONLAT_CRS).map_err(|e| {
                Error::Usage(format!(
                    "{name}: PROJ cannot use it ({e}); give an EPSG code such as EPSG:4527, or gcj02 / bd09"
                ))
            })?;
        }
        Ok(crs)
    }

    fn parse_text(text: &str, name: &str) -> Result<SourceCrs> {
        let t = text.trim();
        let lower = t.to_ascii_lowercase().replace(['-', '_'], "");
        Ok(match lower.as_str() {
            "" => return Err(Error::Usage(format!("{name}: give an EPSG code such as EPSG:4527, or gcj02 / bd09"))),
            "gcj02" | "gcj" | "mars" => SourceCrs::Gcj02,
            "bd09" | "bd09ll" | "baidu" => SourceCrs::Bd09,
            "wgs84" => SourceCrs::Proj(LONLAT_CRS.to_string()),
            "cgcs2000" => SourceCrs::Proj("EPSG:4490".to_string()),
            _ if t.chars().all(|c| c.is_ascii_digit()) => SourceCrs::Proj(format!("EPSG:{t}")),
            _ if local_crs_name(t).is_some() => {
                return Err(Error::Usage(format!(
                    "{name}: a local grid is not tied to the earth; give the CRS the coordinates are really in (an EPSG code such as EPSG:4527, or gcj02 / bd09)"
                )))
            }
            _ if is_definition(t) => SourceCrs::Proj(t.to_string()),
            // PROJ would look anything else up by name, approximately ("foo" finds Amersfoort).
            _ => {
                return Err(Error::Usage(format!(
                    "{name}: not a CRS definition; give an authority code (EPSG:4527), WKT, a PROJ string (+proj=...), or gcj02 / bd09"
                )))
            }
        })
    }

    /// Resolves a layer's CRS: the override if given, else the layer's own, else the fallback (a
    /// city file's `[city] crs`, for layers that have none), else an error that says so. A local
    /// grid (`LOCAL_CS`, `ENGCRS`) is not tied to the earth and counts as none.
    pub fn resolve(
        layer: &str,
        own_wkt: Option<&str>,
        override_: Option<&SourceCrs>,
        fallback: Option<&SourceCrs>,
        option: &str,
    ) -> Result<SourceCrs> {
        let own = own_wkt.filter(|w| !w.trim().is_empty());
        match (override_, own, fallback) {
            (Some(o), _, _) => Ok(o.clone()),
            (None, Some(wkt), _) if local_crs_name(wkt).is_none() => Ok(SourceCrs::Proj(wkt.to_string())),
            (None, _, Some(f)) => Ok(f.clone()),
            (None, Some(wkt), None) => Err(Error::LocalCrs {
                layer: layer.to_string(),
                name: local_crs_name(wkt).unwrap_or_default(),
                option: option.to_string(),
            }),
            (None, None, None) => Err(Error::NoCrs { layer: layer.to_string(), option: option.to_string() }),
        }
    }

    /// A short label for reports: `EPSG:4527`, `gcj02`, or the CRS name.
    pub fn label(&self) -> String {
        match self {
            SourceCrs::Gcj02 => "gcj02".into(),
            SourceCrs::Bd09 => "bd09".into(),
            SourceCrs::Proj(def) => crs_label(def),
        }
    }
}

/// Whether a text is a CRS definition PROJ reads as such, rather than a name it would look up
/// approximately: an authority code (`EPSG:4527`, `OGC:CRS84`, `EPSG:4527+5773`), an OGC URN or URI,
/// WKT, a PROJ string or PROJJSON.
fn is_definition(t: &str) -> bool {
    let lower = t.to_ascii_lowercase();
    // AUTH:CODE, codes of letters too (OGC:CRS84, IGNF:LAMB93), compound (EPSG:4527+5773).
    let code = t.split_once(':').is_some_and(|(auth, code)| {
        let word = |w: &str| !w.is_empty() && w.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        word(auth) && !code.is_empty() && code.split('+').all(|part| word(part.trim()))
    });
    let wkt = t.split_once('[').is_some_and(|(kw, _)| {
        let kw = kw.trim();
        !kw.is_empty() && kw.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    });
    let uri = ["urn:ogc:def:", "http://www.opengis.net/def/", "https://www.opengis.net/def/"]
        .iter()
        .any(|p| lower.starts_with(p));
    code || wkt || uri || t.starts_with('+') || lower.starts_with("proj=") || t.starts_with('{')
}

/// The name of a local engineering CRS given as WKT (`ENGCRS`, `ENGINEERINGCRS` or WKT1's
/// `LOCAL_CS`), which PROJ has no transformation to longitude/latitude for; `None` for any other
/// definition.
///
/// ```
/// use planaudit::normalise::crs::local_crs_name;
/// assert_eq!(local_crs_name(r#"ENGCRS["Undefined Cartesian SRS",EDATUM[""]]"#).as_deref(), Some("Undefined Cartesian SRS"));
/// assert_eq!(local_crs_name(r#" LOCAL_CS["city grid",UNIT["metre",1]]"#).as_deref(), Some("city grid"));
/// assert_eq!(local_crs_name(r#"PROJCRS["CGCS2000 / 3-degree Gauss-Kruger zone 39"]"#), None);
/// assert_eq!(local_crs_name("EPSG:4527"), None);
/// ```
pub fn local_crs_name(wkt: &str) -> Option<String> {
    let (keyword, rest) = wkt.trim_start().split_once('[')?;
    if !["ENGCRS", "ENGINEERINGCRS", "LOCAL_CS"].contains(&keyword.trim().to_ascii_uppercase().as_str()) {
        return None;
    }
    let name = rest.trim_start().strip_prefix('"').and_then(|r| r.split_once('"')).map_or("", |(n, _)| n);
    Some(name.to_string())
}

/// Whether a layer's own CRS definition is longitude/latitude on WGS 84 or CGCS2000 (EPSG:4326,
/// OGC:CRS84, EPSG:4490): what data in the offset systems of Chinese web maps (GCJ-02, BD-09)
/// states as its CRS, GeoJSON always.
///
/// ```
/// use planaudit::normalise::crs::states_wgs84_lonlat;
/// assert!(states_wgs84_lonlat("EPSG:4326") && states_wgs84_lonlat("OGC:CRS84"));
/// let wkt = r#"GEOGCS["WGS 84",DATUM["WGS_1984",SPHEROID["WGS 84",6378137,298.257223563]],AUTHORITY["EPSG","4326"]]"#;
/// assert!(states_wgs84_lonlat(wkt));
/// assert!(!states_wgs84_lonlat("EPSG:4527") && !states_wgs84_lonlat(&wkt.replace("4326", "4214")));
/// ```
pub fn states_wgs84_lonlat(def: &str) -> bool {
    let def = def.trim();
    matches!(outer_epsg_code(def), Some(4326 | 4490))
        || ["EPSG:4326", "EPSG:4490", "OGC:CRS84"].iter().any(|c| def.eq_ignore_ascii_case(c))
        || def.contains("\"CRS84\"")
}

/// A label for a PROJ definition: its authority code when PROJ can identify one, else its name.
fn crs_label(def: &str) -> String {
    if def.len() < 32 {
        return def.to_string();
    }
    // WKT: take the authority of the outermost object when present, else the name.
    if let Some(code) = outer_epsg_code(def) {
        return format!("EPSG:{code}");
    }
    if let Some(start) = def.find('"') {
        if let Some(len) = def[start + 1..].find('"') {
            return def[start + 1..start + 1 + len].to_string();
        }
    }
    "custom CRS".to_string()
}

/// The EPSG code of the outermost object of a WKT definition (WKT2 `ID["EPSG",4548]`, WKT1
/// `AUTHORITY["EPSG","4548"]`), if it has one.
fn outer_epsg_code(def: &str) -> Option<u32> {
    // The authority at bracket depth 1, outside quoted text: the outermost object's own, not that
    // of its datum, axis or unit.
    let (mut depth, mut quoted) = (0usize, false);
    let mut found = None;
    for (i, c) in def.char_indices() {
        match c {
            '"' => quoted = !quoted,
            '[' | '(' if !quoted => depth += 1,
            ']' | ')' if !quoted => depth = depth.saturating_sub(1),
            _ if !quoted && depth == 1 && (c == 'A' || c == 'I') => {
                let rest = &def[i..];
                for key in ["AUTHORITY[\"EPSG\",\"", "ID[\"EPSG\","] {
                    let before = def[..i].chars().next_back();
                    if rest.starts_with(key) && before.is_some_and(|b| b == ',' || b.is_whitespace()) {
                        found =
                            rest[key.len()..].trim_start().split(|c: char| !c.is_ascii_digit()).next()?.parse().ok();
                    }
                }
            }
            _ => {}
        }
    }
    found
}

/// A PROJ transformation from one CRS to another that any thread may use.
///
/// It holds only its CRS pair. PROJ objects must not be used by two threads at once, and
/// creating one searches PROJ's database for the operation (about 0.05 s), so each pair is searched
/// for once: a pair whose CRSs PROJ finds equivalent to those of a pair in use (a layer's WKT and
/// the EPSG code the frame names) is that pair, and the reverse of a pair made of one operation
/// is that operation inverted. Each pair has:
/// - one shared object, created when the pair is first asked for (which checks that PROJ can use
///   it; threads asking for the pair meanwhile wait for it), that threads outside rayon's pool (an audit's indicator threads, the main thread) use
///   under the pair's lock: they convert a layer's extent, or a small output that rayon does not
///   split;
/// - an object of its own for each thread of rayon's pool, where whole layers are converted,
///   created on the thread's first use (from the operation's PROJ string when PROJ found a
///   single operation, without a second search) and kept for its life.
///
/// Every object of a pair converts exactly as a new one would, so results do not depend on the
/// thread. An inverted operation converts as PROJ's search for the reverse does, to the bit, for
/// the Gauss–Krüger and UTM zones and most other CRSs; for a few (EPSG:5681–5685, whose reverse
/// PROJ builds on another ellipsoid, and EPSG:27500, 1 ulp) within 0.1 mm. Layers and the frame
/// ask for the way to longitude/latitude first, so the way back is always the inverse and the
/// bits do not depend on which thread asked first. Equivalent definitions (PROJ's judgement, to
/// its relative tolerance of 1e-10) share the pair of the first one asked for.
#[derive(Clone, Copy)]
struct Transform {
    pair: &'static Pair,
}

impl std::fmt::Debug for Transform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Transform({} -> {})", self.pair.from, self.pair.to)
    }
}

/// A PROJ object (with the PROJ context it owns) used from several threads in turn.
struct SentProj(Proj);

// SAFETY: a `Proj` owns its PROJ context and object. PROJ forbids using one context from two
// threads at the same time, not using it from one thread after another: a `SentProj` is only
// reached through its pair's `shared` lock.
#[allow(unsafe_code)]
unsafe impl Send for SentProj {}

/// A CRS pair in use: its number (its place in `PAIRS`), its definitions and its shared PROJ
/// object. Pairs live as long as the process (there are a handful).
struct Pair {
    number: usize,
    from: String,
    to: String,
    /// The PROJ string of the pair's operation when PROJ found exactly one: the threads of the
    /// pool create their objects from it, without searching PROJ's database again.
    pipeline: Option<String>,
    shared: Mutex<SentProj>,
}

/// The PROJ string of a transformation made of one operation (what `proj_create_crs_to_crs`
/// returns when PROJ finds a single candidate, such as CGCS2000 Gauss–Krüger to WGS84), in the
/// form `Proj::new` takes; `None` for a set of candidate operations, chosen point by point.
/// Called before the object converts anything: a set then reports the id `unknown` and no PROJ
/// string.
fn single_operation(proj: &Proj) -> Option<String> {
    let info = proj.proj_info();
    let def = info.definition.filter(|d| d.trim_start().trim_start_matches('+').starts_with("proj="))?;
    if info.id.as_deref().is_none_or(|id| id == "unknown") {
        return None;
    }
    Some(
        def.split_whitespace()
            .map(|t| if t.starts_with('+') { t.to_string() } else { format!("+{t}") })
            .collect::<Vec<_>>()
            .join(" "),
    )
}

/// The inverse of a single operation's PROJ string (as [`single_operation`] gives it): a
/// pipeline's steps in reverse order, each inverted (`+inv` added or taken off, `+omit_fwd` and
/// `+omit_inv` swapped); one operation inverted the same way. A pipeline's own parameters (before
/// its first step) stay first.
fn inverse_operation(def: &str) -> String {
    fn invert<'a>(tokens: &[&'a str]) -> Vec<&'a str> {
        // A step left out one way is left out the other way once the pipeline is inverted.
        let swap = |t: &'a str| match t {
            "+omit_fwd" => "+omit_inv",
            "+omit_inv" => "+omit_fwd",
            t => t,
        };
        let mut out: Vec<&str> = tokens.iter().copied().filter(|t| *t != "+inv").map(swap).collect();
        if out.len() == tokens.len() {
            out.insert(1.min(out.len()), "+inv");
        }
        out
    }
    let tokens: Vec<&str> = def.split_whitespace().collect();
    let mut parts = tokens.split(|t| *t == "+step");
    let own = parts.next().unwrap_or_default();
    let steps: Vec<&[&str]> = parts.collect();
    if steps.is_empty() {
        return invert(own).join(" ");
    }
    let mut out = own.to_vec();
    for step in steps.iter().rev() {
        out.push("+step");
        out.extend(invert(step));
    }
    out.join(" ")
}

/// The areas of use of the CRSs asked for ([`ToLonLat::area_of_use`]), by definition.
static AREAS: Mutex<Vec<(String, Option<geo::Rect<f64>>)>> = Mutex::new(Vec::new());

/// The CRS pairs in use, in the order they were first asked for.
static PAIRS: Mutex<Vec<&'static Pair>> = Mutex::new(Vec::new());

/// The definitions each pair was asked for by: its own, and those PROJ judged equivalent to them
/// (a layer's WKT and the EPSG code it names share one pair).
static KEYS: Mutex<Vec<(String, String, &'static Pair)>> = Mutex::new(Vec::new());

/// A lock for each CRS pair asked for, held while its PROJ object is created.
type Gate = (String, String, Arc<Mutex<()>>);
static GATES: Mutex<Vec<Gate>> = Mutex::new(Vec::new());

/// The pairs whose shared PROJ objects were created, once each, and whether PROJ's database was
/// searched for it (for the tests).
#[cfg(test)]
static CREATED: Mutex<Vec<(String, String, bool)>> = Mutex::new(Vec::new());

thread_local! {
    /// This thread's PROJ objects, by pair number (threads of rayon's pool only).
    static PROJS: RefCell<Vec<Option<Rc<Proj>>>> = const { RefCell::new(Vec::new()) };
}

/// A thread's PROJ object for one pair: its own, or the shared one under the pair's lock.
enum ProjRef {
    Own(Rc<Proj>),
    Shared(MutexGuard<'static, SentProj>),
}

impl std::ops::Deref for ProjRef {
    type Target = Proj;
    fn deref(&self) -> &Proj {
        match self {
            ProjRef::Own(p) => p,
            ProjRef::Shared(g) => &g.0,
        }
    }
}

impl Transform {
    /// The transformation from `from` to `to`. The first call for a pair creates its shared PROJ
    /// object, so that a CRS PROJ cannot use is an error here.
    fn new(from: &str, to: &str) -> std::result::Result<Transform, ProjCreateError> {
        let known = || {
            let keys = KEYS.lock().unwrap_or_else(PoisonError::into_inner);
            keys.iter().find(|(f, t, _)| f == from && t == to).map(|&(_, _, pair)| Transform { pair })
        };
        if let Some(t) = known() {
            return Ok(t);
        }
        // Created without the list locked (it takes a while), under the pair's own gate: threads
        // asking for a pair at once wait for the first to create it rather than each creating one.
        let gate = {
            let mut gates = GATES.lock().unwrap_or_else(PoisonError::into_inner);
            match gates.iter().find(|(f, t, _)| f == from && t == to) {
                Some((_, _, g)) => Arc::clone(g),
                None => {
                    let g = Arc::new(Mutex::new(()));
                    gates.push((from.to_string(), to.to_string(), Arc::clone(&g)));
                    g
                }
            }
        };
        let _creating = gate.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(t) = known() {
            return Ok(t);
        }
        let key = |pair: &'static Pair| {
            let mut keys = KEYS.lock().unwrap_or_else(PoisonError::into_inner);
            keys.push((from.to_string(), to.to_string(), pair));
            Transform { pair }
        };
        // A pair of CRSs equivalent to those of a pair in use is that pair; the reverse of a pair
        // made of one operation is that operation inverted. Either way PROJ's database is not
        // searched again (it takes a while, about a third of a city audit's CPU time).
        let pairs: Vec<&'static Pair> = PAIRS.lock().unwrap_or_else(PoisonError::into_inner).clone();
        let same = |a: &str, b: &str| a == b || same::equivalent(a, b);
        if let Some(&pair) = pairs.iter().find(|p| same(&p.from, from) && same(&p.to, to)) {
            return Ok(key(pair));
        }
        let reverse = pairs.iter().find(|p| p.pipeline.is_some() && same(&p.from, to) && same(&p.to, from));
        let inverted = reverse.and_then(|p| p.pipeline.as_deref()).map(inverse_operation).and_then(|def| {
            let proj = Proj::new(&def).ok()?;
            Some((proj, Some(def)))
        });
        #[cfg(test)]
        let searched = inverted.is_none();
        let (proj, pipeline) = match inverted {
            Some(made) => made,
            None => {
                // The proj crate panics when PROJ fails without an error number (as for a local
                // CRS, which no operation connects to the earth): that is an error of the CRS, not
                // of this program.
                let proj =
                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| Proj::new_known_crs(from, to, None)))
                        .unwrap_or_else(|_| {
                            Err(ProjCreateError::ProjError(format!("no transformation from {from} to {to}")))
                        })?;
                let pipeline = single_operation(&proj);
                (proj, pipeline)
            }
        };
        #[cfg(test)]
        CREATED.lock().unwrap_or_else(PoisonError::into_inner).push((from.to_string(), to.to_string(), searched));
        let mut pairs = PAIRS.lock().unwrap_or_else(PoisonError::into_inner);
        let pair: &'static Pair = Box::leak(Box::new(Pair {
            number: pairs.len(),
            from: from.to_string(),
            to: to.to_string(),
            pipeline,
            shared: Mutex::new(SentProj(proj)),
        }));
        pairs.push(pair);
        drop(pairs);
        Ok(key(pair))
    }

    /// This thread's PROJ object for the pair: on a thread of rayon's pool its own, created on
    /// first use; on any other thread the shared one, locked until the returned value is dropped.
    fn proj(&self) -> std::result::Result<ProjRef, ProjCreateError> {
        let pair = self.pair;
        if rayon::current_thread_index().is_none() {
            return Ok(ProjRef::Shared(pair.shared.lock().unwrap_or_else(PoisonError::into_inner)));
        }
        if let Some(p) = PROJS.with(|c| c.borrow().get(pair.number).cloned().flatten()) {
            return Ok(ProjRef::Own(p));
        }
        let p = Rc::new(match &pair.pipeline {
            Some(def) => Proj::new(def)?,
            None => Proj::new_known_crs(&pair.from, &pair.to, None)?,
        });
        PROJS.with(|c| {
            let mut c = c.borrow_mut();
            if c.len() <= pair.number {
                c.resize(pair.number + 1, None);
            }
            c[pair.number] = Some(Rc::clone(&p));
        });
        Ok(ProjRef::Own(p))
    }

    /// This thread's PROJ object, or an error naming `what` (the CRS or the layer).
    fn proj_for(&self, what: &str) -> Result<ProjRef> {
        self.proj()
            .map_err(|e| Error::Crs(format!("{what}: PROJ cannot create the transformation on this thread: {e}")))
    }
}

/// Converts every coordinate of a geometry in place with `convert`; false when one fails (the
/// geometry is then partly converted).
///
/// Each type is matched here rather than through `Geometry`'s own `try_map_coords_in_place`, whose
/// generic recursion into collections the compiler cannot instantiate.
fn convert_in_place(g: &mut Geometry<f64>, convert: &dyn Fn(Coord<f64>) -> Option<Coord<f64>>) -> bool {
    let f = |c| convert(c).ok_or(());
    match g {
        Geometry::Point(x) => x.try_map_coords_in_place(f).is_ok(),
        Geometry::Line(x) => x.try_map_coords_in_place(f).is_ok(),
        Geometry::LineString(x) => x.try_map_coords_in_place(f).is_ok(),
        Geometry::Polygon(x) => x.try_map_coords_in_place(f).is_ok(),
        Geometry::MultiPoint(x) => x.try_map_coords_in_place(f).is_ok(),
        Geometry::MultiLineString(x) => x.try_map_coords_in_place(f).is_ok(),
        Geometry::MultiPolygon(x) => x.try_map_coords_in_place(f).is_ok(),
        Geometry::Rect(x) => x.try_map_coords_in_place(f).is_ok(),
        Geometry::Triangle(x) => x.try_map_coords_in_place(f).is_ok(),
        Geometry::GeometryCollection(gc) => gc.0.iter_mut().all(|g| convert_in_place(g, convert)),
    }
}

/// Converts coordinates of one source CRS to WGS84 longitude/latitude. It is `Send` and `Sync`:
/// threads may convert with one `ToLonLat` at once (`Transform` says through which PROJ objects).
#[derive(Debug, Clone)]
pub struct ToLonLat {
    kind: ToLonLatKind,
    /// The layer, for messages.
    layer: String,
    /// The source CRS's definition as given (its pair may have been made for an equivalent one).
    def: Option<String>,
}

#[derive(Debug, Clone, Copy)]
enum ToLonLatKind {
    Proj(Transform),
    Gcj02,
    Bd09,
}

impl ToLonLat {
    /// Builds the conversion for a source CRS.
    pub fn new(src: &SourceCrs, layer: &str) -> Result<ToLonLat> {
        let kind = match src {
            SourceCrs::Gcj02 => ToLonLatKind::Gcj02,
            SourceCrs::Bd09 => ToLonLatKind::Bd09,
            SourceCrs::Proj(def) => ToLonLatKind::Proj(
                Transform::new(def, LONLAT_CRS)
                    .map_err(|e| Error::Crs(format!("{layer}: PROJ cannot use the CRS {}: {e}", crs_label(def))))?,
            ),
        };
        let def = match src {
            SourceCrs::Proj(def) => Some(def.clone()),
            _ => None,
        };
        Ok(ToLonLat { kind, layer: layer.to_string(), def })
    }

    /// Where the source CRS is meant to be used, as PROJ's database records it for the conversion
    /// (west, south, east, north in degrees); `None` when PROJ records none (a custom definition)
    /// or the area crosses the antimeridian, and for GCJ-02 and BD-09.
    pub fn area_of_use(&self) -> Option<geo::Rect<f64>> {
        let from = self.def.as_ref()?;
        // Looked up once per CRS (creating a PROJ object searches its database), under the lock.
        let mut known = AREAS.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((_, area)) = known.iter().find(|(def, _)| def == from) {
            return *area;
        }
        // The CRS's own area (the conversion's is the whole world): that of its EPSG code when it
        // has one (WKT1 records no area), else its definition's.
        let area_of = |def: &str| {
            let crs = std::panic::catch_unwind(|| Proj::new(def)).ok()?.ok()?;
            crs.area_of_use().ok()?.0
        };
        let area = match outer_epsg_code(from) {
            Some(code) => area_of(&format!("EPSG:{code}")),
            None => area_of(from),
        }
        .filter(|a| {
            [a.west, a.south, a.east, a.north].iter().all(|v| v.is_finite()) && a.west <= a.east && a.south <= a.north
        })
        .map(|a| geo::Rect::new(Coord { x: a.west, y: a.south }, Coord { x: a.east, y: a.north }));
        known.push((from.clone(), area));
        area
    }

    /// Converts one coordinate; `None` when it cannot be converted or lands outside ±180/±90.
    pub fn coord(&self, c: Coord<f64>) -> Option<Coord<f64>> {
        let proj = match self.kind {
            ToLonLatKind::Proj(t) => Some(t.proj().ok()?),
            _ => None,
        };
        self.convert(proj.as_deref(), c)
    }

    fn convert(&self, proj: Option<&Proj>, c: Coord<f64>) -> Option<Coord<f64>> {
        let (x, y) = match (self.kind, proj) {
            (ToLonLatKind::Proj(_), Some(p)) => p.convert((c.x, c.y)).ok()?,
            (ToLonLatKind::Proj(_), None) => return None,
            (ToLonLatKind::Gcj02, _) => offsets::gcj02_to_wgs84(c.x, c.y),
            (ToLonLatKind::Bd09, _) => offsets::bd09_to_wgs84(c.x, c.y),
        };
        (x.is_finite() && y.is_finite() && x.abs() <= 180.0 && y.abs() <= 90.0).then_some(Coord { x, y })
    }

    /// Converts a geometry in place; `Ok(false)` when any coordinate fails (the geometry is then
    /// partly converted). An error only when this thread cannot create its PROJ object.
    pub fn geometry_in_place(&self, g: &mut Geometry<f64>) -> Result<bool> {
        let proj = match self.kind {
            ToLonLatKind::Proj(t) => Some(t.proj_for(&self.layer)?),
            _ => None,
        };
        Ok(convert_in_place(g, &|c| self.convert(proj.as_deref(), c)))
    }

    /// Converts a geometry; `None` when any coordinate fails.
    pub fn geometry(&self, g: &Geometry<f64>) -> Option<Geometry<f64>> {
        let mut out = g.clone();
        self.geometry_in_place(&mut out).ok()?.then_some(out)
    }
}

/// How lengths and areas are measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    /// Geodesic on the WGS84/CGCS2000 ellipsoid, as 三调 reports parcel areas (default).
    Ellipsoidal,
    /// Euclidean in the frame's projected CRS, as a bureau's desktop GIS reports them.
    Planar,
}

/// The metric frame: a conformal projection in which all geometry work happens. It is `Send` and
/// `Sync`: threads may project and measure with one frame at once (`Transform` says through
/// which PROJ objects).
pub struct Frame {
    /// The frame's CRS, e.g. `EPSG:4527`.
    pub crs: String,
    pub method: Method,
    from_lonlat: Transform,
    to_lonlat: Transform,
}

impl std::fmt::Debug for Frame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Frame").field("crs", &self.crs).field("method", &self.method).finish()
    }
}

/// The EPSG code of the local frame for a longitude/latitude: the CGCS2000 3-degree Gauss–Krüger
/// zone (with zone prefix, EPSG:4513–4533 for zones 25–45) inside China, else the WGS84 UTM zone.
///
/// ```
/// use planaudit::normalise::crs::auto_frame_epsg;
/// assert_eq!(auto_frame_epsg(116.5, 31.75), 4527); // Lu'an: zone 39, CM 117°E
/// assert_eq!(auto_frame_epsg(9.52, 47.14), 32632); // Liechtenstein: UTM 32N
/// ```
pub fn auto_frame_epsg(lon: f64, lat: f64) -> u32 {
    let zone = (lon / 3.0).round() as i64;
    let in_china = (73.0..=135.5).contains(&lon) && (3.0..=54.0).contains(&lat);
    if in_china && (25..=45).contains(&zone) {
        return 4513 + (zone - 25) as u32;
    }
    let utm = (((lon + 180.0) / 6.0).floor() as i64).clamp(0, 59) as u32 + 1;
    if lat >= 0.0 {
        32600 + utm
    } else {
        32700 + utm
    }
}

fn project_with(proj: &Proj, c: Coord<f64>) -> Option<Coord<f64>> {
    let (x, y) = proj.convert((c.x, c.y)).ok()?;
    (x.is_finite() && y.is_finite()).then_some(Coord { x, y })
}

impl Frame {
    /// A frame in a given projected CRS.
    pub fn new(crs: &str, method: Method) -> Result<Frame> {
        // To longitude/latitude first, the direction layers ask for: the way back is then always
        // that operation inverted, whichever thread asks first (see `Transform`).
        let to_lonlat = Transform::new(crs, LONLAT_CRS)
            .map_err(|e| Error::Crs(format!("cannot use {crs} as the working projection: {e}")))?;
        let from_lonlat = Transform::new(LONLAT_CRS, crs)
            .map_err(|e| Error::Crs(format!("cannot use {crs} as the working projection: {e}")))?;
        // A geographic CRS would make every length and area meaningless.
        let probe = from_lonlat.proj_for(crs)?.convert((0.5f64, 0.5f64)).ok();
        if let Some((x, y)) = probe {
            if x.abs() <= 180.0 && y.abs() <= 90.0 && (x - 0.5).abs() < 1e-6 {
                return Err(Error::Usage(format!("{crs} is not a projected CRS: planar measurement needs metres")));
            }
        }
        Ok(Frame { crs: crs.to_string(), method, from_lonlat, to_lonlat })
    }

    /// Checks that the frame measures in metres, about true to scale, at a longitude/latitude point:
    /// steps of 100 m east and north on the ground must measure within a factor of 2 of 100 m in
    /// the frame, and the area they span within 10% of the ground's. A CRS in feet (3.28 times
    /// each way), a geocentric CRS (north steps shrink by the sine of the latitude), Web Mercator
    /// away from the equator or a Gauss–Krüger zone far from the data fails, with a usage error
    /// naming `option`; an equal-area projection passes wherever it is used.
    pub fn check_scale(&self, at: Coord<f64>, option: &str) -> Result<()> {
        use geo::{Destination, Distance, Geodesic, Point};
        let step_m = 100.0;
        let here = Point(at);
        let proj = self.from_lonlat.proj_for(&self.crs)?;
        let mut scales = [f64::NAN; 2];
        for (scale, bearing) in scales.iter_mut().zip([90.0, 0.0]) {
            let there = Geodesic.destination(here, bearing, step_m);
            let ground_m = Geodesic.distance(here, there);
            if let (Some(a), Some(b)) = (project_with(&proj, at), project_with(&proj, there.0)) {
                *scale = (b.x - a.x).hypot(b.y - a.y) / ground_m;
            }
        }
        let [east, north] = scales;
        // Areas within 10% (an equal-area projection keeps them exactly, a conformal one near its
        // zone within a few parts in a thousand), and neither axis off by more than a factor of 2.
        let axis = |s: f64| (0.5..=2.0).contains(&s);
        if !(axis(east) && axis(north) && (east * north - 1.0).abs() <= 0.1) {
            return Err(Error::Usage(format!(
                "{option} {}: 100 m on the ground at ({:.4}, {:.4}) measures {:.1} m east and {:.1} m north in it; planar measurement needs a projected CRS in metres, true to scale at the data (such as the CGCS2000 Gauss–Krüger zone, EPSG:4513–4533)",
                self.crs,
                at.x,
                at.y,
                east * step_m,
                north * step_m
            )));
        }
        Ok(())
    }

    /// The automatic ellipsoidal frame for data centred at `lon`, `lat`.
    pub fn auto(lon: f64, lat: f64) -> Result<Frame> {
        Frame::new(&format!("EPSG:{}", auto_frame_epsg(lon, lat)), Method::Ellipsoidal)
    }

    /// Projects a longitude/latitude geometry into the frame.
    pub fn project(&self, g: &Geometry<f64>) -> Option<Geometry<f64>> {
        let mut out = g.clone();
        self.project_in_place(&mut out).ok()?.then_some(out)
    }

    /// Projects a longitude/latitude geometry into the frame in place; `Ok(false)` when a
    /// coordinate cannot be projected (the geometry is then partly projected). An error only when
    /// this thread cannot create its PROJ object.
    pub fn project_in_place(&self, g: &mut Geometry<f64>) -> Result<bool> {
        let proj = self.from_lonlat.proj_for(&self.crs)?;
        Ok(convert_in_place(g, &|c| project_with(&proj, c)))
    }

    /// Projects one longitude/latitude coordinate into the frame.
    pub fn project_coord(&self, c: Coord<f64>) -> Option<Coord<f64>> {
        project_with(&*self.from_lonlat.proj().ok()?, c)
    }

    /// Takes one frame coordinate back to longitude/latitude.
    pub fn unproject_coord(&self, c: Coord<f64>) -> Result<Coord<f64>> {
        self.unproject_with(&*self.to_lonlat.proj_for(&self.crs)?, c)
    }

    fn unproject_with(&self, proj: &Proj, c: Coord<f64>) -> Result<Coord<f64>> {
        let (x, y) = proj.convert((c.x, c.y)).map_err(|e| {
            Error::Crs(format!("{}: cannot convert ({}, {}) to longitude/latitude: {e}", self.crs, c.x, c.y))
        })?;
        Ok(Coord { x, y })
    }

    /// Takes frame coordinates back to longitude/latitude, appending them to `out`.
    pub fn unproject_into(&self, coords: &[Coord<f64>], out: &mut Vec<Coord<f64>>) -> Result<()> {
        // Nothing to convert (an edge of two nodes): no transformation to look up.
        if coords.is_empty() {
            return Ok(());
        }
        let proj = self.to_lonlat.proj_for(&self.crs)?;
        for &c in coords {
            out.push(self.unproject_with(&proj, c)?);
        }
        Ok(())
    }

    /// Takes any frame geometry back to longitude/latitude.
    pub fn unproject<G: MapCoords<f64, f64, Output = G>>(&self, g: &G) -> Result<G> {
        let proj = self.to_lonlat.proj_for(&self.crs)?;
        g.try_map_coords(|c| self.unproject_with(&proj, c))
    }

    /// A sentence for outputs: which method measured the numbers.
    pub fn describe(&self) -> String {
        match self.method {
            Method::Ellipsoidal => {
                format!("ellipsoidal (geodesic on the WGS84/CGCS2000 ellipsoid; clipped in {})", self.crs)
            }
            Method::Planar => format!("planar ({})", self.crs),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Threads asking for a new pair at once get one transformation, created once.
    #[test]
    fn a_pair_asked_for_at_once_is_created_once() {
        let (from, to) = ("EPSG:32650", LONLAT_CRS);
        let barrier = std::sync::Barrier::new(4);
        let got: Vec<usize> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..4)
                .map(|_| {
                    s.spawn(|| {
                        barrier.wait();
                        let t = Transform::new(from, to).unwrap();
                        t.pair as *const Pair as usize
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert!(got.iter().all(|&p| p == got[0]), "one pair for every thread");
        let created = CREATED.lock().unwrap().iter().filter(|(f, t, _)| f == from && t == to).count();
        assert_eq!(created, 1);
    }

    /// The reverse of a pair made of one operation is that operation inverted, not a second search
    /// of PROJ's database, and converts as the searched one would, to the bit (for these zones;
    /// see `Transform` for the few CRSs where it is within 0.1 mm).
    #[test]
    fn a_reverse_pair_inverts_the_operation_found() {
        let mut next = crate::testing::uniform(0x9e3779b97f4a7c15);
        for (crs, west, south) in [("EPSG:4531", 127.5, 40.0), ("EPSG:32633", 12.0, 45.0)] {
            Transform::new(crs, LONLAT_CRS).unwrap();
            let reverse = Transform::new(LONLAT_CRS, crs).unwrap();
            let made: Vec<bool> =
                CREATED.lock().unwrap().iter().filter(|(f, t, _)| f == LONLAT_CRS && t == crs).map(|c| c.2).collect();
            assert_eq!(made, [false], "{crs}: made once, without a search");
            let searched = Proj::new_known_crs(LONLAT_CRS, crs, None).unwrap();
            let inverted = reverse.proj_for(crs).unwrap();
            for _ in 0..5000 {
                let (x, y) = (west + 3.0 * next(), south + 5.0 * next());
                let a = searched.convert((x, y)).unwrap();
                let b = inverted.convert((x, y)).unwrap();
                assert_eq!((a.0.to_bits(), a.1.to_bits()), (b.0.to_bits(), b.1.to_bits()), "{crs} at {x}, {y}");
            }
        }
        assert_eq!(inverse_operation("+proj=utm +zone=33 +ellps=WGS84"), "+proj=utm +inv +zone=33 +ellps=WGS84");
        assert_eq!(inverse_operation("+proj=utm +inv +zone=33"), "+proj=utm +zone=33");
        assert_eq!(
            inverse_operation("+proj=pipeline +step +proj=affine +xoff=1 +omit_inv +step +proj=b"),
            "+proj=pipeline +step +proj=b +inv +step +proj=affine +inv +xoff=1 +omit_fwd"
        );
        assert_eq!(
            inverse_operation("+proj=pipeline +ellps=GRS80 +step +inv +proj=a +k=1 +step +proj=b +step +proj=c +inv"),
            "+proj=pipeline +ellps=GRS80 +step +proj=c +step +proj=b +inv +step +proj=a +k=1"
        );
    }

    /// A definition sharing the pair of an equivalent one asked for first keeps its own area of
    /// use: CGCS2000 in ESRI's words has none, EPSG:4490 has China's.
    #[test]
    fn a_shared_pair_keeps_each_definitions_area_of_use() {
        let esri = r#"GEOGCS["GCS_China_Geodetic_Coordinate_System_2000",DATUM["D_China_2000",SPHEROID["CGCS2000",6378137.0,298.257222101]],PRIMEM["Greenwich",0.0],UNIT["Degree",0.0174532925199433]]"#;
        let first = ToLonLat::new(&SourceCrs::Proj(esri.into()), "esri").unwrap();
        let code = ToLonLat::new(&SourceCrs::Proj("EPSG:4490".into()), "code").unwrap();
        let (ToLonLatKind::Proj(a), ToLonLatKind::Proj(b)) = (first.kind, code.kind) else { panic!() };
        assert!(std::ptr::eq(a.pair, b.pair), "one pair");
        let area = code.area_of_use().expect("EPSG:4490 has an area of use");
        assert!((73.0..74.0).contains(&area.min().x) && (134.0..135.0).contains(&area.max().x), "{area:?}");
    }

    /// A frame asks for the way to longitude/latitude first and inverts it for the way back, the
    /// same whichever thread made the frame.
    #[test]
    fn a_frame_inverts_its_way_to_lonlat() {
        Frame::new("EPSG:4533", Method::Ellipsoidal).unwrap();
        let made: Vec<(bool, bool)> = CREATED
            .lock()
            .unwrap()
            .iter()
            .filter(|(f, t, _)| f.contains("4533") || t.contains("4533"))
            .map(|(f, _, searched)| (f == "EPSG:4533", *searched))
            .collect();
        assert_eq!(made, [(true, true), (false, false)]);
    }

    /// A layer's WKT (as GDAL gives it) and the EPSG code PROJ finds it equivalent to share one
    /// pair (the frame's conversions are then not searched for again); a CRS that is not
    /// equivalent gets its own.
    #[test]
    fn equivalent_definitions_share_a_pair() {
        let wkt = r#"PROJCS["CGCS2000 / 3-degree Gauss-Kruger zone 42",GEOGCS["China Geodetic Coordinate System 2000",DATUM["China_2000",SPHEROID["CGCS2000",6378137,298.257222101,AUTHORITY["EPSG","1024"]],AUTHORITY["EPSG","1043"]],PRIMEM["Greenwich",0,AUTHORITY["EPSG","8901"]],UNIT["degree",0.0174532925199433,AUTHORITY["EPSG","9122"]],AUTHORITY["EPSG","4490"]],PROJECTION["Transverse_Mercator"],PARAMETER["latitude_of_origin",0],PARAMETER["central_meridian",126],PARAMETER["scale_factor",1],PARAMETER["false_easting",42500000],PARAMETER["false_northing",0],UNIT["metre",1,AUTHORITY["EPSG","9001"]],AXIS["Northing",NORTH],AXIS["Easting",EAST],AUTHORITY["EPSG","4530"]]"#;
        let layer = Transform::new(wkt, LONLAT_CRS).unwrap();
        let code = Transform::new("EPSG:4530", LONLAT_CRS).unwrap();
        assert!(std::ptr::eq(layer.pair, code.pair), "one pair");
        let other = Transform::new("EPSG:4529", LONLAT_CRS).unwrap();
        assert!(!std::ptr::eq(layer.pair, other.pair), "zone 41 is not zone 42");
        let p = code.proj_for("EPSG:4530").unwrap().convert((42_500_000.0f64, 4_000_000.0f64)).unwrap();
        assert!((p.0 - 126.0).abs() < 1e-9, "{p:?}");
    }

    #[test]
    fn gk_zone_39_round_trip() {
        let f = Frame::auto(116.5, 31.75).unwrap();
        assert_eq!(f.crs, "EPSG:4527");
        let p = f.project_coord(Coord { x: 116.5, y: 31.75 }).unwrap();
        // Easting carries the zone prefix 39; northing ~3.5e6 m at 31.75°N.
        assert!((39_400_000.0..39_500_000.0).contains(&p.x), "easting {}", p.x);
        assert!((3_500_000.0..3_550_000.0).contains(&p.y), "northing {}", p.y);
        let back = f.unproject_coord(p).unwrap();
        assert!((back.x - 116.5).abs() < 1e-9 && (back.y - 31.75).abs() < 1e-9);
    }

    /// Frames and conversions cross threads: the shared PROJ objects (threads outside rayon's
    /// pool) and each pool thread's own give the same bits.
    #[test]
    fn frame_and_conversion_give_the_same_bits_on_any_thread() {
        fn shareable<T: Send + Sync>() {}
        shareable::<Frame>();
        shareable::<ToLonLat>();
        let f = Frame::auto(116.5, 31.75).unwrap();
        let t = ToLonLat::new(&SourceCrs::Proj("EPSG:4527".into()), "test").unwrap();
        let run = || {
            let p = f.project_coord(Coord { x: 116.512345, y: 31.765432 }).unwrap();
            let ll = t.coord(p).unwrap();
            let back = f.unproject_coord(p).unwrap();
            [p.x, p.y, ll.x, ll.y, back.x, back.y].map(f64::to_bits)
        };
        // Here (outside any pool): the shared objects; on the threads of a pool, objects of their
        // own, created on each thread's first use.
        let here = run();
        let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
        let in_pool: Vec<_> = pool.install(|| {
            use rayon::prelude::*;
            (0..8).into_par_iter().map(|_| (rayon::current_thread_index(), run())).collect()
        });
        for (thread, bits) in in_pool {
            assert!(thread.is_some());
            assert_eq!(here, bits);
        }
    }

    /// A pool thread's object made from the PROJ string of a single operation converts exactly as
    /// the object PROJ's search made; a set of candidate operations has no such string.
    #[test]
    fn single_operations_rebuilt_from_their_string_convert_alike() {
        let mut next = crate::testing::uniform(0x2545f4914f6cdd1d);
        for (from, to, points) in [
            ("EPSG:4527", LONLAT_CRS, [(39_300_000.0, 3_300_000.0), (39_700_000.0, 3_700_000.0)]),
            (LONLAT_CRS, "EPSG:4527", [(115.5, 29.0), (118.5, 34.0)]),
            ("EPSG:32650", LONLAT_CRS, [(200_000.0, 3_000_000.0), (800_000.0, 4_000_000.0)]),
        ] {
            let searched = Proj::new_known_crs(from, to, None).unwrap();
            let def = single_operation(&searched).unwrap_or_else(|| panic!("{from} -> {to}: one operation"));
            let rebuilt = Proj::new(&def).unwrap();
            for _ in 0..5000 {
                let x = points[0].0 + next() * (points[1].0 - points[0].0);
                let y = points[0].1 + next() * (points[1].1 - points[0].1);
                let a = searched.convert((x, y)).unwrap();
                let b = rebuilt.convert((x, y)).unwrap();
                assert_eq!(
                    (a.0.to_bits(), a.1.to_bits()),
                    (b.0.to_bits(), b.1.to_bits()),
                    "{from} -> {to} at {x}, {y}"
                );
            }
        }
        // NAD27 to WGS84: several candidate operations (grids, Helmert), chosen point by point.
        let set = Proj::new_known_crs("EPSG:4267", LONLAT_CRS, None).unwrap();
        assert_eq!(single_operation(&set), None, "{:?}", set.proj_info());
    }

    #[test]
    fn source_crs_in_zone_39_to_lonlat() {
        let t = ToLonLat::new(&SourceCrs::Proj("EPSG:4527".into()), "test").unwrap();
        // The central meridian 117°E has easting exactly 39 500 000.
        let c = t.coord(Coord { x: 39_500_000.0, y: 3_513_000.0 }).unwrap();
        assert!((c.x - 117.0).abs() < 1e-9, "lon {}", c.x);
        assert!((31.0..32.0).contains(&c.y));
    }

    #[test]
    fn out_of_range_is_rejected() {
        let t = ToLonLat::new(&SourceCrs::Proj(LONLAT_CRS.into()), "test").unwrap();
        assert!(t.coord(Coord { x: 1e300, y: 0.0 }).is_none());
        assert!(t.coord(Coord { x: 200.0, y: 10.0 }).is_none());
    }

    #[test]
    fn geographic_planar_crs_is_refused() {
        assert!(matches!(Frame::new("EPSG:4326", Method::Planar), Err(Error::Usage(_))));
    }

    #[test]
    fn missing_crs_names_the_layer() {
        let e = SourceCrs::resolve("roads.shp#roads", None, None, None, "--roads-crs").unwrap_err();
        assert!(e.to_string().contains("roads.shp#roads") && e.to_string().contains("--roads-crs"));
    }

    #[test]
    fn outer_epsg_code_is_the_objects_own() {
        let wkt1 = r#"PROJCS["CGCS2000 / 3-degree Gauss-Kruger zone 39",GEOGCS["China Geodetic Coordinate System 2000",DATUM["China_2000",SPHEROID["CGCS2000",6378137,298.257222101,AUTHORITY["EPSG","1024"]],AUTHORITY["EPSG","1043"]],PRIMEM["Greenwich",0,AUTHORITY["EPSG","8901"]],UNIT["degree",0.0174532925199433,AUTHORITY["EPSG","9122"]],AUTHORITY["EPSG","4490"]],PROJECTION["Transverse_Mercator"],UNIT["metre",1,AUTHORITY["EPSG","9001"]],AUTHORITY["EPSG","4527"]]"#;
        assert_eq!(outer_epsg_code(wkt1), Some(4527));
        // Without an authority of its own, only its parts' (a unit, a datum) remain: none.
        let custom = r#"GEOGCS["custom",DATUM["d",SPHEROID["s",6378137,298.257223563]],PRIMEM["Greenwich",0],UNIT["degree",0.0174532925199433,AUTHORITY["EPSG","9122"]]]"#;
        assert_eq!(outer_epsg_code(custom), None);
        let projcs = &wkt1[..wkt1.rfind(",AUTHORITY").unwrap()];
        assert_eq!(outer_epsg_code(&format!("{projcs}]")), None, "the metre's 9001 is not the CRS's");
        let wkt2 = r#"PROJCRS["x",BASEGEOGCRS["y",ID["EPSG",4490]],CS[Cartesian,2],LENGTHUNIT["metre",1,ID["EPSG",9001]],ID["EPSG",4527]]"#;
        assert_eq!(outer_epsg_code(wkt2), Some(4527));
        assert_eq!(crs_label(custom), "custom");
    }

    #[test]
    fn fallback_only_for_layers_without_a_crs() {
        let own = r#"PROJCRS["CGCS2000 / 3-degree Gauss-Kruger zone 39",ID["EPSG",4527]]"#;
        let local = r#"LOCAL_CS["grid",UNIT["metre",1]]"#;
        let fallback = SourceCrs::Proj("EPSG:4526".into());
        let override_ = SourceCrs::Proj("EPSG:4528".into());
        let resolve = |wkt, o, f| SourceCrs::resolve("l", wkt, o, f, "--crs").map(|c| c.label());
        assert_eq!(resolve(Some(own), None, Some(&fallback)).unwrap(), "EPSG:4527", "its own wins");
        assert_eq!(resolve(Some(own), Some(&override_), Some(&fallback)).unwrap(), "EPSG:4528");
        assert_eq!(resolve(None, None, Some(&fallback)).unwrap(), "EPSG:4526");
        assert_eq!(resolve(Some(" "), None, Some(&fallback)).unwrap(), "EPSG:4526");
        assert_eq!(resolve(Some(local), None, Some(&fallback)).unwrap(), "EPSG:4526", "a local grid is none");
        assert!(matches!(SourceCrs::resolve("l", Some(local), None, None, "--crs"), Err(Error::LocalCrs { .. })));
    }
}
