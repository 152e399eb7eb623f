//! `agentrail demo`: the whole product on generated data, in one command.
//!
//! It runs what `serve` runs, in this process, on a temporary data
//! directory; generates three days of multi-system agent activity with
//! planted incidents (the bench-data generator); posts it over HTTP as a
//! shipper would; waits until it is sealed; then prints where to look, a
//! replay of the incident with the most unapproved destructive actions, and
//! the anomaly report. It serves until ctrl-c.

use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use agentrail_bench_data::{Config, GroundTruth, MixedSink, generate};
use agentrail_event::Timestamp;
use agentrail_query::{QueryLimits, Replay, replay};
use agentrail_report::{Rules, run_rules};
use agentrail_server::Listening;
use anyhow::Context;
use clap::Parser;

use crate::cli::{Cli, Command, DemoArgs, PgListen};
use crate::commands::serve;
use crate::setup;

/// Records per HTTP request, as a shipper batches them.
const BATCH_LINES: usize = 2_000;
/// Days of generated activity, ending at midnight UTC today.
const DAYS: u32 = 3;
const NANOS_PER_DAY: i64 = 86_400 * 1_000_000_000;
/// How long ingested events may take to become visible (sealed).
const SEAL_WAIT: Duration = Duration::from_secs(180);

pub fn run(args: DemoArgs) -> anyhow::Result<ExitCode> {
    let (data_dir, temporary) = match &args.data_dir {
        Some(dir) => {
            let empty = std::fs::read_dir(dir).map(|mut entries| entries.next().is_none()).unwrap_or(true);
            anyhow::ensure!(
                empty,
                "{} is not empty: the demo stores its generated data in a new or empty directory",
                dir.display()
            );
            (dir.clone(), false)
        }
        None => (std::env::temp_dir().join(format!("agentrail-demo-{}", std::process::id())), true),
    };
    let outcome = serve_demo(&args, &data_dir, temporary);
    if temporary {
        // The demo's data is of no use afterwards.
        let _ = std::fs::remove_dir_all(&data_dir);
    }
    outcome
}

fn serve_demo(args: &DemoArgs, data_dir: &Path, temporary: bool) -> anyhow::Result<ExitCode> {
    let mut prepared = serve::prepare(serve_args(args, data_dir)?)?;
    // Seal within a second, so what was posted shows at once.
    prepared.options.writer.seal_age = Duration::from_secs(1);
    // The page's findings panel fills as soon as the data is in.
    prepared.options.reports.first_run_delay_seconds = 0;
    let runtime =
        tokio::runtime::Builder::new_multi_thread().enable_all().build().context("cannot start the runtime")?;
    runtime.block_on(async move {
        let shutdown = serve::shutdown_signal()?;
        let (bound, listening) = tokio::sync::oneshot::channel();
        let mut server = tokio::spawn(serve::serve(prepared, shutdown, move |line, at| {
            eprintln!("{line}");
            let _ = bound.send(at);
        }));
        let Ok(listening) = listening.await else {
            // The server stopped before it listened: its error says why.
            return server.await.context("the server failed")?.map(|()| ExitCode::FAILURE);
        };
        let shown = tokio::select! {
            shown = show(args, data_dir, temporary, listening) => shown,
            stopped = &mut server => {
                eprintln!("agentrail demo: stopped before the data was in");
                return stopped.context("the server failed")?.map(|()| ExitCode::SUCCESS);
            }
        };
        if let Err(error) = shown {
            // The server keeps running for what did work; say what did not.
            eprintln!("agentrail demo: {error:#}");
        }
        server.await.context("the server failed")??;
        eprintln!("agentrail demo: stopped");
        Ok(ExitCode::SUCCESS)
    })
}

/// `serve`'s own flags for the demo, with its defaults for the rest (a
/// configuration file is not read: the demo needs no tokens).
fn serve_args(args: &DemoArgs, data_dir: &Path) -> anyhow::Result<crate::cli::ServeArgs> {
    let pg = match args.pg_listen {
        PgListen::Off => "off".to_owned(),
        PgListen::At(addr) => addr.to_string(),
    };
    let dir = data_dir.display().to_string();
    let listen = args.listen.to_string();
    let words = ["agentrail", "serve", "--data-dir", &dir, "--listen", &listen, "--pg-listen", &pg];
    match Cli::try_parse_from(words).context("the demo's serve flags")?.command {
        Command::Serve(mut serve) => {
            serve.config = None;
            Ok(serve)
        }
        _ => anyhow::bail!("the demo's serve flags did not parse as serve"),
    }
}

/// Generates, ingests, waits, and prints what there is to see.
async fn show(args: &DemoArgs, data_dir: &Path, temporary: bool, at: Listening) -> anyhow::Result<()> {
    let base = format!("http://{}", at.http);
    let (events, seed) = (args.events as usize, args.seed);
    eprintln!("agentrail demo: generating {events} records of {DAYS} days of agent activity (seed {seed})");
    let (ndjson, truth) =
        tokio::task::spawn_blocking(move || generated(seed, events)).await.context("the generator failed")??;
    let client = reqwest::Client::new();
    let accepted = ingest(&client, &base, &ndjson).await?;
    wait_until_sealed(&client, &base, accepted).await?;

    let engine = setup::query_engine(data_dir, &crate::cli::SharedArgs::default(), QueryLimits::default())?;
    let (incident, replayed) = most_interesting(&engine, &truth).await?;
    let (rules, _) = Rules::load(None)?;
    let window = Duration::from_secs(u64::from(DAYS + 1) * 86_400);
    let report = run_rules(&engine, &rules, Timestamp::now(), Some(window)).await;

    let id = &incident.correlation_id;
    println!();
    println!(
        "agentrail demo: {accepted} events of {DAYS} days from {} systems, {} planted incidents.",
        truth.events_per_source.len(),
        truth.incidents.len()
    );
    println!();
    println!("  web page    {base}/#replay={id}");
    println!("  replay API  curl {base}/api/v1/replay/{id}");
    if let Some(pg) = at.postgres {
        println!(
            "  PostgreSQL  psql -h {} -p {} -d agentrail -c \"SELECT time, source, action, agent_id FROM events WHERE correlation_id = '{id}' ORDER BY time\"",
            pg.ip(),
            pg.port()
        );
    }
    let kept = if temporary { " (removed at exit)" } else { "" };
    println!("  data        {}{kept}", data_dir.display());
    println!();
    println!("The most interesting incident, {id}: {}", incident.description);
    println!();
    print!("{}", replayed.to_text());
    println!();
    println!("Anomaly report over the last {} days: {} findings", DAYS + 1, report.findings.len());
    let mut per_rule: Vec<(agentrail_report::Severity, &str, usize)> = Vec::new();
    for finding in &report.findings {
        match per_rule.iter_mut().find(|(_, rule, _)| *rule == finding.rule) {
            Some(entry) => entry.2 += 1,
            None => per_rule.push((finding.severity, &finding.rule, 1)),
        }
    }
    per_rule.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(b.1)));
    for (severity, rule, count) in per_rule {
        println!("  {:<8}  {rule:<30}  {count}", severity.as_str());
    }
    for error in &report.errors {
        println!("  rule {} failed: {}", error.rule, error.error);
    }
    println!();
    println!("Serving until ctrl-c.");
    Ok(())
}

/// Three days of `mixed.ndjson` ending at midnight UTC today, and its
/// answer key.
fn generated(seed: u64, events: usize) -> anyhow::Result<(Vec<u8>, GroundTruth)> {
    let now = Timestamp::now().as_micros().saturating_mul(1_000);
    let today = now - now.rem_euclid(NANOS_PER_DAY);
    let config = Config { seed, events, days: DAYS, start: today - i64::from(DAYS) * NANOS_PER_DAY };
    let mut sink = MixedSink::default();
    let truth = generate(&config, &mut sink, &mut |_| {}).context("cannot generate the demo's data")?;
    Ok((sink.bytes, truth))
}

/// Posts the records in batches to `/v1/events`; returns how many were accepted.
async fn ingest(client: &reqwest::Client, base: &str, ndjson: &[u8]) -> anyhow::Result<u64> {
    let lines: Vec<&[u8]> = ndjson.split(|b| *b == b'\n').filter(|line| !line.is_empty()).collect();
    let mut accepted = 0;
    for (index, batch) in lines.chunks(BATCH_LINES).enumerate() {
        let body = batch.join(&b'\n');
        let answer = client
            .post(format!("{base}/v1/events"))
            .header("Content-Type", "application/x-ndjson")
            .body(body)
            .send()
            .await
            .context("cannot post to the server")?;
        let status = answer.status();
        let text = answer.text().await.unwrap_or_default();
        anyhow::ensure!(status.is_success(), "the server answered {status} to a batch: {text}");
        let answer: serde_json::Value = serde_json::from_str(&text).context("the server's answer is not JSON")?;
        accepted += answer["accepted"].as_u64().unwrap_or(0);
        let sent = index * BATCH_LINES + batch.len();
        eprint!("\ragentrail demo: ingested {sent} of {} records over HTTP", lines.len());
    }
    eprintln!();
    Ok(accepted)
}

/// Waits until the read API sees every accepted event (they are sealed).
async fn wait_until_sealed(client: &reqwest::Client, base: &str, accepted: u64) -> anyhow::Result<()> {
    let started = Instant::now();
    let sql = serde_json::json!({ "sql": "SELECT count(*) AS n FROM events WHERE source <> 'agentrail'" });
    loop {
        let answer: serde_json::Value = client
            .post(format!("{base}/api/v1/query"))
            .json(&sql)
            .send()
            .await
            .context("cannot ask the server")?
            .json()
            .await
            .context("the server's answer is not JSON")?;
        let visible = answer["rows"][0]["n"].as_u64().unwrap_or(0);
        if visible >= accepted {
            return Ok(());
        }
        anyhow::ensure!(
            started.elapsed() < SEAL_WAIT,
            "only {visible} of {accepted} events were visible after {SEAL_WAIT:?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// The planted incident with the most destructive actions nobody
/// approved (then the most events), replayed with expansion.
async fn most_interesting<'t>(
    engine: &agentrail_query::QueryEngine,
    truth: &'t GroundTruth,
) -> anyhow::Result<(&'t agentrail_bench_data::Incident, Replay)> {
    let mut best: Option<((usize, usize), &agentrail_bench_data::Incident, Replay)> = None;
    for incident in &truth.incidents {
        let replayed = replay(engine, &incident.correlation_id, true).await?;
        let unapproved = replayed
            .destructive_actions()
            .as_array()
            .map_or(0, |actions| actions.iter().filter(|action| action["approved"] == false).count());
        let score = (unapproved, replayed.events.len());
        if best.as_ref().is_none_or(|(top, _, _)| score > *top) {
            best = Some((score, incident, replayed));
        }
    }
    best.map(|(_, incident, replayed)| (incident, replayed)).context("the generated data has no incident")
}
