//! Stage timings for benchmarks: with `PLANAUDIT_TIMINGS=1` in the environment, each timed stage
//! prints `timing<TAB>STAGE<TAB>SECONDS<TAB>END<TAB>RSS_MIB<TAB>PEAK_MIB<TAB>CPU_S` on stderr, END
//! being when it ended, in seconds since the first timed stage began (stages of the indicators
//! overlap: END shows the timeline), RSS_MIB the process's resident memory then and PEAK_MIB its
//! peak so far (`VmRSS` and `VmHWM` of `/proc/self/status`; `-` where that file is not there), and
//! CPU_S the CPU time, user and system, that the whole process used while the stage ran (every
//! thread's: a stage's own, the rayon workers' it keeps busy, and that of any stage running beside
//! it; `-` where `getrusage` fails). Nothing is printed otherwise.

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
    let cpu_start = process_cpu_s();
    let out = f();
    let end = Instant::now();
    let cpu = match (cpu_start, process_cpu_s()) {
        (Some(a), Some(b)) => format!("{:.3}", b - a),
        _ => "-".to_string(),
    };
    let (rss, peak) = memory_mib();
    crate::cmd::write_stderr(format_args!(
        "timing\t{}\t{:.3}\t{:.3}\t{rss}\t{peak}\t{cpu}\n",
        stage(),
        (end - start).as_secs_f64(),
        (end - first).as_secs_f64()
    ));
    out
}

/// The CPU time, user and system, the process has used so far, in seconds (`None` when
/// `getrusage` fails).
#[cfg(unix)]
#[allow(unsafe_code)]
fn process_cpu_s() -> Option<f64> {
    // SAFETY: `getrusage` fills the zeroed struct it is given, which lives through the call.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        (libc::getrusage(libc::RUSAGE_SELF, &mut usage) == 0).then_some(usage)
    }?;
    let s = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 * 1e-6;
    Some(s(usage.ru_utime) + s(usage.ru_stime))
}

#[cfg(not(unix))]
fn process_cpu_s() -> Option<f64> {
    None
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

#[cfg(all(test, unix))]
mod tests {
    use super::process_cpu_s;

    /// The process's CPU time grows by at least the time a thread spends computing.
    #[test]
    fn cpu_time_counts_work() {
        let before = process_cpu_s().expect("getrusage");
        let start = std::time::Instant::now();
        let mut x = 1u64;
        while start.elapsed() < std::time::Duration::from_millis(60) {
            for _ in 0..10_000 {
                x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
            }
        }
        let used = process_cpu_s().expect("getrusage") - before;
        // The loop ran 60 ms of wall time on this thread; the scheduler may have taken some of it,
        // and the kernel counts in ticks, so at least a part of it shows.
        assert!(used >= 0.02, "{used} s of CPU for 60 ms of work");
    }
}
