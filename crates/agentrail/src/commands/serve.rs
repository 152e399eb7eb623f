//! `agentrail serve`: the ingest server and the read API.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use agentrail_collect::Limits;
use agentrail_collect::Normalizer;
use agentrail_query::QueryLimits;
use agentrail_report::{RuleError, RuleFailure, Rules};
use agentrail_server::{
    CompactionConfig, HttpConfig, HttpLimits, IngestToken, KafkaConfig, Listening, PgConfig, ReportsConfig,
    RetentionConfig, ServeOptions, SharedQueries, SyslogConfig, TlsConfig, WriterOptions,
};
use agentrail_shared::{CatalogConfig, Shared, StorageConfig};
use agentrail_store::verify::VerifyOptions;
use agentrail_store::{IntegrityOptions, Publish, Store, StoreOptions};
use anyhow::Context;
use serde::Deserialize;

use crate::cli::{PgListen, QueriesDirArg, ServeArgs};
use crate::setup;

const DEFAULT_LISTEN: &str = "127.0.0.1:7070";

/// The configuration file. Every key is optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    data_dir: Option<PathBuf>,
    listen: Option<SocketAddr>,
    #[serde(default)]
    limits: LimitsFile,
    #[serde(default)]
    tokens: Vec<IngestToken>,
    /// Seconds after which pending events are sealed into segments.
    seal_after_seconds: Option<u64>,
    /// The Kafka collector: brokers, group and topics.
    kafka: Option<KafkaConfig>,
    /// Limits of the read API's queries.
    #[serde(default)]
    query: QueryFile,
    /// Extra or replacement named queries (*.sql).
    queries_dir: Option<PathBuf>,
    /// The anomaly report scheduler: rules, history, webhooks.
    #[serde(default)]
    reports: ReportsConfig,
    /// Where the digest chain and the signing key live.
    #[serde(default)]
    integrity: IntegrityFile,
    /// How long events are kept.
    #[serde(default)]
    retention: RetentionConfig,
    /// Merging small segments in the background (on by default).
    #[serde(default)]
    compaction: CompactionConfig,
    #[serde(default)]
    audit: AuditFile,
    /// Serve HTTPS with this certificate and key (off by default).
    tls: Option<TlsConfig>,
    /// Syslog over TCP and UDP (off by default).
    syslog: Option<SyslogConfig>,
    /// The PostgreSQL wire protocol (on by default, on loopback).
    #[serde(default)]
    postgres: PostgresFile,
    /// Sealed files shared with other nodes through object storage (off by
    /// default: the data directory holds everything).
    storage: Option<StorageConfig>,
    /// The list of shared files: embedded in the object storage, or PostgreSQL.
    #[serde(default)]
    catalog: CatalogConfig,
    /// This node among others sharing the store.
    #[serde(default)]
    node: NodeFile,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct NodeFile {
    /// Unique among the nodes sharing a store; made up and kept in the data
    /// directory when absent.
    id: Option<String>,
    /// How often the catalog is listed again for queries (milliseconds).
    catalog_poll_ms: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PostgresFile {
    #[serde(default = "enabled")]
    enabled: bool,
    listen: Option<SocketAddr>,
    max_connections: Option<usize>,
}

impl Default for PostgresFile {
    fn default() -> Self {
        PostgresFile { enabled: true, listen: None, max_connections: None }
    }
}

impl PostgresFile {
    /// The listener `--pg-listen` and the file ask for, if any.
    fn config(&self, flag: Option<PgListen>) -> Option<PgConfig> {
        let defaults = PgConfig::default();
        let listen = match flag {
            Some(PgListen::Off) => return None,
            Some(PgListen::At(addr)) => addr,
            None if !self.enabled => return None,
            None => self.listen.unwrap_or(defaults.listen),
        };
        Some(PgConfig { listen, max_connections: self.max_connections.unwrap_or(defaults.max_connections) })
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AuditFile {
    /// Record every read-API and admin request, and every refusal, as an
    /// event of source `agentrail` (on by default).
    #[serde(default = "enabled")]
    enabled: bool,
}

impl Default for AuditFile {
    fn default() -> Self {
        AuditFile { enabled: true }
    }
}

fn enabled() -> bool {
    true
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct IntegrityFile {
    /// The digest chain and checkpoints (default: <data dir>/integrity).
    dir: Option<PathBuf>,
    /// The checkpoint signing key (default: <integrity dir>/checkpoint.key).
    key_file: Option<PathBuf>,
    /// The public key `GET /api/v1/verify` checks with (default: <key>.pub).
    public_key: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct QueryFile {
    timeout_seconds: Option<u64>,
    max_rows: Option<usize>,
    memory_mib: Option<usize>,
}

impl QueryFile {
    fn limits(&self) -> QueryLimits {
        let defaults = QueryLimits::default();
        QueryLimits {
            timeout: self.timeout_seconds.map_or(defaults.timeout, std::time::Duration::from_secs),
            max_rows: self.max_rows.unwrap_or(defaults.max_rows),
            memory_bytes: self.memory_mib.map_or(defaults.memory_bytes, |mib| mib.saturating_mul(1024 * 1024)),
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct LimitsFile {
    max_body_bytes: Option<usize>,
    max_records: Option<usize>,
}

fn load_config(path: Option<&Path>) -> anyhow::Result<ConfigFile> {
    let Some(path) = path else { return Ok(ConfigFile::default()) };
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("{} is not a valid configuration", path.display()))
}

/// A server ready to start: what `serve` runs, read from its flags and
/// configuration file (also used by `agentrail demo`).
pub(crate) struct Prepared {
    pub options: ServeOptions,
    pub normalizer: Arc<Normalizer>,
    pub store: Store,
    /// `http` or `https`.
    pub scheme: &'static str,
    pub data_shown: String,
}

pub fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let prepared = prepare(args)?;
    let runtime =
        tokio::runtime::Builder::new_multi_thread().enable_all().build().context("cannot start the runtime")?;
    runtime.block_on(async move {
        // Listen for the signals before announcing the address: a signal that
        // arrives before its handler exists would kill the process unsealed.
        let shutdown = shutdown_signal()?;
        // The first line on stdout: scripts and tests read the bound address here.
        serve(prepared, shutdown, |line, _| println!("{line}")).await
    })?;
    eprintln!("agentrail: stopped; pending events sealed");
    Ok(ExitCode::SUCCESS)
}

/// Opens the store and reads the configuration, without binding anything.
pub(crate) fn prepare(args: ServeArgs) -> anyhow::Result<Prepared> {
    let config = load_config(args.config.as_deref())?;
    let data_dir = args.data_dir.or(config.data_dir).unwrap_or_else(|| PathBuf::from("data"));
    let listen = match args.listen.or(config.listen) {
        Some(listen) => listen,
        None => DEFAULT_LISTEN.parse().context("default address")?,
    };
    let defaults = HttpLimits::default();
    let limits = HttpLimits {
        max_body_bytes: config.limits.max_body_bytes.unwrap_or(defaults.max_body_bytes),
        max_records: config.limits.max_records.unwrap_or(defaults.max_records),
    };
    let mut writer_options = WriterOptions::default();
    if let Some(seconds) = config.seal_after_seconds {
        writer_options.seal_age = std::time::Duration::from_secs(seconds);
    }
    let (retention, retention_interval) = config.retention.policy()?;
    let compaction = config.compaction.compaction()?;
    let shared = match &config.storage {
        Some(storage) => {
            let shared = Shared::open(storage, &config.catalog)
                .with_context(|| format!("cannot open the shared store {}", storage.url))?;
            let node = agentrail_shared::node_id(config.node.id.as_deref(), &data_dir)?;
            Some((shared, node))
        }
        None => None,
    };
    let query_limits = config.query.limits();
    if compaction.policy.grace < query_limits.timeout {
        eprintln!(
            "agentrail: [compaction] grace is shorter than [query] timeout: a query planned before a merge may find \
             a merged-away segment gone"
        );
    }
    let normalizer = Arc::new(setup::normalizer(&args.mapping, Limits::default())?);
    if config.tokens.is_empty() {
        eprintln!("agentrail: no ingest tokens configured: unauthenticated requests are accepted, on loopback only");
    }
    // The writer seals on its own thread, so appends never wait for Parquet;
    // a job being sealed and the rows arriving meanwhile are both in memory,
    // so each is half the default.
    let integrity = IntegrityOptions {
        dir: args.integrity.integrity_dir.or(config.integrity.dir),
        key_file: args.integrity.key_file.or(config.integrity.key_file),
    };
    let store = setup::open_store(
        &data_dir,
        StoreOptions {
            auto_seal: false,
            seal_rows: StoreOptions::default().seal_rows / 2,
            integrity: integrity.clone(),
            publisher: shared.as_ref().map(|(shared, node)| shared.publisher(node.clone()) as Arc<dyn Publish>),
            ..StoreOptions::default()
        },
    )?;
    let shared = shared.map(|(shared, node)| {
        eprintln!(
            "agentrail: node {node}, sealing to {} (catalog: {})",
            shared.storage.describe(""),
            shared.catalog.describe()
        );
        SharedQueries {
            shared,
            cache_dir: data_dir.join("cache"),
            poll: std::time::Duration::from_millis(config.node.catalog_poll_ms.unwrap_or(1000).max(10)),
        }
    });
    let scheme = if config.tls.is_some() { "https" } else { "http" };
    let http = HttpConfig { listen, tokens: config.tokens, limits, tls: config.tls };
    let queries_dir = QueriesDirArg { dir: args.queries.dir.or(config.queries_dir) };
    let mut reports = config.reports;
    if let Some(dir) = args.rules {
        reports.rules_dir = Some(dir);
    }
    let (rules, unusable) = Rules::load(reports.rules_dir.as_deref())?;
    let unusable_rules: Vec<RuleFailure> = unusable.iter().map(RuleError::failure).collect();
    for failure in &unusable_rules {
        eprintln!("agentrail: rule {} cannot be used and will not run: {}", failure.rule, failure.error);
    }
    let options = ServeOptions {
        http,
        kafka: config.kafka,
        writer: writer_options,
        query_limits,
        named_queries: setup::named_queries(&queries_dir)?,
        reports,
        rules,
        unusable_rules,
        verify: VerifyOptions { integrity, public_key: config.integrity.public_key, ..VerifyOptions::default() },
        retention,
        retention_interval,
        compaction,
        audit: config.audit.enabled,
        syslog: config.syslog,
        postgres: config.postgres.config(args.pg_listen),
        shared,
    };
    Ok(Prepared { options, normalizer, store, scheme, data_shown: data_dir.display().to_string() })
}

/// Serves until `shutdown` resolves; `announce` is given the line that says
/// where (`agentrail: listening on …`) and the addresses themselves.
pub(crate) async fn serve(
    prepared: Prepared,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    announce: impl FnOnce(String, Listening),
) -> anyhow::Result<()> {
    let Prepared { options, normalizer, store, scheme, data_shown } = prepared;
    agentrail_server::serve(options, normalizer, store, shutdown, |listening| {
        let mut line = format!("agentrail: listening on {scheme}://{} (data in {data_shown})", listening.http);
        if let Some(tcp) = listening.syslog_tcp {
            line.push_str(&format!("; syslog on tcp://{tcp}"));
        }
        if let Some(udp) = listening.syslog_udp {
            line.push_str(&format!("; syslog on udp://{udp}"));
        }
        if let Some(postgres) = listening.postgres {
            line.push_str(&format!("; postgresql on {postgres}"));
        }
        announce(line, listening);
    })
    .await
    .map_err(anyhow::Error::from)
}

/// A future that resolves on SIGINT (ctrl-c) or SIGTERM. The handlers are
/// installed now, not when the future is first polled.
#[cfg(unix)]
pub(crate) fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut interrupt = signal(SignalKind::interrupt()).context("cannot listen for SIGINT")?;
    let mut terminate = signal(SignalKind::terminate()).context("cannot listen for SIGTERM")?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => {},
            _ = terminate.recv() => {},
        }
        eprintln!("agentrail: shutting down: no new requests; finishing those in flight");
    })
}

#[cfg(not(unix))]
pub(crate) fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    Ok(async {
        let _ = tokio::signal::ctrl_c().await;
        eprintln!("agentrail: shutting down: no new requests; finishing those in flight");
    })
}
