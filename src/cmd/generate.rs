//! `planaudit generate --size city -o OUT_DIR`: scale data for benchmarks. Towns of the demo
//! city's two designs on a lattice, each with a river crossed by few bridges, an irregular street
//! grid with culs-de-sac, mixed land use and community centres for the living circle (see
//! [`crate::demo_city::build_scaled`]), written with the demo's file and layer names (GeoPackage,
//! EPSG:4527), plus `city.toml` (the template `planaudit init` writes) to audit them.

use crate::cli::{GenerateArgs, SizeArg};
use crate::config::TEMPLATE;
use crate::demo_city::{self, ScaleOptions, Size};
use crate::output::atomic::write_atomic;
use crate::{Error, Result};

/// `planaudit generate`.
pub fn run(args: &GenerateArgs) -> Result<()> {
    if !(args.scale.is_finite() && args.scale > 0.0) {
        return Err(Error::Usage(format!("--scale must be a positive number, not {}", args.scale)));
    }
    let size = match args.size {
        SizeArg::Demo => Size::Demo,
        SizeArg::City => Size::City,
        SizeArg::Province => Size::Province,
    };
    let opts = ScaleOptions { seed: args.seed, size, scale: args.scale };
    let manifest = demo_city::generate_scaled(&args.output, &opts)?;
    let config = args.output.join("city.toml");
    write_atomic(&config, |w| std::io::Write::write_all(w, TEMPLATE.as_bytes()))?;
    let c = manifest.counts;
    outln!(
        "{} (scale {}) written to {}: {} built-up areas, {} road segments, {} parcels, {} parks, {} facilities",
        size.name(),
        args.scale,
        args.output.display(),
        c.built_up_areas,
        c.roads,
        c.parcels,
        c.parks,
        c.facilities
    );
    Ok(())
}
