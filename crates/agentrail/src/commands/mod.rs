//! One module per subcommand.

mod compact;
mod demo;
mod ingest;
mod normalize;
mod queries;
mod query;
mod replay;
mod report;
mod retention;
mod search;
mod serve;
mod sources;
mod token;
mod verify;

use std::io::Write;
use std::process::ExitCode;

use crate::cli::{Cli, Command};

pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Demo(args) => demo::run(args),
        Command::Normalize(args) => normalize::run(args),
        Command::Ingest(args) => ingest::run(args),
        Command::Serve(args) => serve::run(args),
        Command::Query(args) => query::run(args),
        Command::Queries(args) => queries::run(args),
        Command::Search(args) => search::run(args),
        Command::Replay(args) => replay::run(args),
        Command::Sources(args) => sources::run(args),
        Command::Report(args) => report::run(args),
        Command::Verify(args) => verify::run(args),
        Command::Retention(args) => retention::run(args),
        Command::Compact(args) => compact::run(args),
        Command::Token(args) => token::run(args),
    }
}

/// `{"dry_run", "outcome"}`, pretty, as maintenance commands print it with `--format json`.
fn write_dry_run_json(out: &mut impl Write, dry_run: bool, outcome: &impl serde::Serialize) -> anyhow::Result<()> {
    serde_json::to_writer_pretty(&mut *out, &serde_json::json!({ "dry_run": dry_run, "outcome": outcome }))?;
    writeln!(out)?;
    Ok(())
}
