//! Facility types, from tables: which values of a facility layer's type field(s) stand for which
//! type (幼儿园 → `kindergarten`, `amenity=school` → `school`).
//!
//! Presets live in `src/presets/facilities_*.toml`: `cn` keyed by the GB 50180 names bureaus use, and
//! `osm` keyed by OpenStreetMap tags. A user file has the same form and may start from a preset with
//! `extends = "cn"`; its rows then add to or replace the preset's rows by `code`.
//!
//! # Type fields
//! A facility's type is read from one field or from several tried in order
//! (`--type-field amenity,shop,leisure,social_facility`). For each field with a non-empty value, the
//! table is asked for `field=value` and then for the bare `value`; the first field whose value the
//! table knows decides the type. A facility no field of which the table knows is of an *unknown* type,
//! named by its first non-empty value (`field=value` when several fields are read): unknown types are
//! counted and listed, never silently dropped.

use std::collections::HashMap;

use serde::Deserialize;

use crate::{Error, Result};

/// Built-in facility-type presets: name and TOML text.
pub const PRESETS: &[(&str, &str)] =
    &[("cn", include_str!("../presets/facilities_cn.toml")), ("osm", include_str!("../presets/facilities_osm.toml"))];

/// One facility type.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TypeRow {
    /// The name used in outputs and tier tables (`kindergarten`).
    pub code: String,
    /// A readable name (`幼儿园`).
    pub label: String,
    /// Values of the type field that stand for this type: `幼儿园`, or `amenity=kindergarten`.
    pub values: Vec<String>,
    /// Where the row comes from.
    pub source: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TableFile {
    name: Option<String>,
    #[serde(default)]
    description: String,
    fields: Option<Vec<String>>,
    extends: Option<String>,
    #[serde(default, rename = "type")]
    types: Vec<TypeRow>,
}

/// What a facility's type fields say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Classified {
    /// A type of the table (index into [`FacilityTypes::rows`]).
    Known(usize),
    /// No field value the table knows; the first value, for the list of unknown types.
    Unknown(String),
    /// Every type field is empty.
    NoValue,
}

/// A facility-type table.
#[derive(Debug, Clone)]
pub struct FacilityTypes {
    pub name: String,
    pub description: String,
    /// The type fields read unless `--type-field` says otherwise.
    pub fields: Vec<String>,
    pub rows: Vec<TypeRow>,
    by_value: HashMap<String, usize>,
}

impl FacilityTypes {
    /// Loads a preset by name, or a TOML file by path.
    pub fn load(name_or_path: &str) -> Result<FacilityTypes> {
        Self::from_toml(name_or_path, &super::table_text("--facility-types", PRESETS, name_or_path)?)
    }

    /// Parses a table; `label` names it in errors.
    pub fn from_toml(label: &str, text: &str) -> Result<FacilityTypes> {
        let err = |reason: String| Error::Table { name: label.to_string(), reason };
        let file: TableFile = super::parse_table(label, text)?;
        let mut table = match &file.extends {
            Some(base) => Self::from_toml(base, super::base_preset(label, PRESETS, base)?)?,
            None => FacilityTypes {
                name: String::new(),
                description: String::new(),
                fields: Vec::new(),
                rows: Vec::new(),
                by_value: HashMap::new(),
            },
        };
        table.name = file.name.unwrap_or_else(|| label.to_string());
        if !file.description.is_empty() {
            table.description = file.description;
        }
        if let Some(f) = file.fields {
            table.fields = f;
        }
        if table.fields.is_empty() {
            return Err(err("no `fields` (the default type fields)".into()));
        }
        for row in file.types {
            if row.values.is_empty() {
                return Err(err(format!("type '{}' has no values", row.code)));
            }
            match table.rows.iter().position(|r| r.code == row.code) {
                Some(i) => table.rows[i] = row,
                None => table.rows.push(row),
            }
        }
        table.by_value.clear();
        for (i, row) in table.rows.iter().enumerate() {
            for v in &row.values {
                if let Some(j) = table.by_value.insert(v.trim().to_string(), i) {
                    if j != i {
                        return Err(err(format!(
                            "value '{v}' stands for two types, '{}' and '{}'",
                            table.rows[j].code, row.code
                        )));
                    }
                }
            }
        }
        Ok(table)
    }

    /// The index of a type by code.
    pub fn index_of(&self, code: &str) -> Option<usize> {
        self.rows.iter().position(|r| r.code == code)
    }

    /// Classifies a facility from the values of its type fields (in the order of `fields`).
    ///
    /// ```
    /// use planaudit::normalise::facility_types::{Classified, FacilityTypes};
    /// let osm = FacilityTypes::load("osm").unwrap();
    /// let fields = osm.fields.clone(); // amenity, shop, leisure, social_facility
    /// let nursing = [Some("social_facility".to_string()), None, None, Some("nursing_home".to_string())];
    /// let Classified::Known(i) = osm.classify(&fields, &nursing) else { panic!() };
    /// assert_eq!(osm.rows[i].code, "elderly_care");
    /// let bench = [Some("bench".to_string()), None, None, None];
    /// assert_eq!(osm.classify(&fields, &bench), Classified::Unknown("amenity=bench".into()));
    /// ```
    pub fn classify(&self, fields: &[String], values: &[Option<String>]) -> Classified {
        let mut first: Option<String> = None;
        for (field, value) in fields.iter().zip(values) {
            let Some(v) = value.as_deref().map(str::trim).filter(|v| !v.is_empty()) else { continue };
            let tagged = format!("{field}={v}");
            if let Some(&i) = self.by_value.get(&tagged).or_else(|| self.by_value.get(v)) {
                return Classified::Known(i);
            }
            if first.is_none() {
                first = Some(if fields.len() > 1 { tagged } else { v.to_string() });
            }
        }
        first.map(Classified::Unknown).unwrap_or(Classified::NoValue)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_parse_and_cite_sources() {
        let cn = FacilityTypes::load("cn").unwrap();
        assert_eq!(cn.fields, ["type"]);
        let f = vec!["type".to_string()];
        for (name, code) in [
            ("幼儿园", "kindergarten"),
            ("小学", "primary_school"),
            ("初中", "junior_middle_school"),
            ("社区卫生服务中心", "community_health_centre"),
            ("菜市场", "fresh_market"),
            ("养老院", "nursing_home"),
            ("老年人日间照料中心", "elderly_day_care"),
            ("社区服务站", "community_service_station"),
            ("文化活动中心", "cultural_activity_centre"),
            ("运动场地", "sports_ground"),
        ] {
            let Classified::Known(i) = cn.classify(&f, &[Some(format!(" {name} "))]) else { panic!("{name}") };
            assert_eq!(cn.rows[i].code, code);
        }
        assert_eq!(cn.classify(&f, &[Some("网吧".into())]), Classified::Unknown("网吧".into()));
        assert_eq!(cn.classify(&f, &[Some("  ".into())]), Classified::NoValue);
        let osm = FacilityTypes::load("osm").unwrap();
        for t in [&cn, &osm] {
            assert!(t.rows.iter().all(|r| !r.source.is_empty()), "every row cites its source");
        }
    }

    #[test]
    fn fields_are_tried_in_order() {
        let osm = FacilityTypes::load("osm").unwrap();
        let fields = osm.fields.clone();
        // amenity=school wins over leisure=pitch: amenity comes first.
        let v = [Some("school".into()), None, Some("pitch".into()), None];
        assert_eq!(osm.classify(&fields, &v), Classified::Known(osm.index_of("school").unwrap()));
        // An unknown amenity does not hide a known shop.
        let v = [Some("bench".into()), Some("supermarket".into()), None, None];
        assert_eq!(osm.classify(&fields, &v), Classified::Known(osm.index_of("food_shop").unwrap()));
        // One field: a bare value is looked up, and key=value too.
        let one = vec!["amenity".to_string()];
        assert_eq!(osm.classify(&one, &[Some("kindergarten".into())]), Classified::Known(0));
        assert_eq!(osm.classify(&one, &[Some("bench".into())]), Classified::Unknown("bench".into()));
    }

    #[test]
    fn user_file_extends_and_overrides() {
        let t = FacilityTypes::from_toml(
            "mine.toml",
            "extends = \"cn\"\nfields = [\"设施类型\"]\n[[type]]\ncode = \"kindergarten\"\nlabel = \"幼儿园\"\nvalues = [\"幼儿园\", \"幼稚园\"]\nsource = \"local\"\n",
        )
        .unwrap();
        assert_eq!(t.fields, ["设施类型"]);
        let f = vec!["设施类型".to_string()];
        assert_eq!(t.classify(&f, &[Some("幼稚园".into())]), Classified::Known(t.index_of("kindergarten").unwrap()));
        let e = FacilityTypes::from_toml(
            "bad.toml",
            "fields = [\"t\"]\n[[type]]\ncode = \"a\"\nlabel = \"a\"\nvalues = [\"x\"]\nsource = \"\"\n[[type]]\ncode = \"b\"\nlabel = \"b\"\nvalues = [\"x\"]\nsource = \"\"\n",
        )
        .unwrap_err();
        assert!(e.to_string().contains("bad.toml") && e.to_string().contains("'x'"), "{e}");
        assert_eq!(FacilityTypes::load("nope").unwrap_err().exit_code(), 2);
    }
}
