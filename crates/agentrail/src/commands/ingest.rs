//! `agentrail ingest`: files through the durable write path.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, SyncSender};
use std::thread::JoinHandle;
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

/// What the writer thread has stored so far (read by the progress line).
#[derive(Debug, Default)]
struct Stored {
    accepted: AtomicUsize,
    duplicates: AtomicUsize,
}

type Batch = (Vec<Event>, Vec<Quarantined>);

/// The store on its own thread: normalizing the next chunk overlaps with
/// making the last one durable (the machine has two cores to use).
fn start_writer(mut store: Store, stored: Arc<Stored>) -> (SyncSender<Batch>, JoinHandle<anyhow::Result<usize>>) {
    let (sender, receiver) = mpsc::sync_channel::<Batch>(2);
    let handle = std::thread::spawn(move || {
        for (events, rejects) in receiver {
            let outcome = store.append(events, rejects).context("cannot store the batch durably")?;
            stored.accepted.fetch_add(outcome.accepted, Ordering::Relaxed);
            stored.duplicates.fetch_add(outcome.duplicates, Ordering::Relaxed);
        }
        let sealed = store.seal().context("cannot seal the stored events into segments")?;
        Ok(sealed.len())
    });
    (sender, handle)
}

/// Collects a chunk's events and rejects and hands them to the writer as one batch.
struct Ingester {
    writer: SyncSender<Batch>,
    stored: Arc<Stored>,
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
        let batch = (std::mem::take(&mut self.events), std::mem::take(&mut self.rejects));
        // A closed channel means the writer stopped on an error, reported at the join.
        self.writer.send(batch).map_err(|_| anyhow::anyhow!("the writer stopped"))?;
        self.summary.accepted = self.stored.accepted.load(Ordering::Relaxed);
        self.summary.duplicates = self.stored.duplicates.load(Ordering::Relaxed);
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
    let store = setup::open_store(
        &args.data_dir,
        StoreOptions { integrity: args.integrity.options(), ..StoreOptions::default() },
    )?;
    let inputs = if args.files.is_empty() { vec![PathBuf::from("-")] } else { args.files.clone() };
    let stored = Arc::new(Stored::default());
    let (writer, writer_thread) = start_writer(store, Arc::clone(&stored));
    let mut ingester = Ingester {
        writer,
        stored: Arc::clone(&stored),
        events: Vec::new(),
        rejects: Vec::new(),
        summary: Summary { data_dir: args.data_dir.display().to_string(), files: inputs.len(), ..Summary::default() },
        started: Instant::now(),
        last_progress: Instant::now(),
        progress: std::io::stderr().is_terminal(),
    };
    let mut read_result = Ok(());
    for input in &inputs {
        read_result = read_input(&normalizer, &choice, input, &mut ingester);
        if read_result.is_err() {
            break;
        }
    }
    let Ingester { writer, mut summary, progress, started, .. } = ingester;
    drop(writer);
    // The writer's error, if it stopped, explains a failed send best.
    let sealed = writer_thread.join().map_err(|_| anyhow::anyhow!("the writer thread panicked"))??;
    read_result?;
    summary.accepted = stored.accepted.load(Ordering::Relaxed);
    summary.duplicates = stored.duplicates.load(Ordering::Relaxed);
    summary.segments_sealed = sealed;
    summary.seconds = started.elapsed().as_secs_f64();
    if progress {
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
