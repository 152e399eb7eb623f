//! A store shared by several agentrail nodes.
//!
//! One machine is the embedded default: a data directory. To grow, nodes
//! share what they seal through existing infrastructure: sealed files
//! (segments, index parts, quarantine, each node's integrity records) in
//! object storage ([`storage`]), and a [`catalog`] listing them (embedded in
//! the object store, or PostgreSQL when several nodes write). Each ingest
//! node keeps its write-ahead log on local disk and [`publisher`] publishes
//! its seals (the store decides when: `agentrail_store::publish`); each
//! [`node`] has its own id, which starts its files' names. Query nodes
//! follow the catalog ([`follower`]) and read everything every node wrote.

pub mod catalog;
pub mod follower;
pub mod node;
pub mod publisher;
pub mod runtime;
pub mod storage;

use std::path::PathBuf;
use std::sync::Arc;

pub use catalog::{Catalog, CatalogConfig, CatalogError, Listing};
pub use follower::Follower;
pub use node::{NodeIdError, node_id};
pub use publisher::Publisher;
pub use runtime::SharedRuntime;
pub use storage::{SharedStorage, StorageConfig, StorageError};

/// Why the shared store could not be reached.
#[derive(Debug, thiserror::Error)]
pub enum SharedError {
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    #[error(transparent)]
    NodeId(#[from] NodeIdError),
    #[error("cannot start the shared store's threads: {0}")]
    Runtime(std::io::Error),
}

/// The object store and the catalog, open.
#[derive(Debug, Clone)]
pub struct Shared {
    pub storage: SharedStorage,
    pub catalog: Catalog,
    pub runtime: SharedRuntime,
}

impl Shared {
    pub fn open(storage: &StorageConfig, catalog: &CatalogConfig) -> Result<Shared, SharedError> {
        let runtime = SharedRuntime::new().map_err(SharedError::Runtime)?;
        let storage = SharedStorage::open(storage)?;
        let catalog = runtime.block_on(Catalog::open(catalog, &storage))?;
        Ok(Shared { storage, catalog, runtime })
    }

    /// The publisher of node `node`'s seals.
    pub fn publisher(&self, node: String) -> Arc<Publisher> {
        Arc::new(Publisher::new(node, self.storage.clone(), self.catalog.clone(), self.runtime.clone()))
    }

    /// A reader of everything listed, caching index parts in `cache_dir`.
    pub fn follower(&self, cache_dir: PathBuf) -> Follower {
        Follower::new(self.storage.clone(), self.catalog.clone(), cache_dir)
    }
}
