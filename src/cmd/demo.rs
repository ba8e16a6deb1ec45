//! `planaudit demo`: build the demo city (a small deterministic city at Lu'an, stored as a bureau
//! stores it: CGCS2000 Gauss–Krüger zone 39 with zone prefix, a GBK Shapefile) and audit it with
//! the city file `planaudit init` writes, exactly as `planaudit audit` would.
//!
//! Layout of OUT_DIR: `demo_city/` holds the input layers and `city.toml`; beside it, the audit's
//! outputs (`road_density.geojson`, `road_density_grid.geojson`, `wide_roads.geojson`,
//! `summary.json`, `summary.csv`, ...).

use super::audit::{audit, print_outcome};
use crate::cli::DemoArgs;
use crate::config::{City, TEMPLATE};
use crate::demo_city::{self, DemoOptions};
use crate::output::atomic::write_atomic;
use crate::Result;

/// `planaudit demo`.
pub fn run(args: &DemoArgs) -> Result<()> {
    let out = &args.output;
    let dir = out.join("demo_city");
    demo_city::generate(&dir, &DemoOptions::default())?;
    let config = dir.join("city.toml");
    write_atomic(&config, |w| std::io::Write::write_all(w, TEMPLATE.as_bytes()))?;
    outln!("demo city written to {}", dir.display());
    let city = City::load(&config)?;
    let outcome = audit(&city, out)?;
    print_outcome(&city, &outcome);
    Ok(())
}
