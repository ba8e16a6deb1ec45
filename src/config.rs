//! The city file (`CITY.toml`): one city's layers, presets, targets and methods, for
//! `planaudit audit`, `check` and `batch`.
//!
//! Unknown keys and wrong types are errors that name the key and the line (serde with
//! `deny_unknown_fields`, reported by the `toml` parser with line and column). Paths are resolved
//! relative to the city file's folder.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::{Error, Result};

/// The commented template `planaudit init` writes.
pub const TEMPLATE: &str = include_str!("presets/city_template.toml");

/// A whole city file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CityConfig {
    pub city: CitySection,
    #[serde(default)]
    pub layers: Layers,
    pub road_density: Option<RoadDensitySection>,
}

/// `[city]`: name and defaults for every layer.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CitySection {
    pub name: String,
    /// `ellipsoidal` (default) or `planar`.
    #[serde(default = "default_measure")]
    pub measure: String,
    /// Projected CRS for planar measurement.
    pub planar_crs: Option<String>,
    /// CRS override for every layer that has none of its own.
    pub crs: Option<String>,
    /// Shapefile encoding for every layer that has none of its own.
    pub encoding: Option<String>,
}

fn default_measure() -> String {
    "ellipsoidal".into()
}

/// `[layers.*]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Layers {
    pub areas: Option<LayerConfig>,
    pub roads: Option<LayerConfig>,
}

/// One layer: where it is, how to filter and read it, and the fields the indicators use.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LayerConfig {
    /// Dataset path (relative to the city file) or GDAL connection string.
    pub source: String,
    /// Layer name inside the dataset.
    pub layer: Option<String>,
    /// OGR attribute filter.
    #[serde(rename = "where")]
    pub filter: Option<String>,
    pub crs: Option<String>,
    pub encoding: Option<String>,
    /// Field names by role (`id`, `name`, `kind`, `grade`, `width`, ...).
    #[serde(default)]
    pub fields: BTreeMap<String, String>,
}

/// `[road_density]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoadDensitySection {
    /// Grade table: preset name or file (relative to the city file).
    pub grades: Option<String>,
    /// Targets in km/km² by kind; `"*"` for areas of any other kind.
    #[serde(default)]
    pub targets: BTreeMap<String, f64>,
    pub grid_m: Option<f64>,
    pub max_width_m: Option<f64>,
}

impl LayerConfig {
    /// `DATASET#LAYER` with the dataset resolved against `base` when it is a relative path.
    pub fn source_text(&self, base: &Path) -> String {
        let ds = resolve(base, &self.source);
        match &self.layer {
            Some(l) => format!("{ds}#{l}"),
            None => ds,
        }
    }

    /// A field name for a role, if configured.
    pub fn field(&self, role: &str) -> Option<String> {
        self.fields.get(role).cloned()
    }

    /// Checks that only the known field roles are used.
    pub fn check_fields(&self, layer: &str, known: &[&str]) -> Result<()> {
        for k in self.fields.keys() {
            if !known.contains(&k.as_str()) {
                return Err(Error::Usage(format!(
                    "layers.{layer}.fields: unknown role '{k}'; roles: {}",
                    known.join(", ")
                )));
            }
        }
        Ok(())
    }
}

/// Resolves a dataset path against the city file's folder; connection strings (`PG:...`) and
/// absolute paths stay as they are.
pub fn resolve(base: &Path, source: &str) -> String {
    let p = Path::new(source);
    if p.is_absolute() || source.contains(':') && !source.starts_with('.') {
        source.to_string()
    } else {
        base.join(p).display().to_string()
    }
}

/// A loaded city file with the folder its paths are relative to.
#[derive(Debug, Clone)]
pub struct City {
    pub path: PathBuf,
    pub base: PathBuf,
    pub config: CityConfig,
}

impl City {
    /// Reads and validates a city file.
    pub fn load(path: &Path) -> Result<City> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let config = parse(&text, &path.display().to_string())?;
        let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
        let base = if base.as_os_str().is_empty() { PathBuf::from(".") } else { base };
        Ok(City { path: path.to_path_buf(), base, config })
    }

    /// The local files the city's layers read (a Shapefile with its side files), for freshness checks.
    pub fn input_files(&self) -> Vec<PathBuf> {
        let layers = &self.config.layers;
        let mut files = Vec::new();
        for l in [&layers.areas, &layers.roads].into_iter().flatten() {
            let p = PathBuf::from(resolve(&self.base, &l.source));
            if p.extension().is_some_and(|e| e.eq_ignore_ascii_case("shp")) {
                for ext in ["dbf", "shx", "prj", "cpg"] {
                    let side = p.with_extension(ext);
                    if side.exists() {
                        files.push(side);
                    }
                }
            }
            files.push(p);
        }
        files
    }
}

/// Parses a city file's text; `label` names it in errors.
pub fn parse(text: &str, label: &str) -> Result<CityConfig> {
    let config: CityConfig = toml::from_str(text).map_err(|e| Error::Usage(format!("{label}: {e}")))?;
    let c = &config;
    if !["ellipsoidal", "planar"].contains(&c.city.measure.as_str()) {
        return Err(Error::Usage(format!(
            "{label}: city.measure = \"{}\": expected \"ellipsoidal\" or \"planar\"",
            c.city.measure
        )));
    }
    if let Some(l) = &c.layers.areas {
        l.check_fields("areas", &["id", "name", "kind"]).map_err(|e| Error::Usage(format!("{label}: {e}")))?;
    }
    if let Some(l) = &c.layers.roads {
        l.check_fields("roads", &["grade", "width"]).map_err(|e| Error::Usage(format!("{label}: {e}")))?;
    }
    if c.road_density.is_some() && (c.layers.areas.is_none() || c.layers.roads.is_none()) {
        return Err(Error::Usage(format!("{label}: [road_density] needs [layers.areas] and [layers.roads]")));
    }
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_parses() {
        let c = parse(TEMPLATE, "template").unwrap();
        assert!(c.road_density.is_some());
        assert_eq!(c.city.measure, "ellipsoidal");
    }

    #[test]
    fn unknown_key_names_key_and_line() {
        let text = "[city]\nname = \"x\"\ncolour = \"red\"\n";
        let e = parse(text, "c.toml").unwrap_err().to_string();
        assert!(e.contains("c.toml") && e.contains("colour") && e.contains("line 3"), "{e}");
    }

    #[test]
    fn wrong_type_names_key_and_line() {
        let text = "[city]\nname = \"x\"\n[road_density]\ngrid_m = \"big\"\n";
        let e = parse(text, "c.toml").unwrap_err().to_string();
        assert!(e.contains("grid_m") && e.contains("line 4"), "{e}");
    }

    #[test]
    fn relative_paths_resolve_against_the_file() {
        assert_eq!(resolve(Path::new("/data/city"), "roads.gpkg"), "/data/city/roads.gpkg");
        assert_eq!(resolve(Path::new("/data/city"), "/abs/r.gpkg"), "/abs/r.gpkg");
        assert_eq!(resolve(Path::new("/data/city"), "PG:dbname=x"), "PG:dbname=x");
    }
}
