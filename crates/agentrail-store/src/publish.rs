//! Where sealed files go beyond the data directory: a store several nodes
//! share (object storage and a catalog, `agentrail-shared`).
//!
//! The store calls its [`Publish`] at three points, so that a file is part
//! of the shared store only once it is whole, uploaded and chained:
//!
//! 1. `upload`, on the sealing thread, after the seal's files are written
//!    locally: they are copied out (nobody sees them yet).
//! 2. `list`, on the writer, after the chain records them and before the
//!    manifest lists them and the log is trimmed: the integrity records are
//!    copied out, then the catalog lists the files. Until it succeeds the
//!    rows stay in the log.
//! 3. `reconcile`, on open, before the log is replayed: what the catalog
//!    holds of this node and the manifest does not (a crash between the
//!    two) is unlisted, its rows sealed again from the log; what the
//!    manifest holds and the catalog does not is uploaded and listed; the
//!    uploads of files a crash left unlisted are deleted.
//!
//! A compaction uploads its merged files on its own thread, then `replace`s
//! the merged-away files with them in the catalog in one step (before the
//! manifest does the same), so a query node sees either the old files or
//! the merged ones, never both; the old uploads are `withdraw`n once their
//! grace ends.
//!
//! Events are stored once across nodes, the first listing wins: a node
//! re-reading a Kafka partition another node had taken (and made durable,
//! but not committed, before it stopped) holds events that node will seal
//! too once it is back. Before writing a seal, the store drops the events
//! [`Publish::stored_elsewhere`]; a listing that still meets events another
//! node listed in between is refused ([`Listed::Duplicates`]), withdrawn,
//! and the seal done again without them.

use std::collections::HashSet;
use std::fmt;
use std::path::{Path, PathBuf};

use crate::integrity::IntegrityOptions;
use crate::manifest::Manifest;
use crate::segment::SegmentMeta;

/// Why a seal could not be published; the rows stay in the log.
pub type PublishError = Box<dyn std::error::Error + Send + Sync>;

/// The files of one seal (or one reconciliation), by table.
#[derive(Debug, Clone, Copy)]
pub struct Files<'a> {
    /// The data directory the relative paths are in.
    pub dir: &'a Path,
    pub segments: &'a [SegmentMeta],
    pub quarantine: &'a [SegmentMeta],
}

/// Where the integrity records to copy out are.
#[derive(Debug, Clone)]
pub struct Records {
    /// The chain and checkpoints.
    pub dir: PathBuf,
    /// The exported public key (never the private one).
    pub public_key: PathBuf,
}

impl Records {
    /// The records of the store in `data_dir`.
    pub fn of(integrity: &IntegrityOptions, data_dir: &Path) -> Records {
        Records { dir: integrity.dir(data_dir), public_key: integrity.public_key_file(data_dir) }
    }
}

/// What reconciling found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Reconciled {
    /// Files the catalog listed beyond the manifest, now unlisted.
    pub unlisted: Vec<String>,
    /// Files of the manifest the catalog lacked, now uploaded and listed.
    pub published: Vec<String>,
}

/// What listing a seal came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Listed {
    /// The files are listed.
    Listed,
    /// Nothing was listed: another node listed these events first (their
    /// [`crate::store::event_digest`]s).
    Duplicates(HashSet<u128>),
}

/// A shared store's side of sealing.
pub trait Publish: Send + Sync + fmt::Debug {
    /// This node's id; it starts the name of every file it seals.
    fn node(&self) -> &str;

    /// Copies written files out: each segment with its index part, each
    /// quarantine file.
    fn upload(&self, files: Files<'_>) -> Result<(), PublishError>;

    /// Of these event digests ([`crate::store::event_digest`]), the ones
    /// a file another node listed holds.
    fn stored_elsewhere(&self, digests: &[u128]) -> Result<HashSet<u128>, PublishError>;

    /// Copies the integrity records out, then lists the files in the
    /// catalog, unless another node listed some of their events first.
    fn list(&self, files: Files<'_>, records: &Records) -> Result<Listed, PublishError>;

    /// Lists `files` and unlists `removed` (relative paths) in one step,
    /// after copying the integrity records out: a compaction's swap. The
    /// merged files hold the events the removed ones did, so an event
    /// another node listed too (both were kept, see
    /// [`Publish::reconcile`]) is no reason to refuse.
    fn replace(&self, files: Files<'_>, removed: &[String], records: &Records) -> Result<(), PublishError>;

    /// Copies the integrity records out (they say why the files went),
    /// then deletes the uploads of files that are not (or no longer) listed.
    fn withdraw(&self, files: Files<'_>, records: &Records) -> Result<(), PublishError>;

    /// Brings the catalog's list of this node's files to the manifest's,
    /// and deletes any upload of `abandoned` (files written by a seal or a
    /// merge that a crash left unlisted, removed from the directory on open;
    /// relative paths). A file the catalog lists and the manifest does not
    /// is unlisted; its upload is deleted too unless it is `retired` (merged
    /// away and in its grace: queries may still read it).
    fn reconcile(
        &self,
        dir: &Path,
        manifest: &Manifest,
        records: &Records,
        files: OpenFiles<'_>,
    ) -> Result<Reconciled, PublishError>;
}

/// What the store found of its files on open, for [`Publish::reconcile`]
/// (relative paths).
#[derive(Debug, Clone, Copy, Default)]
pub struct OpenFiles<'a> {
    /// Written by a seal or a merge a crash left unlisted, or deleted by a
    /// retention a crash interrupted (each index part named too); gone
    /// locally.
    pub abandoned: &'a [String],
    /// Merged away and still in their grace.
    pub retired: &'a [String],
}
