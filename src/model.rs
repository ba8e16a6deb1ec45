//! Domain types after normalisation: plain `geo` geometries in the frame's metres, with the
//! attributes each indicator needs.

use geo::{MultiLineString, MultiPolygon};

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

/// A road centreline.
#[derive(Debug, Clone)]
pub struct Road {
    pub fid: u64,
    /// The grade value as written in the data (`主干路`, `primary`); empty when null.
    pub grade_value: String,
    /// Red-line width in metres, when the layer has a width field.
    pub width_m: Option<f64>,
    pub line: MultiLineString<f64>,
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
