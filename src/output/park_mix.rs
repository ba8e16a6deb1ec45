//! Park-mix results as GeoJSON features, summary rows and a terminal table.

use geo::Geometry;
use serde_json::{json, Map, Value};

use super::geojson::OutFeature;
use super::round6;
use crate::indicators::park_mix::{MixPiece, Params, ParkMix, ParkResult};

fn opt(v: Option<f64>) -> Value {
    v.map(|x| json!(round6(x))).unwrap_or(Value::Null)
}

/// The properties of one park, in the documented order. `derived_from` says how a derived park was
/// built (null for parks read from a layer).
pub fn park_properties(
    p: &ParkResult,
    params: &Params,
    derived_from: Option<&str>,
    measure: &str,
) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("park_id".into(), json!(p.park_id));
    m.insert("name".into(), json!(p.name));
    m.insert("park_area_km2".into(), json!(round6(p.park_area_km2)));
    m.insert("mix_area_km2".into(), json!(round6(p.mix_area_km2)));
    m.insert("mix_share".into(), json!(round6(p.mix_share)));
    m.insert("construction_land_km2".into(), json!(round6(p.construction_land_km2)));
    m.insert("mix_share_of_construction_land".into(), opt(p.mix_share_of_construction_land));
    m.insert("band_min".into(), json!(round6(params.band_min)));
    m.insert("band_max".into(), json!(round6(params.band_max)));
    m.insert("status".into(), json!(p.status.name()));
    m.insert(
        "by_category".into(),
        Value::Object(p.by_category.iter().map(|(c, v)| (c.name().to_string(), json!(round6(*v)))).collect()),
    );
    m.insert("unclassified_km2".into(), json!(round6(p.unclassified_km2)));
    m.insert(
        "unknown_codes".into(),
        Value::Object(p.unknown_codes.iter().map(|(c, v)| (c.clone(), json!(round6(*v)))).collect()),
    );
    m.insert("overlap_km2".into(), json!(round6(p.overlap_km2)));
    m.insert("mix_overlap_km2".into(), json!(round6(p.mix_overlap_km2)));
    m.insert("covered_km2".into(), json!(round6(p.covered_km2)));
    m.insert("covered_share".into(), json!(round6(p.covered_km2 / p.park_area_km2)));
    m.insert("mix_categories".into(), json!(params.mix.iter().map(|c| c.name()).collect::<Vec<_>>()));
    m.insert("derived_from".into(), json!(derived_from));
    m.insert("measure".into(), json!(measure));
    m
}

/// One feature per park; `derived_from` is aligned with the parks.
pub fn park_features(r: &ParkMix, params: &Params, derived_from: &[Option<String>], measure: &str) -> Vec<OutFeature> {
    r.parks
        .iter()
        .enumerate()
        .map(|(i, p)| OutFeature {
            geometry: Geometry::MultiPolygon(p.polygon.clone()),
            properties: park_properties(p, params, derived_from.get(i).and_then(|d| d.as_deref()), measure),
        })
        .collect()
}

fn piece_properties(p: &MixPiece, measure: &str) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("park_id".into(), json!(p.park_id));
    m.insert("parcel_fid".into(), json!(p.parcel_fid));
    m.insert("code".into(), json!(p.code));
    m.insert("category".into(), json!(p.category.name()));
    m.insert("area_km2".into(), json!(round6(p.area_km2)));
    m.insert("measure".into(), json!(measure));
    m
}

/// One feature per mix parcel clipped to a park.
pub fn piece_features(r: &ParkMix, measure: &str) -> Vec<OutFeature> {
    r.pieces
        .iter()
        .map(|p| OutFeature {
            geometry: Geometry::MultiPolygon(p.polygon.clone()),
            properties: piece_properties(p, measure),
        })
        .collect()
}

/// The short table printed on stdout.
pub fn table(r: &ParkMix, params: &Params) -> String {
    let band = format!("{}-{}%", params.band_min * 100.0, params.band_max * 100.0);
    let mut s = String::from(
        "park_id\tname\tpark_km2\tmix_km2\tshare\tof_construction\tband\tstatus\tunclassified_km2\toverlap_km2\n",
    );
    for p in &r.parks {
        s.push_str(&format!(
            "{}\t{}\t{:.3}\t{:.3}\t{}%\t{}\t{}\t{}\t{:.3}\t{:.3}\n",
            super::table_cell(&p.park_id),
            super::table_cell(p.name.as_deref().unwrap_or("-")),
            p.park_area_km2,
            p.mix_area_km2,
            crate::units::shown_against(p.mix_share, &[params.band_min, params.band_max], 1, 100.0),
            p.mix_share_of_construction_land.map(|v| format!("{:.1}%", v * 100.0)).unwrap_or_else(|| "-".into()),
            band,
            p.status.name(),
            p.unclassified_km2,
            p.overlap_km2,
        ));
    }
    s
}
