//! agentrail's server: the HTTP ingest server, the Kafka consumer, the
//! durable writer behind both, and the read API.
//!
//! ```text
//!  HTTP request ─► auth ─► decompress (bounded) ─► normalize (blocking pool)
//!               ─► writer queue (bounded; full = 503) ─► group commit (WAL fsync) ─► 200
//!  Kafka batch  ─► normalize (blocking pool) ─► writer queue (waits for room)
//!               ─► group commit ─► store the partition's contiguous offset watermark
//! ```
//!
//! The read API ([`api`]: query, search, replay, named queries) answers
//! from the sealed segments through one [`QueryEngine`], refreshed from the
//! manifest before each request.
//!
//! Every read-API and admin request, and every request refused for its
//! token, is recorded as an event of source `agentrail` ([`audit`]).
//!
//! The report [`scheduler`] runs the anomaly rules on their schedules on a
//! thread of its own, keeps each run under `<data dir>/reports/` and sends
//! new findings to [`webhook`]s; the read API serves the history. The
//! rules it runs are a [`rule_book`] the admin API (and `SIGHUP`) changes
//! while it runs.
//!
//! The writer thread ([`writer`]) owns the store, so appends are serial and
//! one fsync covers every request waiting at that moment. Nothing is
//! acknowledged, and no Kafka offset stored, before that fsync. It also
//! finishes the background work on sealed files, [`retention`] and
//! [`compaction`], one at a time.

mod admin_api;
mod api;
mod audit;
pub mod compaction;
mod compat;
pub mod http;
pub mod kafka;
pub mod metrics;
mod periodic;
pub mod pg;
mod report_api;
pub mod retention;
pub mod rule_book;
mod rules_api;
pub mod scheduler;
pub mod syslog;
pub mod tls;
mod ui;
mod verify_api;
pub mod webhook;
pub mod writer;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use agentrail_collect::Normalizer;
use agentrail_query::{NamedQueries, QueryEngine, QueryError, QueryLimits};
use agentrail_report::{RuleFailure, Rules};
use agentrail_store::verify::VerifyOptions;
use agentrail_store::{RetentionPolicy, Store};

pub use compaction::{Compaction, CompactionConfig};
pub use http::{HttpConfig, HttpLimits, IngestToken, Role};
pub use kafka::{KafkaCollector, KafkaConfig, TopicConfig};
pub use metrics::Metrics;
pub use pg::PgConfig;
pub use retention::RetentionConfig;
pub use scheduler::{ReportsConfig, Scheduler, SchedulerError};
pub use syslog::SyslogConfig;
pub use tls::TlsConfig;
pub use webhook::WebhookConfig;
pub use writer::{WriteError, WriterOptions};

/// Why the server could not run.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("refusing to listen on {0} without ingest tokens: configure tokens, or listen on a loopback address")]
    OpenWithoutTokens(SocketAddr),
    #[error("the HTTP server failed: {0}")]
    Serve(#[source] std::io::Error),
    #[error("the writer failed on shutdown: {0}")]
    Writer(String),
    #[error(transparent)]
    Kafka(#[from] kafka::KafkaError),
    #[error("the kafka collector stopped unexpectedly (see the log); pending events were sealed")]
    CollectorStopped,
    #[error("cannot open the data directory for queries: {0}")]
    Query(#[from] QueryError),
    #[error(transparent)]
    Reports(#[from] SchedulerError),
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
    #[error(transparent)]
    Syslog(#[from] syslog::SyslogError),
    #[error(transparent)]
    Pg(#[from] pg::PgError),
}

/// What `serve` runs.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub http: HttpConfig,
    /// The Kafka collector, when configured.
    pub kafka: Option<KafkaConfig>,
    pub writer: WriterOptions,
    /// Limits of each query, search and replay of the read API.
    pub query_limits: QueryLimits,
    /// The named queries the read API runs.
    pub named_queries: NamedQueries,
    /// The report scheduler: its configuration, the rules it runs and the
    /// rule files that could not be used (shown among the report's errors).
    pub reports: ReportsConfig,
    pub rules: Rules,
    pub unusable_rules: Vec<RuleFailure>,
    /// What `GET /api/v1/verify` checks with (the integrity records' place,
    /// the public key).
    pub verify: VerifyOptions,
    /// How long events are kept (nothing is deleted when empty), and how
    /// often that is applied.
    pub retention: RetentionPolicy,
    pub retention_interval: std::time::Duration,
    /// Which small segments are merged, and how often on its own.
    pub compaction: Compaction,
    /// Record each read-API and admin request, and each refusal, as an
    /// event of source `agentrail` ([`audit`]).
    pub audit: bool,
    /// Syslog listeners, when configured ([`syslog`]).
    pub syslog: Option<SyslogConfig>,
    /// The PostgreSQL wire protocol, unless turned off ([`pg`]).
    pub postgres: Option<PgConfig>,
    /// Answer queries over a shared store's catalog (everything every node
    /// wrote) rather than this data directory.
    pub shared: Option<SharedQueries>,
}

/// Queries over a shared store.
#[derive(Debug, Clone)]
pub struct SharedQueries {
    pub shared: agentrail_shared::Shared,
    /// Where index parts are cached.
    pub cache_dir: std::path::PathBuf,
    /// How often the catalog is listed again.
    pub poll: std::time::Duration,
}

/// Where the server listens, once bound.
#[derive(Debug, Clone, Copy)]
pub struct Listening {
    pub http: SocketAddr,
    pub syslog_tcp: Option<SocketAddr>,
    pub syslog_udp: Option<SocketAddr>,
    pub postgres: Option<SocketAddr>,
}

/// Serves until `shutdown` resolves, then stops accepting (HTTP) and
/// reading (Kafka), lets the work in flight finish, seals what is pending
/// and returns. `on_listening` is told the bound address (useful with port 0).
pub async fn serve(
    options: ServeOptions,
    normalizer: Arc<Normalizer>,
    store: Store,
    shutdown: impl Future<Output = ()> + Send + 'static,
    on_listening: impl FnOnce(Listening),
) -> Result<(), ServerError> {
    let ServeOptions {
        http: config,
        kafka,
        writer: writer_options,
        query_limits,
        named_queries,
        reports: reports_config,
        rules,
        unusable_rules,
        verify,
        retention,
        retention_interval,
        compaction,
        audit: audited,
        syslog,
        postgres,
        shared,
    } = options;
    if config.tokens.is_empty() && !config.listen.ip().is_loopback() {
        return Err(ServerError::OpenWithoutTokens(config.listen));
    }
    // A certificate that cannot be used stops the start, before anything binds.
    let tls = config.tls.as_ref().map(tls::server_config).transpose()?;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|source| ServerError::Bind { addr: config.listen, source })?;
    let bound = listener.local_addr().map_err(ServerError::Serve)?;
    let metrics = Metrics::default();
    // What every node listed (shared), or this directory's manifest.
    let open_engine = |cache: &str, limits| match &shared {
        Some(shared) => QueryEngine::open_shared(&shared.shared, &shared.cache_dir.join(cache), shared.poll, limits),
        None => QueryEngine::open(store.dir(), limits),
    };
    let engine = Arc::new(open_engine("api", query_limits)?);
    // The report history is SQL too (`findings`, `report_runs`), and named
    // queries are table functions (HTTP and PostgreSQL).
    if let Err(error) = agentrail_report::register_report_tables(&engine, store.dir()) {
        tracing::warn!(%error, "the report history tables are not available");
    }
    for left_out in named_queries.register_functions(&engine).await {
        tracing::warn!(query = %left_out.name, reason = %left_out.reason, "named query not available as a table function");
    }
    let data_dir = store.dir().to_owned();
    tokio::task::spawn_blocking({
        let engine = Arc::clone(&engine);
        move || {
            let started = std::time::Instant::now();
            let parts = engine.warm_index();
            tracing::info!(parts, seconds = started.elapsed().as_secs_f64(), "index parts opened for lookups");
        }
    });
    let (stop, stopping) = tokio::sync::watch::channel(false);
    let scheduler = if reports_config.enabled {
        let book = rule_book::RuleBook::new(reports_config.rules_dir.clone(), rules, unusable_rules);
        #[cfg(unix)]
        tokio::spawn(rule_book::reload_on_hangup(book.clone(), stopping.clone()));
        // Its own engine, for the rules' own time limit; its own cache, as
        // two followers do not share one.
        let engine = open_engine("reports", reports_config.query_limits())?;
        let (scheduler, view) =
            Scheduler::start(reports_config, book, store.dir(), engine, Arc::clone(&metrics), stopping.clone())?;
        Some((scheduler, view))
    } else {
        None
    };
    let collector = kafka.map(|kafka| KafkaCollector::start(kafka, &normalizer, Arc::clone(&metrics))).transpose()?;
    let (writer, writer_thread) = writer::start(store, writer_options, Arc::clone(&metrics));
    let stop = Arc::new(stop);
    let consuming = collector.map(|collector| {
        let run = tokio::spawn(collector.run(
            Arc::clone(&normalizer),
            writer.clone(),
            Arc::clone(&metrics),
            stopping.clone(),
        ));
        // A collector that ends on its own (it never should) stops the
        // server: a supervisor's restart beats a process that quietly
        // stopped consuming.
        let stop = Arc::clone(&stop);
        tokio::spawn(async move {
            let ended = run.await;
            let unexpected = !*stop.borrow();
            if let Err(error) = &ended {
                tracing::error!(%error, "the kafka collector failed");
            }
            if unexpected {
                tracing::error!("the kafka collector stopped on its own; shutting down");
                stop.send_replace(true);
            }
            unexpected || ended.is_err()
        })
    });
    tokio::spawn({
        let stop = Arc::clone(&stop);
        async move {
            shutdown.await;
            stop.send_replace(true);
        }
    });
    let api = api::ApiState {
        engine,
        named: Arc::new(named_queries),
        config: Arc::new(config.clone()),
        metrics: Arc::clone(&metrics),
        reports: scheduler.as_ref().map(|(_, view)| view.clone()),
        verifier: Arc::new(verify_api::Verifier { data_dir, options: verify, running: Default::default() }),
        writer: writer.clone(),
        retention: Arc::new(retention.clone()),
        compaction: Arc::new(compaction.policy.clone()),
    };
    if !retention.is_empty() {
        let first = std::time::Duration::from_secs(60).min(retention_interval);
        tokio::spawn(retention::run(writer.clone(), retention, first, retention_interval, stopping.clone()));
    }
    if let Some(interval) = compaction.interval {
        tokio::spawn(compaction::run(writer.clone(), compaction.policy, interval, stopping.clone()));
    }
    let syslog = match syslog {
        Some(config) => Some(
            syslog::SyslogListeners::bind(&config, Arc::clone(&normalizer), writer.clone(), Arc::clone(&metrics))
                .await?,
        ),
        None => None,
    };
    let (syslog_tcp, syslog_udp) = syslog.as_ref().map_or((None, None), syslog::SyslogListeners::addresses);
    let syslog_task = syslog.map(|listeners| tokio::spawn(listeners.run(stopping.clone())));
    let auditor = audit::Auditor::new(writer.clone(), Arc::new(config.clone()), Arc::clone(&metrics));
    let postgres = match postgres {
        Some(pg_config) => Some(
            pg::PgServer::bind(
                &pg_config,
                Arc::clone(&api.engine),
                Arc::new(config.clone()),
                tls.clone(),
                audited.then(|| auditor.clone()),
            )
            .await?,
        ),
        None => None,
    };
    let pg_bound = postgres.as_ref().map(pg::PgServer::local_addr).transpose().map_err(ServerError::Serve)?;
    let postgres_task = postgres.map(|server| tokio::spawn(server.run(stopping.clone())));
    let mut app = http::router(normalizer, writer, config, metrics).merge(api::routes(api)).merge(ui::routes());
    if audited {
        app = app.layer(axum::middleware::from_fn_with_state(auditor.clone(), audit::audit));
    }
    on_listening(Listening { http: bound, syslog_tcp, syslog_udp, postgres: pg_bound });
    let mut http_stopping = stopping;
    let served = match tls {
        None => {
            axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = http_stopping.wait_for(|stop| *stop).await;
                })
                .await
        }
        Some(tls) => {
            let handle = axum_server::Handle::new();
            tokio::spawn({
                let handle = handle.clone();
                async move {
                    let _ = http_stopping.wait_for(|stop| *stop).await;
                    handle.graceful_shutdown(Some(std::time::Duration::from_secs(30)));
                }
            });
            let listener = listener.into_std().map_err(ServerError::Serve)?;
            let config = axum_server::tls_rustls::RustlsConfig::from_config(tls);
            match axum_server::tls_rustls::from_tcp_rustls(listener, config) {
                Ok(server) => server.handle(handle).serve(app.into_make_service()).await,
                Err(error) => Err(error),
            }
        }
    };
    // HTTP is done (or failed): the consumer stops too and finishes its batches.
    stop.send_replace(true);
    let collector_failed = match consuming {
        Some(consuming) => consuming.await.unwrap_or(true),
        None => false,
    };
    if let Some(task) = syslog_task
        && let Err(error) = task.await
    {
        tracing::error!(%error, "the syslog listeners failed");
    }
    if let Some(task) = postgres_task
        && let Err(error) = task.await
    {
        tracing::error!(%error, "the PostgreSQL listener failed");
    }
    if let Some((scheduler, _)) = scheduler {
        let _ = tokio::task::spawn_blocking(move || scheduler.join()).await;
    }
    // The audit events of the last requests are written before the writer stops.
    auditor.drain(std::time::Duration::from_secs(10)).await;
    // The writer seals what is pending.
    let sealed = tokio::task::spawn_blocking(move || writer_thread.shutdown())
        .await
        .map_err(|e| ServerError::Writer(e.to_string()))?;
    served.map_err(ServerError::Serve)?;
    sealed.map_err(ServerError::Writer)?;
    if collector_failed {
        return Err(ServerError::CollectorStopped);
    }
    Ok(())
}
