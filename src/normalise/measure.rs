//! Lengths and areas of frame geometries, by the frame's method.
//!
//! Ellipsoidal (the default): the pieces are taken back to longitude/latitude and measured as
//! geodesics on the WGS84 ellipsoid (Karney 2013, through `geo`'s GeographicLib port). CGCS2000
//! differs from WGS84 in flattening by 1.6e-11, far below any reported digit. This is how 三调 reports
//! parcel areas (椭球面积).
//!
//! Planar: Euclidean in the frame's projected CRS, as a desktop GIS reports them.
//!
//! # Limitations
//! A straight segment in the frame is measured as the geodesic between its end points; for the
//! short segments of planning data (metres to a few hundred metres) the two differ by far less
//! than a millimetre.

use geo::orient::{Direction, Orient};
use geo::{Area, Geodesic};
use geo::{Euclidean, GeodesicArea, Length, LineString, MultiLineString, MultiPolygon, Polygon};

use super::crs::{Frame, Method};
use crate::units::KahanSum;
use crate::Result;

impl Frame {
    /// Length in metres of a frame line string.
    pub fn line_length_m(&self, ls: &LineString<f64>) -> Result<f64> {
        Ok(match self.method {
            Method::Planar => Euclidean.length(ls),
            Method::Ellipsoidal => Geodesic.length(&self.unproject(ls)?),
        })
    }

    /// Length in metres of a frame multi line string, summed with compensation.
    pub fn length_m(&self, mls: &MultiLineString<f64>) -> Result<f64> {
        let mut sum = KahanSum::default();
        for ls in &mls.0 {
            sum.add(self.line_length_m(ls)?);
        }
        Ok(sum.total())
    }

    /// Area in square metres of a frame polygon, holes subtracted, whatever the ring orientation.
    pub fn polygon_area_m2(&self, p: &Polygon<f64>) -> Result<f64> {
        Ok(match self.method {
            Method::Planar => p.unsigned_area(),
            Method::Ellipsoidal => {
                // Orient first: exterior counter-clockwise, holes clockwise. Taking the absolute
                // value of a sum of signed ring areas is wrong when rings arrive inconsistently
                // oriented (GDAL's OSM driver does that).
                let ll = self.unproject(p)?.orient(Direction::Default);
                ll.geodesic_area_signed().abs()
            }
        })
    }

    /// Area in square metres of a frame multipolygon (parts assumed not to overlap).
    pub fn area_m2(&self, mp: &MultiPolygon<f64>) -> Result<f64> {
        let mut sum = KahanSum::default();
        for p in &mp.0 {
            sum.add(self.polygon_area_m2(p)?);
        }
        Ok(sum.total())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use geo::{coord, line_string, polygon, Coord};

    fn lu_an() -> Frame {
        Frame::auto(116.5, 31.75).unwrap()
    }

    /// A 1 km square drawn in the Gauss–Krüger plane at Lu'an, 0.5° west of the central meridian.
    /// The projection's point scale there is k = 1 + x²/(2R²) with x ≈ 47.3 km, so the ellipsoidal
    /// area is 1e6 / k² ≈ 999 945 m² (DOMAIN.md §F: +0.0055% area factor at 0.5° from the CM).
    #[test]
    fn one_km_square_at_lu_an() {
        let f = lu_an();
        let c = f.project_coord(Coord { x: 116.5, y: 31.75 }).unwrap();
        let sq = polygon![
            (x: c.x, y: c.y), (x: c.x + 1000.0, y: c.y), (x: c.x + 1000.0, y: c.y + 1000.0),
            (x: c.x, y: c.y + 1000.0), (x: c.x, y: c.y)
        ];
        let ellipsoidal = f.polygon_area_m2(&sq).unwrap();
        let x_m = 39_500_000.0 - (c.x + 500.0);
        let r = 6_371_000.0f64;
        let k = 1.0 + x_m * x_m / (2.0 * r * r);
        let expected = 1.0e6 / (k * k);
        assert!((ellipsoidal - expected).abs() < 2.0, "ellipsoidal {ellipsoidal}, expected {expected}");
        assert!((ellipsoidal - 1.0e6).abs() > 40.0, "scale error must be visible");

        let planar = Frame::new("EPSG:4527", Method::Planar).unwrap();
        assert!((planar.polygon_area_m2(&sq).unwrap() - 1.0e6).abs() < 1e-6);
    }

    /// GeographicLib's worked example: JFK (40.6°N, 73.8°W) to LHR (51.6°N, 0.5°W) is
    /// 5 551 759.400319 m on WGS84 (Karney 2013, Table 1 inverse example; GeodSolve).
    #[test]
    fn geodesic_length_against_geographiclib() {
        let f = Frame::auto(-40.0, 45.0).unwrap();
        let a = f.project_coord(coord! { x: -73.8, y: 40.6 }).unwrap();
        let b = f.project_coord(coord! { x: -0.5, y: 51.6 }).unwrap();
        let ls = LineString::from(vec![a, b]);
        let len = f.line_length_m(&ls).unwrap();
        assert!((len - 5_551_759.400319).abs() < 1e-3, "length {len}");
    }

    #[test]
    fn hole_and_orientation_do_not_matter() {
        let f = lu_an();
        let c = f.project_coord(Coord { x: 116.5, y: 31.75 }).unwrap();
        let (x, y) = (c.x, c.y);
        let ccw_with_hole = Polygon::new(
            line_string![(x: x, y: y), (x: x + 200.0, y: y), (x: x + 200.0, y: y + 200.0), (x: x, y: y + 200.0), (x: x, y: y)],
            vec![
                line_string![(x: x + 50.0, y: y + 50.0), (x: x + 50.0, y: y + 150.0), (x: x + 150.0, y: y + 150.0), (x: x + 150.0, y: y + 50.0), (x: x + 50.0, y: y + 50.0)],
            ],
        );
        // Same polygon with both rings reversed.
        let mut ext = ccw_with_hole.exterior().clone();
        ext.0.reverse();
        let mut hole = ccw_with_hole.interiors()[0].clone();
        hole.0.reverse();
        let cw_with_hole = Polygon::new(ext, vec![hole]);
        let a1 = f.polygon_area_m2(&ccw_with_hole).unwrap();
        let a2 = f.polygon_area_m2(&cw_with_hole).unwrap();
        assert!((a1 - a2).abs() < 1e-6);
        assert!((a1 - 30_000.0).abs() < 5.0, "area {a1}");
    }
}
