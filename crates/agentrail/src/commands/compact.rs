//! `agentrail compact`: merge each day's small segments, in the chain.

use std::io::Write;
use std::process::ExitCode;

use agentrail_store::{CompactionPolicy, StoreOptions};
use anyhow::Context;

use crate::cli::{CompactArgs, SummaryFormat};
use crate::setup;

pub fn run(args: CompactArgs) -> anyhow::Result<ExitCode> {
    if !args.data_dir.is_dir() {
        anyhow::bail!("{} is not a data directory (see --data-dir)", args.data_dir.display());
    }
    if args.target_rows < 2 || args.min_segments < 2 {
        anyhow::bail!("--target-rows and --min-segments must be at least 2: a merge takes two segments or more");
    }
    let policy = CompactionPolicy {
        target_rows: args.target_rows,
        min_segments: args.min_segments,
        grace: args.grace.unwrap_or_default(),
        ..CompactionPolicy::default()
    };
    let options = StoreOptions { integrity: args.integrity.options(), ..StoreOptions::default() };
    let mut store = setup::open_store(&args.data_dir, options)?;
    let outcome = store.compact(&policy, args.dry_run).context("compaction failed")?;
    let mut out = std::io::stdout().lock();
    match args.format {
        SummaryFormat::Json => super::write_dry_run_json(&mut out, args.dry_run, &outcome)?,
        SummaryFormat::Text => {
            for merge in &outcome.merges {
                let into = if merge.into.is_empty() { String::new() } else { format!(" into {}", merge.into) };
                let verb = if args.dry_run { "would merge" } else { "merged" };
                writeln!(out, "{verb} {} segments of {} ({} rows){into}", merge.from.len(), merge.day, merge.rows)?;
            }
            writeln!(
                out,
                "compaction: {} segments {} {}",
                outcome.segments_before,
                if args.dry_run { "would become" } else { "became" },
                outcome.segments_after
            )?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
