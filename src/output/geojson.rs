//! RFC 7946 GeoJSON writer.
//!
//! Geometries leave the frame for WGS84 longitude/latitude, exterior rings counter-clockwise and
//! holes clockwise, coordinates rounded to 7 decimals (about 1 cm). Properties keep the order the
//! caller gives; features keep the caller's (stable) order. The file is written atomically.
//! Top-level members `name`, `planaudit` (how the numbers were measured) and, for outputs derived
//! from OpenStreetMap, `attribution` are foreign members, which RFC 7946 §6.1 allows.

use std::io::Write;
use std::path::Path;

use geo::orient::{Direction, Orient};
use geo::{Geometry, LineString, MapCoords, MultiLineString, MultiPolygon, Polygon};
use rayon::prelude::*;
use serde_json::{Map, Value};

use super::atomic::write_atomic;
use crate::normalise::crs::Frame;
use crate::Result;

/// Decimal places of output coordinates (RFC 7946 §11.2 recommends no more than needed; 1e-7° ≈ 1 cm).
pub const COORD_DECIMALS: i32 = 7;

/// The attribution OpenStreetMap-derived outputs must carry (ODbL 1.0).
pub const OSM_ATTRIBUTION: &str = "© OpenStreetMap contributors";

/// One output feature: a frame geometry and its properties.
pub struct OutFeature {
    pub geometry: Geometry<f64>,
    pub properties: Map<String, Value>,
}

/// What the writer needs of a feature: its frame geometry, and its properties as a JSON object.
///
/// [`OutFeature`] holds its properties as a map; a large output can instead write them straight
/// from its results with an [`ObjectWriter`], without building a map per feature.
pub trait Feature: Sync {
    fn geometry(&self) -> &Geometry<f64>;
    /// The geometry as the output holds it ([`to_rfc7946`]); a feature that keeps its geometry in
    /// longitude/latitude gives it without converting again.
    fn rfc7946(&self, frame: &Frame) -> Result<Geometry<f64>> {
        to_rfc7946(frame, self.geometry())
    }
    /// Appends the properties object to `out`.
    fn write_properties(&self, out: &mut Vec<u8>) -> serde_json::Result<()>;
}

impl Feature for OutFeature {
    fn geometry(&self) -> &Geometry<f64> {
        &self.geometry
    }

    fn write_properties(&self, out: &mut Vec<u8>) -> serde_json::Result<()> {
        serde_json::to_writer(out, &self.properties)
    }
}

/// Writes a JSON object a member at a time, in the order given, byte for byte as `serde_json`
/// writes a [`Map`] of the same members.
///
/// ```
/// use planaudit::output::geojson::ObjectWriter;
/// let mut out = Vec::new();
/// let mut o = ObjectWriter::new(&mut out);
/// o.member("id", "1").unwrap();
/// let mut d = o.object("dist_m").unwrap();
/// d.member("school", &Some(12.5)).unwrap();
/// d.member("clinic", &None::<f64>).unwrap();
/// d.end();
/// o.member("ok", &true).unwrap();
/// o.end();
/// let map = serde_json::json!({"id": "1", "dist_m": {"school": 12.5, "clinic": null}, "ok": true});
/// assert_eq!(out, serde_json::to_vec(&map).unwrap());
/// ```
pub struct ObjectWriter<'a> {
    out: &'a mut Vec<u8>,
    empty: bool,
}

impl<'a> ObjectWriter<'a> {
    pub fn new(out: &'a mut Vec<u8>) -> ObjectWriter<'a> {
        out.push(b'{');
        ObjectWriter { out, empty: true }
    }

    /// A member whose value is any serialisable value.
    pub fn member<V: serde::Serialize + ?Sized>(&mut self, key: &str, value: &V) -> serde_json::Result<()> {
        self.key(key)?;
        serde_json::to_writer(&mut *self.out, value)
    }

    /// A member whose value is an object, written through the writer returned (end it before
    /// writing the next member).
    pub fn object(&mut self, key: &str) -> serde_json::Result<ObjectWriter<'_>> {
        self.key(key)?;
        Ok(ObjectWriter::new(self.out))
    }

    fn key(&mut self, key: &str) -> serde_json::Result<()> {
        if !self.empty {
            self.out.push(b',');
        }
        self.empty = false;
        serde_json::to_writer(&mut *self.out, key)?;
        self.out.push(b':');
        Ok(())
    }

    /// Closes the object.
    pub fn end(self) {
        self.out.push(b'}');
    }
}

/// Collection-level metadata.
pub struct CollectionMeta<'a> {
    pub name: &'a str,
    pub frame: &'a Frame,
    /// Whether any input came from OpenStreetMap.
    pub osm: bool,
}

fn round(v: f64) -> f64 {
    let f = 10f64.powi(COORD_DECIMALS);
    (v * f).round() / f
}

/// Takes a frame geometry to rounded, RFC 7946-oriented longitude/latitude.
pub fn to_rfc7946(frame: &Frame, g: &Geometry<f64>) -> Result<Geometry<f64>> {
    Ok(lonlat_to_rfc7946(frame.unproject(g)?))
}

/// Orients and rounds a longitude/latitude geometry as RFC 7946 output wants it. Positions that
/// rounding makes equal to the one before are written once; a ring left with fewer than four goes
/// (a polygon whose exterior goes, holes and all: it had under a centimetre of width), and a
/// line keeps at least two.
pub fn lonlat_to_rfc7946(ll: Geometry<f64>) -> Geometry<f64> {
    let oriented = match ll {
        Geometry::Polygon(p) => Geometry::Polygon(p.orient(Direction::Default)),
        Geometry::MultiPolygon(mp) => Geometry::MultiPolygon(mp.orient(Direction::Default)),
        other => other,
    };
    match oriented.map_coords(|c| geo::coord! { x: round(c.x), y: round(c.y) }) {
        Geometry::LineString(ls) => Geometry::LineString(line_without_repeats(ls)),
        Geometry::MultiLineString(mls) => {
            Geometry::MultiLineString(MultiLineString(mls.0.into_iter().map(line_without_repeats).collect()))
        }
        // A lone polygon, or a multipolygon, that rounding leaves nothing of stays as it is: the
        // feature keeps its geometry.
        Geometry::Polygon(p) if distinct(p.exterior()) >= 4 => Geometry::Polygon(polygon_without_repeats(p)),
        Geometry::MultiPolygon(mp) => {
            let kept: Vec<bool> = mp.0.iter().map(|p| distinct(p.exterior()) >= 4).collect();
            if !kept.contains(&true) {
                return Geometry::MultiPolygon(mp);
            }
            Geometry::MultiPolygon(MultiPolygon(
                mp.0.into_iter().zip(kept).filter(|(_, k)| *k).map(|(p, _)| polygon_without_repeats(p)).collect(),
            ))
        }
        other => other,
    }
}

/// The positions of a ring or line counted once where they repeat.
fn distinct(ls: &LineString<f64>) -> usize {
    ls.0.windows(2).filter(|w| w[0] != w[1]).count() + usize::from(!ls.0.is_empty())
}

/// A polygon (its exterior of four distinct positions or more) without repeated positions and
/// without the holes left with fewer than four.
fn polygon_without_repeats(p: Polygon<f64>) -> Polygon<f64> {
    let (mut exterior, interiors) = p.into_inner();
    exterior.0.dedup();
    let holes = interiors
        .into_iter()
        .filter(|h| distinct(h) >= 4)
        .map(|mut h| {
            h.0.dedup();
            h
        })
        .collect();
    Polygon::new(exterior, holes)
}

/// A line without repeated positions, unless fewer than two would be left.
fn line_without_repeats(mut ls: LineString<f64>) -> LineString<f64> {
    if distinct(&ls) >= 2 {
        ls.0.dedup();
    }
    ls
}

/// Writes a FeatureCollection atomically, one feature per line.
///
/// Features are converted and serialised in parallel, a group at a time, and each group is written
/// to the temporary file while the next is made: memory holds two groups' text, whatever the size
/// of the output. A conversion error removes the temporary file and leaves any previous file in
/// place.
pub fn write_collection<F: Feature>(path: &Path, meta: &CollectionMeta<'_>, features: &[F]) -> Result<()> {
    write_collection_then(path, meta, features, || Ok(()))
}

/// [`write_collection`], asking `last` once every feature is written, before the file takes the
/// place of any previous one: an error from it leaves that file in place (a file that must not be
/// replaced unless another one was written).
pub fn write_collection_then<F: Feature>(
    path: &Path,
    meta: &CollectionMeta<'_>,
    features: &[F],
    last: impl FnOnce() -> std::io::Result<()>,
) -> Result<()> {
    write_collection_read(path, meta, features, last, |_: &mut (), _, _| ()).map(drop)
}

/// [`write_collection_then`], handing each feature as it is written to `read`, with its geometry
/// as written (longitude/latitude, [`Feature::rfc7946`]), which reads it into a part: one part a
/// run of features made together, on the thread that made them. The parts come back in the
/// features' order, so that what `read` makes of them can be what reading the file back would
/// give, without reading it.
pub fn write_collection_read<F: Feature, P: Default + Send>(
    path: &Path,
    meta: &CollectionMeta<'_>,
    features: &[F],
    last: impl FnOnce() -> std::io::Result<()>,
    read: impl Fn(&mut P, &F, &Geometry<f64>) + Sync,
) -> Result<Vec<P>> {
    crate::timing::time(
        || format!("write {}", meta.name),
        || {
            let mut header = Map::new();
            header.insert("type".into(), "FeatureCollection".into());
            header.insert("name".into(), meta.name.into());
            let mut info = Map::new();
            info.insert("generator".into(), format!("planaudit {}", env!("CARGO_PKG_VERSION")).into());
            info.insert("measure".into(), meta.frame.describe().into());
            info.insert("frame_crs".into(), meta.frame.crs.clone().into());
            header.insert("planaudit".into(), Value::Object(info));
            if meta.osm {
                header.insert("attribution".into(), OSM_ATTRIBUTION.into());
            }
            let head = serde_json::to_string(&Value::Object(header)).expect("a header always serialises");
            let head = head.strip_suffix('}').expect("an object ends with }");
            let mut failure = None;
            let mut parts = Vec::new();
            let groups: Vec<&[F]> = features.chunks(FEATURES_PER_TASK * TASKS_PER_GROUP).collect();
            // Features are turned into text in parallel, a group at a time, one task a chunk.
            let text_of = |g: usize| -> Vec<Result<(Vec<u8>, P)>> {
                groups[g]
                    .par_chunks(FEATURES_PER_TASK)
                    .enumerate()
                    .map(|(t, chunk)| {
                        let mut buf = Vec::with_capacity(chunk.len() * 256);
                        let mut part = P::default();
                        for (k, f) in chunk.iter().enumerate() {
                            let first = g == 0 && t == 0 && k == 0;
                            let g = f.rfc7946(meta.frame)?;
                            feature_text(path, &g, f, first, &mut buf)?;
                            read(&mut part, f, &g);
                        }
                        Ok((buf, part))
                    })
                    .collect()
            };
            let written = write_atomic(path, |w| {
                write!(w, "{head},\"features\":[")?;
                let mut texts = if groups.is_empty() { Vec::new() } else { text_of(0) };
                for g in 0..groups.len() {
                    // A group's text is written in order while the next group's is made.
                    let (done, next) = rayon::join(
                        || write_texts(w, texts, &mut parts),
                        || if g + 1 < groups.len() { text_of(g + 1) } else { Vec::new() },
                    );
                    if let Some(e) = done? {
                        failure = Some(e);
                        return Err(std::io::Error::other("geometry conversion failed"));
                    }
                    texts = next;
                }
                w.write_all(b"\n]}\n")?;
                last()
            });
            match failure {
                Some(e) => Err(e),
                None => written.map(|()| parts),
            }
        },
    )
}

/// Writes the texts of a group in order, keeping their parts, up to the first that failed, whose
/// error it returns.
fn write_texts<P>(
    w: &mut impl Write,
    texts: Vec<Result<(Vec<u8>, P)>>,
    parts: &mut Vec<P>,
) -> std::io::Result<Option<crate::Error>> {
    for text in texts {
        match text {
            Ok((b, part)) => {
                w.write_all(&b)?;
                parts.push(part);
            }
            Err(e) => return Ok(Some(e)),
        }
    }
    Ok(None)
}

/// Features turned into text by one task.
const FEATURES_PER_TASK: usize = 1024;
/// Tasks whose text makes a group: one group is written while the next is made, so two are held
/// at a time.
const TASKS_PER_GROUP: usize = 16;

/// One feature's text, with its geometry `g` as output, preceded by its separator.
fn feature_text<F: Feature>(path: &Path, g: &Geometry<f64>, f: &F, first: bool, buf: &mut Vec<u8>) -> Result<()> {
    buf.extend_from_slice(if first { b"\n" } else { b",\n" });
    // The member order of geojson::Feature's serialisation: type, geometry, properties.
    buf.extend_from_slice(b"{\"type\":\"Feature\",\"geometry\":");
    serde_json::to_writer(&mut *buf, &geojson::Geometry::from(g)).map_err(|e| crate::Error::io(path, e.into()))?;
    buf.extend_from_slice(b",\"properties\":");
    f.write_properties(buf).map_err(|e| crate::Error::io(path, e.into()))?;
    buf.push(b'}');
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::normalise::crs::Method;
    use geo::{polygon, Coord};

    /// Positions rounding makes equal are written once; a ring left with under four goes, a lone
    /// polygon or a line that rounding would empty keeps its positions.
    #[test]
    fn rounding_drops_repeated_positions() {
        use geo::{line_string, wkt};
        // 1e-8° apart: one position at 7 decimals.
        let ls = line_string![(x: 116.0, y: 31.0), (x: 116.00000001, y: 31.0), (x: 116.001, y: 31.0)];
        let Geometry::LineString(out) = lonlat_to_rfc7946(Geometry::LineString(ls)) else { panic!() };
        assert_eq!(out.0, vec![Coord { x: 116.0, y: 31.0 }, Coord { x: 116.001, y: 31.0 }]);
        let tiny = line_string![(x: 116.0, y: 31.0), (x: 116.00000001, y: 31.0)];
        let Geometry::LineString(out) = lonlat_to_rfc7946(Geometry::LineString(tiny)) else { panic!() };
        assert_eq!(out.0.len(), 2, "a line keeps two positions");

        // A square with a repeated corner and a hole a millimetre wide.
        let mp = wkt!(MULTIPOLYGON(
            ((116.0 31.0, 116.001 31.0, 116.00100001 31.0, 116.001 31.001, 116.0 31.001, 116.0 31.0),
             (116.0005 31.0005, 116.0005 31.00050001, 116.00050001 31.0005, 116.0005 31.0005)),
            ((117.0 31.0, 117.00000001 31.0, 117.0 31.00000001, 117.0 31.0))
        ));
        let Geometry::MultiPolygon(out) = lonlat_to_rfc7946(Geometry::MultiPolygon(mp)) else { panic!() };
        assert_eq!(out.0.len(), 1, "the polygon rounding empties goes");
        assert_eq!(out.0[0].exterior().0.len(), 5, "{out:?}");
        assert!(out.0[0].interiors().is_empty(), "the hole rounding empties goes");
        // Alone, it stays (the feature keeps a geometry).
        let lone = wkt!(POLYGON((117.0 31.0, 117.00000001 31.0, 117.0 31.00000001, 117.0 31.0)));
        let Geometry::Polygon(out) = lonlat_to_rfc7946(Geometry::Polygon(lone)) else { panic!() };
        assert_eq!(out.exterior().0.len(), 4);
    }

    #[test]
    fn writes_rfc7946() {
        let frame = Frame::new("EPSG:4527", Method::Ellipsoidal).unwrap();
        let c = frame.project_coord(Coord { x: 116.5, y: 31.75 }).unwrap();
        // Clockwise exterior in the frame: must come out counter-clockwise.
        let cw = polygon![(x: c.x, y: c.y), (x: c.x, y: c.y + 100.0), (x: c.x + 100.0, y: c.y + 100.0), (x: c.x + 100.0, y: c.y), (x: c.x, y: c.y)];
        let mut props = Map::new();
        props.insert("zeta".into(), 1.into());
        props.insert("alpha".into(), "两".into());
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.geojson");
        let meta = CollectionMeta { name: "t", frame: &frame, osm: true };
        write_collection(&path, &meta, &[OutFeature { geometry: Geometry::Polygon(cw), properties: props }]).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let gj: geojson::GeoJson = text.parse().unwrap();
        let geojson::GeoJson::FeatureCollection(fc) = gj else { panic!("not a collection") };
        assert_eq!(fc.foreign_members.as_ref().unwrap()["attribution"], OSM_ATTRIBUTION);
        let f = &fc.features[0];
        // Property order is kept.
        let keys: Vec<&String> = f.properties.as_ref().unwrap().keys().collect();
        assert_eq!(keys, ["zeta", "alpha"]);
        let g: Geometry<f64> = f.geometry.clone().unwrap().try_into().unwrap();
        let Geometry::Polygon(p) = g else { panic!("not a polygon") };
        use geo::Winding;
        assert!(p.exterior().is_ccw());
        for c in p.exterior().coords() {
            assert!((c.x - 116.5).abs() < 0.01 && (c.y - 31.75).abs() < 0.01);
            let scaled = c.x * 1e7;
            assert!((scaled - scaled.round()).abs() < 1e-3, "rounded to 7 decimals: {}", c.x);
        }
    }

    /// Points a little apart at Lu'an, each with its index as a property.
    fn numbered_points(frame: &Frame, n: usize) -> Vec<OutFeature> {
        let c = frame.project_coord(Coord { x: 116.5, y: 31.75 }).unwrap();
        (0..n)
            .map(|i| {
                let mut properties = Map::new();
                properties.insert("i".into(), i.into());
                let geometry = Geometry::Point(geo::Point::new(c.x + i as f64, c.y));
                OutFeature { geometry, properties }
            })
            .collect()
    }

    #[test]
    fn many_groups_keep_their_order() {
        let frame = Frame::new("EPSG:4527", Method::Ellipsoidal).unwrap();
        // Two whole groups and a part of a third.
        let n = FEATURES_PER_TASK * TASKS_PER_GROUP * 2 + 7;
        let features = numbered_points(&frame, n);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.geojson");
        write_collection(&path, &CollectionMeta { name: "t", frame: &frame, osm: false }, &features).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let geojson::GeoJson::FeatureCollection(fc) = text.parse().unwrap() else { panic!("not a collection") };
        assert_eq!(fc.features.len(), n);
        let mut last_x = f64::NEG_INFINITY;
        for (i, f) in fc.features.iter().enumerate() {
            assert_eq!(f.properties.as_ref().unwrap()["i"], i);
            let g: Geometry<f64> = f.geometry.clone().unwrap().try_into().unwrap();
            let Geometry::Point(p) = g else { panic!("not a point") };
            // Each point lies 1 m east of the one before.
            assert!(p.x() > last_x, "feature {i}");
            last_x = p.x();
        }
        // One feature per line, after the header line.
        assert_eq!(text.lines().count(), n + 2);
    }

    #[test]
    fn failure_in_a_later_group_keeps_the_old_file() {
        let frame = Frame::new("EPSG:4527", Method::Ellipsoidal).unwrap();
        let n = FEATURES_PER_TASK * TASKS_PER_GROUP + 10;
        let mut features = numbered_points(&frame, n);
        // Far beyond what PROJ takes back to longitude/latitude, in the second group.
        features[n - 3].geometry = Geometry::Point(geo::Point::new(1e12, 1e12));
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.geojson");
        std::fs::write(&path, "old").unwrap();
        let err = write_collection(&path, &CollectionMeta { name: "t", frame: &frame, osm: false }, &features);
        assert!(err.is_err());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "old");
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names.len(), 1, "temporary file removed: {names:?}");
    }
}
