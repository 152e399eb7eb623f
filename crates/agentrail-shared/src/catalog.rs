//! The catalog: which sealed files every node has listed.
//!
//! A file is part of the shared store once the catalog lists it, never
//! before: it is uploaded first, its digest-chain leaf recorded, then
//! listed, and only then does its node trim the write-ahead log. Two kinds:
//!
//! - **embedded** (the default): each node keeps its own list as one object
//!   in the store (`catalog/<node>.json`), replaced whole; readers list
//!   `catalog/` and read them all. No other service needed; one writer per
//!   object, so it suits one node (or a few, each with its own id).
//! - **PostgreSQL**: one table (`agentrail_files`) every node writes in
//!   transactions, a version row bumped with each change (readers compare it
//!   before listing again), and a session advisory lock per node id, so two
//!   processes never write as the same node. It also keeps the digest of
//!   every listed event id (`agentrail_event_ids`, for `dedup_window_days`),
//!   inserted in the listing's transaction: an event is listed once across
//!   nodes, whoever lists it first (a node re-reading a Kafka partition
//!   another node had consumed holds events that node will seal too).
//!   The embedded catalog keeps no ids: there, only each node's own
//!   duplicates are dropped.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use agentrail_store::SegmentMeta;
use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;

use crate::storage::{SharedStorage, StorageError};

/// Why the catalog could not be read or changed.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("catalog object {path} is not valid: {source}")]
    Invalid {
        path: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("PostgreSQL catalog: {0}")]
    Postgres(#[from] tokio_postgres::Error),
    #[error(
        "node id {0:?} is in use by another running agentrail (the catalog's lock for it is held): give each node \
         its own [node] id"
    )]
    NodeInUse(String),
}

/// `[catalog]`: where the list of files lives.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CatalogConfig {
    /// `postgres://user:password@host:port/database`; absent: the embedded
    /// catalog, kept in the object store.
    pub url: Option<String>,
    /// How long (days since listing) PostgreSQL keeps event ids for
    /// dropping another node's duplicates: longer than any node may be
    /// down with events in its log.
    #[serde(default = "default_dedup_window_days")]
    pub dedup_window_days: u32,
}

fn default_dedup_window_days() -> u32 {
    7
}

impl Default for CatalogConfig {
    fn default() -> Self {
        CatalogConfig { url: None, dedup_window_days: default_dedup_window_days() }
    }
}

/// The event-id digests of the listed segments, by path.
pub type EventIds = [(String, Vec<u128>)];

/// Which table a file belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FileKind {
    Events,
    Quarantine,
}

impl FileKind {
    fn as_str(self) -> &'static str {
        match self {
            FileKind::Events => "events",
            FileKind::Quarantine => "quarantine",
        }
    }
}

/// Every file listed, by table.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Listing {
    pub segments: Vec<SegmentMeta>,
    pub quarantine: Vec<SegmentMeta>,
}

impl Listing {
    fn push(&mut self, kind: FileKind, meta: SegmentMeta) {
        match kind {
            FileKind::Events => self.segments.push(meta),
            FileKind::Quarantine => self.quarantine.push(meta),
        }
    }

    /// Every path listed.
    pub fn paths(&self) -> HashSet<&str> {
        self.segments.iter().chain(&self.quarantine).map(|s| s.path.as_str()).collect()
    }

    fn sort(&mut self) {
        self.segments.sort_by(|a, b| a.path.cmp(&b.path));
        self.quarantine.sort_by(|a, b| a.path.cmp(&b.path));
    }
}

/// One node's object in the embedded catalog.
#[derive(Debug, Default, Serialize, Deserialize)]
struct NodeObject {
    node: String,
    #[serde(flatten)]
    listing: Listing,
}

const OBJECTS_DIR: &str = "catalog";

/// The list of files, in one of its two homes.
#[derive(Debug, Clone)]
pub enum Catalog {
    Embedded(SharedStorage),
    Postgres(Arc<PgCatalog>),
}

impl Catalog {
    pub async fn open(config: &CatalogConfig, storage: &SharedStorage) -> Result<Catalog, CatalogError> {
        Ok(match &config.url {
            Some(url) => Catalog::Postgres(Arc::new(PgCatalog::connect(url, config.dedup_window_days).await?)),
            None => Catalog::Embedded(storage.clone()),
        })
    }

    /// How the catalog is named in messages (no password).
    pub fn describe(&self) -> String {
        match self {
            Catalog::Embedded(_) => "embedded in the object storage".to_owned(),
            Catalog::Postgres(pg) => match url::Url::parse(&pg.url) {
                Ok(mut url) => {
                    let _ = url.set_password(None);
                    url.to_string()
                }
                Err(_) => "PostgreSQL".to_owned(),
            },
        }
    }

    /// Makes this process the only writer as `node` (PostgreSQL: until the
    /// connection closes; embedded: the data directory's lock does it).
    pub async fn claim(&self, node: &str) -> Result<(), CatalogError> {
        match self {
            Catalog::Embedded(_) => Ok(()),
            Catalog::Postgres(pg) => pg.claim(node).await,
        }
    }

    /// Everything every node has listed.
    pub async fn list(&self) -> Result<Listing, CatalogError> {
        let mut listing = match self {
            Catalog::Embedded(storage) => {
                let mut all = Listing::default();
                for path in storage.list(OBJECTS_DIR).await? {
                    if path.ends_with(".json") {
                        let object = read_object(storage, &path).await?.unwrap_or_default();
                        all.segments.extend(object.listing.segments);
                        all.quarantine.extend(object.listing.quarantine);
                    }
                }
                all
            }
            Catalog::Postgres(pg) => pg.list(None).await?,
        };
        listing.sort();
        Ok(listing)
    }

    /// What `node` has listed.
    pub async fn list_node(&self, node: &str) -> Result<Listing, CatalogError> {
        match self {
            Catalog::Embedded(storage) => {
                Ok(read_object(storage, &node_object(node)).await?.map(|o| o.listing).unwrap_or_default())
            }
            Catalog::Postgres(pg) => pg.list(Some(node)).await,
        }
    }

    /// A number that changes whenever the catalog does (`None`: the
    /// catalog cannot tell, list it again).
    pub async fn version(&self) -> Result<Option<i64>, CatalogError> {
        match self {
            Catalog::Embedded(_) => Ok(None),
            Catalog::Postgres(pg) => pg.version().await.map(Some),
        }
    }

    /// Of `digests`, the ones in files another node listed (PostgreSQL;
    /// the embedded catalog keeps no ids and finds none).
    pub async fn stored_elsewhere(&self, node: &str, digests: &[u128]) -> Result<HashSet<u128>, CatalogError> {
        match self {
            Catalog::Embedded(_) => Ok(HashSet::new()),
            Catalog::Postgres(pg) => pg.stored_elsewhere(node, digests).await,
        }
    }

    /// Lists `added` (with its segments' event `ids`) and unlists `removed`
    /// (paths) for `node`, at once; unless another node's files hold some
    /// of `ids`: then nothing changes and those are returned.
    pub async fn change(
        &self,
        node: &str,
        added: &Listing,
        ids: &EventIds,
        removed: &[String],
    ) -> Result<HashSet<u128>, CatalogError> {
        match self {
            Catalog::Embedded(storage) => {
                let path = node_object(node);
                let mut object = read_object(storage, &path).await?.unwrap_or_default();
                object.node = node.to_owned();
                let gone: HashSet<&str> = removed.iter().map(String::as_str).chain(added.paths()).collect();
                object.listing.segments.retain(|s| !gone.contains(s.path.as_str()));
                object.listing.quarantine.retain(|s| !gone.contains(s.path.as_str()));
                object.listing.segments.extend(added.segments.iter().cloned());
                object.listing.quarantine.extend(added.quarantine.iter().cloned());
                let bytes = serde_json::to_vec_pretty(&object)
                    .map_err(|source| CatalogError::Invalid { path: path.clone(), source })?;
                storage.put(&path, bytes).await?;
                Ok(HashSet::new())
            }
            Catalog::Postgres(pg) => pg.change(node, added, ids, removed).await,
        }
    }
}

fn node_object(node: &str) -> String {
    format!("{OBJECTS_DIR}/{node}.json")
}

async fn read_object(storage: &SharedStorage, path: &str) -> Result<Option<NodeObject>, CatalogError> {
    let Some(bytes) = storage.get(path).await? else { return Ok(None) };
    serde_json::from_slice(&bytes).map(Some).map_err(|source| CatalogError::Invalid { path: path.to_owned(), source })
}

/// The catalog in PostgreSQL: one connection, reopened (and the node's
/// claim taken again) when it breaks.
#[derive(Debug)]
pub struct PgCatalog {
    url: String,
    dedup_window_days: u32,
    state: Mutex<PgState>,
}

#[derive(Debug, Default)]
struct PgState {
    client: Option<tokio_postgres::Client>,
    node: Option<String>,
    /// When this node last deleted ids past the dedup window.
    pruned: Option<Instant>,
}

/// How often a node deletes the ids past the dedup window.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

/// The schema, created by whichever node comes first (under a transaction
/// lock, so two nodes starting together do not race).
const SCHEMA: &str = "
    SELECT pg_advisory_xact_lock(hashtext('agentrail catalog schema'));
    CREATE TABLE IF NOT EXISTS agentrail_files (
        path text PRIMARY KEY,
        node text NOT NULL,
        kind text NOT NULL CHECK (kind IN ('events', 'quarantine')),
        day text NOT NULL,
        rows bigint NOT NULL,
        bytes bigint NOT NULL,
        min_time_us bigint NOT NULL,
        max_time_us bigint NOT NULL,
        sha256 text NOT NULL,
        listed_at timestamptz NOT NULL DEFAULT now()
    );
    ALTER TABLE agentrail_files ADD COLUMN IF NOT EXISTS file_id bigint GENERATED BY DEFAULT AS IDENTITY UNIQUE;
    CREATE INDEX IF NOT EXISTS agentrail_files_node ON agentrail_files (node);
    CREATE TABLE IF NOT EXISTS agentrail_event_ids (
        id bytea PRIMARY KEY,
        file bigint NOT NULL REFERENCES agentrail_files (file_id) ON DELETE CASCADE
    );
    CREATE INDEX IF NOT EXISTS agentrail_event_ids_file ON agentrail_event_ids (file);
    CREATE TABLE IF NOT EXISTS agentrail_catalog (one boolean PRIMARY KEY DEFAULT true CHECK (one), version bigint NOT NULL);
    INSERT INTO agentrail_catalog (version) VALUES (0) ON CONFLICT DO NOTHING;
";

impl PgCatalog {
    pub async fn connect(url: &str, dedup_window_days: u32) -> Result<PgCatalog, CatalogError> {
        let catalog = PgCatalog { url: url.to_owned(), dedup_window_days, state: Mutex::new(PgState::default()) };
        catalog.client(&mut *catalog.state.lock().await).await?;
        Ok(catalog)
    }

    /// The open connection, reconnecting (and claiming the node again) if
    /// it broke.
    async fn client<'s>(&self, state: &'s mut PgState) -> Result<&'s mut tokio_postgres::Client, CatalogError> {
        let client = match state.client.take() {
            Some(client) if !client.is_closed() => client,
            _ => self.open(state.node.as_deref()).await?,
        };
        Ok(state.client.insert(client))
    }

    async fn open(&self, node: Option<&str>) -> Result<tokio_postgres::Client, CatalogError> {
        let (mut client, connection) = tokio_postgres::connect(&self.url, tokio_postgres::NoTls).await?;
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::warn!(%error, "the PostgreSQL catalog's connection closed");
            }
        });
        let transaction = client.transaction().await?;
        transaction.batch_execute(SCHEMA).await?;
        transaction.commit().await?;
        if let Some(node) = node {
            take_lock(&client, node).await?;
        }
        Ok(client)
    }

    async fn claim(&self, node: &str) -> Result<(), CatalogError> {
        let mut state = self.state.lock().await;
        let client = self.client(&mut state).await?;
        take_lock(client, node).await?;
        state.node = Some(node.to_owned());
        Ok(())
    }

    async fn list(&self, node: Option<&str>) -> Result<Listing, CatalogError> {
        let mut state = self.state.lock().await;
        let client = self.client(&mut state).await?;
        let columns = "kind, path, day, rows, bytes, min_time_us, max_time_us, sha256";
        let rows = match node {
            Some(node) => {
                client.query(&format!("SELECT {columns} FROM agentrail_files WHERE node = $1"), &[&node]).await?
            }
            None => client.query(&format!("SELECT {columns} FROM agentrail_files"), &[]).await?,
        };
        let mut listing = Listing::default();
        for row in rows {
            let kind = if row.try_get::<_, &str>(0)? == "quarantine" { FileKind::Quarantine } else { FileKind::Events };
            listing.push(
                kind,
                SegmentMeta {
                    path: row.try_get(1)?,
                    day: row.try_get(2)?,
                    rows: row.try_get::<_, i64>(3)?.max(0) as u64,
                    bytes: row.try_get::<_, i64>(4)?.max(0) as u64,
                    min_time_us: row.try_get(5)?,
                    max_time_us: row.try_get(6)?,
                    sha256: row.try_get(7)?,
                },
            );
        }
        listing.sort();
        Ok(listing)
    }

    async fn version(&self) -> Result<i64, CatalogError> {
        let mut state = self.state.lock().await;
        let client = self.client(&mut state).await?;
        Ok(client.query_one("SELECT version FROM agentrail_catalog", &[]).await?.try_get(0)?)
    }

    async fn stored_elsewhere(&self, node: &str, digests: &[u128]) -> Result<HashSet<u128>, CatalogError> {
        let mut state = self.state.lock().await;
        let client = self.client(&mut state).await?;
        let rows = client
            .query(
                "SELECT e.id FROM agentrail_event_ids e JOIN agentrail_files f ON f.file_id = e.file \
                 WHERE e.id = ANY($1) AND f.node <> $2",
                &[&to_bytes(digests), &node],
            )
            .await?;
        rows.iter().map(|row| Ok(from_bytes(row.try_get(0)?))).collect()
    }

    async fn change(
        &self,
        node: &str,
        added: &Listing,
        ids: &EventIds,
        removed: &[String],
    ) -> Result<HashSet<u128>, CatalogError> {
        let mut state = self.state.lock().await;
        let prune = state.pruned.is_none_or(|at| at.elapsed() >= PRUNE_EVERY);
        let client = self.client(&mut state).await?;
        let transaction = client.transaction().await?;
        if !removed.is_empty() {
            // Their ids go with them (ON DELETE CASCADE).
            transaction
                .execute("DELETE FROM agentrail_files WHERE node = $1 AND path = ANY($2)", &[&node, &removed])
                .await?;
        }
        let upsert = transaction
            .prepare(
                "INSERT INTO agentrail_files (path, node, kind, day, rows, bytes, min_time_us, max_time_us, sha256) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
                 ON CONFLICT (path) DO UPDATE SET node = $2, kind = $3, day = $4, rows = $5, bytes = $6, \
                 min_time_us = $7, max_time_us = $8, sha256 = $9, listed_at = now() \
                 RETURNING file_id",
            )
            .await?;
        let files = added
            .segments
            .iter()
            .map(|s| (FileKind::Events, s))
            .chain(added.quarantine.iter().map(|s| (FileKind::Quarantine, s)));
        let mut file_ids: HashMap<&str, i64> = HashMap::new();
        for (kind, meta) in files {
            let (rows, bytes) = (meta.rows as i64, meta.bytes as i64);
            let row = transaction
                .query_one(
                    &upsert,
                    &[
                        &meta.path,
                        &node,
                        &kind.as_str(),
                        &meta.day,
                        &rows,
                        &bytes,
                        &meta.min_time_us,
                        &meta.max_time_us,
                        &meta.sha256,
                    ],
                )
                .await?;
            file_ids.insert(meta.path.as_str(), row.try_get(0)?);
        }
        // One statement, ids in order: two nodes listing overlapping ids
        // take their rows' locks in the same order, so neither deadlocks;
        // the second waits for the first to commit, then finds its ids.
        let mut rows: Vec<(u128, i64)> = ids
            .iter()
            .filter_map(|(path, digests)| Some((file_ids.get(path.as_str())?, digests)))
            .flat_map(|(file, digests)| digests.iter().map(move |digest| (*digest, *file)))
            .collect();
        rows.sort_unstable();
        if !rows.is_empty() {
            let digests: Vec<u128> = rows.iter().map(|(digest, _)| *digest).collect();
            let files: Vec<i64> = rows.iter().map(|(_, file)| *file).collect();
            let inserted = transaction
                .execute(
                    "INSERT INTO agentrail_event_ids (id, file) SELECT * FROM unnest($1::bytea[], $2::bigint[]) \
                     ON CONFLICT (id) DO NOTHING",
                    &[&to_bytes(&digests), &files],
                )
                .await?;
            if inserted < rows.len() as u64 {
                // Ids already listed: by these same files (a listing retried
                // after its answer was lost) or by another node's.
                let ours: Vec<i64> = file_ids.values().copied().collect();
                let taken = transaction
                    .query(
                        "SELECT id FROM agentrail_event_ids WHERE id = ANY($1) AND NOT (file = ANY($2))",
                        &[&to_bytes(&digests), &ours],
                    )
                    .await?;
                if !taken.is_empty() {
                    // Dropping the transaction rolls it back: nothing listed.
                    return taken.iter().map(|row| Ok(from_bytes(row.try_get(0)?))).collect();
                }
            }
        }
        if prune {
            let pruned = transaction
                .execute(
                    "DELETE FROM agentrail_event_ids WHERE file IN \
                     (SELECT file_id FROM agentrail_files WHERE listed_at < now() - make_interval(days => $1))",
                    &[&(self.dedup_window_days as i32)],
                )
                .await?;
            if pruned > 0 {
                tracing::info!(ids = pruned, days = self.dedup_window_days, "forgot event ids past the dedup window");
            }
        }
        transaction.execute("UPDATE agentrail_catalog SET version = version + 1", &[]).await?;
        transaction.commit().await?;
        if prune {
            state.pruned = Some(Instant::now());
        }
        Ok(HashSet::new())
    }
}

/// Digests as PostgreSQL `bytea`s (big-endian, so they sort as numbers).
fn to_bytes(digests: &[u128]) -> Vec<Vec<u8>> {
    digests.iter().map(|digest| digest.to_be_bytes().to_vec()).collect()
}

fn from_bytes(bytes: &[u8]) -> u128 {
    let mut digest = [0_u8; 16];
    let n = bytes.len().min(16);
    digest[16 - n..].copy_from_slice(&bytes[bytes.len() - n..]);
    u128::from_be_bytes(digest)
}

async fn take_lock(client: &tokio_postgres::Client, node: &str) -> Result<(), CatalogError> {
    let row = client.query_one("SELECT pg_try_advisory_lock(hashtext('agentrail node ' || $1))", &[&node]).await?;
    if row.try_get::<_, bool>(0)? { Ok(()) } else { Err(CatalogError::NodeInUse(node.to_owned())) }
}
