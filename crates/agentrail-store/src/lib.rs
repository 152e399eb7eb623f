//! Durable storage of agent-aware events.
//!
//! The write path promises one thing above all: an acknowledged event is
//! never lost. [`wal`] makes a batch durable (appended and fsynced) before it
//! is acknowledged; sealing batches into Parquet segments and the manifest
//! that lists them come after, and the log is only trimmed once its entries
//! are sealed. This crate knows nothing of HTTP or Kafka: callers
//! acknowledge, or commit offsets, after [`wal::Wal::sync`] returns.

pub mod wal;

pub use wal::{Damage, Recovery, Wal, WalEntry, WalError, WalOptions};
