//! Output: RFC 7946 GeoJSON, summaries, map styles, the HTML report, atomic file writes.

pub mod atomic;
pub mod geojson;
pub mod living_circle;
pub mod park_mix;
pub mod report;
pub mod road_density;
pub mod styles;
pub mod summary;

pub use crate::units::{round2, round6};

/// A text as one cell of a tab-separated table on the terminal: tabs, line breaks and other control
/// characters (which a name may hold) become spaces, so that every row stays one line of its
/// columns. The files keep the text as it is.
///
/// ```
/// use planaudit::output::table_cell;
/// assert_eq!(table_cell("舒城\t县城\r\n=SUM(1)"), "舒城 县城  =SUM(1)");
/// assert_eq!(table_cell("中心城区"), "中心城区");
/// ```
pub fn table_cell(text: &str) -> std::borrow::Cow<'_, str> {
    if text.chars().any(char::is_control) {
        text.chars().map(|c| if c.is_control() { ' ' } else { c }).collect::<String>().into()
    } else {
        text.into()
    }
}
