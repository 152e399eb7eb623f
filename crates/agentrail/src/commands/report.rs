//! `agentrail report`: run the anomaly rules and print the findings.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use agentrail_event::Timestamp;
use agentrail_query::QueryLimits;
use agentrail_report::markdown::render_markdown;
use agentrail_report::{RuleError, Rules, html_page, run_rules};
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
    let (rules, broken) = Rules::load(args.rules.as_deref())?;
    let limits = QueryLimits { timeout: Duration::from_secs(args.timeout), ..QueryLimits::default() };
    let engine = setup::query_engine(&args.data_dir, &crate::cli::SharedArgs::default(), limits)?;
    let runtime = setup::query_runtime()?;
    let mut report = runtime.block_on(run_rules(&engine, &rules, until, args.since));
    // Unusable files come first: a rule that silently never runs is the worst outcome.
    report.errors.splice(0..0, broken.iter().map(RuleError::failure));

    let mut out = std::io::stdout().lock();
    match args.format {
        ReportFormat::Json => {
            serde_json::to_writer_pretty(&mut out, &report).context("cannot write the report")?;
            writeln!(out)?;
        }
        ReportFormat::Md => out.write_all(render_markdown(&report, args.replay_url.as_deref()).as_bytes())?,
        ReportFormat::Html => {
            let page = runtime.block_on(html_page(&engine, &report, args.replay_url.as_deref()));
            out.write_all(page.as_bytes())?;
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
