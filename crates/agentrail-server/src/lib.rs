//! agentrail's collectors: the HTTP ingest server and the durable writer.
//!
//! ```text
//!  HTTP request ─► auth ─► decompress (bounded) ─► normalize (blocking pool)
//!               ─► writer queue (bounded; full = 503) ─► group commit (WAL fsync) ─► 200
//! ```
//!
//! The writer thread ([`writer`]) owns the store, so appends are serial and
//! one fsync covers every request waiting at that moment. Nothing is
//! acknowledged before that fsync.

mod compat;
pub mod http;
pub mod metrics;
pub mod writer;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use agentrail_collect::Normalizer;
use agentrail_store::Store;

pub use http::{HttpConfig, HttpLimits, IngestToken};
pub use metrics::Metrics;
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
}

/// Serves until `shutdown` resolves, then stops accepting, lets requests in
/// flight finish, seals what is pending and returns. `on_listening` is told
/// the bound address (useful with port 0).
pub async fn serve(
    config: HttpConfig,
    normalizer: Arc<Normalizer>,
    store: Store,
    writer_options: WriterOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
    on_listening: impl FnOnce(SocketAddr),
) -> Result<(), ServerError> {
    if config.tokens.is_empty() && !config.listen.ip().is_loopback() {
        return Err(ServerError::OpenWithoutTokens(config.listen));
    }
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|source| ServerError::Bind { addr: config.listen, source })?;
    let bound = listener.local_addr().map_err(ServerError::Serve)?;
    let metrics = Metrics::default();
    let (writer, writer_thread) = writer::start(store, writer_options, Arc::clone(&metrics));
    let app = http::router(normalizer, writer, config, metrics);
    on_listening(bound);
    let served = axum::serve(listener, app).with_graceful_shutdown(shutdown).await;
    // Requests are done; the writer seals what is pending.
    let sealed = tokio::task::spawn_blocking(move || writer_thread.shutdown())
        .await
        .map_err(|e| ServerError::Writer(e.to_string()))?;
    served.map_err(ServerError::Serve)?;
    sealed.map_err(ServerError::Writer)
}
