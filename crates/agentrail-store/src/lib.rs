//! Durable storage of agent-aware events.
//!
//! The write path promises one thing above all: an acknowledged event is
//! never lost. [`wal`] makes a batch durable (appended and fsynced) before it
//! is acknowledged; [`segment`]s (Parquet) with their [`index`] parts (Tantivy) and the [`manifest`] that lists
//! them come after, and the log is only trimmed once its entries are sealed. A store shared by
//! several nodes is reached through [`publish::Publish`].
//! [`store::Store`] ties them together, with deduplication by event id;
//! rejected records go to [`quarantine`]; small state files are replaced [`durable`]ly. This crate knows nothing of HTTP or Kafka: callers
//! acknowledge, or commit offsets, after [`wal::Wal::sync`] returns.

pub mod chain;
pub mod checkpoint;
pub mod compaction;
pub mod durable;
pub mod index;
pub mod integrity;
pub mod jsonl;
pub mod manifest;
pub mod merkle;
pub mod publish;
pub mod quarantine;
pub mod retention;
pub mod segment;
pub mod store;
pub mod verify;
pub mod wal;

pub use compaction::{CompactionDone, CompactionJob, CompactionOutcome, CompactionPolicy, MergeOutcome};
pub use index::{CompiledQuery, IndexError, IndexPart, IndexQuery, PartProblem};
pub use integrity::{Integrity, IntegrityError, IntegrityOptions};
pub use manifest::{Manifest, ManifestError};
pub use publish::{Files, Listed, OpenFiles, Publish, PublishError, Reconciled, Records};
pub use quarantine::{Quarantined, quarantine_schema};
pub use retention::{RetentionDone, RetentionJob, RetentionOutcome, RetentionPolicy};
pub use segment::{SegmentError, SegmentMeta};
pub use store::{
    AppendOutcome, Finished, OpenReport, SealFailure, SealJob, SealedJob, Store, StoreError, StoreOptions, event_digest,
};
pub use wal::{Damage, Recovery, Wal, WalEntry, WalError, WalOptions};
