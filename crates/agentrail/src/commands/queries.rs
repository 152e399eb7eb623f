//! `agentrail queries`: the named queries, their origin, what each answers
//! and its parameters.

use std::io::Write;
use std::process::ExitCode;

use crate::cli::QueriesArgs;
use crate::setup;

pub fn run(args: QueriesArgs) -> anyhow::Result<ExitCode> {
    let named = setup::named_queries(&args.queries)?;
    let mut out = std::io::stdout().lock();
    for query in named.iter() {
        writeln!(out, "{}  ({})", query.name, query.origin)?;
        writeln!(out, "  {}", query.description)?;
        for param in &query.params {
            let default = param.default.as_deref().map(|d| format!(" = {d}")).unwrap_or_else(|| " (required)".into());
            writeln!(out, "  --param {}{default}  {}", param.name, param.description)?;
        }
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
