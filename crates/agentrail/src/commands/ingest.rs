//! `agentrail ingest`: files through the durable write path.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use agentrail_collect::{Limits, Position, Rejection};
use agentrail_event::{Event, Timestamp};
use agentrail_store::{Quarantined, Store, StoreOptions};
use anyhow::Context;
use serde::Serialize;

use crate::cli::{IngestArgs, SummaryFormat};
use crate::input::{RecordSink, read_input};
use crate::setup;

#[derive(Debug, Default, Serialize)]
struct Summary {
    data_dir: String,
    files: usize,
    accepted: usize,
    duplicates: usize,
    rejected: usize,
    segments_sealed: usize,
    bytes_read: u64,
    seconds: f64,
}

/// Collects a chunk's events and rejects, appends them as one durable batch.
struct Ingester {
    store: Store,
    events: Vec<Event>,
    rejects: Vec<Quarantined>,
    summary: Summary,
    started: Instant,
    last_progress: Instant,
    progress: bool,
}

impl RecordSink for Ingester {
    fn event(&mut self, event: Event) -> anyhow::Result<()> {
        self.events.push(event);
        Ok(())
    }

    fn rejection(&mut self, input: &str, position: Position, rejection: Rejection) -> anyhow::Result<()> {
        self.summary.rejected += 1;
        if self.progress {
            eprint!("\r\x1b[K");
        }
        eprintln!("{input}:{position}: rejected: {}", rejection.reason);
        self.rejects.push(Quarantined {
            received_at: Timestamp::now(),
            origin: format!("file:{input}:{position}"),
            source: rejection.source,
            reason: rejection.reason.to_string(),
            raw: rejection.raw,
        });
        Ok(())
    }

    fn chunk_done(&mut self, bytes: usize) -> anyhow::Result<()> {
        let outcome = self
            .store
            .append(std::mem::take(&mut self.events), std::mem::take(&mut self.rejects))
            .context("cannot store the batch durably")?;
        self.summary.accepted += outcome.accepted;
        self.summary.duplicates += outcome.duplicates;
        self.summary.bytes_read += bytes as u64;
        if self.progress && self.last_progress.elapsed() > Duration::from_millis(250) {
            self.last_progress = Instant::now();
            let seconds = self.started.elapsed().as_secs_f64().max(1e-9);
            eprint!(
                "\r\x1b[Kingesting: {} events stored, {} duplicates, {} rejected, {:.0} MB read ({:.1} MB/s)",
                self.summary.accepted,
                self.summary.duplicates,
                self.summary.rejected,
                self.summary.bytes_read as f64 / 1e6,
                self.summary.bytes_read as f64 / 1e6 / seconds
            );
        }
        Ok(())
    }
}

pub fn run(args: IngestArgs) -> anyhow::Result<ExitCode> {
    let normalizer = setup::normalizer(&args.mapping, Limits::default())?;
    let choice = setup::source_choice(&normalizer, &args.source)?;
    let (store, report) = Store::open(&args.data_dir, StoreOptions::default())
        .with_context(|| format!("cannot open the data directory {}", args.data_dir.display()))?;
    if report.replayed_events > 0 {
        eprintln!(
            "agentrail ingest: recovered {} acknowledged events from the write-ahead log",
            report.replayed_events
        );
    }
    for damage in &report.wal_damage {
        eprintln!(
            "agentrail ingest: write-ahead log damage in {} at byte {}: {}",
            damage.file.display(),
            damage.offset,
            damage.reason
        );
    }
    let inputs = if args.files.is_empty() { vec![PathBuf::from("-")] } else { args.files.clone() };
    let mut ingester = Ingester {
        store,
        events: Vec::new(),
        rejects: Vec::new(),
        summary: Summary { data_dir: args.data_dir.display().to_string(), files: inputs.len(), ..Summary::default() },
        started: Instant::now(),
        last_progress: Instant::now(),
        progress: std::io::stderr().is_terminal(),
    };
    for input in &inputs {
        read_input(&normalizer, &choice, input, &mut ingester)?;
    }
    let sealed = ingester.store.seal().context("cannot seal the stored events into segments")?;
    let mut summary = ingester.summary;
    summary.segments_sealed = sealed.len();
    summary.seconds = ingester.started.elapsed().as_secs_f64();
    if ingester.progress {
        eprint!("\r\x1b[K");
    }
    match args.format {
        SummaryFormat::Json => println!("{}", serde_json::to_string(&summary)?),
        SummaryFormat::Text => println!(
            "stored {} events ({} duplicates skipped, {} rejected to quarantine) from {} input(s) into {} in {:.1}s",
            summary.accepted, summary.duplicates, summary.rejected, summary.files, summary.data_dir, summary.seconds
        ),
    }
    Ok(if summary.rejected > 0 { ExitCode::from(1) } else { ExitCode::SUCCESS })
}
