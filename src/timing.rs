//! Stage timings for benchmarks: with `PLANAUDIT_TIMINGS=1` in the environment, each timed stage
//! prints `timing<TAB>STAGE<TAB>SECONDS<TAB>END` on stderr, END being when it ended, in seconds
//! since the first timed stage began (stages of the indicators overlap: END shows the timeline).
//! Nothing is printed otherwise.

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
    static FIRST: OnceLock<Instant> = OnceLock::new();
    let start = Instant::now();
    let first = *FIRST.get_or_init(|| start);
    let out = f();
    let end = Instant::now();
    crate::cmd::write_stderr(format_args!(
        "timing\t{}\t{:.3}\t{:.3}\n",
        stage(),
        (end - start).as_secs_f64(),
        (end - first).as_secs_f64()
    ));
    out
}
