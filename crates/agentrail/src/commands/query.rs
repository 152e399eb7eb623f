//! `agentrail query`: read-only SQL, or a named query, over a data directory.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use agentrail_query::{OutputFormat, QueryLimits, render};
use anyhow::Context;

use crate::cli::{QueryArgs, QueryFormat};
use crate::setup;

pub fn run(args: QueryArgs) -> anyhow::Result<ExitCode> {
    let limits = QueryLimits {
        timeout: Duration::from_secs(args.timeout),
        memory_bytes: args.memory_mib.saturating_mul(1024 * 1024),
        max_rows: args.max_rows,
    };
    if args.named.is_none() && !args.params.is_empty() {
        anyhow::bail!("--param gives a named query's parameters: use it with --named NAME");
    }
    let engine = setup::query_engine(&args.data_dir, &args.shared, limits)?;
    let runtime = setup::query_runtime()?;
    let answer = match (&args.named, &args.sql) {
        (Some(name), _) => {
            let named = setup::named_queries(&args.queries)?;
            runtime.block_on(named.run(&engine, name, &args.params))?
        }
        (None, Some(sql)) => {
            // As in `serve`: the named queries are table functions
            // (`FROM replay_timeline('inc-1')`), the report history is tables.
            agentrail_report::register_report_tables(&engine, &args.data_dir)?;
            let named = setup::named_queries(&args.queries)?;
            for left_out in runtime.block_on(named.register_functions(&engine)) {
                eprintln!("agentrail query: named query {} is not a function here: {}", left_out.name, left_out.reason);
            }
            runtime.block_on(engine.query(sql))?
        }
        (None, None) => anyhow::bail!("give SQL or --named NAME"),
    };
    let format = match args.format {
        QueryFormat::Table => OutputFormat::Table,
        QueryFormat::Json => OutputFormat::Json,
        QueryFormat::Csv => OutputFormat::Csv,
    };
    let text = render(&answer, format).context("cannot format the answer")?;
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(&text).and_then(|()| stdout.flush()).context("cannot write the answer")?;
    Ok(ExitCode::SUCCESS)
}
