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

fn main() -> ExitCode {
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
            eprintln!("planaudit: error: {e}");
            ExitCode::from(e.exit_code() as u8)
        }
    }
}
