//! The PostgreSQL wire protocol: `psql`, psycopg, Grafana and Metabase ask
//! the same engine as the read API, with the same tokens, roles, limits
//! and audit.
//!
//! ```text
//! TCP ─► TLS when [tls] is configured (then required)
//!     ─► startup: password = token with the analyst role (none needed on
//!        loopback without tokens) ─► Query / Parse ─► statement:
//!          reads            → planned on the engine's context, run within
//!                             its limits, audited (`pg.query`)
//!          SET, SHOW, BEGIN → this connection's settings
//!          anything else    → refused: read-only
//! ```
//!
//! The protocol is pgwire's and the PostgreSQL catalog (`pg_catalog`, with
//! DataFusion's `information_schema`) is datafusion-postgres', so clients
//! that list tables before they query find `events`, `quarantine` and the
//! rest in the database `agentrail`, schema `public`.

mod columns;
mod session;
mod startup;

use std::net::SocketAddr;
use std::sync::Arc;

use agentrail_query::QueryEngine;
use agentrail_query::engine::CATALOG;
use datafusion_postgres::datafusion_pg_catalog::pg_catalog::context::EmptyContextProvider;
use datafusion_postgres::datafusion_pg_catalog::pg_catalog::setup_pg_catalog;
use datafusion_postgres::pgwire::api::auth::StartupHandler;
use datafusion_postgres::pgwire::api::query::{ExtendedQueryHandler, SimpleQueryHandler};
use datafusion_postgres::pgwire::api::{ClientInfo, ErrorHandler, PgWireServerHandlers};
use datafusion_postgres::pgwire::error::PgWireError;
use datafusion_postgres::pgwire::tokio::process_socket;
use datafusion_postgres::pgwire::tokio::tokio_rustls::TlsAcceptor;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};

use crate::audit::Auditor;
use crate::http::HttpConfig;
use session::{Reader, Session};
use startup::TokenStartup;

/// Where and how many PostgreSQL clients are served.
#[derive(Debug, Clone)]
pub struct PgConfig {
    pub listen: SocketAddr,
    /// Connections open at once, at most; more are turned away.
    pub max_connections: usize,
}

impl Default for PgConfig {
    /// PostgreSQL's port plus one, on loopback; 64 connections.
    fn default() -> Self {
        PgConfig { listen: SocketAddr::from(([127, 0, 0, 1], 5433)), max_connections: 64 }
    }
}

/// Why the PostgreSQL side cannot start.
#[derive(Debug, thiserror::Error)]
pub enum PgError {
    #[error(
        "cannot listen for PostgreSQL clients on {addr}: {source} (set another address with --pg-listen or [postgres] listen)"
    )]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("refusing to serve PostgreSQL on {0} without tokens: configure tokens, or listen on a loopback address")]
    OpenWithoutTokens(SocketAddr),
    #[error("cannot add the PostgreSQL catalog to the query engine: {0}")]
    Catalog(String),
}

/// The bound listener and what every connection shares.
pub(crate) struct PgServer {
    listener: TcpListener,
    handlers: Arc<Handlers>,
    tls: Option<TlsAcceptor>,
    max_connections: usize,
}

impl PgServer {
    /// Binds `config.listen` and adds the PostgreSQL catalog to `engine`'s
    /// context. Tokens and TLS are the HTTP side's.
    pub(crate) async fn bind(
        config: &PgConfig,
        engine: Arc<QueryEngine>,
        http: Arc<HttpConfig>,
        tls: Option<Arc<rustls::ServerConfig>>,
        auditor: Option<Auditor>,
    ) -> Result<PgServer, PgError> {
        if http.tokens.is_empty() && !config.listen.ip().is_loopback() {
            return Err(PgError::OpenWithoutTokens(config.listen));
        }
        setup_pg_catalog(engine.context(), CATALOG, EmptyContextProvider)
            .map_err(|e| PgError::Catalog(e.to_string()))?;
        let listener =
            TcpListener::bind(config.listen).await.map_err(|source| PgError::Bind { addr: config.listen, source })?;
        let reader = Arc::new(Reader::new(engine, auditor.clone()));
        let handlers = Arc::new(Handlers {
            session: Arc::new(Session::new(reader)),
            startup: Arc::new(TokenStartup::new(http, auditor, tls.is_some())),
        });
        // The HTTP side's certificate, offering PostgreSQL's protocol name
        // (libpq 17 asks for it) instead of HTTP's.
        let tls = tls.map(|http_tls| {
            let mut pg_tls = (*http_tls).clone();
            pg_tls.alpn_protocols = vec![b"postgresql".to_vec()];
            TlsAcceptor::from(Arc::new(pg_tls))
        });
        Ok(PgServer { listener, handlers, tls, max_connections: config.max_connections })
    }

    pub(crate) fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Accepts connections until `stopping` turns true; each is served on
    /// a task of its own (a connection under way when the server stops is
    /// cut: nothing it does needs finishing).
    pub(crate) async fn run(self, mut stopping: watch::Receiver<bool>) {
        let open = Arc::new(Semaphore::new(self.max_connections));
        loop {
            let accepted = tokio::select! {
                _ = stopping.wait_for(|stop| *stop) => break,
                accepted = self.listener.accept() => accepted,
            };
            let (socket, peer) = match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors, most likely: wait, do not spin.
                    tracing::warn!(%error, "cannot accept a PostgreSQL connection");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    continue;
                }
            };
            let Ok(permit) = Arc::clone(&open).try_acquire_owned() else {
                tracing::warn!(%peer, limit = self.max_connections, "PostgreSQL connection turned away: too many open");
                continue;
            };
            let handlers = Arc::clone(&self.handlers);
            let tls = self.tls.clone();
            tokio::spawn(async move {
                if let Err(error) = process_socket(socket, tls, handlers).await {
                    tracing::debug!(%peer, %error, "PostgreSQL connection ended with an error");
                }
                drop(permit);
            });
        }
    }
}

struct Handlers {
    session: Arc<Session>,
    startup: Arc<TokenStartup>,
}

impl PgWireServerHandlers for Handlers {
    fn simple_query_handler(&self) -> Arc<impl SimpleQueryHandler> {
        Arc::clone(&self.session)
    }

    fn extended_query_handler(&self) -> Arc<impl ExtendedQueryHandler> {
        Arc::clone(&self.session)
    }

    fn startup_handler(&self) -> Arc<impl StartupHandler> {
        Arc::clone(&self.startup)
    }

    fn error_handler(&self) -> Arc<impl ErrorHandler> {
        Arc::new(LogErrors)
    }
}

/// Errors go to the client; the log keeps them at debug level.
struct LogErrors;

impl ErrorHandler for LogErrors {
    fn on_error<C>(&self, client: &C, error: &mut PgWireError)
    where
        C: ClientInfo,
    {
        tracing::debug!(peer = %client.socket_addr(), %error, "PostgreSQL statement refused");
    }
}
