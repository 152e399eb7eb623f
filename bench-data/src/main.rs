//! `agentrail-benchgen`: writes DIR/<source>.ndjson for every source,
//! DIR/mixed.ndjson and DIR/ground_truth.json.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::time::Instant;

use agentrail_bench_data::time::parse_date;
use agentrail_bench_data::{Config, FileSink, MixedSink, Sink, generate};
use anyhow::{Context, bail};
use clap::Parser;

/// Generate realistic multi-system AI-agent audit logs with planted incidents and anomalies.
#[derive(Debug, Parser)]
#[command(name = "agentrail-benchgen", version)]
struct Args {
    /// Seed: the same seed gives byte-identical output.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Target number of records over all sources.
    #[arg(long, default_value_t = 100_000)]
    events: usize,
    /// Number of days to simulate (at least 2; the first third is the baseline).
    #[arg(long, default_value_t = 3)]
    days: u32,
    /// First day, YYYY-MM-DD (UTC).
    #[arg(long, default_value = "2026-11-16")]
    start: String,
    /// Output directory.
    #[arg(long)]
    out: PathBuf,
    /// Write only mixed.ndjson (and ground_truth.json), not a file per source:
    /// large runs need half the disk.
    #[arg(long)]
    mixed_only: bool,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let Some(start) = parse_date(&args.start) else {
        bail!("--start must be a date like 2026-11-16, got {:?}", args.start);
    };
    let config = Config { seed: args.seed, events: args.events, days: args.days, start };
    let mut sink: Box<dyn Sink> = if args.mixed_only {
        let path = args.out.join("mixed.ndjson");
        std::fs::create_dir_all(&args.out).with_context(|| format!("creating {}", args.out.display()))?;
        let file = File::create(&path).with_context(|| format!("creating {}", path.display()))?;
        Box::new(MixedSink { bytes: BufWriter::with_capacity(1 << 20, file) })
    } else {
        Box::new(FileSink::create(&args.out).with_context(|| format!("creating {}", args.out.display()))?)
    };
    let began = Instant::now();
    let mut last_report = Instant::now();
    let mut report = |p: agentrail_bench_data::Progress| {
        if last_report.elapsed().as_secs_f64() >= 1.0 || p.written >= p.target {
            last_report = Instant::now();
            eprintln!(
                "agentrail-benchgen: {}/{} records ({:.0}%), simulated to {}, {:.1}s",
                p.written,
                p.target,
                100.0 * p.written as f64 / p.target.max(1) as f64,
                agentrail_bench_data::time::rfc3339(p.simulated_until, agentrail_bench_data::time::Precision::Seconds),
                began.elapsed().as_secs_f64()
            );
        }
    };
    let truth = generate(&config, sink.as_mut(), &mut report)?;
    let path = args.out.join("ground_truth.json");
    let mut file = BufWriter::new(File::create(&path).with_context(|| format!("creating {}", path.display()))?);
    serde_json::to_writer_pretty(&mut file, &truth)?;
    file.write_all(b"\n")?;
    file.flush()?;
    let total: u64 = truth.events_per_source.values().sum();
    eprintln!(
        "agentrail-benchgen: wrote {total} records, {} incidents, {} anomaly rules to {} in {:.1}s",
        truth.incidents.len(),
        truth.anomalies.len(),
        args.out.display(),
        began.elapsed().as_secs_f64()
    );
    Ok(())
}
