//! `agentrail normalize`: records in, one agent-aware event per line out.

use std::io::{self, BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use agentrail_collect::{Limits, Position, Rejection};
use agentrail_event::Event;
use anyhow::Context;

use crate::cli::NormalizeArgs;
use crate::input::{RecordSink, read_input};
use crate::setup;

/// Prints events as NDJSON and rejections on stderr.
struct Printer<W: Write> {
    out: W,
    events: u64,
    rejected: u64,
}

impl<W: Write> RecordSink for Printer<W> {
    fn event(&mut self, event: Event) -> anyhow::Result<()> {
        self.events += 1;
        serde_json::to_writer(&mut self.out, &event).map_err(io::Error::from)?;
        self.out.write_all(b"\n")?;
        Ok(())
    }

    fn rejection(&mut self, input: &str, position: Position, rejection: Rejection) -> anyhow::Result<()> {
        self.rejected += 1;
        eprintln!("{input}:{position}: rejected: {}", rejection.reason);
        Ok(())
    }
}

pub fn run(args: NormalizeArgs) -> anyhow::Result<ExitCode> {
    let mut limits = Limits::default();
    limits.decode.max_record_bytes = args.max_record_bytes;
    let normalizer = setup::normalizer(&args.mapping, limits)?;
    let choice = setup::source_choice(&normalizer, &args.source)?;
    let inputs = if args.files.is_empty() { vec![PathBuf::from("-")] } else { args.files.clone() };
    let mut printer = Printer { out: BufWriter::with_capacity(1 << 20, io::stdout().lock()), events: 0, rejected: 0 };
    for input in &inputs {
        match read_input(&normalizer, &choice, input, &mut printer) {
            Err(error) if is_broken_pipe(&error) => return Ok(ExitCode::SUCCESS),
            other => other?,
        }
    }
    match printer.out.flush() {
        Err(error) if error.kind() == io::ErrorKind::BrokenPipe => return Ok(ExitCode::SUCCESS),
        other => other.context("cannot write to standard output")?,
    }
    if printer.rejected > 0 {
        eprintln!("agentrail normalize: {} events, {} records rejected", printer.events, printer.rejected);
        Ok(ExitCode::from(1))
    } else {
        Ok(ExitCode::SUCCESS)
    }
}

/// `| head` closing the pipe is a normal way to stop reading.
fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.downcast_ref::<io::Error>().is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
}
