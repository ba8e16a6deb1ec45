//! The `planaudit` binary: parse the command line, run the subcommand, map errors to exit codes
//! (0 success, 1 data error, 2 usage error).

/// mimalloc rather than the system allocator: the run allocates many small vectors (rings,
/// attributes) from several threads, where glibc's malloc spent a fifth of the time.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::process::ExitCode;

use clap::Parser;
use planaudit::cli::{Cli, Command};
use planaudit::cmd;

/// mimalloc 3's option numbers (`mi_option_e` in its mimalloc.h) and the calls to set them; the
/// symbols come from the library the `mimalloc` crate links.
#[allow(unsafe_code)]
mod mimalloc_options {
    use std::os::raw::{c_int, c_long};

    pub const PURGE_DELAY: c_int = 15;

    extern "C" {
        pub fn mi_version() -> c_int;
        pub fn mi_option_set(option: c_int, value: c_long);
    }
}

/// Whether the environment sets one of these mimalloc options, its name in any case (as mimalloc
/// reads them): the user's setting then stands.
fn mimalloc_option_set(names: &[&str]) -> bool {
    std::env::vars_os().any(|(name, _)| name.to_str().is_some_and(|n| names.iter().any(|o| n.eq_ignore_ascii_case(o))))
}

/// Keeps freed memory in the process instead of returning it to the system 10 ms later: an audit
/// frees and allocates hundreds of megabytes stage after stage, and every page handed back was
/// zeroed again by the kernel when reused. Province audit: 156,000 page faults → 45,000, system
/// time 3.1 s → 0.6–2.5 s, peak memory unchanged within run-to-run noise (1.9–2.2 GiB). The
/// process ends after its command, so nothing is held for long (`batch` children each keep their
/// own peak until they end). `MIMALLOC_PURGE_DELAY` (or its old name `MIMALLOC_RESET_DELAY`, in
/// any case, as mimalloc reads them) in the environment still decides when it is set.
#[allow(unsafe_code)]
fn tune_allocator() {
    if mimalloc_option_set(&["MIMALLOC_PURGE_DELAY", "MIMALLOC_RESET_DELAY"]) {
        return;
    }
    // SAFETY: plain calls into the linked mimalloc, before any thread starts; the option number
    // holds for its major version 3 (mi_version is major * 10000 + minor * 100 + patch).
    unsafe {
        if (30000..40000).contains(&mimalloc_options::mi_version()) {
            mimalloc_options::mi_option_set(mimalloc_options::PURGE_DELAY, -1);
        }
    }
}

/// Asks the kernel for no transparent huge pages in this process (`PR_SET_THP_DISABLE`), unless
/// `MIMALLOC_ALLOW_THP` in the environment (in any case, as mimalloc reads it) says otherwise.
/// mimalloc asks for huge pages on its arenas, and a huge page is zeroed whole on its first touch,
/// from memory the system may have handed back to a virtual machine's host. Province audit on a
/// 2-core VM, interleaved runs: system time 1.0–2.4 s → 0.7–0.8 s, user time unchanged, wall time
/// (median) 3.2–3.5 s → 2.4–2.7 s in the machine's slow phases. Children (`batch`'s audits)
/// inherit it.
#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
fn no_huge_pages() {
    if mimalloc_option_set(&["MIMALLOC_ALLOW_THP"]) {
        return;
    }
    // SAFETY: a plain system call on the calling process with integer arguments; on a kernel that
    // does not know the option it fails with EINVAL and nothing changes.
    unsafe {
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
    }
}

#[cfg(not(target_os = "linux"))]
fn no_huge_pages() {}

/// PROJ logs its errors on stderr unless told not to; planaudit reports them in its own words.
/// `PROJ_DEBUG` set in the environment still decides.
fn quiet_proj() {
    if std::env::var_os("PROJ_DEBUG").is_none() {
        // Before any thread starts or any PROJ context exists (PROJ reads it when it makes one).
        std::env::set_var("PROJ_DEBUG", "0");
    }
}

fn main() -> ExitCode {
    tune_allocator();
    no_huge_pages();
    quiet_proj();
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            // --help and --version print to stdout and succeed; real usage errors exit 2.
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    let result = match &cli.command {
        Command::RoadDensity(args) => cmd::road_density::run(args).map(|()| 0),
        Command::ParkMix(args) => cmd::park_mix::run(args).map(|()| 0),
        Command::LivingCircle(args) => cmd::living_circle::run(args).map(|()| 0),
        Command::Demo(args) => cmd::demo::run(args).map(|()| 0),
        Command::Generate(args) => cmd::generate::run(args).map(|()| 0),
        Command::Audit(args) => cmd::audit::run(args),
        Command::Check(args) => cmd::audit::run_check(args).map(|()| 0),
        Command::Init(args) => cmd::audit::run_init(args).map(|()| 0),
        Command::Batch(args) => cmd::batch::run(args),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            cmd::write_stderr(format_args!("planaudit: error: {e}\n"));
            ExitCode::from(e.exit_code() as u8)
        }
    }
}
