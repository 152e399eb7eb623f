//! `agentrail replay`: one incident, in time order, with what an
//! investigator asks of it.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use agentrail_query::{QueryLimits, replay};
use anyhow::Context;

use crate::cli::{ReplayArgs, ReplayFormat};
use crate::setup;

pub fn run(args: ReplayArgs) -> anyhow::Result<ExitCode> {
    let limits = QueryLimits { timeout: Duration::from_secs(args.timeout), ..QueryLimits::default() };
    let engine = setup::query_engine(&args.data_dir, &args.shared, limits)?;
    let runtime = setup::query_runtime()?;
    let replayed = runtime.block_on(replay(&engine, &args.correlation_id, args.expand));
    let replayed = replayed?;
    let text = match args.format {
        ReplayFormat::Text => replayed.to_text(),
        ReplayFormat::Json => {
            let mut text = serde_json::to_string_pretty(&replayed.to_json()).context("cannot format the replay")?;
            text.push('\n');
            text
        }
    };
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(text.as_bytes()).and_then(|()| stdout.flush()).context("cannot write the replay")?;
    if replayed.events.is_empty() {
        eprintln!("agentrail replay: no stored event carries correlation id {}", args.correlation_id);
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}
