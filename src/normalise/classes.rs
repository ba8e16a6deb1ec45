//! Land-use classes, from tables: which analysis category (residential, commercial, …) a parcel's
//! class code stands for.
//!
//! Presets live in `src/presets/classes_*.toml`, one per classification scheme, each row citing
//! DOMAIN.md §D: `tdt2023` (国土空间调查、规划、用途管制用地用海分类), `gbt21010` (GB/T 21010-2017 and
//! the 三调 working codes), `gb50137` (GB 50137-2011) and `osm` (OpenStreetMap tags). The schemes
//! reuse numbers for different things (用地用海 1101 is warehouse land, GB/T 21010 1101 a river), so
//! the table must be the one the data is coded in. Bureau layers often mix 三调 and 用地用海 codes
//! in one field. For that reason `tdt2023` also lists the GB/T 21010 codes that 用地用海 lacks
//! (05H1, 0508, 0810, 1104, …), and `gbt21010` lists the 用地用海 six-digit codes whose prefix would
//! otherwise mislead (090101, 100101, …). A code of both schemes takes the table's own meaning.
//!
//! # Matching
//! - `codes = "prefix"`: hierarchical codes (`070101`, `0810A`, `R22`). A code takes the category of
//!   its **longest** listed prefix: `070101` → row `0701`, `0702` → row `0702`, `07` → row `07`.
//!   Case and surrounding spaces are ignored.
//! - `codes = "key=value"` (OpenStreetMap): the code of a field is `field=value`; the row for that
//!   exact `key=value` wins over a `key=*` row, which matches any value of the key.
//!
//! A table lists the class fields to read. A feature is classified by the first of its fields whose
//! code the table knows; when none does, it is unclassified under the first non-empty code (or
//! [`EMPTY_CODE`]), so that its area can be reported rather than lost.
//!
//! # User tables
//! A TOML file of the same form; with `extends = "tdt2023"` it starts from that preset, and its rows
//! add to the preset's or replace them code by code.

use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;

use crate::{Error, Result};

/// Built-in class presets: name and TOML text.
pub const PRESETS: &[(&str, &str)] = &[
    ("tdt2023", include_str!("../presets/classes_tdt2023.toml")),
    ("gbt21010", include_str!("../presets/classes_gbt21010.toml")),
    ("gb50137", include_str!("../presets/classes_gb50137.toml")),
    ("osm", include_str!("../presets/classes_osm.toml")),
];

/// The code reported for a feature whose class fields are all null or empty.
pub const EMPTY_CODE: &str = "(empty)";

/// An analysis category (DOMAIN.md §D: RES, community service, PUB, COM, IND, WH, TRN, UTL, GRN, WAT,
/// AGR, OTH).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    Residential,
    /// Community services inside residential land (用地用海 0702, GB 50137 R12/R22/R32).
    CommunityService,
    PublicService,
    Commercial,
    Industrial,
    Warehouse,
    Transport,
    Utilities,
    Green,
    Water,
    /// Agricultural land, including forest and grassland.
    Agricultural,
    Other,
}

impl Category {
    /// Every category, in reporting order.
    pub const ALL: [Category; 12] = [
        Category::Residential,
        Category::CommunityService,
        Category::PublicService,
        Category::Commercial,
        Category::Industrial,
        Category::Warehouse,
        Category::Transport,
        Category::Utilities,
        Category::Green,
        Category::Water,
        Category::Agricultural,
        Category::Other,
    ];

    /// The residential and service land of the industrial-park indicator (DOMAIN.md §D6:
    /// RES + 0702 + PUB + COM).
    pub const DEFAULT_MIX: [Category; 4] =
        [Category::Residential, Category::CommunityService, Category::PublicService, Category::Commercial];

    /// Land that is not construction land for the park indicator (DOMAIN.md §D6, as the issue
    /// defines it: water, agricultural and other).
    pub const NON_CONSTRUCTION: [Category; 3] = [Category::Water, Category::Agricultural, Category::Other];

    /// The snake_case name used in tables and outputs.
    pub fn name(self) -> &'static str {
        match self {
            Category::Residential => "residential",
            Category::CommunityService => "community_service",
            Category::PublicService => "public_service",
            Category::Commercial => "commercial",
            Category::Industrial => "industrial",
            Category::Warehouse => "warehouse",
            Category::Transport => "transport",
            Category::Utilities => "utilities",
            Category::Green => "green",
            Category::Water => "water",
            Category::Agricultural => "agricultural",
            Category::Other => "other",
        }
    }

    /// Parses a category name (case, spaces and `-` ignored).
    ///
    /// ```
    /// use planaudit::normalise::classes::Category;
    /// assert_eq!(Category::parse(" Community-Service "), Some(Category::CommunityService));
    /// assert_eq!(Category::parse("housing"), None);
    /// ```
    pub fn parse(text: &str) -> Option<Category> {
        let t = text.trim().to_ascii_lowercase().replace(['-', ' '], "_");
        Category::ALL.into_iter().find(|c| c.name() == t)
    }

    /// Parses a comma-separated list (`--mix residential,commercial`); `option` names the option
    /// in the usage error, which lists the categories.
    ///
    /// ```
    /// use planaudit::normalise::classes::Category;
    /// let mix = Category::parse_list("residential, commercial", "--mix").unwrap();
    /// assert_eq!(mix, [Category::Residential, Category::Commercial]);
    /// assert!(Category::parse_list("residential,shops", "--mix").is_err());
    /// ```
    pub fn parse_list(text: &str, option: &str) -> Result<Vec<Category>> {
        let mut out = Vec::new();
        for item in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let c = Category::parse(item).ok_or_else(|| {
                Error::Usage(format!("{option} {text}: unknown category '{item}'; categories: {}", Category::names()))
            })?;
            if !out.contains(&c) {
                out.push(c);
            }
        }
        if out.is_empty() {
            return Err(Error::Usage(format!("{option}: give at least one category of: {}", Category::names())));
        }
        Ok(out)
    }

    /// All category names, comma-separated (for messages).
    pub fn names() -> String {
        Category::ALL.map(Category::name).join(", ")
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How a table's codes are matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum CodeFormat {
    /// Hierarchical codes, longest listed prefix wins.
    #[serde(rename = "prefix")]
    Prefix,
    /// `key=value` codes built from the field name and its value; `key=*` matches any value.
    #[serde(rename = "key=value")]
    KeyValue,
}

/// One row of a class table.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ClassRow {
    /// The code, or code prefix, as written in the data (`0702`, `R22`, `amenity=school`, `shop=*`).
    pub code: String,
    pub category: Category,
    /// The class name in the scheme (`城镇社区服务设施用地`).
    #[serde(default)]
    pub name: String,
    /// Where the row comes from (a DOMAIN.md section).
    #[serde(default)]
    pub source: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TableFile {
    name: Option<String>,
    #[serde(default)]
    description: String,
    fields: Option<Vec<String>>,
    codes: Option<CodeFormat>,
    extends: Option<String>,
    #[serde(default)]
    class: Vec<ClassRow>,
}

/// A class table: code → category, with the default class fields.
#[derive(Debug, Clone)]
pub struct ClassTable {
    pub name: String,
    /// The fields codes are read from, in the order they are tried, unless `--class-field` says otherwise.
    pub fields: Vec<String>,
    pub codes: CodeFormat,
    /// Rows by folded code.
    rows: BTreeMap<String, ClassRow>,
}

/// What a feature's class fields say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Classified {
    /// The code that decided, as written (`0702`, `amenity=school`); for an unclassified feature the
    /// first non-empty code, or [`EMPTY_CODE`].
    pub code: String,
    /// The field the code was read from; `None` when every class field was empty.
    pub field: Option<String>,
    /// `None` when the table knows none of the feature's codes.
    pub category: Option<Category>,
}

impl ClassTable {
    /// Loads a preset by name, or a TOML file by path. A name that is neither is a usage error
    /// that lists the presets.
    pub fn load(name_or_path: &str) -> Result<ClassTable> {
        Self::from_toml(name_or_path, &super::table_text("--classes", PRESETS, name_or_path)?)
    }

    /// Parses a table; `label` names it in errors.
    pub fn from_toml(label: &str, text: &str) -> Result<ClassTable> {
        let table_error = |reason: String| Error::Table { name: label.to_string(), reason };
        let file: TableFile = super::parse_table(label, text)?;
        let _ = &file.description;
        let mut table = match &file.extends {
            Some(base) => Self::from_toml(base, super::base_preset(label, PRESETS, base)?)?,
            None => {
                ClassTable { name: String::new(), fields: vec![], codes: CodeFormat::Prefix, rows: BTreeMap::new() }
            }
        };
        table.name = file.name.unwrap_or_else(|| label.to_string());
        if let Some(fields) = file.fields {
            table.fields = fields.into_iter().map(|f| f.trim().to_string()).filter(|f| !f.is_empty()).collect();
        }
        if table.fields.is_empty() {
            return Err(table_error("no `fields` (the fields class codes are read from)".into()));
        }
        if let Some(c) = file.codes {
            table.codes = c;
        }
        let mut seen = std::collections::BTreeSet::new();
        for row in file.class {
            let key = table.fold(&row.code);
            if key.is_empty() {
                return Err(table_error("a class row with an empty code".into()));
            }
            if table.codes == CodeFormat::KeyValue && !key.contains('=') {
                return Err(table_error(format!(
                    "code '{}' is not key=value (the table has codes = \"key=value\")",
                    row.code
                )));
            }
            if !seen.insert(key.clone()) {
                return Err(table_error(format!("code '{}' is listed twice", row.code)));
            }
            table.rows.insert(key, row);
        }
        Ok(table)
    }

    /// A code as rows are keyed: trimmed, upper case for hierarchical codes, lower case for
    /// `key=value` (OpenStreetMap tags are lower case by convention), spaces around `=` removed.
    fn fold(&self, code: &str) -> String {
        match self.codes {
            CodeFormat::Prefix => code.trim().to_uppercase(),
            CodeFormat::KeyValue => match code.split_once('=') {
                Some((k, v)) => format!("{}={}", k.trim().to_lowercase(), v.trim().to_lowercase()),
                None => code.trim().to_lowercase(),
            },
        }
    }

    /// The row for a code: the longest listed prefix, or for `key=value` tables the exact row, else
    /// the `key=*` row.
    ///
    /// ```
    /// use planaudit::normalise::classes::{Category, ClassTable};
    /// let t = ClassTable::load("tdt2023").unwrap();
    /// assert_eq!(t.lookup("070101").unwrap().code, "0701");
    /// assert_eq!(t.lookup("0702").unwrap().category, Category::CommunityService);
    /// assert!(t.lookup("99").is_none());
    /// ```
    pub fn lookup(&self, code: &str) -> Option<&ClassRow> {
        let key = self.fold(code);
        if key.is_empty() {
            return None;
        }
        match self.codes {
            CodeFormat::Prefix => {
                // Longest first: every prefix ending on a character boundary, from the whole code down.
                let ends = key.char_indices().map(|(i, c)| i + c.len_utf8()).collect::<Vec<_>>();
                ends.iter().rev().find_map(|&end| self.rows.get(&key[..end]))
            }
            CodeFormat::KeyValue => self.rows.get(&key).or_else(|| {
                let (k, _) = key.split_once('=')?;
                self.rows.get(&format!("{k}=*"))
            }),
        }
    }

    /// Classifies one feature from its class fields, given in the order they are tried as
    /// `(field name, value)`.
    ///
    /// ```
    /// use planaudit::normalise::classes::{Category, ClassTable};
    /// let osm = ClassTable::load("osm").unwrap();
    /// let c = osm.classify([("landuse", None), ("amenity", Some("school"))]);
    /// assert_eq!((c.code.as_str(), c.category), ("amenity=school", Some(Category::PublicService)));
    /// let u = osm.classify([("landuse", Some("median")), ("amenity", None)]);
    /// assert_eq!((u.code.as_str(), u.category), ("landuse=median", None));
    /// ```
    pub fn classify<'a>(&self, values: impl IntoIterator<Item = (&'a str, Option<&'a str>)>) -> Classified {
        let mut first: Option<Classified> = None;
        for (field, value) in values {
            let Some(v) = value.map(str::trim).filter(|v| !v.is_empty()) else { continue };
            let code = match self.codes {
                CodeFormat::Prefix => v.to_string(),
                CodeFormat::KeyValue => format!("{}={v}", field.trim()),
            };
            let category = self.lookup(&code).map(|row| row.category);
            let c = Classified { code, field: Some(field.to_string()), category };
            if category.is_some() {
                return c;
            }
            first.get_or_insert(c);
        }
        first.unwrap_or_else(|| Classified { code: EMPTY_CODE.to_string(), field: None, category: None })
    }

    /// All rows, in code order.
    pub fn rows(&self) -> impl Iterator<Item = &ClassRow> {
        self.rows.values()
    }
}

/// [`ClassTable::classify`] remembered by the class fields' values, for one table and one list
/// of fields: a land-use layer repeats a few codes over millions of parcels. At most
/// [`ClassMemo::CAPACITY`] distinct value lists are remembered; others are classified each time.
#[derive(Default)]
pub struct ClassMemo {
    /// Each value list seen, with the index of its answer in `answers`.
    seen: std::collections::HashMap<Vec<Option<String>>, usize>,
    answers: Vec<Classified>,
    /// The table and fields of the first call; a later call with others is a bug.
    used_with: Option<(String, Vec<String>)>,
}

impl ClassMemo {
    /// The most value lists remembered.
    pub const CAPACITY: usize = 4096;

    /// What `table.classify` says of `values`, the values of `fields` in order.
    ///
    /// ```
    /// use planaudit::normalise::classes::{ClassMemo, ClassTable};
    /// let t = ClassTable::load("tdt2023").unwrap();
    /// let fields = ["dlbm".to_string()];
    /// let mut memo = ClassMemo::default();
    /// let values = [Some("0702".to_string())];
    /// let direct = t.classify([("dlbm", Some("0702"))]);
    /// assert_eq!(*memo.get(&t, &fields, &values), direct);
    /// assert_eq!(*memo.get(&t, &fields, &values), direct);
    /// ```
    pub fn get(
        &mut self,
        table: &ClassTable,
        fields: &[String],
        values: &[Option<String>],
    ) -> std::borrow::Cow<'_, Classified> {
        let used_with = self.used_with.get_or_insert_with(|| (table.name.clone(), fields.to_vec()));
        debug_assert!(
            used_with.0 == table.name && used_with.1 == fields,
            "one ClassMemo serves one table and field list"
        );
        // One hash lookup for a list seen before.
        if let Some(&i) = self.seen.get(values) {
            return std::borrow::Cow::Borrowed(&self.answers[i]);
        }
        let answer = table.classify(fields.iter().map(String::as_str).zip(values.iter().map(|v| v.as_deref())));
        if self.seen.len() >= Self::CAPACITY {
            return std::borrow::Cow::Owned(answer);
        }
        self.seen.insert(values.to_vec(), self.answers.len());
        self.answers.push(answer);
        std::borrow::Cow::Borrowed(&self.answers[self.answers.len() - 1])
    }
}

/// The preset names, comma-separated (for messages).
pub fn preset_names() -> String {
    PRESETS.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
#[path = "classes_tests.rs"]
mod tests;
