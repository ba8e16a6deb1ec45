//! Domain types after normalisation: plain `geo` geometries in the frame's metres, with the
//! attributes each indicator needs.

use geo::{Coord, Geometry, LineString, MultiPolygon};

use crate::normalise::classes::Category;

/// A study area: a built-up area (建成区) of the central city or a county town, or an industrial park.
#[derive(Debug, Clone)]
pub struct Area {
    /// The area's id: its id field, or its feature id.
    pub id: String,
    /// The feature id in its layer (for messages).
    pub fid: u64,
    pub name: Option<String>,
    /// The kind as written in the data (`中心城区`, `县城`, ...).
    pub kind: Option<String>,
    pub polygon: MultiPolygon<f64>,
}

/// A road centreline, borrowing its grade and lines from the layer read.
#[derive(Debug, Clone)]
pub struct Road<'a> {
    pub fid: u64,
    /// The grade value as written in the data (`主干路`, `primary`); empty when null.
    pub grade_value: &'a str,
    /// Red-line width in metres, when the layer has a width field.
    pub width_m: Option<f64>,
    /// Its lines (one for a line string, the parts of a multi-line string).
    pub line: &'a [LineString<f64>],
}

/// A land-use parcel (图斑) with its class.
#[derive(Debug, Clone)]
pub struct Parcel {
    /// The feature id in its layer.
    pub fid: u64,
    /// The class code that decided its category, as written (`0702`, `amenity=school`); for an
    /// unclassified parcel its first non-empty code, or `(empty)`.
    pub code: String,
    /// `None` when the class table does not know the code.
    pub category: Option<Category>,
    pub polygon: MultiPolygon<f64>,
}

/// A home, or a residential parcel reduced to its centroid: where walks to facilities start.
#[derive(Debug, Clone)]
pub struct Origin {
    /// The origin's id: its id field, or its feature id.
    pub id: String,
    /// The feature id in its layer (for messages).
    pub fid: u64,
    /// Where walks start: the point, or the polygon's centroid.
    pub point: Coord<f64>,
    /// Residential area in m² (0 for points).
    pub area_m2: f64,
    /// Population, when a population field is given.
    pub population: Option<f64>,
    /// The geometry as read (polygon or point), for the output.
    pub geometry: Geometry<f64>,
    /// The same in longitude/latitude when it was converted to be measured (the output then
    /// does not convert it again).
    pub lonlat: Option<Geometry<f64>>,
}

/// A facility (a school, a clinic, ...) of a known type, reduced to a point.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Facility {
    /// Index of its layer among the `--facilities` layers.
    pub layer: usize,
    pub fid: u64,
    /// Index of its type in the facility-type table.
    pub kind: usize,
    pub point: Coord<f64>,
}
