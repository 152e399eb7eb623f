//! `agentrail sources`: what each mapping recognises and fills; and
//! `agentrail sources check FILE`: which mapping each record takes and why,
//! column by column.

use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use agentrail_collect::check::RecordCheck;
use agentrail_collect::{Limits, SourceChoice};
use anyhow::Context;
use serde_json::{Value, json};

use crate::cli::{CheckArgs, MappingArgs, SourcesArgs, SourcesCommand, SummaryFormat};
use crate::setup;

pub fn run(args: SourcesArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        Some(SourcesCommand::Check(check)) => run_check(check),
        None => list(&args.mapping),
    }
}

fn list(args: &MappingArgs) -> anyhow::Result<ExitCode> {
    let normalizer = setup::normalizer(args, Limits::default())?;
    let mut out = io::stdout().lock();
    for mapping in normalizer.registry().mappings() {
        writeln!(out, "{}  ({})", mapping.name, mapping.origin)?;
        if !mapping.description.is_empty() {
            writeln!(out, "  {}", mapping.description)?;
        }
        writeln!(out, "  detect (priority {}): {}", mapping.priority, mapping.detect.describe())?;
        let columns: Vec<&str> = mapping.columns().map(|c| c.name()).collect();
        writeln!(out, "  fills: {}", columns.join(", "))?;
    }
    Ok(ExitCode::SUCCESS)
}

fn run_check(args: CheckArgs) -> anyhow::Result<ExitCode> {
    let normalizer = setup::normalizer(&args.mapping, Limits::default())?;
    let choice = setup::source_choice(&normalizer, &args.source)?;
    let inputs = if args.files.is_empty() { vec![PathBuf::from("-")] } else { args.files.clone() };
    let mut out = io::BufWriter::new(io::stdout().lock());
    let (mut records, mut failed) = (0u64, 0u64);
    for input in &inputs {
        let bytes = read_whole(input)?;
        let name = input.display().to_string();
        let mut written = Ok(());
        normalizer.check(&bytes, &choice, &mut |check| {
            records += 1;
            failed += u64::from(check.result.is_err());
            if written.is_ok() {
                written = match args.format {
                    SummaryFormat::Text => write_text(&mut out, &name, &check, args.all),
                    SummaryFormat::Json => writeln!(out, "{}", check_json(&name, &check, &choice)),
                };
            }
        });
        written.context("cannot write to standard output")?;
    }
    out.flush().context("cannot write to standard output")?;
    if args.format == SummaryFormat::Text {
        eprintln!("agentrail sources check: {records} records, {failed} not normalized");
    }
    Ok(if failed > 0 { ExitCode::from(1) } else { ExitCode::SUCCESS })
}

/// A whole input: this is a tool for a few sample records, not a stream.
fn read_whole(input: &Path) -> anyhow::Result<Vec<u8>> {
    if input.as_os_str() == "-" {
        let mut bytes = Vec::new();
        io::stdin().lock().read_to_end(&mut bytes).context("cannot read standard input")?;
        Ok(bytes)
    } else {
        std::fs::read(input).with_context(|| format!("cannot read {}", input.display()))
    }
}

fn write_text(out: &mut impl Write, input: &str, check: &RecordCheck, all: bool) -> io::Result<()> {
    writeln!(out, "{input}:{}", check.position)?;
    if !check.detection.is_empty() {
        writeln!(out, "  detection, in priority order:")?;
        for detection in &check.detection {
            if !(all || detection.matched || Some(&detection.mapping) == check.chosen.as_ref()) {
                continue;
            }
            let conditions: Vec<String> = detection
                .conditions
                .iter()
                .map(|c| {
                    let found = c.found.as_deref().map(|f| format!(" ({f:?})")).unwrap_or_default();
                    format!("{} {}{found}", if c.held { "yes" } else { "NO" }, c.condition)
                })
                .collect();
            let mark = if detection.matched { "matched" } else { "not matched" };
            writeln!(
                out,
                "    {} (priority {}): {mark}: {}",
                detection.mapping,
                detection.priority,
                conditions.join("; ")
            )?;
        }
        let unmatched = check.detection.iter().filter(|d| !d.matched).count();
        if !all && unmatched > 0 {
            writeln!(out, "    ({unmatched} other mappings did not match; --all shows why)")?;
        }
    }
    match &check.chosen {
        Some(chosen) => {
            writeln!(out, "  taken by: {chosen} ({})", check.chosen_because)?;
            let others: Vec<&str> = check.also_matched().map(|d| d.mapping.as_str()).collect();
            if !others.is_empty() {
                writeln!(out, "  also matched (lower in order, not used): {}", others.join(", "))?;
            }
        }
        None => writeln!(out, "  taken by: none ({})", check.chosen_because)?,
    }
    match &check.result {
        Ok(event) => {
            let event = serde_json::to_value(event).unwrap_or(Value::Null);
            writeln!(out, "  columns:")?;
            for trace in &check.columns {
                let name = trace.column.name();
                match event.get(name).filter(|v| !is_empty(v)) {
                    Some(value) => {
                        let from = if trace.from.is_empty() { "derived".to_owned() } else { trace.from.join(" + ") };
                        writeln!(out, "    {name:<22} {}  <- {from}", short(value))?;
                    }
                    None => writeln!(out, "    {name:<22} -  (tried: {})", trace.tried.join("; "))?,
                }
            }
            let attributes = event.get("attributes").and_then(Value::as_object).map_or(0, |a| a.len());
            writeln!(out, "    ({attributes} other fields kept in attributes)")?;
        }
        Err(rejection) => writeln!(out, "  rejected: {}", rejection.reason)?,
    }
    writeln!(out)
}

fn check_json(input: &str, check: &RecordCheck, choice: &SourceChoice) -> Value {
    let detection: Vec<Value> = check
        .detection
        .iter()
        .map(|d| {
            let conditions: Vec<Value> = d
                .conditions
                .iter()
                .map(|c| json!({ "condition": c.condition, "held": c.held, "found": c.found }))
                .collect();
            json!({ "mapping": d.mapping, "priority": d.priority, "matched": d.matched, "conditions": conditions })
        })
        .collect();
    let columns: Vec<Value> =
        check.columns.iter().map(|t| json!({ "column": t.column.name(), "from": t.from, "tried": t.tried })).collect();
    let (event, rejected) = match &check.result {
        Ok(event) => (serde_json::to_value(event).unwrap_or(Value::Null), Value::Null),
        Err(rejection) => (Value::Null, Value::String(rejection.reason.to_string())),
    };
    json!({
        "input": input,
        "position": check.position.to_string(),
        "source_choice": match choice { SourceChoice::Auto => "auto".to_owned(), SourceChoice::Named(n) => n.clone() },
        "detection": detection,
        "chosen": check.chosen,
        "chosen_because": check.chosen_because,
        "also_matched": check.also_matched().map(|d| d.mapping.clone()).collect::<Vec<_>>(),
        "columns": columns,
        "event": event,
        "rejected": rejected,
    })
}

fn is_empty(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Array(items) => items.is_empty(),
        Value::Object(fields) => fields.is_empty(),
        _ => false,
    }
}

/// A value on one line, long ones cut.
fn short(value: &Value) -> String {
    let text = value.to_string();
    match text.char_indices().nth(100) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text,
    }
}
