//! `planaudit demo` end to end: the central city meets its target, the county town misses it,
//! every number agrees with SpatiaLite and across the files.

use crate::common::*;

#[test]
fn demo_audit_against_spatialite() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let stdout = run_ok(&["demo", "-o", out.to_str().unwrap()]);
    assert!(stdout.contains("六安中心城区"), "{stdout}");
    // The audit names the facility type its table does not know (the demo's deliberate typo).
    let unknown = format!("types: '{}' (1)", planaudit::demo_city::UNKNOWN_FACILITY_TYPE);
    assert!(stdout.contains(&unknown), "{stdout}");

    let fc = read_collection(&out.join("road_density.geojson"));
    assert_eq!(fc.features.len(), 2);
    let central = fc.features.iter().find(|f| text(f, "kind") == "central_city").unwrap();
    let county = fc.features.iter().find(|f| text(f, "kind") == "county_town").unwrap();
    assert_eq!(central.property("meets_target"), Some(&serde_json::json!(true)));
    assert_eq!(county.property("meets_target"), Some(&serde_json::json!(false)));
    assert!(
        (num(county, "shortfall_km") - (7.0 * num(county, "area_km2") - num(county, "road_length_km"))).abs() < 1e-5
    );
    // The GBK Shapefile's names came through.
    assert_eq!(text(central, "kind_label"), "中心城区");
    assert_eq!(text(county, "kind_label"), "县城");
    // The motorways are reported, not counted.
    assert!(central.property("excluded_by_value").unwrap()["高速公路"].as_f64().unwrap() > 1.0);

    // Independent figures: the layers reprojected to longitude/latitude by ogr2ogr, intersected by
    // GEOS and measured on the ellipsoid by SpatiaLite.
    let city = out.join("demo_city");
    let db = dir.path().join("demo.sqlite");
    let db_s = db.to_str().unwrap();
    ogr2ogr(&[
        "-f",
        "SQLite",
        "-dsco",
        "SPATIALITE=YES",
        "-lco",
        "GEOMETRY_NAME=GEOMETRY",
        "-t_srs",
        "EPSG:4326",
        db_s,
        city.join("roads.gpkg").to_str().unwrap(),
        "roads",
        "-nln",
        "roads",
    ]);
    ogr2ogr(&[
        "-update",
        "-append",
        "-t_srs",
        "EPSG:4326",
        db_s,
        city.join("built_up_areas.shp").to_str().unwrap(),
        "-nln",
        "areas",
    ]);
    let rows = gdal_sql(
        &db,
        "SELECT a.id AS id, ST_Area(a.GEOMETRY, 1) / 1e6 AS area_km2, \
         (SELECT SUM(ST_Length(ST_Intersection(r.GEOMETRY, a.GEOMETRY), 1)) FROM roads r \
          WHERE r.grade IN ('快速路','主干路','次干路','支路') AND ST_Intersects(r.GEOMETRY, a.GEOMETRY)) / 1000 AS len_km, \
         (SELECT SUM(ST_Length(ST_Intersection(r.GEOMETRY, a.GEOMETRY), 1)) FROM roads r \
          WHERE r.grade IN ('快速路','主干路','次干路','支路') AND r.width_m > 40 AND ST_Intersects(r.GEOMETRY, a.GEOMETRY)) / 1000 AS wide_km \
         FROM areas a",
    );
    assert_eq!(rows.len(), 2);
    for row in rows {
        let f = fc.features.iter().find(|f| text(f, "area_id") == row["id"]).unwrap();
        let (len, area): (f64, f64) = (row["len_km"].parse().unwrap(), row["area_km2"].parse().unwrap());
        assert!(rel_diff(num(f, "road_length_km"), len) < 1e-4, "{}: {} vs {len}", row["id"], num(f, "road_length_km"));
        assert!(rel_diff(num(f, "area_km2"), area) < 1e-4, "{}: {} vs {area}", row["id"], num(f, "area_km2"));
        if text(f, "kind") == "county_town" {
            let wide: f64 = row["wide_km"].parse().unwrap();
            assert!(wide > 0.5, "the county town has over-wide roads");
            assert!(rel_diff(num(f, "roads_over_max_width_km"), wide) < 1e-4);
        }
    }

    // The grid adds up to each area; the wide-road pieces add up to the area's figure; the summary
    // states the same numbers as the features.
    let grid = read_collection(&out.join("road_density_grid.geojson"));
    let wide = read_collection(&out.join("wide_roads.geojson"));
    for f in &fc.features {
        let id = text(f, "area_id");
        let cells: f64 =
            grid.features.iter().filter(|c| text(c, "area_id") == id).map(|c| num(c, "road_length_km")).sum();
        let cell_area: f64 =
            grid.features.iter().filter(|c| text(c, "area_id") == id).map(|c| num(c, "area_km2")).sum();
        assert!((cells - num(f, "road_length_km")).abs() < 1e-4, "{id}: grid {cells}");
        assert!((cell_area - num(f, "area_km2")).abs() < 1e-4, "{id}: grid area {cell_area}");
        let w: f64 = wide.features.iter().filter(|c| text(c, "area_id") == id).map(|c| num(c, "length_km")).sum();
        let expected = f.property("roads_over_max_width_km").unwrap().as_f64().unwrap_or(0.0);
        assert!((w - expected).abs() < 1e-5, "{id}: wide pieces {w} vs {expected}");
    }
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    for (i, a) in summary["indicators"]["road_density"]["areas"].as_array().unwrap().iter().enumerate() {
        for key in ["road_length_km", "area_km2", "density_km_per_km2", "meets_target"] {
            assert_eq!(&a[key], fc.features[i].property(key).unwrap(), "{key}");
        }
    }
}

/// The demo's two industrial parks: one inside the 20–30% band, one below it, by construction;
/// and a living circle with homes both covered and not.
#[test]
fn demo_parks_and_living_circle() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    run_ok(&["demo", "-o", out.to_str().unwrap()]);
    let parks = read_collection(&out.join("park_mix.geojson"));
    assert_eq!(parks.features.len(), 2);
    let status: Vec<String> = parks.features.iter().map(|f| text(f, "status")).collect();
    assert_eq!(status, ["within", "below"]);
    for f in &parks.features {
        let share = num(f, "mix_share");
        assert!((num(f, "mix_area_km2") / num(f, "park_area_km2") - share).abs() < 1e-5);
        assert!((0.0..=1.0).contains(&share));
    }
    let homes = read_collection(&out.join("living_circle.geojson"));
    let covered =
        homes.features.iter().filter(|f| f.property("within_15min") == Some(&serde_json::json!(true))).count();
    assert!(covered > 0 && covered < homes.features.len(), "{covered} of {} homes covered", homes.features.len());
    let gaps = read_collection(&out.join("living_circle_gaps.geojson"));
    assert_eq!(gaps.features.len(), homes.features.len() - covered);
}

#[test]
fn demo_is_deterministic() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    run_ok(&["demo", "-o", a.to_str().unwrap()]);
    run_ok(&["demo", "-o", b.to_str().unwrap()]);
    for f in ["road_density.geojson", "road_density_grid.geojson", "wide_roads.geojson"] {
        assert_eq!(std::fs::read(a.join(f)).unwrap(), std::fs::read(b.join(f)).unwrap(), "{f}");
    }
}
