//! Stage timings for benchmarks: with `PLANAUDIT_TIMINGS=1` in the environment, each timed stage
//! prints `timing<TAB>STAGE<TAB>SECONDS` on stderr. Nothing is printed otherwise.

use std::sync::OnceLock;
use std::time::Instant;

fn enabled() -> bool {
    static ON: OnceLock<bool> = OnceLock::new();
    *ON.get_or_init(|| std::env::var_os("PLANAUDIT_TIMINGS").is_some_and(|v| !v.is_empty() && v != "0"))
}

/// Runs `f` and reports its wall time under `stage` when timings are on.
pub fn time<T>(stage: impl FnOnce() -> String, f: impl FnOnce() -> T) -> T {
    if !enabled() {
        return f();
    }
    let start = Instant::now();
    let out = f();
    eprintln!("timing\t{}\t{:.3}", stage(), start.elapsed().as_secs_f64());
    out
}
