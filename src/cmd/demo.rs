//! `planaudit demo`: build the demo city (a small deterministic city at Lu'an, stored as a bureau
//! stores it: CGCS2000 Gauss–Krüger zone 39 with zone prefix, a GBK Shapefile) and audit it.
//!
//! Layout of OUT_DIR:
//! - `demo_city/`: the input layers (`built_up_areas.shp`, `roads.gpkg`, `landuse.gpkg`, `facilities.gpkg`);
//! - `road_density.geojson`, `road_density_grid.geojson`, `wide_roads.geojson`, `summary.json`.

use std::path::Path;

use serde_json::json;

use super::road_density::{execute_to, print_run, summary_json, write_json, OutPaths};
use crate::cli::{CommonArgs, DemoArgs, MeasureArg, RoadDensityArgs};
use crate::demo_city::{self, DemoOptions};
use crate::Result;

/// Grid cell size of the demo's density heat map, in metres.
pub const DEMO_GRID_M: f64 = 500.0;

/// The road-density arguments the demo uses on its own city.
pub fn road_density_args(city: &demo_city::DemoManifest, out_dir: &Path) -> RoadDensityArgs {
    RoadDensityArgs {
        roads: city.roads.display().to_string(),
        roads_where: None,
        roads_crs: None,
        areas: city.areas.display().to_string(),
        areas_where: None,
        areas_crs: None,
        grade_field: None,
        grades: Some("cn".into()),
        kind_field: Some("kind".into()),
        name_field: Some("name".into()),
        id_field: Some("id".into()),
        target: vec![],
        grid: Some(DEMO_GRID_M),
        width_field: Some("width_m".into()),
        max_width: None,
        common: CommonArgs {
            crs: None,
            encoding: None,
            measure: MeasureArg::Ellipsoidal,
            planar_crs: None,
            summary_json: None,
        },
        output: out_dir.join("road_density.geojson"),
    }
}

/// `planaudit demo`.
pub fn run(args: &DemoArgs) -> Result<()> {
    let out = &args.output;
    let city = demo_city::generate(&out.join("demo_city"), &DemoOptions::default())?;
    println!("demo city written to {}", out.join("demo_city").display());
    let rd_args = road_density_args(&city, out);
    let paths = OutPaths {
        areas: out.join("road_density.geojson"),
        grid: out.join("road_density_grid.geojson"),
        wide_roads: out.join("wide_roads.geojson"),
    };
    let run = execute_to(&rd_args, &paths)?;
    print_run(&run);
    let summary = json!({
        "city": "demo (六安, CGCS2000 / 3-degree Gauss-Kruger zone 39)",
        "road_density": summary_json(&run),
    });
    let path = out.join("summary.json");
    write_json(&path, &summary)?;
    println!("wrote {}", path.display());
    Ok(())
}
