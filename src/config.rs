//! The city file (`CITY.toml`): one city's layers, presets, targets and methods, for
//! `planaudit audit`, `check` and `batch`.
//!
//! Unknown keys and wrong types are errors that name the key and the line (serde with
//! `deny_unknown_fields`, reported by the `toml` parser with line and column). Paths are resolved
//! relative to the city file's folder, or to `[city] base_dir`.

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
    pub park_mix: Option<ParkMixSection>,
    pub living_circle: Option<LivingCircleSection>,
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
    /// The folder relative paths start from, itself relative to the file's folder (default: the
    /// file's folder). `batch` sets it in the city files it fills in from a template.
    pub base_dir: Option<String>,
}

fn default_measure() -> String {
    "ellipsoidal".into()
}

/// `[layers.*]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Layers {
    /// Built-up areas (road density).
    pub areas: Option<LayerConfig>,
    /// Road centrelines (road density, walking network).
    pub roads: Option<LayerConfig>,
    /// Land-use parcels (park mix).
    pub landuse: Option<LayerConfig>,
    /// Industrial parks (park mix; or `park_mix.parks_from_class`).
    pub parks: Option<LayerConfig>,
    /// Homes or residential parcels (living circle).
    pub origins: Option<LayerConfig>,
    /// Facility layers (living circle); OSM keeps them as points and polygons, so several may be given.
    #[serde(default)]
    pub facilities: Vec<LayerConfig>,
}

impl Layers {
    /// The layers given, each with its name in `[layers.NAME]`; every facilities layer is
    /// `facilities`.
    pub fn named(&self) -> Vec<(&'static str, &LayerConfig)> {
        [
            ("areas", &self.areas),
            ("roads", &self.roads),
            ("landuse", &self.landuse),
            ("parks", &self.parks),
            ("origins", &self.origins),
        ]
        .into_iter()
        .filter_map(|(n, x)| x.as_ref().map(|x| (n, x)))
        .chain(self.facilities.iter().map(|x| ("facilities", x)))
        .collect()
    }
}

/// The field roles each layer may name in `fields`.
pub const FIELD_ROLES: &[(&str, &[&str])] = &[
    ("areas", &["id", "name", "kind"]),
    ("roads", &["grade", "width"]),
    ("landuse", &["class"]),
    ("parks", &["id", "name"]),
    ("origins", &["id", "population"]),
    ("facilities", &["type"]),
];

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

/// `[park_mix]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParkMixSection {
    /// Class table: tdt2023, gbt21010, gb50137, osm, or a file.
    pub classes: Option<String>,
    /// Mix categories [default: residential, community_service, public_service, commercial].
    pub mix: Option<Vec<String>>,
    /// Band in percent, `[min, max]` [default: the plan's 20–30].
    #[serde(default, deserialize_with = "min_max")]
    pub band: Option<[f64; 2]>,
    /// Without `[layers.parks]`: derive parks from parcels of this category.
    pub parks_from_class: Option<String>,
    pub merge_gap_m: Option<f64>,
}

/// `[living_circle]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LivingCircleSection {
    /// Facility-type table: cn, osm, or a file.
    pub facility_types: Option<String>,
    /// Tier table: gb50180, osm, or a file.
    pub tiers: Option<String>,
    /// `table` (each need's own distance) or `minutes` (the tier's minutes at the walking speed).
    pub thresholds: Option<String>,
    pub walk_speed_m_per_min: Option<f64>,
    /// `edge` (default) or `node`.
    pub snap: Option<String>,
    pub max_snap_m: Option<f64>,
    pub max_walk_m: Option<f64>,
    /// `vertices` (default) or `planar`.
    pub noding: Option<String>,
    /// `network` (default) or `buffer`.
    pub method: Option<String>,
    /// Write the service areas layer.
    #[serde(default)]
    pub service_areas: bool,
    /// Coverage targets by tier minutes (`"15" = 0.8`): share of residential area (of origins when
    /// they have no area) within the tier.
    #[serde(default)]
    pub coverage_targets: BTreeMap<String, f64>,
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

/// Resolves a dataset path against the city file's folder; absolute paths and connection strings
/// (`PG:...`: a colon, and no such file in the folder) stay as they are.
pub fn resolve(base: &Path, source: &str) -> String {
    let p = Path::new(source);
    let joined = base.join(p);
    let connection = source.contains(':') && !source.starts_with('.') && !joined.exists();
    if p.is_absolute() || connection {
        source.to_string()
    } else {
        joined.display().to_string()
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
        let folder = path.parent().map(Path::to_path_buf).unwrap_or_default();
        let folder = if folder.as_os_str().is_empty() { PathBuf::from(".") } else { folder };
        let base = match &config.city.base_dir {
            Some(dir) => folder.join(dir),
            None => folder,
        };
        Ok(City { path: path.to_path_buf(), base, config })
    }

    /// The lookup tables the city file names (grades, classes, facility types, tiers): presets or files.
    pub fn tables(&self) -> impl Iterator<Item = &String> {
        let c = &self.config;
        [
            c.road_density.as_ref().and_then(|r| r.grades.as_ref()),
            c.park_mix.as_ref().and_then(|p| p.classes.as_ref()),
            c.living_circle.as_ref().and_then(|l| l.facility_types.as_ref()),
            c.living_circle.as_ref().and_then(|l| l.tiers.as_ref()),
        ]
        .into_iter()
        .flatten()
    }

    /// The local files the city reads: its layers (a Shapefile with its side files) and the lookup
    /// tables it gives as files, for freshness checks.
    pub fn input_files(&self) -> Vec<PathBuf> {
        let layers = &self.config.layers;
        let mut files = Vec::new();
        let all = [&layers.areas, &layers.roads, &layers.landuse, &layers.parks, &layers.origins];
        for l in all.into_iter().flatten().chain(layers.facilities.iter()) {
            let p = PathBuf::from(resolve(&self.base, &l.source));
            if p.extension().is_some_and(|e| e.eq_ignore_ascii_case("shp")) {
                files.extend(crate::ingest::shapefile_files(&p).into_iter().filter(|f| *f != p));
            }
            files.push(p);
        }
        // Lookup tables given as files (a preset name is no file).
        for t in self.tables() {
            let p = PathBuf::from(resolve(&self.base, t));
            if p.is_file() {
                files.push(p);
            }
        }
        files
    }
}

/// Parses a city file's text; `label` names it in errors.
/// A `[min, max]` pair: exactly two numbers (an array of two or more used to keep its first two).
fn min_max<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Option<[f64; 2]>, D::Error> {
    let values: Vec<f64> = Deserialize::deserialize(d)?;
    match values[..] {
        [min, max] => Ok(Some([min, max])),
        _ => Err(serde::de::Error::custom(format!("expected [MIN, MAX], two numbers; found {}", values.len()))),
    }
}

/// Refuses an encoding GDAL cannot decode a Shapefile's text from, naming its key: it would
/// otherwise be found only when a layer is read.
fn check_encoding(label: &str, key: &str, encoding: Option<&str>) -> Result<()> {
    match encoding {
        Some(e) if e.trim().is_empty() => {
            Err(Error::Usage(format!("{label}: {key} is empty: give a value, or leave the key out")))
        }
        Some(e) if !crate::ingest::read::decodable(e) => Err(Error::Usage(format!(
            "{label}: {key} = \"{e}\" is not an encoding this system can decode text from; Chinese data is usually GBK (or GB18030, CP936, UTF-8)"
        ))),
        _ => Ok(()),
    }
}

pub fn parse(text: &str, label: &str) -> Result<CityConfig> {
    let mut config: CityConfig = toml::from_str(text).map_err(|e| Error::Usage(format!("{label}: {e}")))?;
    // An empty `where` or `layer` is no filter, or no layer named, as the key left out is (and as
    // `--areas-where ""` is): a batch template's `where = "{filter}"` for a city that needs none.
    let l = &mut config.layers;
    for layer in [&mut l.areas, &mut l.roads, &mut l.landuse, &mut l.parks, &mut l.origins]
        .into_iter()
        .flatten()
        .chain(l.facilities.iter_mut())
    {
        for text in [&mut layer.filter, &mut layer.layer] {
            if text.as_deref().is_some_and(|t| t.trim().is_empty()) {
                *text = None;
            }
        }
    }
    let c = &config;
    if !["ellipsoidal", "planar"].contains(&c.city.measure.as_str()) {
        return Err(Error::Usage(format!(
            "{label}: city.measure = \"{}\": expected \"ellipsoidal\" or \"planar\"",
            c.city.measure
        )));
    }
    let l = &c.layers;
    let mut facility = 0;
    for (name, layer) in l.named() {
        // Several facility layers are told apart by their place, as `check` names them.
        let key_name = match name {
            "facilities" if l.facilities.len() > 1 => {
                facility += 1;
                format!("facilities[{}]", facility - 1)
            }
            _ => name.to_string(),
        };
        let roles = FIELD_ROLES.iter().find(|(n, _)| *n == name).map(|(_, r)| *r).unwrap_or(&[]);
        layer.check_fields(name, roles).map_err(|e| Error::Usage(format!("{label}: {e}")))?;
        // An empty source would read the city file's folder as the dataset; an empty CRS or
        // encoding is none: leave the key out instead.
        let texts =
            [("source", Some(&layer.source)), ("crs", layer.crs.as_ref()), ("encoding", layer.encoding.as_ref())];
        for (key, value) in texts {
            if value.is_some_and(|v| v.trim().is_empty()) {
                let fix = if key == "source" { "give the dataset" } else { "give a value, or leave the key out" };
                return Err(Error::Usage(format!("{label}: layers.{key_name}.{key} is empty: {fix}")));
            }
        }
        check_encoding(label, &format!("layers.{key_name}.encoding"), layer.encoding.as_deref())?;
    }
    check_encoding(label, "city.encoding", c.city.encoding.as_deref())?;
    let need = |ok: bool, what: &str| -> Result<()> {
        if ok {
            Ok(())
        } else {
            Err(Error::Usage(format!("{label}: {what}")))
        }
    };
    if c.road_density.is_some() {
        need(l.areas.is_some() && l.roads.is_some(), "[road_density] needs [layers.areas] and [layers.roads]")?;
    }
    if let Some(pm) = &c.park_mix {
        need(l.landuse.is_some(), "[park_mix] needs [layers.landuse]")?;
        need(
            l.parks.is_some() != pm.parks_from_class.is_some(),
            "[park_mix] needs exactly one of [layers.parks] and park_mix.parks_from_class",
        )?;
    }
    if let Some(lc) = &c.living_circle {
        need(l.origins.is_some(), "[living_circle] needs [layers.origins]")?;
        need(!l.facilities.is_empty(), "[living_circle] needs [[layers.facilities]]")?;
        need(
            l.roads.is_some() || lc.method.as_deref() == Some("buffer"),
            "[living_circle] needs [layers.roads] (the walking network) unless method = \"buffer\"",
        )?;
        let first = &l.facilities[0];
        for (i, f) in l.facilities.iter().enumerate().skip(1) {
            let differs: Vec<&str> = [
                ("where", f.filter != first.filter),
                ("crs", f.crs != first.crs),
                ("fields", f.fields != first.fields),
            ]
            .into_iter()
            .filter_map(|(key, d)| d.then_some(key))
            .collect();
            need(
                differs.is_empty(),
                &format!(
                    "[[layers.facilities]]: every facilities layer must share where, crs and fields; layers.facilities[{i}] ({}) has another {} than layers.facilities[0] ({})",
                    f.source,
                    differs.join(" and "),
                    first.source
                ),
            )?;
        }
        for (name, key, allowed) in [
            ("thresholds", &lc.thresholds, &["table", "minutes"][..]),
            ("snap", &lc.snap, &["edge", "node"][..]),
            ("noding", &lc.noding, &["vertices", "planar"][..]),
            ("method", &lc.method, &["network", "buffer"][..]),
        ] {
            if let Some(v) = key {
                need(
                    allowed.contains(&v.as_str()),
                    &format!("living_circle.{name}: \"{v}\" is not one of {}", allowed.join(", ")),
                )?;
            }
        }
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
    fn a_band_is_two_numbers() {
        let with = |band: &str| TEMPLATE.replacen("band = [20, 30]", &format!("band = {band}"), 1);
        assert_ne!(with("[1, 2]"), TEMPLATE);
        assert_eq!(parse(&with("[15, 25]"), "c.toml").unwrap().park_mix.unwrap().band, Some([15.0, 25.0]));
        for (band, words) in [("[20, 30, 40]", "found 3"), ("[20]", "found 1"), ("[20, 30, \"x\"]", "string")] {
            let e = parse(&with(band), "c.toml").unwrap_err().to_string();
            assert!(e.contains("band") && e.contains(words), "{band}: {e}");
        }
    }

    #[test]
    fn empty_layer_texts_are_refused_or_left_out() {
        for (from, to, words) in [
            ("source = \"built_up_areas.shp\"", "source = \"\"", "layers.areas.source is empty: give the dataset"),
            ("# crs = \"EPSG:4527\"\n# encoding", "crs = \" \"\n# encoding", "layers.areas.crs is empty"),
        ] {
            let text = TEMPLATE.replacen(from, to, 1);
            assert_ne!(text, TEMPLATE, "{from}");
            let e = parse(&text, "c.toml").unwrap_err().to_string();
            assert!(e.contains("c.toml") && e.contains(words), "{e}");
        }
        // Of several facility layers, the one at fault.
        let two = TEMPLATE.replacen(
            "[[layers.facilities]]\n",
            "[[layers.facilities]]\nsource = \"more.gpkg\"\nfields = { type = \"type\" }\nencoding = \"GBKK\"\n[[layers.facilities]]\n",
            1,
        );
        let e = parse(&two, "c.toml").unwrap_err().to_string();
        assert!(e.contains("layers.facilities[0].encoding = \"GBKK\""), "{e}");
        // An empty filter or layer name is none, as the key left out is.
        let text = TEMPLATE.replacen("layer = \"roads\"", "layer = \" \"", 1).replacen(
            "where = \"dlbm IN",
            "where = \"\"\n# \"dlbm IN",
            1,
        );
        let c = parse(&text, "c.toml").unwrap();
        let (roads, origins) = (c.layers.roads.unwrap(), c.layers.origins.unwrap());
        assert_eq!((roads.layer, origins.filter), (None, None));
        assert_eq!(origins.layer.as_deref(), Some("landuse"));
    }

    #[test]
    fn relative_paths_resolve_against_the_file() {
        assert_eq!(resolve(Path::new("/data/city"), "roads.gpkg"), "/data/city/roads.gpkg");
        assert_eq!(resolve(Path::new("/data/city"), "/abs/r.gpkg"), "/abs/r.gpkg");
        assert_eq!(resolve(Path::new("/data/city"), "PG:dbname=x"), "PG:dbname=x");
    }

    #[test]
    fn relative_paths_with_a_colon_are_files_when_they_exist() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("roads_2024:v2.gpkg"), "").unwrap();
        let want = dir.path().join("roads_2024:v2.gpkg").display().to_string();
        assert_eq!(resolve(dir.path(), "roads_2024:v2.gpkg"), want);
        assert_eq!(resolve(dir.path(), "PG:dbname=city"), "PG:dbname=city");
        assert_eq!(resolve(dir.path(), "roads.gpkg"), dir.path().join("roads.gpkg").display().to_string());
        assert_eq!(resolve(dir.path(), "/data/roads.gpkg"), "/data/roads.gpkg");
    }
}
