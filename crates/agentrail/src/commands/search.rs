//! `agentrail search`: the newest events matching a search.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use agentrail_event::Timestamp;
use agentrail_query::{QueryLimits, SearchRequest, search};
use anyhow::Context;
use serde_json::Value;

use crate::cli::{ReplayFormat, SearchArgs};
use crate::setup;

pub fn run(args: SearchArgs) -> anyhow::Result<ExitCode> {
    let time = |flag: &str, text: &Option<String>| -> anyhow::Result<Option<Timestamp>> {
        text.as_deref()
            .map(|t| Timestamp::parse(t).with_context(|| format!("--{flag} {t:?} is not a time (use RFC 3339)")))
            .transpose()
    };
    let request = SearchRequest {
        query: args.query.clone(),
        from: time("from", &args.from)?,
        to: time("to", &args.to)?,
        limit: args.limit,
    };
    let limits = QueryLimits { timeout: Duration::from_secs(args.timeout), ..QueryLimits::default() };
    let engine = setup::query_engine(&args.data_dir, &args.shared, limits)?;
    let answer = setup::query_runtime()?.block_on(search(&engine, &request))?;
    let mut out = std::io::stdout().lock();
    match args.format {
        ReplayFormat::Json => {
            serde_json::to_writer_pretty(&mut out, &answer.to_json()).context("cannot write the answer")?;
            writeln!(out)?;
        }
        ReplayFormat::Text => {
            for event in &answer.events {
                writeln!(out, "{}", line(event))?;
            }
            if answer.truncated {
                writeln!(out, "… more events match; narrow the search or raise --limit (now {})", args.limit)?;
            }
        }
    }
    out.flush()?;
    if answer.events.is_empty() {
        eprintln!("agentrail search: no stored event matches {:?}", args.query);
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

/// `time  source  outcome  who  action  resource  [correlation]`.
fn line(event: &Value) -> String {
    let text = |key: &str| event.get(key).and_then(Value::as_str).unwrap_or("");
    let who = [text("agent_id"), text("actor_id")].into_iter().find(|s| !s.is_empty()).unwrap_or("-");
    let mut line = format!(
        "{}  {:<14}  {:<7}  {}  {}  {}",
        text("time"),
        text("source"),
        text("outcome"),
        who,
        text("action"),
        text("resource")
    );
    if !text("correlation_id").is_empty() {
        line.push_str(&format!("  [{}]", text("correlation_id")));
    }
    line
}
