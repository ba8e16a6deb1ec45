//! `planaudit demo`: the built-in demo city (pending the generator).
use crate::cli::DemoArgs;
use crate::Result;

pub fn run(_args: &DemoArgs) -> Result<()> {
    Err(crate::Error::Usage("demo: not built yet".into()))
}
