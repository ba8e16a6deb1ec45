//! The audit summary: one row per area and indicator (value, target, met), written as
//! `summary.csv` and inside `summary.json`.

use std::io::Write;
use std::path::Path;

use serde::Serialize;

use super::atomic::write_atomic;
use super::round6;
use crate::Result;

/// One indicator for one area (or park, or the whole city).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SummaryRow {
    /// Machine name: `road_density`, `park_mix`, `living_circle_15min`, ...
    pub indicator: String,
    /// Chinese label for reports.
    pub indicator_zh: String,
    pub area_id: String,
    pub area_name: Option<String>,
    pub value: f64,
    /// Lower bound (or the target itself).
    pub target: Option<f64>,
    /// Upper bound, for bands (park mix 20–30%).
    pub target_max: Option<f64>,
    pub unit: String,
    /// `None` when there is no target to meet.
    pub met: Option<bool>,
}

impl SummaryRow {
    /// The row with its numbers rounded as the output files round them.
    pub fn rounded(mut self) -> Self {
        self.value = round6(self.value);
        self.target = self.target.map(round6);
        self.target_max = self.target_max.map(round6);
        self
    }
}

/// CSV columns, in order.
pub const CSV_HEADER: &str = "city,indicator,indicator_zh,area_id,area_name,value,target,target_max,unit,met";

/// The records of CSV text (RFC 4180), without their line ends: a line end inside a quoted field
/// (an area name on two lines) belongs to its record. Blank lines hold no record.
///
/// ```
/// use planaudit::output::summary::csv_records;
/// let text = "a,b\r\n1,\"two\nlines\"\n\r\n3,\"say \"\"hi\"\"\"\n\n";
/// assert_eq!(csv_records(text), ["a,b", "1,\"two\nlines\"", "3,\"say \"\"hi\"\"\""]);
/// ```
pub fn csv_records(text: &str) -> Vec<&str> {
    let mut records = Vec::new();
    let (mut start, mut quoted) = (0, false);
    for (i, c) in text.char_indices() {
        match c {
            '"' => quoted = !quoted,
            '\n' if !quoted => {
                records.push(text[start..i].trim_end_matches('\r'));
                start = i + 1;
            }
            _ => {}
        }
    }
    records.push(text[start..].trim_end_matches('\r'));
    records.retain(|r| !r.is_empty());
    records
}

/// Quotes a CSV field when it needs it (RFC 4180).
pub fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// One CSV line (without the newline).
pub fn csv_line(city: &str, r: &SummaryRow) -> String {
    let num = |v: Option<f64>| v.map(|x| x.to_string()).unwrap_or_default();
    [
        csv_field(city),
        csv_field(&r.indicator),
        csv_field(&r.indicator_zh),
        csv_field(&r.area_id),
        csv_field(r.area_name.as_deref().unwrap_or("")),
        r.value.to_string(),
        num(r.target),
        num(r.target_max),
        csv_field(&r.unit),
        r.met.map(|m| m.to_string()).unwrap_or_default(),
    ]
    .join(",")
}

/// Writes `summary.csv` atomically.
pub fn write_csv(path: &Path, city: &str, rows: &[SummaryRow]) -> Result<()> {
    write_atomic(path, |w| {
        writeln!(w, "{CSV_HEADER}")?;
        for r in rows {
            writeln!(w, "{}", csv_line(city, r))?;
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quotes_what_needs_quoting() {
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("六安"), "六安");
        let r = SummaryRow {
            indicator: "road_density".into(),
            indicator_zh: "道路网密度".into(),
            area_id: "1".into(),
            area_name: Some("中心, 城区".into()),
            value: 9.5,
            target: Some(8.3),
            target_max: None,
            unit: "km/km²".into(),
            met: Some(true),
        };
        assert_eq!(csv_line("六安", &r), "六安,road_density,道路网密度,1,\"中心, 城区\",9.5,8.3,,km/km²,true");
        assert_eq!(CSV_HEADER.split(',').count(), csv_line("x", &r).split(',').count() - 1);
    }
}
