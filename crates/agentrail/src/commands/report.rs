//! `agentrail report`: run the anomaly rules and print the findings.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use agentrail_event::Timestamp;
use agentrail_query::QueryLimits;
use agentrail_report::html::render_html;
use agentrail_report::markdown::render_markdown;
use agentrail_report::{RuleFailure, Rules, activity, run_rules};
use anyhow::Context;

use crate::cli::{ReportArgs, ReportFormat};
use crate::setup;

pub fn run(args: ReportArgs) -> anyhow::Result<ExitCode> {
    let until = match &args.until {
        Some(text) => {
            Timestamp::parse(text).with_context(|| format!("--until {text:?} is not a time (use RFC 3339)"))?
        }
        None => Timestamp::now(),
    };
    let (rules, broken) = match &args.rules {
        Some(dir) => Rules::with_dir(dir)?,
        None => (Rules::builtin()?, Vec::new()),
    };
    let limits = QueryLimits { timeout: Duration::from_secs(args.timeout), ..QueryLimits::default() };
    let engine = setup::query_engine(&args.data_dir, limits)?;
    let runtime = setup::query_runtime()?;
    let mut report = runtime.block_on(run_rules(&engine, &rules, until, args.since));
    // Unusable files come first: a rule that silently never runs is the worst outcome.
    let unusable = broken.iter().map(|error| RuleFailure { rule: error.rule(), error: error.to_string() });
    report.errors.splice(0..0, unusable);

    let mut out = std::io::stdout().lock();
    match args.format {
        ReportFormat::Json => {
            serde_json::to_writer_pretty(&mut out, &report).context("cannot write the report")?;
            writeln!(out)?;
        }
        ReportFormat::Md => out.write_all(render_markdown(&report, args.replay_url.as_deref()).as_bytes())?,
        ReportFormat::Html => {
            // The chart is a nicety: without it the page still lists every finding.
            let activity = runtime.block_on(activity(&engine, &report)).unwrap_or_else(|error| {
                eprintln!("agentrail report: no activity chart: {error}");
                Vec::new()
            });
            out.write_all(render_html(&report, &activity, args.replay_url.as_deref()).as_bytes())?;
        }
    }
    for error in &report.errors {
        eprintln!("agentrail report: rule {}: {}", error.rule, error.error);
    }
    Ok(if !report.errors.is_empty() {
        ExitCode::from(2)
    } else if report.findings.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
