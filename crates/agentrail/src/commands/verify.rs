//! `agentrail verify`: prove a data directory against its digest chain and
//! signed checkpoints.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use agentrail_store::verify::{VerifyOptions, VerifyReport, parse_day, verify_settled};
use anyhow::Context;

use crate::cli::{SummaryFormat, VerifyArgs};

pub fn run(args: VerifyArgs) -> anyhow::Result<ExitCode> {
    if !args.data_dir.is_dir() {
        anyhow::bail!("{} is not a data directory (see --data-dir)", args.data_dir.display());
    }
    let day = |flag: &str, text: &Option<String>| -> anyhow::Result<Option<String>> {
        text.as_deref()
            .map(|text| {
                parse_day(text).with_context(|| format!("{flag} {text:?} is not a date (YYYY-MM-DD or RFC 3339)"))
            })
            .transpose()
    };
    let options = VerifyOptions {
        integrity: args.integrity.options(),
        public_key: args.public_key.clone(),
        from: day("--from", &args.from)?,
        to: day("--to", &args.to)?,
        trusted_checkpoint: args.trusted_checkpoint.clone(),
    };
    let show_progress = std::io::stderr().is_terminal();
    let mut last = Instant::now();
    let mut progress = |done: usize, total: usize| {
        if show_progress && (last.elapsed() >= Duration::from_millis(500) || done == total) {
            eprint!("\r\x1b[Kagentrail verify: {done}/{total} segments hashed");
            last = Instant::now();
        }
    };
    let report = verify_settled(&args.data_dir, &options, Duration::from_secs(1), &mut progress)
        .with_context(|| format!("cannot verify {}", args.data_dir.display()))?;
    if show_progress {
        eprint!("\r\x1b[K");
    }
    let mut out = std::io::stdout().lock();
    match args.format {
        SummaryFormat::Json => {
            serde_json::to_writer_pretty(&mut out, &report).context("cannot write the report")?;
            writeln!(out)?;
        }
        SummaryFormat::Text => write_text(&mut out, &report)?,
    }
    Ok(if report.verified { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

fn write_text(out: &mut impl Write, report: &VerifyReport) -> std::io::Result<()> {
    for problem in &report.problems {
        writeln!(out, "{:<13} {}: {}", problem.kind.as_str().to_uppercase(), problem.path, problem.detail)?;
    }
    let checked = format!(
        "{} segments against {} chain leaves and {} signed checkpoints (public key {}, from {})",
        report.segments_checked, report.chain_leaves, report.checkpoints, report.public_key, report.public_key_file
    );
    if report.verified {
        writeln!(out, "verified: {checked}")?;
    } else {
        let mut counts = std::collections::BTreeMap::new();
        for problem in &report.problems {
            *counts.entry(problem.kind.as_str()).or_insert(0) += 1;
        }
        let counts: Vec<String> = counts.iter().map(|(kind, n)| format!("{n} {kind}")).collect();
        writeln!(out, "NOT VERIFIED: {} problems ({}) in {checked}", report.problems.len(), counts.join(", "))?;
    }
    if let Some(checkpoint) = &report.latest_checkpoint {
        writeln!(
            out,
            "newest checkpoint: {} leaves, root {}, signed {} (keep `--format json` output to pass as --trusted-checkpoint)",
            checkpoint.size, checkpoint.root, checkpoint.time
        )?;
    }
    Ok(())
}
