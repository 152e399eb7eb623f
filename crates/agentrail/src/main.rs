//! `agentrail`, the audit trail for AI agents: the command-line binary.
//!
//! This crate is the edge of the program: it parses the command line,
//! sets up logging, reads files, wires the library crates together and turns
//! their typed errors into messages and exit codes. It is the only user of
//! `anyhow`. Exit codes: 0 success, 1 some records were rejected (the good
//! ones were still processed), 2 a usage, configuration or I/O error.

mod cli;
mod commands;
mod input;
mod setup;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    setup::init_tracing(cli.verbose);
    match commands::run(cli) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("agentrail: error: {}", describe(&error));
            ExitCode::from(2)
        }
    }
}

/// The error and its causes joined by `: `, leaving out a cause that the
/// message before it already quotes (library errors often do).
fn describe(error: &anyhow::Error) -> String {
    let mut message = String::new();
    for cause in error.chain() {
        let text = cause.to_string();
        if !message.contains(&text) {
            if !message.is_empty() {
                message.push_str(": ");
            }
            message.push_str(&text);
        }
    }
    message
}
