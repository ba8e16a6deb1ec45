//! Kinds of study area (central city, county town) and the plan targets that go with them, from
//! the table `src/presets/targets.toml`.

use serde::Deserialize;

use crate::Result;

const TARGETS_TOML: &str = include_str!("../presets/targets.toml");

/// One kind of study area with its targets.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KindRow {
    /// Canonical name (`central_city`).
    pub kind: String,
    /// Values a kind field may hold for it.
    pub values: Vec<String>,
    pub road_density_km_per_km2: Option<f64>,
    pub max_road_width_m: Option<f64>,
    pub source: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct KindFile {
    kind: Vec<KindRow>,
}

/// The kinds table.
#[derive(Debug, Clone)]
pub struct Kinds {
    pub rows: Vec<KindRow>,
}

fn fold(s: &str) -> String {
    s.trim().to_lowercase().replace([' ', '_', '-'], "")
}

impl Kinds {
    /// The built-in table.
    pub fn builtin() -> Result<Kinds> {
        let f: KindFile = super::parse_table("targets", TARGETS_TOML)?;
        Ok(Kinds { rows: f.kind })
    }

    /// The row whose values (or canonical name) match a kind field value.
    pub fn find(&self, value: &str) -> Option<&KindRow> {
        let v = fold(value);
        self.rows.iter().find(|r| fold(&r.kind) == v || r.values.iter().any(|x| fold(x) == v))
    }

    /// The canonical kind for a raw value: the table's name when known, else the value itself.
    pub fn canonical(&self, value: &str) -> String {
        self.find(value).map(|r| r.kind.clone()).unwrap_or_else(|| value.trim().to_string())
    }

    /// Whether a user's `KIND` (in `--target KIND=VALUE`) names the same kind as a raw value.
    pub fn same(&self, user: &str, value: &str) -> bool {
        fold(user) == fold(value) || fold(&self.canonical(user)) == fold(&self.canonical(value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_targets() {
        let k = Kinds::builtin().unwrap();
        let c = k.find("中心城区").unwrap();
        assert_eq!(c.kind, "central_city");
        assert!((c.road_density_km_per_km2.unwrap() - 8.3).abs() < 1e-12);
        let t = k.find(" County Town ").unwrap();
        assert!((t.road_density_km_per_km2.unwrap() - 7.0).abs() < 1e-12);
        assert!((t.max_road_width_m.unwrap() - 40.0).abs() < 1e-12);
        assert!(k.same("县城", "county_town"));
        assert!(!k.same("县城", "中心城区"));
        assert_eq!(k.canonical("开发区"), "开发区");
    }
}
