//! Reading a layer through GDAL's Arrow stream (`OGR_L_GetArrowStream`, GDAL ≥ 3.6): whole
//! column batches instead of one OGR feature object at a time. GeoPackage has a fast path for it
//! in GDAL 3.6 that reads the geometry blobs without building OGR geometries.
//!
//! Only the Arrow column types OGR produces for the attributes planaudit reads are decoded
//! (integers, reals, strings, booleans, binary geometry); [`read`] refuses a stream with any other
//! requested column before it hands out a row, so the caller can read the layer feature by
//! feature instead.
#![allow(unsafe_code)]

use std::ffi::{CStr, CString};

use gdal::cpl::CslStringList;
use gdal::vector::{Layer, LayerAccess};

/// One row: its FID, its geometry as WKB (`None` for a null geometry) and the requested
/// attributes as text, in the order asked for (`None` for null), which the callback may take.
pub struct Row<'a> {
    pub fid: u64,
    pub wkb: Option<&'a [u8]>,
    pub values: &'a mut [Option<String>],
}

/// Why the stream could not be read.
pub enum ArrowError {
    /// Not a stream this module decodes (a column type it does not know, no geometry column):
    /// nothing was handed out yet, read the layer another way.
    Unsupported(String),
    /// GDAL failed part-way (a corrupt page): `rows` rows were handed out before.
    Failed { reason: String, rows: u64 },
    /// The row callback stopped the reading with an error of its own.
    Stopped(crate::Error),
}

/// The FID column's name in the stream when the layer names none.
const FID_COLUMN: &str = "OGC_FID";

/// A column's values, borrowed from a batch.
enum Column<'a> {
    Int { bits: u8, signed: bool, values: *const u8 },
    Float { bits: u8, values: *const u8 },
    Bool { values: *const u8 },
    Bytes { large: bool, offsets: *const u8, data: *const u8, text: bool, _p: std::marker::PhantomData<&'a u8> },
}

/// One column of one batch: its values and validity.
struct View<'a> {
    column: Column<'a>,
    validity: *const u8,
    offset: usize,
}

impl View<'_> {
    /// # Safety
    /// `i` must be below the batch length; the buffers are those GDAL provided for this batch.
    unsafe fn is_null(&self, i: usize) -> bool {
        let j = self.offset + i;
        !self.validity.is_null() && (*self.validity.add(j / 8) >> (j % 8)) & 1 == 0
    }

    /// # Safety
    /// As [`View::is_null`].
    unsafe fn bytes(&self, i: usize) -> Option<&[u8]> {
        if self.is_null(i) {
            return None;
        }
        let j = self.offset + i;
        let Column::Bytes { large, offsets, data, .. } = &self.column else { return None };
        let (start, end) = if *large {
            let o = *offsets as *const i64;
            (o.add(j).read_unaligned() as usize, o.add(j + 1).read_unaligned() as usize)
        } else {
            let o = *offsets as *const i32;
            (o.add(j).read_unaligned() as usize, o.add(j + 1).read_unaligned() as usize)
        };
        if data.is_null() || end <= start {
            // No data buffer: every value is empty.
            return Some(&[]);
        }
        Some(std::slice::from_raw_parts(data.add(start), end - start))
    }

    /// The value as the text OGR gives for the field (`OGR_F_GetFieldAsString`).
    ///
    /// # Safety
    /// As [`View::is_null`].
    unsafe fn text(&self, i: usize) -> Option<String> {
        if self.is_null(i) {
            return None;
        }
        let j = self.offset + i;
        Some(match &self.column {
            Column::Int { bits, signed, values } => {
                let v: i128 = match (bits, signed) {
                    (8, true) => *(*values as *const i8).add(j) as i128,
                    (8, false) => *values.add(j) as i128,
                    (16, true) => (*values as *const i16).add(j).read_unaligned() as i128,
                    (16, false) => (*values as *const u16).add(j).read_unaligned() as i128,
                    (32, true) => (*values as *const i32).add(j).read_unaligned() as i128,
                    (32, false) => (*values as *const u32).add(j).read_unaligned() as i128,
                    (_, true) => (*values as *const i64).add(j).read_unaligned() as i128,
                    (_, false) => (*values as *const u64).add(j).read_unaligned() as i128,
                };
                v.to_string()
            }
            Column::Float { bits, values } => {
                let v = if *bits == 32 {
                    (*values as *const f32).add(j).read_unaligned() as f64
                } else {
                    (*values as *const f64).add(j).read_unaligned()
                };
                format_real(v)
            }
            Column::Bool { values } => ((*values.add(j / 8) >> (j % 8)) & 1).to_string(),
            Column::Bytes { text, .. } => {
                let b = self.bytes(i)?;
                if *text {
                    String::from_utf8_lossy(b).into_owned()
                } else {
                    b.iter().map(|x| format!("{x:02X}")).collect()
                }
            }
        })
    }
}

/// A real as OGR formats it for a field without width and precision (`%.15g`).
fn format_real(v: f64) -> String {
    if !v.is_finite() {
        return if v.is_nan() {
            "nan".into()
        } else if v > 0.0 {
            "inf".into()
        } else {
            "-inf".into()
        };
    }
    if v == 0.0 {
        return "0".into();
    }
    // Whole numbers (road widths, counts) below 1e14 print as integers: what the general path
    // gives them, without its exact decimal expansion.
    if v.fract() == 0.0 && v.abs() < 1e14 {
        return (v as i64).to_string();
    }
    format_real_general(v)
}

/// [`format_real`] for a finite, non-zero real.
fn format_real_general(v: f64) -> String {
    let exp = v.abs().log10().floor() as i32;
    if (-5..15).contains(&exp) {
        let decimals = (14 - exp).max(0) as usize;
        let s = format!("{v:.decimals$}");
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s
        }
    } else {
        let s = format!("{v:.14e}");
        let (mantissa, e) = s.split_once('e').unwrap_or((&s, "0"));
        let mantissa =
            if mantissa.contains('.') { mantissa.trim_end_matches('0').trim_end_matches('.') } else { mantissa };
        let e: i32 = e.parse().unwrap_or(0);
        format!("{mantissa}e{}{:02}", if e < 0 { '-' } else { '+' }, e.abs())
    }
}

/// How a column decodes: bits per value, signed, and `i`nteger, `f`loat, `b`oolean, `u`tf-8
/// text or `z` binary.
type Kind = (u8, bool, char);

/// The decoder of one column, from its Arrow format string.
fn column_kind(format: &str) -> Option<Kind> {
    Some(match format {
        "c" => (8, true, 'i'),
        "C" => (8, false, 'i'),
        "s" => (16, true, 'i'),
        "S" => (16, false, 'i'),
        "i" => (32, true, 'i'),
        "I" => (32, false, 'i'),
        "l" => (64, true, 'i'),
        "L" => (64, false, 'i'),
        "f" => (32, true, 'f'),
        "g" => (64, true, 'f'),
        "b" => (1, false, 'b'),
        "u" => (32, true, 'u'),
        "U" => (64, true, 'u'),
        "z" => (32, false, 'z'),
        "Z" => (64, false, 'z'),
        _ => return None,
    })
}

/// # Safety
/// `array` is a child array of a batch GDAL provided, of the format `kind` describes.
unsafe fn view<'a>(array: &'a gdal_sys::ArrowArray, kind: Kind) -> View<'a> {
    let buffers = array.buffers as *const *const u8;
    let b = |k: usize| if (k as i64) < array.n_buffers { *buffers.add(k) } else { std::ptr::null() };
    let column = match kind.2 {
        'i' => Column::Int { bits: kind.0, signed: kind.1, values: b(1) },
        'f' => Column::Float { bits: if kind.0 == 32 { 32 } else { 64 }, values: b(1) },
        'b' => Column::Bool { values: b(1) },
        c => Column::Bytes {
            large: kind.0 == 64,
            offsets: b(1),
            data: b(2),
            text: c == 'u',
            _p: std::marker::PhantomData,
        },
    };
    View { column, validity: b(0), offset: array.offset.max(0) as usize }
}

/// Whether a column view has the buffers its values are read from (a batch of rows needs them).
fn complete(v: &View) -> bool {
    match &v.column {
        Column::Int { values, .. } | Column::Float { values, .. } | Column::Bool { values } => !values.is_null(),
        Column::Bytes { offsets, .. } => !offsets.is_null(),
    }
}

/// Releases an Arrow object on drop.
struct Owned<T: Releasable>(T);

trait Releasable {
    fn release(&mut self);
}

impl Releasable for gdal_sys::ArrowArrayStream {
    fn release(&mut self) {
        // SAFETY: the stream was filled in by GDAL and is released once, here.
        if let Some(r) = self.release {
            unsafe { r(self) }
        }
    }
}

impl Releasable for gdal_sys::ArrowSchema {
    fn release(&mut self) {
        // SAFETY: as for the stream.
        if let Some(r) = self.release {
            unsafe { r(self) }
        }
    }
}

impl Releasable for gdal_sys::ArrowArray {
    fn release(&mut self) {
        // SAFETY: as for the stream.
        if let Some(r) = self.release {
            unsafe { r(self) }
        }
    }
}

impl<T: Releasable> Drop for Owned<T> {
    fn drop(&mut self) {
        self.0.release();
    }
}

/// Reads every row of `layer` (its attribute filter applied) with the attribute columns
/// `columns`, calling `row` for each in order. Columns the layer has but that are not asked for
/// are not read.
pub fn read(
    layer: &mut Layer,
    columns: &[String],
    mut row: impl FnMut(Row<'_>) -> Result<(), crate::Error>,
) -> Result<u64, ArrowError> {
    let all: Vec<String> = layer.defn().fields().map(|f| f.name()).collect();
    let ignored: Vec<CString> =
        all.iter().filter(|c| !columns.contains(c)).filter_map(|c| CString::new(c.as_str()).ok()).collect();
    let mut ignored_ptrs: Vec<*const std::ffi::c_char> = ignored.iter().map(|c| c.as_ptr()).collect();
    ignored_ptrs.push(std::ptr::null());
    let mut options = CslStringList::new();
    let _ = options.set_name_value("INCLUDE_FID", "YES");
    let mut rows = 0u64;
    // SAFETY: the ignored-field list is a NULL-terminated array of C strings that outlive the call;
    // the stream, schema and batches are zero-initialised, filled in by GDAL and released once
    // (`Owned`); buffers are read within the batch lengths and offsets GDAL gives, for the types
    // the schema declares.
    unsafe {
        gdal_sys::OGR_L_SetIgnoredFields(layer.c_layer(), ignored_ptrs.as_mut_ptr());
        let result = (|| {
            let mut stream = Owned(std::mem::zeroed::<gdal_sys::ArrowArrayStream>());
            layer
                .read_arrow_stream(&mut stream.0, &options)
                .map_err(|e| ArrowError::Unsupported(format!("no Arrow stream: {e}")))?;
            let last_error = |s: &mut gdal_sys::ArrowArrayStream| -> String {
                s.get_last_error
                    .map(|f| f(s))
                    .filter(|p| !p.is_null())
                    .map(|p| CStr::from_ptr(p).to_string_lossy().into_owned())
                    .unwrap_or_else(|| "unknown GDAL failure".into())
            };
            let mut schema = Owned(std::mem::zeroed::<gdal_sys::ArrowSchema>());
            let get_schema = stream.0.get_schema.ok_or_else(|| ArrowError::Unsupported("no get_schema".into()))?;
            if get_schema(&mut stream.0, &mut schema.0) != 0 {
                return Err(ArrowError::Unsupported(last_error(&mut stream.0)));
            }
            // Columns of the stream by name, with their decoders.
            let mut fid_at = None;
            let mut geom_at = None;
            let fid_name = {
                let p = gdal_sys::OGR_L_GetFIDColumn(layer.c_layer());
                let n = if p.is_null() { String::new() } else { CStr::from_ptr(p).to_string_lossy().into_owned() };
                if n.is_empty() {
                    FID_COLUMN.to_string()
                } else {
                    n
                }
            };
            let geom_name = {
                let p = gdal_sys::OGR_L_GetGeometryColumn(layer.c_layer());
                let n = if p.is_null() { String::new() } else { CStr::from_ptr(p).to_string_lossy().into_owned() };
                if n.is_empty() {
                    "wkb_geometry".to_string()
                } else {
                    n
                }
            };
            let mut wanted: Vec<Option<(usize, Kind)>> = vec![None; columns.len()];
            for k in 0..schema.0.n_children.max(0) as usize {
                let child = &**schema.0.children.add(k);
                let name = CStr::from_ptr(child.name).to_string_lossy();
                let format = CStr::from_ptr(child.format).to_string_lossy();
                let is_geometry =
                    name == geom_name || (!child.metadata.is_null() && metadata_has(child.metadata, "ogc.wkb"));
                if name == fid_name && fid_at.is_none() && matches!(&*format, "l" | "L") {
                    fid_at = Some(k);
                } else if is_geometry && geom_at.is_none() {
                    if !matches!(&*format, "z" | "Z") {
                        return Err(ArrowError::Unsupported(format!("geometry column of type {format}")));
                    }
                    geom_at = Some((k, column_kind(&format).expect("z or Z")));
                } else if let Some(i) = columns.iter().position(|c| *c == name) {
                    let kind = column_kind(&format)
                        .ok_or_else(|| ArrowError::Unsupported(format!("column {name} of Arrow type {format}")))?;
                    wanted[i] = Some((k, kind));
                }
            }
            let (Some(fid_at), Some((geom_at, geom_kind))) = (fid_at, geom_at) else {
                return Err(ArrowError::Unsupported("no FID or geometry column".into()));
            };
            if let Some(i) = wanted.iter().position(Option::is_none) {
                return Err(ArrowError::Unsupported(format!("column {} not in the stream", columns[i])));
            }
            let wanted: Vec<(usize, Kind)> = wanted.into_iter().flatten().collect();
            let get_next = stream.0.get_next.ok_or_else(|| ArrowError::Unsupported("no get_next".into()))?;
            let mut row_values: Vec<Option<String>> = Vec::with_capacity(wanted.len());
            loop {
                let mut batch = Owned(std::mem::zeroed::<gdal_sys::ArrowArray>());
                // GDAL may also report a failure (a corrupt page) only through its error state,
                // and go on handing out empty batches: check both.
                super::read::reset_gdal_error();
                if get_next(&mut stream.0, &mut batch.0) != 0 {
                    return Err(ArrowError::Failed { reason: last_error(&mut stream.0), rows });
                }
                if let Some(reason) = super::read::gdal_failure() {
                    return Err(ArrowError::Failed { reason, rows });
                }
                // The end: a released batch, or (as GDAL 3.6 ends a filtered GeoPackage read) an
                // empty one without a failure reported.
                if batch.0.release.is_none() || batch.0.length <= 0 {
                    return Ok(rows);
                }
                let needed = wanted.iter().map(|(k, _)| *k).chain([fid_at, geom_at]).max().unwrap_or(0);
                if batch.0.children.is_null() || batch.0.n_children <= needed as i64 {
                    return Err(ArrowError::Failed { reason: "an Arrow batch without all its columns".into(), rows });
                }
                let child = |k: usize| &**batch.0.children.add(k);
                let fids = view(child(fid_at), (64, true, 'i'));
                let geoms = view(child(geom_at), geom_kind);
                let values: Vec<View> = wanted.iter().map(|(k, kind)| view(child(*k), *kind)).collect();
                if !(complete(&fids) && complete(&geoms) && values.iter().all(complete)) {
                    return Err(ArrowError::Failed { reason: "an Arrow batch without its value buffers".into(), rows });
                }
                for i in 0..batch.0.length.max(0) as usize {
                    let fid = match &fids.column {
                        Column::Int { values, .. } => {
                            (*values as *const i64).add(fids.offset + i).read_unaligned().max(0) as u64
                        }
                        _ => rows,
                    };
                    // One vector for the values of every row.
                    row_values.clear();
                    row_values.extend(values.iter().map(|v| v.text(i)));
                    let r = Row { fid, wkb: geoms.bytes(i), values: &mut row_values };
                    rows += 1;
                    row(r).map_err(ArrowError::Stopped)?;
                }
            }
        })();
        // Every field read again by whoever reads this layer next.
        gdal_sys::OGR_L_SetIgnoredFields(layer.c_layer(), std::ptr::null_mut());
        result
    }
}

/// Whether Arrow field metadata holds an extension name `name` (`ARROW:extension:name`).
///
/// # Safety
/// `metadata` points to Arrow's binary metadata encoding, as GDAL provides it.
unsafe fn metadata_has(metadata: *const std::ffi::c_char, name: &str) -> bool {
    let p = metadata as *const u8;
    let read_i32 = |at: *const u8| (at as *const i32).read_unaligned();
    let n = read_i32(p);
    let mut at = p.add(4);
    for _ in 0..n.max(0) {
        let klen = read_i32(at).max(0) as usize;
        let key = std::slice::from_raw_parts(at.add(4), klen);
        at = at.add(4 + klen);
        let vlen = read_i32(at).max(0) as usize;
        let value = std::slice::from_raw_parts(at.add(4), vlen);
        at = at.add(4 + vlen);
        if key == b"ARROW:extension:name" && value == name.as_bytes() {
            return true;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::{format_real, format_real_general};

    #[test]
    fn reals_print_as_ogr_prints_them() {
        for (v, s) in [
            (30.0, "30"),
            (12.5, "12.5"),
            (0.1, "0.1"),
            (-3.25, "-3.25"),
            (1234567.891, "1234567.891"),
            (1e20, "1e+20"),
            (1.5e-7, "1.5e-07"),
            (0.0, "0"),
            (100000000000000.0, "100000000000000"),
        ] {
            assert_eq!(format_real(v), s, "{v}");
        }
    }

    /// The whole-number shortcut prints what the general path prints, up to its bound.
    #[test]
    fn whole_numbers_take_the_shortcut_unchanged() {
        let mut next = crate::testing::xorshift(7);
        for k in 0..20_000u64 {
            let magnitude = 10f64.powi((k % 15) as i32);
            let v = ((next() % 1_000_000_007) as f64 * magnitude / 1e6).trunc().min(99_999_999_999_999.0);
            for v in [v, -v, v + 1.0, 99_999_999_999_999.0 - v] {
                if v != 0.0 {
                    assert_eq!(format_real(v), format_real_general(v), "{v}");
                }
            }
        }
    }
}
