//! The read floor of `make bench`: the fastest bare read of layers through GDAL, its Arrow stream
//! (`OGR_L_GetArrowStream`, GDAL ≥ 3.6), every column of every feature, one batch at a time.
//!
//! `cargo run --release --example read_floor -- DATASET#LAYER ...` prints one line per layer
//! (`layer rows seconds`) and the total, `total ROWS SECONDS`, on stdout.
#![allow(unsafe_code)]

use std::time::Instant;

use gdal::cpl::CslStringList;
use gdal::vector::LayerAccess;
use gdal::Dataset;

fn read_layer(source: &str) -> Result<usize, String> {
    let (path, name) = source.split_once('#').ok_or_else(|| format!("{source}: expected DATASET#LAYER"))?;
    let ds = Dataset::open(path).map_err(|e| format!("{path}: {e}"))?;
    let mut layer = ds.layer_by_name(name).map_err(|e| format!("{source}: {e}"))?;
    let options = CslStringList::new();
    let mut rows = 0usize;
    // SAFETY: the stream and each array are zero-initialised C structs that GDAL fills in; every
    // array is released once after use and the stream once at the end, as the Arrow C stream
    // interface requires.
    unsafe {
        let mut stream: gdal_sys::ArrowArrayStream = std::mem::zeroed();
        layer.read_arrow_stream(&mut stream, &options).map_err(|e| format!("{source}: {e}"))?;
        let get_next = stream.get_next.ok_or("no get_next")?;
        loop {
            let mut array: gdal_sys::ArrowArray = std::mem::zeroed();
            if get_next(&mut stream, &mut array) != 0 {
                return Err(format!("{source}: get_next failed"));
            }
            let Some(release) = array.release else { break };
            rows += array.length as usize;
            release(&mut array);
        }
        if let Some(release) = stream.release {
            release(&mut stream);
        }
    }
    Ok(rows)
}

fn main() {
    let start = Instant::now();
    let mut total = 0;
    for source in std::env::args().skip(1) {
        let t = Instant::now();
        match read_layer(&source) {
            Ok(rows) => {
                println!("{source} {rows} {:.3}", t.elapsed().as_secs_f64());
                total += rows;
            }
            Err(e) => {
                eprintln!("read_floor: {e}");
                std::process::exit(1);
            }
        }
    }
    println!("total {total} {:.3}", start.elapsed().as_secs_f64());
}
