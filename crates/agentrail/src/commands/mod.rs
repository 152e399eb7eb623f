//! One module per subcommand.

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
        Command::Token(args) => token::run(args),
    }
}
