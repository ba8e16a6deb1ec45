//! Road-density results as GeoJSON features, summary rows and a terminal table.

use std::collections::BTreeMap;

use geo::Geometry;
use serde_json::{json, Map, Value};

use super::geojson::OutFeature;
use super::round6;
use crate::indicators::road_density::{AreaDensity, GridCell, RoadDensity, WideRoad};

fn km_map(m: &BTreeMap<String, f64>) -> Value {
    Value::Object(m.iter().map(|(k, v)| (k.clone(), json!(round6(*v)))).collect())
}

fn opt(v: Option<f64>) -> Value {
    v.map(|x| json!(round6(x))).unwrap_or(Value::Null)
}

/// The properties of one area, in the documented order.
pub fn area_properties(a: &AreaDensity, measure: &str) -> Map<String, Value> {
    let mut p = Map::new();
    p.insert("area_id".into(), json!(a.area_id));
    p.insert("name".into(), json!(a.name));
    p.insert("kind".into(), json!(a.kind));
    p.insert("kind_label".into(), json!(a.kind_label));
    p.insert("road_length_km".into(), json!(round6(a.road_length_km)));
    p.insert("area_km2".into(), json!(round6(a.area_km2)));
    p.insert("density_km_per_km2".into(), json!(round6(a.density_km_per_km2)));
    p.insert("target_km_per_km2".into(), opt(a.target_km_per_km2));
    p.insert("meets_target".into(), json!(a.meets_target));
    p.insert("shortfall_km".into(), opt(a.shortfall_km));
    p.insert("by_grade".into(), km_map(&a.by_grade));
    p.insert("excluded_by_value".into(), km_map(&a.excluded_by_value));
    p.insert("unknown_grades".into(), km_map(&a.unknown_grades));
    p.insert("max_width_m".into(), opt(a.max_width_m));
    p.insert("roads_over_max_width_km".into(), opt(a.roads_over_max_width_km));
    p.insert("measure".into(), json!(measure));
    p
}

/// One feature per area.
pub fn area_features(r: &RoadDensity, measure: &str) -> Vec<OutFeature> {
    r.areas
        .iter()
        .map(|a| OutFeature {
            geometry: Geometry::MultiPolygon(a.polygon.clone()),
            properties: area_properties(a, measure),
        })
        .collect()
}

fn cell_properties(c: &GridCell, measure: &str) -> Map<String, Value> {
    let mut p = Map::new();
    p.insert("area_id".into(), json!(c.area_id));
    p.insert("cell_id".into(), json!(c.cell_id));
    p.insert("cell_m".into(), json!(c.cell_m));
    p.insert("road_length_km".into(), json!(round6(c.road_length_km)));
    p.insert("area_km2".into(), json!(round6(c.area_km2)));
    p.insert("density_km_per_km2".into(), json!(round6(c.density_km_per_km2)));
    p.insert("target_km_per_km2".into(), opt(c.target_km_per_km2));
    p.insert("meets_target".into(), json!(c.target_km_per_km2.map(|t| crate::units::reaches(c.density_km_per_km2, t))));
    p.insert("measure".into(), json!(measure));
    p
}

/// One feature per grid cell.
pub fn grid_features(r: &RoadDensity, measure: &str) -> Vec<OutFeature> {
    r.grid
        .iter()
        .map(|c| OutFeature {
            geometry: Geometry::MultiPolygon(c.polygon.clone()),
            properties: cell_properties(c, measure),
        })
        .collect()
}

fn wide_properties(w: &WideRoad, measure: &str) -> Map<String, Value> {
    let mut p = Map::new();
    p.insert("area_id".into(), json!(w.area_id));
    p.insert("road_fid".into(), json!(w.road_fid));
    p.insert("grade".into(), json!(w.grade));
    p.insert("width_m".into(), json!(w.width_m));
    p.insert("max_width_m".into(), json!(w.max_width_m));
    p.insert("length_km".into(), json!(round6(w.length_km)));
    p.insert("measure".into(), json!(measure));
    p
}

/// One feature per road piece over its area's width cap.
pub fn wide_features(r: &RoadDensity, measure: &str) -> Vec<OutFeature> {
    r.wide_roads
        .iter()
        .map(|w| OutFeature {
            geometry: Geometry::MultiLineString(w.line.clone()),
            properties: wide_properties(w, measure),
        })
        .collect()
}

/// The short table printed on stdout.
pub fn table(r: &RoadDensity) -> String {
    let mut s = String::from("area_id\tname\tkind\troad_km\tarea_km2\tdensity\ttarget\tmet\tshortfall_km\n");
    for a in &r.areas {
        let f = |v: Option<f64>| v.map(|x| format!("{x:.2}")).unwrap_or_else(|| "-".into());
        s.push_str(&format!(
            "{}\t{}\t{}\t{:.3}\t{:.3}\t{}\t{}\t{}\t{}\n",
            super::table_cell(&a.area_id),
            super::table_cell(a.name.as_deref().unwrap_or("-")),
            super::table_cell(a.kind.as_deref().unwrap_or("-")),
            a.road_length_km,
            a.area_km2,
            crate::units::shown_against(a.density_km_per_km2, &Vec::from_iter(a.target_km_per_km2), 2, 1.0),
            f(a.target_km_per_km2),
            match a.meets_target {
                Some(true) => "yes",
                Some(false) => "NO",
                None => "-",
            },
            f(a.shortfall_km),
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A cell's verdict is judged on its density as written, as an area's is: 8.2999996 is written
    /// 8.3 and meets a target of 8.3; 8.299999 does not.
    #[test]
    fn a_cell_meets_its_target_as_its_density_is_written() {
        let cell = |density: f64| GridCell {
            area_id: "a".into(),
            cell_id: "0_0".into(),
            cell_m: 500.0,
            area_km2: 0.25,
            road_length_km: density * 0.25,
            density_km_per_km2: density,
            target_km_per_km2: Some(8.3),
            polygon: geo::MultiPolygon(vec![]),
        };
        let p = cell_properties(&cell(8.2999996), "planar");
        let written = p["density_km_per_km2"].as_f64().unwrap();
        assert!((written - 8.3).abs() < 1e-12, "{written}");
        assert_eq!(p["meets_target"].as_bool(), Some(true));
        assert_eq!(cell_properties(&cell(8.299999), "planar")["meets_target"].as_bool(), Some(false));
    }
}
