//! Read-only SQL over a data directory, within limits.
//!
//! Each query runs under three limits, each with its own error: a timeout
//! (the query's stream is dropped, which cancels every operator), a memory
//! pool (an operator that needs more fails instead of growing the process),
//! and a row limit on the answer. DDL, DML and statements are refused
//! before planning, so SQL cannot create tables over arbitrary files or
//! change settings.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use agentrail_event::event_schema;
use agentrail_shared::{Listing, Shared};
use agentrail_store::manifest::MANIFEST_FILE;
use agentrail_store::{Manifest, ManifestError, SegmentMeta, quarantine_schema};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::catalog::TableProvider;
use datafusion::common::ScalarValue;
use datafusion::error::DataFusionError;
use datafusion::execution::SessionStateBuilder;
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::logical_expr::{Expr, LogicalPlan, col};
use datafusion::prelude::{DataFrame, SQLOptions, SessionConfig, SessionContext};
use futures::StreamExt;

use crate::format::{OutputFormat, render};
use crate::lookup::{PartCache, search_udf};
use crate::table::{FileLocation, SegmentTable};
use crate::yielding::YieldingJoins;

/// The catalog the tables are in: the database PostgreSQL clients name.
pub const CATALOG: &str = "agentrail";

/// What one query may use.
#[derive(Debug, Clone, Copy)]
pub struct QueryLimits {
    pub timeout: Duration,
    /// Bytes the query's operators may hold at once.
    pub memory_bytes: usize,
    /// Rows an answer may have.
    pub max_rows: usize,
}

impl Default for QueryLimits {
    fn default() -> Self {
        QueryLimits { timeout: Duration::from_secs(30), memory_bytes: 1 << 30, max_rows: 100_000 }
    }
}

/// Why a query has no answer.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    #[error("cannot read the store's manifest: {0}")]
    Manifest(#[from] ManifestError),
    #[error("cannot resolve the data directory {path}: {source}")]
    DataDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("only queries are allowed (SELECT, WITH, EXPLAIN, SHOW, DESCRIBE): {0}")]
    NotReadOnly(String),
    #[error("{0}")]
    Sql(String),
    #[error("cannot read the shared store: {0}")]
    Shared(String),
    #[error("the query ran longer than {0:?} and was stopped; narrow it (a time range, an id) or raise the timeout")]
    Timeout(Duration),
    #[error(
        "the query needs more than its {limit} bytes of memory and was stopped; narrow it or raise the memory limit"
    )]
    Memory { limit: usize },
    #[error("the answer has more than {0} rows; add a LIMIT or an aggregate, or raise the row limit")]
    TooManyRows(usize),
}

impl QueryError {
    fn from_datafusion(error: DataFusionError, limits: QueryLimits) -> QueryError {
        match error.find_root() {
            DataFusionError::ResourcesExhausted(_) => QueryError::Memory { limit: limits.memory_bytes },
            DataFusionError::Plan(message) if is_read_only_refusal(message) => QueryError::NotReadOnly(message.clone()),
            root => QueryError::Sql(root.to_string()),
        }
    }
}

fn is_read_only_refusal(message: &str) -> bool {
    message.contains("not supported")
        && (message.contains("DDL") || message.contains("DML") || message.contains("Statement"))
}

/// An answer: its schema and rows.
#[derive(Debug)]
pub struct Answer {
    pub schema: SchemaRef,
    pub batches: Vec<RecordBatch>,
}

impl Answer {
    pub fn rows(&self) -> usize {
        self.batches.iter().map(RecordBatch::num_rows).sum()
    }

    /// The rows as JSON objects keyed by column (times as RFC 3339 text),
    /// as `--format json` prints them.
    pub fn json_rows(&self) -> Result<Vec<serde_json::Map<String, serde_json::Value>>, QueryError> {
        let bytes = render(self, OutputFormat::Json).map_err(|e| QueryError::Sql(e.to_string()))?;
        serde_json::from_slice(&bytes).map_err(|e| QueryError::Sql(format!("cannot read back the rows: {e}")))
    }
}

/// SQL over the `events` and `quarantine` tables of one data directory (as
/// of the manifest read at open or at the last [`QueryEngine::refresh`]) or
/// of a shared store (as of the catalog's last listing).
pub struct QueryEngine {
    context: SessionContext,
    limits: QueryLimits,
    /// The data directory, or the cache of a shared store's index parts.
    data_dir: PathBuf,
    events: Arc<SegmentTable>,
    quarantine: Arc<SegmentTable>,
    parts: Arc<PartCache>,
    source: Source,
    /// Queries run here, apart from the caller's runtime: an operator that
    /// never yields can hold every worker of this one, while the caller's
    /// timer still fires and the timeout answers on time.
    executor: Option<tokio::runtime::Runtime>,
}

/// Where the tables' lists of files come from.
enum Source {
    /// The data directory's manifest, read again when it was replaced.
    Manifest(Mutex<Option<FileStamp>>),
    /// A shared store's catalog, followed in the background: the newest
    /// listing not yet applied, if any.
    Catalog { pending: Arc<Mutex<Option<Listing>>>, follower: tokio::task::JoinHandle<()> },
}

impl Drop for QueryEngine {
    fn drop(&mut self) {
        if let Source::Catalog { follower, .. } = &self.source {
            follower.abort();
        }
        // A query stopped by its timeout may still hold a worker: do not wait for it.
        if let Some(executor) = self.executor.take() {
            executor.shutdown_background();
        }
    }
}

impl std::fmt::Debug for QueryEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueryEngine").field("data_dir", &self.data_dir).field("limits", &self.limits).finish()
    }
}

/// The tables' files and where they are.
struct Files {
    location: FileLocation,
    segments: Vec<SegmentMeta>,
    quarantine: Vec<SegmentMeta>,
    /// Where index parts are (the data directory, or the parts' cache).
    parts_dir: PathBuf,
}

impl QueryEngine {
    /// Opens `data_dir` for reading (a server may be writing to it: sealed
    /// segments never change, and the manifest is replaced atomically).
    pub fn open(data_dir: &Path, limits: QueryLimits) -> Result<Self, QueryError> {
        let data_dir =
            data_dir.canonicalize().map_err(|source| QueryError::DataDir { path: data_dir.to_owned(), source })?;
        let stamp = FileStamp::of(&data_dir.join(MANIFEST_FILE));
        let manifest = Manifest::load(&data_dir)?;
        let files = Files {
            location: FileLocation::local(&data_dir),
            segments: manifest.segments,
            quarantine: manifest.quarantine,
            parts_dir: data_dir,
        };
        QueryEngine::build(files, None, Source::Manifest(Mutex::new(stamp)), limits)
    }

    /// Opens everything a shared store's catalog lists, index parts cached
    /// in `cache_dir`; the catalog is listed again every `poll`, and later
    /// queries see what changed. Returns once the first listing is in.
    pub fn open_shared(
        shared: &Shared,
        cache_dir: &Path,
        poll: Duration,
        limits: QueryLimits,
    ) -> Result<Self, QueryError> {
        std::fs::create_dir_all(cache_dir)
            .map_err(|source| QueryError::DataDir { path: cache_dir.to_owned(), source })?;
        let cache_dir =
            cache_dir.canonicalize().map_err(|source| QueryError::DataDir { path: cache_dir.to_owned(), source })?;
        let follower = Arc::new(shared.follower(cache_dir.clone()));
        let first = shared
            .runtime
            .block_on(follower.poll())
            .map_err(|e| QueryError::Shared(e.to_string()))?
            .unwrap_or_default();
        let storage = follower.storage().clone();
        let files = Files {
            location: FileLocation {
                store: ObjectStoreUrl::parse(storage.base_url()).map_err(|e| QueryError::Shared(e.to_string()))?,
                prefix: storage.key("").to_string(),
            },
            segments: first.segments,
            quarantine: first.quarantine,
            parts_dir: cache_dir,
        };
        let pending = Arc::new(Mutex::new(None));
        let newest = Arc::clone(&pending);
        let task = shared.runtime.spawn(async move {
            loop {
                tokio::time::sleep(poll).await;
                match follower.poll().await {
                    Ok(Some(listing)) => {
                        *newest.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(listing)
                    }
                    Ok(None) => {}
                    Err(error) => tracing::warn!(%error, "cannot follow the shared catalog; trying again"),
                }
            }
        });
        let store = Some((storage.base_url().clone(), storage.object_store()));
        QueryEngine::build(files, store, Source::Catalog { pending, follower: task }, limits)
    }

    fn build(
        files: Files,
        store: Option<(url::Url, Arc<dyn object_store::ObjectStore>)>,
        source: Source,
        limits: QueryLimits,
    ) -> Result<Self, QueryError> {
        let runtime = RuntimeEnvBuilder::new()
            .with_memory_limit(limits.memory_bytes, 1.0)
            .build_arc()
            .map_err(|e| QueryError::Sql(e.to_string()))?;
        if let Some((url, store)) = store {
            runtime.register_object_store(&url, store);
        }
        let config = SessionConfig::new()
            // `current_database()` and the catalog PostgreSQL clients list.
            .with_default_catalog_and_schema(CATALOG, "public")
            .with_information_schema(true)
            .set_bool("datafusion.execution.parquet.pushdown_filters", true)
            .set_bool("datafusion.execution.parquet.reorder_filters", true);
        let state = SessionStateBuilder::new()
            .with_config(config)
            .with_runtime_env(runtime)
            .with_default_features()
            .with_physical_optimizer_rule(Arc::new(YieldingJoins))
            .build();
        let context = SessionContext::new_with_state(state);
        context.register_udf(search_udf());
        let parts = Arc::new(PartCache::new(&files.parts_dir));
        let events = Arc::new(
            SegmentTable::new(event_schema(), files.location.clone(), files.segments, "time")
                .with_index(Arc::clone(&parts)),
        );
        let quarantine =
            Arc::new(SegmentTable::new(quarantine_schema(), files.location, files.quarantine, "received_at"));
        for (name, table) in [("events", &events), ("quarantine", &quarantine)] {
            let table: Arc<dyn TableProvider> = Arc::clone(table) as Arc<dyn TableProvider>;
            context.register_table(name, table).map_err(|e| QueryError::Sql(e.to_string()))?;
        }
        let executor = tokio::runtime::Builder::new_multi_thread()
            .thread_name("agentrail-query")
            .enable_all()
            .build()
            .map_err(|e| QueryError::Sql(format!("cannot start the query threads: {e}")))?;
        Ok(QueryEngine {
            context,
            limits,
            data_dir: files.parts_dir,
            events,
            quarantine,
            parts,
            source,
            executor: Some(executor),
        })
    }

    /// Takes in a newer list of files, if there is one: a data directory's
    /// manifest replaced since the tables were built (cheap when nothing
    /// changed: one `stat`), or a shared catalog's newer listing. Later
    /// queries see the new files, queries running keep theirs.
    pub fn refresh(&self) -> Result<bool, QueryError> {
        let (segments, quarantine) = match &self.source {
            Source::Manifest(stamp) => {
                let mut current = stamp.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                // Stamp first, then read: a manifest replaced in between is read
                // again next time, never missed.
                let stamp = FileStamp::of(&self.data_dir.join(MANIFEST_FILE));
                if stamp.is_some() && stamp == *current {
                    return Ok(false);
                }
                let manifest = Manifest::load(&self.data_dir)?;
                *current = stamp;
                (manifest.segments, manifest.quarantine)
            }
            Source::Catalog { pending, .. } => {
                let Some(listing) = pending.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take() else {
                    return Ok(false);
                };
                (listing.segments, listing.quarantine)
            }
        };
        self.parts.retain(&segments);
        self.events.set_segments(segments);
        self.quarantine.set_segments(quarantine);
        Ok(true)
    }

    /// Opens the index part of every listed segment, so that a server's
    /// first lookups do not each open them (~1 ms a part). Returns how many
    /// opened; a part that cannot be used is left to the lookups, which scan
    /// its segment instead.
    pub fn warm_index(&self) -> usize {
        self.events.segments().iter().filter(|segment| self.parts.warm(segment)).count()
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// Runs one read-only statement, within the limits.
    pub async fn query(&self, sql: &str) -> Result<Answer, QueryError> {
        self.query_with_params(sql, Vec::new()).await
    }

    /// Runs one read-only statement whose `$name` placeholders take
    /// `params` (as text; the statement casts what it needs). Values never
    /// become SQL text, so they cannot change the statement.
    pub async fn query_with_params(&self, sql: &str, params: Vec<(String, String)>) -> Result<Answer, QueryError> {
        let sql = sql.to_owned();
        self.limited(move |context, limits| async move {
            let frame = read_only_frame(&context, &sql, params, limits).await?;
            collect(frame, limits).await
        })
        .await
    }

    /// Runs a statement planned elsewhere on this engine's context (the
    /// PostgreSQL wire protocol plans at Parse and binds at Execute), after
    /// the same read-only check and within the same limits as SQL text.
    pub async fn query_plan(&self, plan: LogicalPlan) -> Result<Answer, QueryError> {
        read_only_options().verify_plan(&plan).map_err(|e| QueryError::from_datafusion(e, self.limits))?;
        self.limited(move |context, limits| async move { collect(DataFrame::new(context.state(), plan), limits).await })
            .await
    }

    /// The plan of one read-only statement, its `$name` placeholders unbound.
    pub async fn plan_read_only(&self, sql: &str) -> Result<LogicalPlan, QueryError> {
        let frame = read_only_frame(&self.context, sql, Vec::new(), self.limits).await?;
        Ok(frame.into_unoptimized_plan())
    }

    /// The context queries run in: its tables, functions and catalog, for a
    /// protocol front end that plans statements itself.
    pub fn context(&self) -> &SessionContext {
        &self.context
    }

    /// Plans `sql` with `params` as [`QueryEngine::query_with_params`]
    /// would, without running it: the columns its answer would have, or
    /// why it cannot run (a syntax error, an unknown column, a statement
    /// that writes).
    pub async fn plan_with_params(&self, sql: &str, params: Vec<(String, String)>) -> Result<SchemaRef, QueryError> {
        let frame = read_only_frame(&self.context, sql, params, self.limits).await?;
        Ok(Arc::new(frame.schema().as_arrow().clone()))
    }

    /// The events matching `filter`, as JSON objects (every column, nulls
    /// included), within the limits.
    pub async fn select(&self, filter: Expr) -> Result<Vec<serde_json::Value>, QueryError> {
        self.select_newest(filter, None).await
    }

    /// [`QueryEngine::select`], newest first and at most `limit` events when
    /// a limit is given.
    pub async fn select_newest(
        &self,
        filter: Expr,
        limit: Option<usize>,
    ) -> Result<Vec<serde_json::Value>, QueryError> {
        // With a limit, a search reads only the newest matches (see `SegmentTable::newest`).
        let events: Arc<dyn TableProvider> = match limit {
            Some(limit) => Arc::new(self.events.newest(limit)),
            None => Arc::clone(&self.events) as Arc<dyn TableProvider>,
        };
        let answer = self
            .limited(move |context, limits| async move {
                let mut frame = context
                    .read_table(events)
                    .and_then(|events| events.filter(filter))
                    .map_err(|e| QueryError::from_datafusion(e, limits))?;
                if let Some(limit) = limit {
                    frame = frame
                        .sort(vec![col("time").sort(false, false), col("event_id").sort(true, false)])
                        .and_then(|sorted| sorted.limit(0, Some(limit)))
                        .map_err(|e| QueryError::from_datafusion(e, limits))?;
                }
                collect(frame, limits).await
            })
            .await?;
        Ok(answer.json_rows()?.into_iter().map(serde_json::Value::Object).collect())
    }

    /// Runs `work` on the engine's own threads so that a timeout answers on
    /// time even while an operator is busy: the task is aborted and stops at
    /// its next yield (most operators yield between batches).
    async fn limited<F, Fut>(&self, work: F) -> Result<Answer, QueryError>
    where
        F: FnOnce(SessionContext, QueryLimits) -> Fut,
        Fut: Future<Output = Result<Answer, QueryError>> + Send + 'static,
    {
        let limits = self.limits;
        let Some(executor) = &self.executor else {
            return Err(QueryError::Sql("the query engine is shut down".into()));
        };
        let mut task = executor.spawn(work(self.context.clone(), limits));
        match tokio::time::timeout(limits.timeout, &mut task).await {
            Ok(Ok(answer)) => answer,
            Ok(Err(join)) => Err(QueryError::Sql(format!("the query failed unexpectedly: {join}"))),
            Err(_) => {
                task.abort();
                Err(QueryError::Timeout(limits.timeout))
            }
        }
    }
}

/// Identifies one version of a file replaced by rename: its inode, size and
/// modification time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileStamp {
    inode: u64,
    len: u64,
    modified: Option<std::time::SystemTime>,
}

impl FileStamp {
    fn of(path: &Path) -> Option<FileStamp> {
        let metadata = std::fs::metadata(path).ok()?;
        #[cfg(unix)]
        let inode = std::os::unix::fs::MetadataExt::ino(&metadata);
        #[cfg(not(unix))]
        let inode = 0;
        Some(FileStamp { inode, len: metadata.len(), modified: metadata.modified().ok() })
    }
}

/// The logical plan of one read-only statement with its `$name`
/// placeholders bound to `params` (as text).
async fn read_only_frame(
    context: &SessionContext,
    sql: &str,
    params: Vec<(String, String)>,
    limits: QueryLimits,
) -> Result<DataFrame, QueryError> {
    let mut frame =
        context.sql_with_options(sql, read_only_options()).await.map_err(|e| QueryError::from_datafusion(e, limits))?;
    if !params.is_empty() {
        let values: Vec<(String, ScalarValue)> =
            params.into_iter().map(|(name, value)| (name, ScalarValue::Utf8(Some(value)))).collect();
        frame = frame.with_param_values(values).map_err(|e| QueryError::from_datafusion(e, limits))?;
    }
    Ok(frame)
}

/// SQL that reads: no DDL, no DML, no statements that change settings.
fn read_only_options() -> SQLOptions {
    SQLOptions::new().with_allow_ddl(false).with_allow_dml(false).with_allow_statements(false)
}

/// Streams a plan's answer, stopping at the row limit.
async fn collect(frame: DataFrame, limits: QueryLimits) -> Result<Answer, QueryError> {
    let schema: SchemaRef = Arc::new(frame.schema().as_arrow().clone());
    let mut stream = frame.execute_stream().await.map_err(|e| QueryError::from_datafusion(e, limits))?;
    let mut batches = Vec::new();
    let mut rows = 0;
    while let Some(batch) = stream.next().await {
        let batch = batch.map_err(|e| QueryError::from_datafusion(e, limits))?;
        rows += batch.num_rows();
        if rows > limits.max_rows {
            return Err(QueryError::TooManyRows(limits.max_rows));
        }
        batches.push(batch);
    }
    Ok(Answer { schema, batches })
}
