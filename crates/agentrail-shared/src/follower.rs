//! A reader of the shared store: the catalog's listing, with the index part
//! of every listed segment copied to a local cache, so a lookup opens a
//! local Tantivy index and reads from object storage only the Parquet pages
//! it selects (DataFusion caches the files' footers).

use std::path::{Path, PathBuf};

use agentrail_store::SegmentMeta;
use agentrail_store::index::part_path;
use futures::{StreamExt, TryStreamExt};
use tokio::sync::Mutex;

use crate::catalog::{Catalog, CatalogError, Listing};
use crate::storage::SharedStorage;

/// Parts fetched at once.
const FETCHES_IN_FLIGHT: usize = 8;

/// Follows the catalog for a query engine.
#[derive(Debug)]
pub struct Follower {
    storage: SharedStorage,
    catalog: Catalog,
    cache_dir: PathBuf,
    seen: Mutex<Seen>,
}

#[derive(Debug, Default)]
struct Seen {
    version: Option<i64>,
    listing: Option<Listing>,
}

impl Follower {
    pub fn new(storage: SharedStorage, catalog: Catalog, cache_dir: PathBuf) -> Follower {
        Follower { storage, catalog, cache_dir, seen: Mutex::new(Seen::default()) }
    }

    pub fn storage(&self) -> &SharedStorage {
        &self.storage
    }

    /// Where index parts are cached, laid out as in a data directory.
    pub fn cache_dir(&self) -> &Path {
        &self.cache_dir
    }

    /// The listing, when it changed since the last call (the first call
    /// always returns it), every listed segment's index part in the cache.
    pub async fn poll(&self) -> Result<Option<Listing>, CatalogError> {
        let mut seen = self.seen.lock().await;
        let version = self.catalog.version().await?;
        if version.is_some() && version == seen.version && seen.listing.is_some() {
            return Ok(None);
        }
        let listing = self.catalog.list().await?;
        if seen.listing.as_ref() == Some(&listing) {
            seen.version = version;
            return Ok(None);
        }
        self.fetch_parts(&listing.segments).await?;
        seen.version = version;
        seen.listing = Some(listing.clone());
        Ok(Some(listing))
    }

    async fn fetch_parts(&self, segments: &[SegmentMeta]) -> Result<(), CatalogError> {
        let missing: Vec<String> = segments
            .iter()
            .map(|segment| part_path(&segment.path))
            .filter(|part| !self.cache_dir.join(part).is_dir())
            .collect();
        if !missing.is_empty() {
            tracing::debug!(parts = missing.len(), "caching index parts");
        }
        futures::stream::iter(missing)
            .map(|part| async move { self.storage.download_dir(&part, &self.cache_dir.join(&part)).await })
            .buffer_unordered(FETCHES_IN_FLIGHT)
            .try_collect::<Vec<()>>()
            .await?;
        Ok(())
    }
}
