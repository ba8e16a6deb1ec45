//! Whether two CRS definitions are the same coordinate system, as PROJ judges it: a layer already
//! in the frame's CRS is kept as it is rather than taken to longitude/latitude and back.

use std::ffi::CString;
use std::sync::{Mutex, PoisonError};

/// Whether `a` and `b` (EPSG codes, WKT, PROJ strings) define the same CRS, names and axis order
/// of geographic CRSs aside (`PJ_COMP_EQUIVALENT_EXCEPT_AXIS_ORDER_GEOGCRS`). Coordinates come
/// from GDAL in the traditional GIS order (easting, northing) whatever the axis order a definition
/// declares, so the axis order is not part of the question. `false` when PROJ cannot read either.
/// Answers are kept for the process (indicators on threads of their own ask the same question),
/// each asked of PROJ once.
///
/// ```
/// use planaudit::normalise::crs::same::equivalent;
/// assert!(equivalent("EPSG:4527", "EPSG:4527"));
/// assert!(!equivalent("EPSG:4527", "EPSG:4548")); // zone 39 with and without the zone prefix
/// assert!(!equivalent("EPSG:4527", "not a CRS"));
/// ```
pub fn equivalent(a: &str, b: &str) -> bool {
    static ANSWERS: Mutex<Vec<(String, String, bool)>> = Mutex::new(Vec::new());
    // Held while PROJ is asked: a question asked twice at once is asked of PROJ once.
    let mut answers = ANSWERS.lock().unwrap_or_else(PoisonError::into_inner);
    let known = answers.iter().find(|(x, y, _)| x == a && y == b);
    if let Some(&(_, _, v)) = known {
        return v;
    }
    let v = ask_proj(a, b);
    answers.push((a.to_string(), b.to_string(), v));
    v
}

#[allow(unsafe_code)]
fn ask_proj(a: &str, b: &str) -> bool {
    let (Ok(ca), Ok(cb)) = (CString::new(a), CString::new(b)) else { return false };
    // SAFETY: a context of our own, two objects created in it from NUL-terminated strings, each
    // checked for null before use, and everything destroyed before return.
    unsafe {
        let ctx = proj_sys::proj_context_create();
        if ctx.is_null() {
            return false;
        }
        let pa = proj_sys::proj_create(ctx, ca.as_ptr());
        let pb = proj_sys::proj_create(ctx, cb.as_ptr());
        let same = !pa.is_null()
            && !pb.is_null()
            && proj_sys::proj_is_equivalent_to_with_ctx(
                ctx,
                pa,
                pb,
                proj_sys::PJ_COMPARISON_CRITERION_PJ_COMP_EQUIVALENT_EXCEPT_AXIS_ORDER_GEOGCRS,
            ) != 0;
        if !pa.is_null() {
            proj_sys::proj_destroy(pa);
        }
        if !pb.is_null() {
            proj_sys::proj_destroy(pb);
        }
        proj_sys::proj_context_destroy(ctx);
        same
    }
}
