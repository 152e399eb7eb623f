//! `agentrail sources`: what each mapping recognises and fills.

use std::io::Write;
use std::process::ExitCode;

use agentrail_collect::Limits;

use crate::cli::MappingArgs;
use crate::setup;

pub fn run(args: MappingArgs) -> anyhow::Result<ExitCode> {
    let normalizer = setup::normalizer(&args, Limits::default())?;
    let mut out = std::io::stdout().lock();
    for mapping in normalizer.registry().mappings() {
        writeln!(out, "{}  ({})", mapping.name, mapping.origin)?;
        if !mapping.description.is_empty() {
            writeln!(out, "  {}", mapping.description)?;
        }
        writeln!(out, "  detect (priority {}): {}", mapping.priority, mapping.detect.describe())?;
        let columns: Vec<&str> = mapping.columns().map(|c| c.name()).collect();
        writeln!(out, "  fills: {}", columns.join(", "))?;
    }
    Ok(ExitCode::SUCCESS)
}
