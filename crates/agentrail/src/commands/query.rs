//! `agentrail query`: read-only SQL over a data directory.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use agentrail_query::{OutputFormat, QueryEngine, QueryLimits, render};
use anyhow::Context;

use crate::cli::{QueryArgs, QueryFormat};

pub fn run(args: QueryArgs) -> anyhow::Result<ExitCode> {
    if !args.data_dir.is_dir() {
        anyhow::bail!("{} is not a data directory (see --data-dir)", args.data_dir.display());
    }
    let limits = QueryLimits {
        timeout: Duration::from_secs(args.timeout),
        memory_bytes: args.memory_mib.saturating_mul(1024 * 1024),
        max_rows: args.max_rows,
    };
    let engine = QueryEngine::open(&args.data_dir, limits)?;
    let runtime =
        tokio::runtime::Builder::new_current_thread().enable_all().build().context("cannot start the runtime")?;
    let answer = runtime.block_on(engine.query(&args.sql));
    let answer = answer?;
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
