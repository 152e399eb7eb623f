//! A node's seals, published to the shared store (see
//! [`agentrail_store::publish`] for when each step runs).
//!
//! Layout under the storage prefix: each file at its data-directory path
//! (`segments/dt=…/<node>-<first>-<last>.parquet`, its index part under
//! `index/dt=…/<name>/`, `quarantine/dt=…/…`), and each node's integrity
//! records under `integrity/<node>/` (the chain, the checkpoints and the
//! public key; never the private key).

use std::collections::HashSet;
use std::path::Path;

use agentrail_store::chain::CHAIN_FILE;
use agentrail_store::index::part_path;
use agentrail_store::integrity::CHECKPOINTS_FILE;
use agentrail_store::segment::for_each_event_id;
use agentrail_store::{
    Files, Listed, Manifest, OpenFiles, Publish, PublishError, Reconciled, Records, SegmentMeta, event_digest,
};
use futures::{StreamExt, TryStreamExt};

use crate::catalog::{Catalog, Listing};
use crate::runtime::SharedRuntime;
use crate::storage::{SharedStorage, StorageError};

/// Uploads at once per seal: enough to hide a round trip, few enough for
/// two cores.
const UPLOADS_IN_FLIGHT: usize = 8;

/// Where a node's integrity records go.
pub fn records_prefix(node: &str) -> String {
    format!("integrity/{node}")
}

/// The public key's name in a node's integrity records.
pub const PUBLIC_KEY_OBJECT: &str = "checkpoint.key.pub";

/// One node's side of the shared store.
#[derive(Debug)]
pub struct Publisher {
    node: String,
    storage: SharedStorage,
    catalog: Catalog,
    runtime: SharedRuntime,
}

impl Publisher {
    pub fn new(node: String, storage: SharedStorage, catalog: Catalog, runtime: SharedRuntime) -> Publisher {
        Publisher { node, storage, catalog, runtime }
    }

    async fn upload_files(&self, files: Files<'_>) -> Result<(), StorageError> {
        let mut uploads: Vec<(std::path::PathBuf, String, bool)> = Vec::new();
        for segment in files.segments {
            uploads.push((files.dir.join(&segment.path), segment.path.clone(), false));
            let part = part_path(&segment.path);
            uploads.push((files.dir.join(&part), part, true));
        }
        for file in files.quarantine {
            uploads.push((files.dir.join(&file.path), file.path.clone(), false));
        }
        futures::stream::iter(uploads)
            .map(|(local, relative, is_dir)| async move {
                if is_dir {
                    self.storage.upload_dir(&local, &relative).await
                } else {
                    self.storage.upload(&local, &relative).await
                }
            })
            .buffer_unordered(UPLOADS_IN_FLIGHT)
            .try_collect::<Vec<()>>()
            .await?;
        Ok(())
    }

    /// Deletes the uploads of the files at `paths`, each with its index
    /// part if it has one.
    async fn delete_uploads(&self, paths: impl IntoIterator<Item = &str>) -> Result<(), StorageError> {
        for path in paths {
            self.storage.delete_tree(path).await?;
            self.storage.delete_tree(&part_path(path)).await?;
        }
        Ok(())
    }

    async fn upload_records(&self, records: &Records) -> Result<(), StorageError> {
        let prefix = records_prefix(&self.node);
        for name in [CHAIN_FILE, CHECKPOINTS_FILE] {
            let local = records.dir.join(name);
            if local.exists() {
                self.storage.upload(&local, &format!("{prefix}/{name}")).await?;
            }
        }
        if records.public_key.exists() {
            self.storage.upload(&records.public_key, &format!("{prefix}/{PUBLIC_KEY_OBJECT}")).await?;
        }
        Ok(())
    }

    /// Lists `added` and unlists `removed` at once, for files whose events
    /// this node already listed (its own merged-away files, or files sealed
    /// before it shared its store): an event another node listed too stays
    /// listed by both, as it was, rather than the change being refused.
    async fn change_keeping_duplicates(
        &self,
        dir: &Path,
        added: &Listing,
        removed: &[String],
    ) -> Result<(), PublishError> {
        let mut ids = event_ids(dir, &added.segments)?;
        let duplicates = self.catalog.change(&self.node, added, &ids, removed).await?;
        if !duplicates.is_empty() {
            tracing::warn!(
                events = duplicates.len(),
                "files this node lists hold events another node listed too (sealed before this node shared its \
                 store); both are kept"
            );
            for (_, digests) in &mut ids {
                digests.retain(|digest| !duplicates.contains(digest));
            }
            self.catalog.change(&self.node, added, &ids, removed).await?;
        }
        Ok(())
    }

    async fn reconcile_now(
        &self,
        dir: &Path,
        manifest: &Manifest,
        records: &Records,
        files: OpenFiles<'_>,
    ) -> Result<Reconciled, PublishError> {
        self.catalog.claim(&self.node).await?;
        let listed = self.catalog.list_node(&self.node).await?;
        let in_manifest: std::collections::HashSet<&str> =
            manifest.segments.iter().chain(&manifest.quarantine).map(|s| s.path.as_str()).collect();
        let in_catalog = listed.paths();
        let unlisted: Vec<String> =
            in_catalog.iter().filter(|path| !in_manifest.contains(**path)).map(|path| (*path).to_owned()).collect();
        let missing = |files: &[SegmentMeta]| -> Vec<SegmentMeta> {
            files.iter().filter(|s| !in_catalog.contains(s.path.as_str())).cloned().collect()
        };
        let publish = Listing { segments: missing(&manifest.segments), quarantine: missing(&manifest.quarantine) };
        if !publish.segments.is_empty() || !publish.quarantine.is_empty() {
            tracing::info!(
                files = publish.segments.len() + publish.quarantine.len(),
                "uploading sealed files the shared catalog does not list yet"
            );
            self.upload_files(Files { dir, segments: &publish.segments, quarantine: &publish.quarantine }).await?;
        }
        self.upload_records(records).await?;
        if !unlisted.is_empty() || !publish.segments.is_empty() || !publish.quarantine.is_empty() {
            // The manifest's files: this node's own events, listed anyway.
            self.change_keeping_duplicates(dir, &publish, &unlisted).await?;
        }
        // A merged-away file in its grace is unlisted (a crash came between
        // a merge's manifest and its catalog) but stays for queries; it goes
        // when its grace ends.
        let retired: HashSet<&str> = files.retired.iter().map(String::as_str).collect();
        let gone: Vec<&str> = unlisted.iter().map(String::as_str).filter(|path| !retired.contains(path)).collect();
        if !gone.is_empty() {
            tracing::warn!(
                files = gone.len(),
                "unlisted files the catalog held beyond this node's manifest (a crash between the two); their rows \
                 are sealed again from the write-ahead log"
            );
            self.delete_uploads(gone).await?;
        }
        // Files a crash left written but never listed may have been
        // uploaded: no catalog names them, but an engine reading the bucket
        // directly would count their rows twice.
        for path in files.abandoned {
            self.storage.delete_tree(path).await?;
        }
        let published = publish.segments.iter().chain(&publish.quarantine).map(|s| s.path.clone()).collect();
        Ok(Reconciled { unlisted, published })
    }
}

impl Publish for Publisher {
    fn node(&self) -> &str {
        &self.node
    }

    fn upload(&self, files: Files<'_>) -> Result<(), PublishError> {
        self.runtime.block_on(self.upload_files(files)).map_err(Into::into)
    }

    fn stored_elsewhere(&self, digests: &[u128]) -> Result<HashSet<u128>, PublishError> {
        Ok(self.runtime.block_on(self.catalog.stored_elsewhere(&self.node, digests))?)
    }

    fn list(&self, files: Files<'_>, records: &Records) -> Result<Listed, PublishError> {
        let ids = event_ids(files.dir, files.segments)?;
        self.runtime.block_on(async {
            self.upload_records(records).await?;
            let added = Listing { segments: files.segments.to_vec(), quarantine: files.quarantine.to_vec() };
            let duplicates = self.catalog.change(&self.node, &added, &ids, &[]).await?;
            Ok(if duplicates.is_empty() { Listed::Listed } else { Listed::Duplicates(duplicates) })
        })
    }

    fn replace(&self, files: Files<'_>, removed: &[String], records: &Records) -> Result<(), PublishError> {
        self.runtime.block_on(async {
            self.upload_records(records).await?;
            let added = Listing { segments: files.segments.to_vec(), quarantine: files.quarantine.to_vec() };
            self.change_keeping_duplicates(files.dir, &added, removed).await
        })
    }

    fn withdraw(&self, files: Files<'_>, records: &Records) -> Result<(), PublishError> {
        let paths: Vec<&str> = files.segments.iter().chain(files.quarantine).map(|file| file.path.as_str()).collect();
        self.runtime.block_on(async {
            self.upload_records(records).await?;
            Ok(self.delete_uploads(paths).await?)
        })
    }

    fn reconcile(
        &self,
        dir: &Path,
        manifest: &Manifest,
        records: &Records,
        files: OpenFiles<'_>,
    ) -> Result<Reconciled, PublishError> {
        self.runtime.block_on(self.reconcile_now(dir, manifest, records, files))
    }
}

/// The event-id digests of each segment, read back from its file.
fn event_ids(dir: &Path, segments: &[SegmentMeta]) -> Result<Vec<(String, Vec<u128>)>, PublishError> {
    segments
        .iter()
        .map(|segment| {
            let mut digests = Vec::with_capacity(segment.rows as usize);
            for_each_event_id(&dir.join(&segment.path), |id| digests.push(event_digest(id)))?;
            Ok((segment.path.clone(), digests))
        })
        .collect()
}
