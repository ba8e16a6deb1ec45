//! Living-circle tiers, from tables: the 5/10/15-minute tiers, the needs each tier must meet, and the
//! service distance of each need.
//!
//! Presets live in `src/presets/tiers_*.toml`: `gb50180` (GB 50180-2018, with the facility types of the
//! `cn` table) and `osm` (with the `osm` facility types). A user file has the same form.
//!
//! A *need* is met when any one of its facility types lies within its distance (a small sports ground
//! need is met by a large ground too). With `cumulative = true` (both presets) a tier also requires
//! every need of the lower tiers, as GB 50180 adds each tier's facilities on top of the lower tiers'.
//!
//! Service distances come from the table (`--thresholds table`, each need its own distance, falling
//! back to its tier's walking distance), or from walking time (`--thresholds minutes`: every need of a
//! tier within the tier's minutes × the walking speed).

use serde::Deserialize;

use super::facility_types::FacilityTypes;
use crate::{Error, Result};

/// Built-in tier presets: name and TOML text.
pub const PRESETS: &[(&str, &str)] =
    &[("gb50180", include_str!("../presets/tiers_gb50180.toml")), ("osm", include_str!("../presets/tiers_osm.toml"))];

/// The default walking speed, metres per minute: "60 m/min is a common planning assumption"
/// (DOMAIN.md §B3.1; 15 min ≈ 800–1000 m gives 55–67 m/min).
pub const DEFAULT_WALK_SPEED_M_PER_MIN: f64 = 60.0;

/// One need of a tier.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct NeedRow {
    /// The need's name in outputs (`kindergarten`).
    pub need: String,
    /// Facility type codes that meet it [default: the need's name].
    #[serde(default)]
    pub types: Vec<String>,
    /// Service distance in metres [default: the tier's distance].
    pub distance_m: Option<f64>,
    #[serde(default)]
    pub source: String,
}

/// One tier.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TierRow {
    /// Walking minutes (5, 10, 15); outputs name the tier `within_<minutes>min`.
    pub minutes: u32,
    /// The tier's walking distance in metres.
    pub distance_m: f64,
    #[serde(default)]
    pub source: String,
    #[serde(default)]
    pub need: Vec<NeedRow>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TableFile {
    name: Option<String>,
    #[serde(default)]
    description: String,
    #[serde(default = "yes")]
    cumulative: bool,
    #[serde(default)]
    tier: Vec<TierRow>,
}

fn yes() -> bool {
    true
}

/// A tier table, tiers in ascending minutes.
#[derive(Debug, Clone)]
pub struct Tiers {
    pub name: String,
    pub description: String,
    pub cumulative: bool,
    pub tiers: Vec<TierRow>,
}

/// How service distances are set.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Thresholds {
    /// Each need's own distance from the table.
    Table,
    /// Every need of a tier within the tier's minutes at this speed.
    Minutes { walk_speed_m_per_min: f64 },
}

/// A need resolved against a facility-type table.
#[derive(Debug, Clone, PartialEq)]
pub struct Requirement {
    /// Index of its tier.
    pub tier: usize,
    pub need: String,
    /// Facility type indexes (into [`FacilityTypes::rows`]) that meet it.
    pub types: Vec<usize>,
    pub distance_m: f64,
    pub source: String,
}

impl Tiers {
    /// Loads a preset by name, or a TOML file by path.
    pub fn load(name_or_path: &str) -> Result<Tiers> {
        Self::from_toml(name_or_path, &super::table_text("--tiers", PRESETS, name_or_path)?)
    }

    /// Parses a table; `label` names it in errors.
    pub fn from_toml(label: &str, text: &str) -> Result<Tiers> {
        let err = |reason: String| Error::Table { name: label.to_string(), reason };
        let file: TableFile = super::parse_table(label, text)?;
        let mut tiers = file.tier;
        if tiers.is_empty() {
            return Err(err("no [[tier]]".into()));
        }
        tiers.sort_by_key(|t| t.minutes);
        for w in tiers.windows(2) {
            if w[0].minutes == w[1].minutes {
                return Err(err(format!("two tiers of {} minutes", w[0].minutes)));
            }
        }
        for t in &mut tiers {
            let ok = |d: f64| d.is_finite() && d > 0.0;
            if !ok(t.distance_m) {
                return Err(err(format!("tier {} min: distance_m must be a positive number of metres", t.minutes)));
            }
            for n in &mut t.need {
                if n.distance_m.is_some_and(|d| !ok(d)) {
                    return Err(err(format!("need '{}': distance_m must be a positive number of metres", n.need)));
                }
                if n.types.is_empty() {
                    n.types.push(n.need.clone());
                }
            }
        }
        Ok(Tiers {
            name: file.name.unwrap_or_else(|| label.to_string()),
            description: file.description,
            cumulative: file.cumulative,
            tiers,
        })
    }

    /// Every need of every tier, resolved against a facility-type table, with its service distance.
    /// A type code the table does not know is an error that names the two tables.
    pub fn requirements(&self, types: &FacilityTypes, thresholds: Thresholds) -> Result<Vec<Requirement>> {
        let mut out = Vec::new();
        for (ti, t) in self.tiers.iter().enumerate() {
            for n in &t.need {
                let mut idx = Vec::with_capacity(n.types.len());
                for code in &n.types {
                    idx.push(types.index_of(code).ok_or_else(|| Error::Table {
                        name: self.name.clone(),
                        reason: format!(
                            "need '{}' names the facility type '{code}', which the facility-type table '{}' does not have (use the matching presets: gb50180 with cn, osm with osm)",
                            n.need, types.name
                        ),
                    })?);
                }
                let distance_m = match thresholds {
                    Thresholds::Table => n.distance_m.unwrap_or(t.distance_m),
                    Thresholds::Minutes { walk_speed_m_per_min } => t.minutes as f64 * walk_speed_m_per_min,
                };
                out.push(Requirement {
                    tier: ti,
                    need: n.need.clone(),
                    types: idx,
                    distance_m,
                    source: n.source.clone(),
                });
            }
        }
        Ok(out)
    }

    /// Whether a requirement of tier `need_tier` counts for tier `tier`.
    pub fn counts_for(&self, need_tier: usize, tier: usize) -> bool {
        if self.cumulative {
            need_tier <= tier
        } else {
            need_tier == tier
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gb50180_radii_and_sources() {
        let tiers = Tiers::load("gb50180").unwrap();
        assert_eq!(tiers.tiers.iter().map(|t| t.minutes).collect::<Vec<_>>(), [5, 10, 15]);
        let types = FacilityTypes::load("cn").unwrap();
        let req = tiers.requirements(&types, Thresholds::Table).unwrap();
        let d = |need: &str| req.iter().find(|r| r.need == need).unwrap().distance_m;
        assert_eq!(d("kindergarten"), 300.0);
        assert_eq!(d("primary_school"), 500.0);
        assert_eq!(d("junior_middle_school"), 1000.0);
        assert_eq!(d("nursing_home"), 1000.0);
        assert!(req.iter().all(|r| !r.source.is_empty()), "every need cites its source");
        assert!(tiers.counts_for(0, 2) && !tiers.counts_for(2, 0));
        // Minutes at 80 m/min: 400 / 800 / 1200 m whatever the need.
        let req = tiers.requirements(&types, Thresholds::Minutes { walk_speed_m_per_min: 80.0 }).unwrap();
        assert_eq!(req.iter().find(|r| r.need == "kindergarten").unwrap().distance_m, 400.0);
        assert_eq!(req.iter().find(|r| r.need == "junior_middle_school").unwrap().distance_m, 1200.0);
        // The osm preset resolves against the osm types; the cn types do not fit it.
        let osm = Tiers::load("osm").unwrap();
        assert!(osm.requirements(&FacilityTypes::load("osm").unwrap(), Thresholds::Table).is_ok());
        let e = osm.requirements(&types, Thresholds::Table).unwrap_err();
        assert!(e.to_string().contains("'childcare'") && e.to_string().contains("'cn'"), "{e}");
    }

    #[test]
    fn bad_tables() {
        let e = Tiers::from_toml("t.toml", "[[tier]]\nminutes = 5\ndistance_m = -1\n").unwrap_err();
        assert!(e.to_string().contains("t.toml") && e.to_string().contains("positive"), "{e}");
        let e = Tiers::from_toml(
            "t.toml",
            "[[tier]]\nminutes = 5\ndistance_m = 300\n[[tier]]\nminutes = 5\ndistance_m = 400\n",
        )
        .unwrap_err();
        assert!(e.to_string().contains("two tiers"), "{e}");
        assert!(Tiers::from_toml("t.toml", "name = \"x\"\n").is_err());
    }
}
