//! Stage timings for benchmarks: with `PLANAUDIT_TIMINGS=1` in the environment, each timed stage
//! prints `timing<TAB>STAGE<TAB>SECONDS<TAB>END<TAB>RSS_MIB<TAB>PEAK_MIB` on stderr, END being when
//! it ended, in seconds since the first timed stage began (stages of the indicators overlap: END
//! shows the timeline), RSS_MIB the process's resident memory then and PEAK_MIB its peak so far
//! (`VmRSS` and `VmHWM` of `/proc/self/status`; `-` where that file is not there). Nothing is
//! printed otherwise.

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
    let (rss, peak) = memory_mib();
    crate::cmd::write_stderr(format_args!(
        "timing\t{}\t{:.3}\t{:.3}\t{rss}\t{peak}\n",
        stage(),
        (end - start).as_secs_f64(),
        (end - first).as_secs_f64()
    ));
    out
}

/// The process's resident and peak resident memory in MiB, as text (`-` when unknown).
fn memory_mib() -> (String, String) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().strip_suffix("kB"))
            .and_then(|kb| kb.trim().parse::<u64>().ok())
            .map_or_else(|| "-".to_string(), |kb| (kb / 1024).to_string())
    };
    (field("VmRSS:"), field("VmHWM:"))
}
