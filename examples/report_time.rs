//! Times `report.html` on the outputs of an earlier audit.
//!
//! `cargo run --release --example report_time -- OUT_DIR REPORT.html [RUNS]` reads
//! `OUT_DIR/summary.json`, draws every map layer found in `OUT_DIR` (titled by its layer name) into
//! `REPORT.html`, and prints the seconds of each run (the page built in memory, then written) and
//! the fastest, `best SECONDS`, on stdout. (An audit reads none of the living circle's two files back:
//! it makes their maps as it writes them.)

use std::path::PathBuf;
use std::time::Instant;

use planaudit::output::report::{render, write_report, MapLayer, MapStyle, ReportInput};

const LAYERS: [(&str, MapStyle); 7] = [
    ("road_density", MapStyle::MeetsTarget),
    ("road_density_grid", MapStyle::DensityGrid),
    ("wide_roads", MapStyle::WideRoads),
    ("park_mix", MapStyle::ParkStatus),
    ("park_mix_parcels", MapStyle::ParkParcels),
    ("living_circle", MapStyle::Coverage),
    ("living_circle_gaps", MapStyle::Gaps),
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [dir, out, rest @ ..] = args.as_slice() else {
        return Err("usage: report_time OUT_DIR REPORT.html [RUNS]".into());
    };
    let runs: usize = rest.first().map(|r| r.parse()).transpose()?.unwrap_or(1);
    let dir = PathBuf::from(dir);
    let summary: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.join("summary.json"))?)?;
    let maps: Vec<MapLayer> = LAYERS
        .iter()
        .map(|(l, style)| (dir.join(format!("{l}.geojson")), *style, l))
        .filter(|(p, _, _)| p.exists())
        .map(|(path, style, l)| MapLayer { title: l.to_string(), title_zh: l.to_string(), path, style })
        .collect();
    let mut best = f64::INFINITY;
    for _ in 0..runs.max(1) {
        let input = ReportInput { title: "report_time", summary: &summary, maps: maps.clone() };
        let t = Instant::now();
        let bytes = render(&input)?.len();
        let built = t.elapsed().as_secs_f64();
        let t = Instant::now();
        write_report(out.as_ref(), &input)?;
        let s = t.elapsed().as_secs_f64();
        println!("run {s:.3} (built in memory alone: {built:.3}, {bytes} bytes)");
        best = best.min(s);
    }
    println!("best {best:.3}");
    Ok(())
}
