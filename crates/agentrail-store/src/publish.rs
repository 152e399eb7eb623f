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

/// A shared store's side of sealing.
pub trait Publish: Send + Sync + fmt::Debug {
    /// This node's id; it starts the name of every file it seals.
    fn node(&self) -> &str;

    /// Copies written files out: each segment with its index part, each
    /// quarantine file.
    fn upload(&self, files: Files<'_>) -> Result<(), PublishError>;

    /// Copies the integrity records out, then lists the files in the catalog.
    fn list(&self, files: Files<'_>, records: &Records) -> Result<(), PublishError>;

    /// Brings the catalog's list of this node's files to the manifest's,
    /// and deletes any upload of `abandoned` (files written by a seal or a
    /// merge that a crash left unlisted, removed from the directory on open;
    /// relative paths).
    fn reconcile(
        &self,
        dir: &Path,
        manifest: &Manifest,
        records: &Records,
        abandoned: &[String],
    ) -> Result<Reconciled, PublishError>;
}
