//! The digest chain: an append-only log with one leaf per sealed segment,
//! per index part rebuilt and per segment deleted on purpose, hashed into a
//! [`merkle`](crate::merkle) tree whose roots [`checkpoint`](crate::checkpoint)s sign.
//!
//! The log is one JSON line per leaf in `chain.jsonl` ([`jsonl`](crate::jsonl));
//! a leaf's hash is that of its line's bytes as stored, so what is verified
//! is what is on disk. Each append is fsynced before the segment it
//! describes is listed.

use std::fs::File;
use std::path::{Path, PathBuf};

use agentrail_event::Timestamp;
use serde::{Deserialize, Serialize};

use crate::jsonl::{self, Appender, JsonlError};
use crate::merkle::{Frontier, Hash, consistency_proof, leaf_hash, root};

/// The log's file name in its directory.
pub const CHAIN_FILE: &str = "chain.jsonl";

/// One entry of the chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Leaf {
    /// A segment (or quarantine file) as sealed.
    Segment {
        /// Path relative to the data directory.
        segment: String,
        /// SHA-256 of the Parquet file, hex.
        sha256: String,
        bytes: u64,
        rows: u64,
        /// The write-ahead log entries the segment holds.
        first_seq: u64,
        last_seq: u64,
        /// SHA-256 over the index part's files (see [`directory_sha256`]),
        /// hex; none for a quarantine file.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        index_sha256: Option<String>,
        /// The Merkle root of the segment's event ids in file order, hex:
        /// one event can be proven to be in the segment.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        events_root: Option<String>,
        sealed_at: Timestamp,
    },
    /// A segment's index part written again from the segment's rows.
    IndexRebuilt { segment: String, index_sha256: String, reason: String, at: Timestamp },
    /// A segment removed on purpose (retention, or a seal a crash left
    /// unlisted), so its absence is expected.
    Deleted { segment: String, sha256: String, reason: String, at: Timestamp },
}

impl Leaf {
    /// The segment the leaf is about.
    pub fn segment(&self) -> &str {
        match self {
            Leaf::Segment { segment, .. } | Leaf::IndexRebuilt { segment, .. } | Leaf::Deleted { segment, .. } => {
                segment
            }
        }
    }
}

/// The chain, open for appending.
#[derive(Debug)]
pub struct Chain {
    log: Appender,
    entries: Vec<Leaf>,
    hashes: Vec<Hash>,
    frontier: Frontier,
}

impl Chain {
    /// Opens (creating if needed) the chain in `dir`. A torn last line is
    /// cut off; a damaged line is an error naming it.
    pub fn open(dir: &Path) -> Result<Chain, JsonlError> {
        let path = dir.join(CHAIN_FILE);
        let read = jsonl::read::<Leaf>(&path)?;
        let log = Appender::open(&path, read.whole_bytes)?;
        let mut frontier = Frontier::default();
        read.hashes.iter().for_each(|hash| frontier.push(*hash));
        Ok(Chain { log, entries: read.entries, hashes: read.hashes, frontier })
    }

    /// Appends `leaf` durably; returns its index.
    pub fn append(&mut self, leaf: &Leaf) -> Result<u64, JsonlError> {
        let hash = self.log.append(leaf)?;
        self.entries.push(leaf.clone());
        self.hashes.push(hash);
        self.frontier.push(hash);
        Ok(self.len() - 1)
    }

    pub fn len(&self) -> u64 {
        self.hashes.len() as u64
    }

    pub fn is_empty(&self) -> bool {
        self.hashes.is_empty()
    }

    pub fn entries(&self) -> &[Leaf] {
        &self.entries
    }

    pub fn path(&self) -> &Path {
        self.log.path()
    }

    /// The root over every leaf.
    pub fn root(&self) -> Hash {
        self.frontier.root()
    }

    /// The root of the first `size` leaves (all when `size` is larger).
    pub fn root_at(&self, size: u64) -> Hash {
        let size = usize::try_from(size).unwrap_or(usize::MAX).min(self.hashes.len());
        root(&self.hashes[..size])
    }

    /// The proof that the chain extends its first `old_size` leaves.
    pub fn consistency_proof(&self, old_size: u64) -> Option<Vec<Hash>> {
        consistency_proof(&self.hashes, usize::try_from(old_size).ok()?)
    }
}

/// A segment the chain says should exist: its newest `Segment` leaf, with
/// the index parts rebuilt since.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveSegment {
    pub path: String,
    pub sha256: String,
    pub bytes: u64,
    pub first_seq: u64,
    pub last_seq: u64,
    pub index_sha256: Option<String>,
}

/// What the chain says the data directory holds.
#[derive(Debug, Default)]
pub struct ChainState {
    /// In the order they were sealed.
    pub live: Vec<LiveSegment>,
    /// Segments removed on purpose, with the reason of the last removal.
    pub deleted: std::collections::HashMap<String, String>,
}

impl ChainState {
    /// Replays `leaves` in order.
    pub fn of(leaves: &[Leaf]) -> ChainState {
        let mut slots: Vec<Option<LiveSegment>> = Vec::new();
        let mut at: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
        let mut deleted = std::collections::HashMap::new();
        for leaf in leaves {
            match leaf {
                Leaf::Segment { segment, sha256, bytes, first_seq, last_seq, index_sha256, .. } => {
                    let live = LiveSegment {
                        path: segment.clone(),
                        sha256: sha256.clone(),
                        bytes: *bytes,
                        first_seq: *first_seq,
                        last_seq: *last_seq,
                        index_sha256: index_sha256.clone(),
                    };
                    if let Some(old) = at.get(segment) {
                        slots[*old] = None;
                    }
                    at.insert(segment.clone(), slots.len());
                    slots.push(Some(live));
                    deleted.remove(segment);
                }
                Leaf::IndexRebuilt { segment, index_sha256, .. } => {
                    if let Some(live) = at.get(segment).and_then(|i| slots[*i].as_mut()) {
                        live.index_sha256 = Some(index_sha256.clone());
                    }
                }
                Leaf::Deleted { segment, reason, .. } => {
                    if let Some(old) = at.remove(segment) {
                        slots[old] = None;
                    }
                    deleted.insert(segment.clone(), reason.clone());
                }
            }
        }
        ChainState { live: slots.into_iter().flatten().collect(), deleted }
    }
}

/// SHA-256 over a directory's files (one level), in name order: each file
/// contributes its name, a NUL, and its own SHA-256. Hex. Hidden files
/// (Tantivy's lock files, which readers create, and its garbage-collection
/// list) are left out: they do not change what a search finds.
pub fn directory_sha256(dir: &Path) -> std::io::Result<String> {
    use sha2::{Digest, Sha256};
    let mut names: Vec<(String, PathBuf)> = std::fs::read_dir(dir)?
        .filter_map(|entry| entry.ok())
        .filter(|entry| entry.file_type().is_ok_and(|t| t.is_file()))
        .filter(|entry| !entry.file_name().to_string_lossy().starts_with('.'))
        .map(|entry| (entry.file_name().to_string_lossy().into_owned(), entry.path()))
        .collect();
    names.sort();
    let mut whole = Sha256::new();
    for (name, path) in names {
        let mut file = Sha256::new();
        std::io::copy(&mut File::open(&path)?, &mut file)?;
        whole.update(name.as_bytes());
        whole.update([0]);
        whole.update(file.finalize());
    }
    Ok(hex::encode(whole.finalize()))
}

/// The Merkle root over event ids, in the order given.
pub fn events_root<'a>(event_ids: impl IntoIterator<Item = &'a str>) -> Hash {
    let leaves: Vec<Hash> = event_ids.into_iter().map(|id| leaf_hash(id.as_bytes())).collect();
    root(&leaves)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::merkle::verify_consistency;

    fn segment(n: u64) -> Leaf {
        Leaf::Segment {
            segment: format!("segments/dt=2026-11-24/{n:020}-{n:020}.parquet"),
            sha256: hex::encode([n as u8; 32]),
            bytes: 1000 + n,
            rows: 10 * n,
            first_seq: n,
            last_seq: n,
            index_sha256: Some(hex::encode([0xAA; 32])),
            events_root: Some(hex::encode(events_root(["a", "b"]))),
            sealed_at: Timestamp::from_micros(1_790_000_000_000_000 + n as i64),
        }
    }

    #[test]
    fn leaves_survive_a_reopen_and_the_new_chain_extends_the_old() {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut chain = Chain::open(dir.path()).expect("opens");
        for n in 0..5 {
            assert_eq!(chain.append(&segment(n)).expect("appended"), n);
        }
        let old_root = chain.root();
        assert_eq!(old_root, chain.root_at(5));
        drop(chain);
        let mut chain = Chain::open(dir.path()).expect("reopens");
        assert_eq!((chain.len(), chain.root()), (5, old_root));
        chain
            .append(&Leaf::Deleted {
                segment: "segments/dt=2026-11-24/x.parquet".into(),
                sha256: "00".into(),
                reason: "retention".into(),
                at: Timestamp::from_micros(1_790_000_000_000_000),
            })
            .expect("appended");
        let reopened = Chain::open(dir.path()).expect("reopens");
        assert_eq!(reopened.entries()[..5], (0..5).map(segment).collect::<Vec<_>>());
        assert_eq!(reopened.entries()[5].segment(), "segments/dt=2026-11-24/x.parquet");
        let proof = reopened.consistency_proof(5).expect("proof");
        assert!(verify_consistency(5, 6, &old_root, &reopened.root(), &proof));
    }

    #[test]
    fn an_edited_line_is_named_or_changes_the_root() {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut chain = Chain::open(dir.path()).expect("opens");
        for n in 0..4 {
            chain.append(&segment(n)).expect("appended");
        }
        let root = chain.root();
        drop(chain);
        let path = dir.path().join(CHAIN_FILE);
        let text = std::fs::read_to_string(&path).expect("read");
        // Still a leaf, but not the one written: the root differs.
        std::fs::write(&path, text.replacen("\"rows\":20", "\"rows\":21", 1)).expect("edit");
        assert_ne!(Chain::open(dir.path()).expect("opens").root(), root);
        // Not a leaf at all: named by line.
        std::fs::write(&path, text.replacen("{\"kind\":\"segment\"", "{\"kind\":\"other\"", 2)).expect("edit");
        let error = Chain::open(dir.path()).expect_err("damaged").to_string();
        assert!(error.contains("line 1") && error.contains("edited or damaged"), "{error}");
    }

    #[test]
    fn the_state_keeps_the_newest_leaf_of_each_segment_in_seal_order() {
        let mut leaves: Vec<Leaf> = (0..4).map(segment).collect();
        let path = |n: u64| format!("segments/dt=2026-11-24/{n:020}-{n:020}.parquet");
        let at = Timestamp::from_micros(1_790_000_000_000_000);
        leaves.push(Leaf::Deleted { segment: path(1), sha256: "01".into(), reason: "retention".into(), at });
        leaves.push(Leaf::IndexRebuilt { segment: path(2), index_sha256: "ff".into(), reason: "r".into(), at });
        leaves.push(Leaf::Deleted { segment: path(0), sha256: "00".into(), reason: "crash".into(), at });
        leaves.push(segment(0));
        let state = ChainState::of(&leaves);
        let live: Vec<&str> = state.live.iter().map(|s| s.path.as_str()).collect();
        assert_eq!(live, [path(2), path(3), path(0)]);
        assert_eq!(state.live[0].index_sha256.as_deref(), Some("ff"));
        assert_eq!(state.deleted.keys().collect::<Vec<_>>(), [&path(1)]);
    }

    #[test]
    fn a_directory_hash_covers_names_and_contents_but_not_hidden_files() {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("a"), b"one").expect("a");
        std::fs::write(dir.path().join("b"), b"two").expect("b");
        let before = directory_sha256(dir.path()).expect("hash");
        std::fs::write(dir.path().join(".tantivy-meta.lock"), b"").expect("lock");
        assert_eq!(before, directory_sha256(dir.path()).expect("hash"), "stable");
        std::fs::write(dir.path().join("b"), b"twO").expect("b");
        assert_ne!(before, directory_sha256(dir.path()).expect("hash"));
        std::fs::write(dir.path().join("b"), b"two").expect("b");
        std::fs::rename(dir.path().join("b"), dir.path().join("c")).expect("rename");
        assert_ne!(before, directory_sha256(dir.path()).expect("hash"));
    }
}
