//! Road grades, from tables: which values of the grade field are urban roads that count in the
//! road-network density, and which are walkable.
//!
//! Presets live in `src/presets/grades_*.toml`, each row citing DOMAIN.md. A user file has the same
//! form and may start from a preset with `extends = "osm"`; its rows then add to or override the
//! preset's rows by `value`.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::{Error, Result};

/// Built-in grade presets: name and TOML text.
pub const PRESETS: &[(&str, &str)] =
    &[("cn", include_str!("../presets/grades_cn.toml")), ("osm", include_str!("../presets/grades_osm.toml"))];

/// One row of a grade table.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct GradeRow {
    /// The value found in the data (`主干路`, `primary`).
    pub value: String,
    /// The canonical grade it stands for (`arterial`).
    pub grade: String,
    /// Counts in the road-network density.
    pub counted: bool,
    /// Usable by pedestrians (for the walking network).
    #[serde(default = "yes")]
    pub walkable: bool,
    /// Where the row comes from.
    #[serde(default)]
    pub source: String,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TableFile {
    name: Option<String>,
    #[serde(default)]
    description: String,
    field: Option<String>,
    extends: Option<String>,
    #[serde(default)]
    grade: Vec<GradeRow>,
}

/// A grade table: value → row, with the default grade field.
#[derive(Debug, Clone)]
pub struct GradeTable {
    pub name: String,
    /// The field the values are read from, unless `--grade-field` says otherwise.
    pub field: String,
    rows: BTreeMap<String, GradeRow>,
}

impl GradeTable {
    /// Loads a preset by name, or a TOML file by path.
    pub fn load(name_or_path: &str) -> Result<GradeTable> {
        Self::from_toml(name_or_path, &super::table_text("--grades", PRESETS, name_or_path)?)
    }

    /// Parses a table; `label` names it in errors.
    pub fn from_toml(label: &str, text: &str) -> Result<GradeTable> {
        let file: TableFile = super::parse_table(label, text)?;
        let _ = &file.description;
        let mut table = match &file.extends {
            Some(base) => Self::from_toml(base, super::base_preset(label, PRESETS, base)?)?,
            None => GradeTable { name: String::new(), field: String::new(), rows: BTreeMap::new() },
        };
        table.name = file.name.unwrap_or_else(|| label.to_string());
        if let Some(f) = file.field {
            table.field = f;
        }
        if table.field.is_empty() {
            return Err(Error::Table {
                name: label.to_string(),
                reason: "no `field` (the default grade field)".into(),
            });
        }
        for row in file.grade {
            table.rows.insert(row.value.clone(), row);
        }
        Ok(table)
    }

    /// The row for a value, if the table knows it. Leading and trailing spaces are ignored.
    pub fn get(&self, value: &str) -> Option<&GradeRow> {
        self.rows.get(value.trim())
    }

    /// All rows, in value order.
    pub fn rows(&self) -> impl Iterator<Item = &GradeRow> {
        self.rows.values()
    }
}

/// The default preset for a roads dataset: `osm` for OpenStreetMap files, `cn` otherwise.
pub fn default_preset(is_osm: bool) -> &'static str {
    super::preset_for(is_osm, "cn")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_parse_and_count_the_urban_grades() {
        let cn = GradeTable::load("cn").unwrap();
        assert_eq!(cn.field, "grade");
        for v in ["快速路", "主干路", "次干路", "支路"] {
            assert!(cn.get(v).unwrap().counted, "{v}");
        }
        assert!(!cn.get("高速公路").unwrap().counted);
        assert!(!cn.get("高速公路").unwrap().walkable);

        let osm = GradeTable::load("osm").unwrap();
        assert_eq!(osm.field, "highway");
        let counted: Vec<&str> = osm.rows().filter(|r| r.counted).map(|r| r.value.as_str()).collect();
        let mut expected =
            vec!["living_street", "primary", "residential", "secondary", "tertiary", "trunk", "unclassified"];
        expected.sort();
        assert_eq!(counted, expected);
        assert!(osm.get("motorway_link").is_some_and(|r| !r.counted));
        assert!(osm.rows().all(|r| !r.source.is_empty()), "every preset row cites its source");
    }

    /// What is not (or no longer, or not yet) a road is neither walked nor counted, as OSMnx's
    /// walking filter leaves it out; a value the table does not know would be walked.
    #[test]
    fn osm_lifecycle_values_are_neither_walked_nor_counted() {
        use crate::indicators::living_circle::{road_use, RoadUse};
        let osm = GradeTable::load("osm").unwrap();
        for v in ["abandoned", "razed", "planned", "proposed", "construction", "bus_guideway", "raceway", "no"] {
            let row = osm.get(v).unwrap_or_else(|| panic!("{v} not in the table"));
            assert!(!row.counted && !row.walkable, "{v}");
            assert_eq!(road_use(v, None, None, &osm), RoadUse::Exclude(format!("grade '{v}' not walkable")));
        }
        assert_eq!(road_use("disused", None, None, &osm), RoadUse::WalkUnknownGrade);
    }

    #[test]
    fn user_file_extends_a_preset() {
        let t = GradeTable::from_toml(
            "mine.toml",
            "extends = \"osm\"\n[[grade]]\nvalue = \"service\"\ngrade = \"branch\"\ncounted = true\n",
        )
        .unwrap();
        assert!(t.get("service").unwrap().counted);
        assert!(t.get("primary").unwrap().counted);
        assert_eq!(t.field, "highway");
    }

    #[test]
    fn errors_name_the_problem() {
        let e = GradeTable::load("nope").unwrap_err();
        assert!(e.to_string().contains("cn, osm"), "{e}");
        assert_eq!(e.exit_code(), 2);
        let e = GradeTable::from_toml("bad.toml", "field = \"x\"\n[[grade]]\nvalue = 1\n").unwrap_err();
        assert!(e.to_string().contains("bad.toml") && e.to_string().contains("line"), "{e}");
    }
}
