//! `agentrail retention`: delete what is past its retention, in the chain.

use std::io::Write;
use std::process::ExitCode;

use agentrail_event::Timestamp;
use agentrail_store::{RetentionPolicy, StoreOptions};
use anyhow::Context;

use crate::cli::{RetentionArgs, SummaryFormat};
use crate::setup;

pub fn run(args: RetentionArgs) -> anyhow::Result<ExitCode> {
    let policy = RetentionPolicy { keep: args.keep, sources: args.sources.into_iter().collect() };
    if policy.is_empty() {
        anyhow::bail!("nothing to apply: give --keep DURATION and/or --source NAME=DURATION");
    }
    if !args.data_dir.is_dir() {
        anyhow::bail!("{} is not a data directory (see --data-dir)", args.data_dir.display());
    }
    let options = StoreOptions { integrity: args.integrity.options(), ..StoreOptions::default() };
    let mut store = setup::open_store(&args.data_dir, options)?;
    let outcome = store.apply_retention(&policy, Timestamp::now(), args.dry_run).context("retention failed")?;
    let mut out = std::io::stdout().lock();
    match args.format {
        SummaryFormat::Json => super::write_dry_run_json(&mut out, args.dry_run, &outcome)?,
        SummaryFormat::Text => {
            let verb = if args.dry_run { "would delete" } else { "deleted" };
            for path in outcome.segments_deleted.iter().chain(&outcome.quarantine_deleted) {
                writeln!(out, "{verb} {path}")?;
            }
            for (old, new) in &outcome.segments_rewritten {
                let new = if new.is_empty() { String::new() } else { format!(" as {new}") };
                writeln!(
                    out,
                    "{} {old}{new} without its expired rows",
                    if args.dry_run { "would rewrite" } else { "rewrote" }
                )?;
            }
            writeln!(
                out,
                "retention: {} segments {verb}, {} rewritten, {} quarantine files {verb}{}",
                outcome.segments_deleted.len(),
                outcome.segments_rewritten.len(),
                outcome.quarantine_deleted.len(),
                if args.dry_run { String::new() } else { format!(", {} rows removed", outcome.rows_deleted) }
            )?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
