//! Well-known binary (WKB) into `geo`, without GDAL: the reader exports each feature's geometry as
//! WKB once and the conversion runs on other threads (GDAL geometry objects stay on the thread
//! that reads the layer).
//!
//! Reads both byte orders, ISO dimension codes (`1002` = LineString Z, `2002` M, `3002` ZM) and
//! the old OGC/EWKB flags (`0x8000_0000` Z, `0x4000_0000` M, `0x2000_0000` SRID); Z and M are
//! dropped. Curve types (circular strings, compound curves, curve polygons, multi-curves and
//! multi-surfaces) are not decoded: [`Wkb::Curve`] tells the caller to linearise them first.

use geo::{Coord, Geometry, GeometryCollection, LineString, MultiLineString, MultiPoint, MultiPolygon, Point, Polygon};

/// Collections nested deeper than this are refused, as GDAL refuses them: a crafted geometry of
/// thousands of nested collections would otherwise exhaust the stack of the thread decoding it.
pub const MAX_DEPTH: usize = 32;

/// A decoded geometry, or the sign that it holds arcs.
#[derive(Debug, Clone, PartialEq)]
pub enum Wkb {
    Geometry(Geometry<f64>),
    /// A curve type (or a collection holding one): linearise before decoding.
    Curve,
}

/// Polygon rings as read: whether each was closed (first point equal to the last) in the data.
/// `geo::Polygon::new` closes rings silently; the reader counts that as a repair.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Decoded {
    pub unclosed_ring: bool,
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    unclosed_ring: bool,
}

/// Marks a curve found deep inside a collection; unwinds the decoding.
struct CurveFound;

enum Fail {
    Curve(CurveFound),
    Bad(String),
}

impl From<String> for Fail {
    fn from(s: String) -> Fail {
        Fail::Bad(s)
    }
}

impl<'a> Reader<'a> {
    fn bytes<const N: usize>(&mut self) -> Result<[u8; N], Fail> {
        let end = self.pos.checked_add(N).filter(|e| *e <= self.buf.len());
        let Some(end) = end else {
            return Err(Fail::Bad(format!("WKB cut short at byte {} of {}", self.pos, self.buf.len())));
        };
        let mut out = [0u8; N];
        out.copy_from_slice(&self.buf[self.pos..end]);
        self.pos = end;
        Ok(out)
    }

    fn u32(&mut self, little: bool) -> Result<u32, Fail> {
        let b = self.bytes::<4>()?;
        Ok(if little { u32::from_le_bytes(b) } else { u32::from_be_bytes(b) })
    }

    fn f64(&mut self, little: bool) -> Result<f64, Fail> {
        let b = self.bytes::<8>()?;
        Ok(if little { f64::from_le_bytes(b) } else { f64::from_be_bytes(b) })
    }

    /// A count of items each at least `min_bytes` long, checked against what is left of the
    /// buffer so that a corrupt count cannot ask for gigabytes.
    fn count(&mut self, little: bool, min_bytes: usize) -> Result<usize, Fail> {
        let n = self.u32(little)? as usize;
        let left = self.buf.len() - self.pos;
        if n.saturating_mul(min_bytes) > left {
            return Err(Fail::Bad(format!("WKB count {n} exceeds the {left} bytes left")));
        }
        Ok(n)
    }

    fn coord(&mut self, little: bool, dims: usize) -> Result<Coord<f64>, Fail> {
        let x = self.f64(little)?;
        let y = self.f64(little)?;
        for _ in 2..dims {
            self.f64(little)?;
        }
        Ok(Coord { x, y })
    }

    fn coords(&mut self, little: bool, dims: usize) -> Result<Vec<Coord<f64>>, Fail> {
        let n = self.count(little, dims * 8)?;
        (0..n).map(|_| self.coord(little, dims)).collect()
    }

    fn ring(&mut self, little: bool, dims: usize) -> Result<LineString<f64>, Fail> {
        let c = self.coords(little, dims)?;
        if c.len() > 1 && c.first() != c.last() {
            self.unclosed_ring = true;
        }
        Ok(LineString(c))
    }

    fn polygon(&mut self, little: bool, dims: usize) -> Result<Polygon<f64>, Fail> {
        let n = self.count(little, 4)?;
        let mut rings = Vec::with_capacity(n);
        for _ in 0..n {
            rings.push(self.ring(little, dims)?);
        }
        let mut rings = rings.into_iter();
        let exterior = rings.next().unwrap_or_else(|| LineString(vec![]));
        Ok(Polygon::new(exterior, rings.collect()))
    }

    /// One geometry: byte order, type, body; `depth` collections hold it.
    fn geometry(&mut self, depth: usize) -> Result<Geometry<f64>, Fail> {
        let little = match self.bytes::<1>()?[0] {
            0 => false,
            1 => true,
            b => return Err(Fail::Bad(format!("WKB byte order {b} is neither 0 nor 1"))),
        };
        let raw = self.u32(little)?;
        let mut dims = 2;
        if raw & 0x8000_0000 != 0 {
            dims += 1;
        }
        if raw & 0x4000_0000 != 0 {
            dims += 1;
        }
        if raw & 0x2000_0000 != 0 {
            self.u32(little)?; // SRID
        }
        let code = raw & 0x0fff_ffff;
        let (base, iso_dims) = (code % 1000, code / 1000);
        dims += match iso_dims {
            0 => 0,
            1 | 2 => 1,
            3 => 2,
            _ => return Err(Fail::Bad(format!("unknown WKB geometry type {raw}"))),
        };
        Ok(match base {
            1 => {
                let c = self.coord(little, dims)?;
                if c.x.is_nan() && c.y.is_nan() {
                    // The WKB of an empty point.
                    Geometry::MultiPoint(MultiPoint(vec![]))
                } else {
                    Geometry::Point(Point(c))
                }
            }
            2 => Geometry::LineString(LineString(self.coords(little, dims)?)),
            3 => Geometry::Polygon(self.polygon(little, dims)?),
            4..=7 => {
                if depth >= MAX_DEPTH {
                    return Err(Fail::Bad(format!("WKB collections nested more than {MAX_DEPTH} deep")));
                }
                let n = self.count(little, 9)?;
                let mut parts = Vec::with_capacity(n);
                for _ in 0..n {
                    parts.push(self.geometry(depth + 1)?);
                }
                let wrong = || Fail::Bad(format!("WKB collection of type {base} holds a part of another type"));
                match base {
                    4 => Geometry::MultiPoint(MultiPoint(
                        parts
                            .into_iter()
                            .filter_map(|g| match g {
                                Geometry::Point(p) => Some(Ok(p)),
                                Geometry::MultiPoint(m) if m.0.is_empty() => None,
                                _ => Some(Err(wrong())),
                            })
                            .collect::<Result<_, _>>()?,
                    )),
                    5 => Geometry::MultiLineString(MultiLineString(
                        parts
                            .into_iter()
                            .map(|g| match g {
                                Geometry::LineString(l) => Ok(l),
                                _ => Err(wrong()),
                            })
                            .collect::<Result<_, _>>()?,
                    )),
                    6 => Geometry::MultiPolygon(MultiPolygon(
                        parts
                            .into_iter()
                            .map(|g| match g {
                                Geometry::Polygon(p) => Ok(p),
                                _ => Err(wrong()),
                            })
                            .collect::<Result<_, _>>()?,
                    )),
                    _ => Geometry::GeometryCollection(GeometryCollection(parts)),
                }
            }
            8..=12 => return Err(Fail::Curve(CurveFound)),
            other => return Err(Fail::Bad(format!("WKB geometry type {other} is not supported"))),
        })
    }
}

/// Decodes one WKB geometry. Errors name what is wrong with the bytes.
///
/// ```
/// use planaudit::ingest::wkb::{decode, Wkb};
/// // LINESTRING(1 2, 3 4), little-endian.
/// let mut b = vec![1u8, 2, 0, 0, 0, 2, 0, 0, 0];
/// for v in [1.0f64, 2.0, 3.0, 4.0] {
///     b.extend(v.to_le_bytes());
/// }
/// let (g, d) = decode(&b).unwrap();
/// let expected = geo::LineString::from(vec![(1.0, 2.0), (3.0, 4.0)]);
/// assert_eq!(g, Wkb::Geometry(geo::Geometry::LineString(expected)));
/// assert!(!d.unclosed_ring);
/// ```
pub fn decode(buf: &[u8]) -> Result<(Wkb, Decoded), String> {
    let mut r = Reader { buf, pos: 0, unclosed_ring: false };
    match r.geometry(0) {
        Ok(g) => {
            if r.pos != buf.len() {
                return Err(format!("WKB has {} bytes after the geometry", buf.len() - r.pos));
            }
            Ok((Wkb::Geometry(g), Decoded { unclosed_ring: r.unclosed_ring }))
        }
        Err(Fail::Curve(_)) => Ok((Wkb::Curve, Decoded::default())),
        Err(Fail::Bad(s)) => Err(s),
    }
}

/// The geometry type code of a WKB geometry (ISO or old OGC flags as written), if the header is there.
pub fn type_code(buf: &[u8]) -> Option<u32> {
    let b: [u8; 4] = buf.get(1..5)?.try_into().ok()?;
    match buf[0] {
        0 => Some(u32::from_be_bytes(b)),
        1 => Some(u32::from_le_bytes(b)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gdal::vector::Geometry as GdalGeometry;

    /// Every WKT decodes from GDAL's WKB (both byte orders) to what GDAL's own conversion gives.
    #[test]
    fn agrees_with_gdal() {
        for wkt in [
            "POINT (1 2)",
            "POINT Z (1 2 3)",
            "POINT M (1 2 4)",
            "POINT ZM (1 2 3 4)",
            "LINESTRING (0 0,1 1,2 0.5)",
            "LINESTRING Z (0 0 1,1 1 2)",
            "LINESTRING M (0 0 1,1 1 2)",
            "POLYGON ((0 0,10 0,10 10,0 10,0 0),(2 2,2 3,3 3,2 2))",
            "POLYGON ZM ((0 0 1 2,10 0 1 2,10 10 1 2,0 0 1 2))",
            "MULTIPOINT ((1 2),(3 4))",
            "MULTILINESTRING ((0 0,1 1),(2 2,3 3,4 4))",
            "MULTIPOLYGON (((0 0,1 0,1 1,0 0)),((5 5,6 5,6 6,5 5),(5.2 5.1,5.8 5.1,5.8 5.5,5.2 5.1)))",
            "MULTIPOLYGON Z (((0 0 7,1 0 7,1 1 7,0 0 7)))",
            "GEOMETRYCOLLECTION (POINT (1 2),LINESTRING (0 0,1 1))",
            "LINESTRING EMPTY",
            "MULTIPOLYGON EMPTY",
        ] {
            let g = GdalGeometry::from_wkt(wkt).unwrap();
            let expected = flat(&g).to_geo().unwrap_or_else(|e| panic!("{wkt}: {e}"));
            for order in [gdal_sys::OGRwkbByteOrder::wkbNDR, gdal_sys::OGRwkbByteOrder::wkbXDR] {
                let wkb = export(&g, order);
                let (got, d) = decode(&wkb).unwrap_or_else(|e| panic!("{wkt}: {e}"));
                assert_eq!(got, Wkb::Geometry(expected.clone()), "{wkt} ({order})");
                assert!(!d.unclosed_ring, "{wkt}");
            }
            // ISO WKB (GDAL's own export uses the old OGC flags for Z).
            let (got, _) = decode(&g.wkb().unwrap()).unwrap();
            assert_eq!(got, Wkb::Geometry(expected), "{wkt} (ISO)");
        }
    }

    /// A 2D copy (GDAL's own conversion to `geo` refuses Z and M).
    #[allow(unsafe_code)]
    fn flat(g: &GdalGeometry) -> GdalGeometry {
        let copy = g.clone();
        // SAFETY: `copy` owns its OGR geometry, which is modified in place.
        unsafe {
            gdal_sys::OGR_G_FlattenTo2D(copy.c_geometry());
            gdal_sys::OGR_G_SetMeasured(copy.c_geometry(), 0);
        }
        copy
    }

    #[allow(unsafe_code)]
    fn export(g: &GdalGeometry, order: gdal_sys::OGRwkbByteOrder::Type) -> Vec<u8> {
        // SAFETY: the buffer is exactly OGR_G_WkbSize bytes, as OGR_G_ExportToWkb writes.
        unsafe {
            let n = gdal_sys::OGR_G_WkbSize(g.c_geometry()) as usize;
            let mut buf = vec![0u8; n];
            assert_eq!(gdal_sys::OGR_G_ExportToWkb(g.c_geometry(), order, buf.as_mut_ptr()), 0);
            buf
        }
    }

    #[test]
    fn curves_are_reported_not_decoded() {
        for wkt in [
            "CIRCULARSTRING (0 0,1 1,2 0)",
            "COMPOUNDCURVE ((0 0,1 0),CIRCULARSTRING (1 0,2 1,3 0))",
            "CURVEPOLYGON (CIRCULARSTRING (0 0,2 0,0 0))",
            "GEOMETRYCOLLECTION (POINT (1 2),CIRCULARSTRING (0 0,1 1,2 0))",
        ] {
            let g = GdalGeometry::from_wkt(wkt).unwrap();
            let wkb = export(&g, gdal_sys::OGRwkbByteOrder::wkbNDR);
            assert_eq!(decode(&wkb).unwrap().0, Wkb::Curve, "{wkt}");
        }
    }

    #[test]
    fn unclosed_rings_are_noticed() {
        // POLYGON((0 0,1 0,1 1)) written by hand: OGR would not export an unclosed ring as such.
        let mut b = vec![1u8, 3, 0, 0, 0, 1, 0, 0, 0, 3, 0, 0, 0];
        for v in [0.0f64, 0.0, 1.0, 0.0, 1.0, 1.0] {
            b.extend(v.to_le_bytes());
        }
        let (g, d) = decode(&b).unwrap();
        assert!(d.unclosed_ring);
        // geo closes the ring.
        let Wkb::Geometry(Geometry::Polygon(p)) = g else { panic!() };
        assert_eq!(p.exterior().0.len(), 4);
    }

    #[test]
    fn corrupt_bytes_are_errors_not_panics() {
        let g = GdalGeometry::from_wkt("MULTIPOLYGON (((0 0,1 0,1 1,0 0)))").unwrap();
        let wkb = g.wkb().unwrap();
        for cut in 0..wkb.len() {
            assert!(decode(&wkb[..cut]).is_err(), "cut at {cut}");
        }
        let mut huge = wkb.clone();
        huge[5..9].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(decode(&huge).is_err());
        let mut trailing = wkb;
        trailing.push(0);
        assert!(decode(&trailing).is_err());
        assert!(decode(&[7, 1, 0, 0, 0]).is_err());
    }

    /// A point inside `depth` geometry collections, little-endian.
    fn nested(depth: usize) -> Vec<u8> {
        let mut b = Vec::new();
        for _ in 0..depth {
            b.extend([1u8, 7, 0, 0, 0, 1, 0, 0, 0]);
        }
        b.extend([1u8, 1, 0, 0, 0]);
        b.extend(1.0f64.to_le_bytes());
        b.extend(2.0f64.to_le_bytes());
        b
    }

    #[test]
    fn deeply_nested_collections_are_refused_not_a_stack_overflow() {
        // As deep as GDAL allows decodes; one more is refused.
        let (g, _) = decode(&nested(MAX_DEPTH)).unwrap();
        let mut depth = 0;
        let mut at = match g {
            Wkb::Geometry(g) => g,
            Wkb::Curve => panic!("no curve"),
        };
        while let Geometry::GeometryCollection(mut c) = at {
            assert_eq!(c.0.len(), 1);
            depth += 1;
            at = c.0.pop().unwrap();
        }
        assert_eq!((depth, at), (MAX_DEPTH, Geometry::Point(Point::new(1.0, 2.0))));
        let deeper = decode(&nested(MAX_DEPTH + 1)).unwrap_err();
        assert!(deeper.contains("nested more than 32 deep"), "{deeper}");
        // Thousands deep: an error on a thread with a small stack, not an overflow.
        let bytes = nested(100_000);
        let refused = std::thread::Builder::new().stack_size(64 * 1024).spawn(move || decode(&bytes).is_err());
        assert!(refused.unwrap().join().unwrap());
    }
}
