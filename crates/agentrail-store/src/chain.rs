//! The digest chain: an append-only log with one leaf per sealed segment
//! (and one per segment deleted by retention), hashed into a
//! [`merkle`](crate::merkle) tree whose roots [`checkpoint`](crate::checkpoint)s sign.
//!
//! The log is one JSON line per leaf in `chain.jsonl`; a leaf's hash is that
//! of its line's bytes as stored, so what is verified is what is on disk.
//! Each append is fsynced before the segment it describes is listed. A line
//! cut short by a crash (no newline) is dropped on open, as the write-ahead
//! log drops a torn tail; any other line that does not parse is damage, and
//! is reported rather than skipped.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use agentrail_event::Timestamp;
use serde::{Deserialize, Serialize};

use crate::merkle::{Hash, consistency_proof, leaf_hash, root};

/// The log's file name in its directory.
pub const CHAIN_FILE: &str = "chain.jsonl";

/// One entry of the chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Leaf {
    /// A segment as sealed.
    Segment {
        /// Path relative to the data directory.
        segment: String,
        /// SHA-256 of the Parquet file, hex.
        sha256: String,
        /// SHA-256 over the index part's files (see [`directory_sha256`]), hex.
        index_sha256: String,
        rows: u64,
        /// The write-ahead log entries the segment holds.
        first_seq: u64,
        last_seq: u64,
        /// The Merkle root of the segment's event ids in file order, hex:
        /// one event can be proven to be in the segment.
        events_root: String,
        sealed_at: Timestamp,
    },
    /// A segment removed on purpose (retention), so its absence is expected.
    Deleted { segment: String, sha256: String, reason: String, deleted_at: Timestamp },
}

/// Why the chain could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum ChainError {
    #[error("digest chain I/O on {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("digest chain {path}, line {line}: not a leaf ({problem}): the chain was edited or damaged")]
    Damaged { path: PathBuf, line: usize, problem: String },
}

/// The chain, open for appending.
#[derive(Debug)]
pub struct Chain {
    path: PathBuf,
    file: File,
    entries: Vec<Leaf>,
    hashes: Vec<Hash>,
}

impl Chain {
    /// Opens (creating if needed) the chain in `dir`. A torn last line is
    /// cut off; a damaged line is an error naming it.
    pub fn open(dir: &Path) -> Result<Chain, ChainError> {
        let io = |path: &Path| {
            let path = path.to_owned();
            move |source| ChainError::Io { path, source }
        };
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        let path = dir.join(CHAIN_FILE);
        let file = OpenOptions::new().read(true).append(true).create(true).open(&path).map_err(io(&path))?;
        let (mut entries, mut hashes, mut whole_bytes) = (Vec::new(), Vec::new(), 0_u64);
        let mut reader = BufReader::new(&file);
        let mut line = Vec::new();
        for number in 1.. {
            line.clear();
            let read = reader.read_until(b'\n', &mut line).map_err(io(&path))?;
            if read == 0 || line.last() != Some(&b'\n') {
                break; // the end, or a line a crash cut short
            }
            let text = &line[..line.len() - 1];
            let entry: Leaf = serde_json::from_slice(text).map_err(|e| ChainError::Damaged {
                path: path.clone(),
                line: number,
                problem: e.to_string(),
            })?;
            entries.push(entry);
            hashes.push(leaf_hash(text));
            whole_bytes += read as u64;
        }
        drop(reader);
        if file.metadata().map_err(io(&path))?.len() > whole_bytes {
            tracing::warn!(path = %path.display(), "cutting a digest chain line a crash left unfinished");
            file.set_len(whole_bytes).and_then(|()| file.sync_all()).map_err(io(&path))?;
        }
        Ok(Chain { path, file, entries, hashes })
    }

    /// Appends `leaf` durably; returns its index.
    pub fn append(&mut self, leaf: &Leaf) -> Result<u64, ChainError> {
        let io = |source| ChainError::Io { path: self.path.clone(), source };
        let mut line = serde_json::to_vec(leaf).map_err(|e| io(std::io::Error::other(e)))?;
        let hash = leaf_hash(&line);
        line.push(b'\n');
        self.file.write_all(&line).and_then(|()| self.file.sync_data()).map_err(io)?;
        self.entries.push(leaf.clone());
        self.hashes.push(hash);
        Ok(self.hashes.len() as u64 - 1)
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

/// SHA-256 over a directory's files (one level), in name order: each file
/// contributes its name, a NUL, and its own SHA-256. Hex.
pub fn directory_sha256(dir: &Path) -> std::io::Result<String> {
    use sha2::{Digest, Sha256};
    let mut names: Vec<(String, PathBuf)> = std::fs::read_dir(dir)?
        .filter_map(|entry| entry.ok())
        .filter(|entry| entry.file_type().is_ok_and(|t| t.is_file()))
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
            index_sha256: hex::encode([0xAA; 32]),
            rows: 10 * n,
            first_seq: n,
            last_seq: n,
            events_root: hex::encode(events_root(["a", "b"])),
            sealed_at: Timestamp::from_micros(1_790_000_000_000_000 + n as i64),
        }
    }

    #[test]
    fn leaves_survive_a_reopen_and_a_torn_tail_is_cut() {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut chain = Chain::open(dir.path()).expect("opens");
        for n in 0..5 {
            assert_eq!(chain.append(&segment(n)).expect("appended"), n);
        }
        let root = chain.root_at(5);
        drop(chain);
        // A crash in the middle of the sixth line.
        let path = dir.path().join(CHAIN_FILE);
        let mut file = OpenOptions::new().append(true).open(&path).expect("file");
        file.write_all(br#"{"kind":"segment","segm"#).expect("torn write");
        drop(file);
        let mut chain = Chain::open(dir.path()).expect("reopens");
        assert_eq!((chain.len(), chain.root_at(5)), (5, root));
        chain.append(&segment(5)).expect("appended after the cut");
        let reopened = Chain::open(dir.path()).expect("reopens");
        assert_eq!(reopened.len(), 6);
        assert_eq!(reopened.entries()[5], segment(5));
        let proof = reopened.consistency_proof(5).expect("proof");
        assert!(verify_consistency(5, 6, &root, &reopened.root_at(6), &proof));
    }

    #[test]
    fn an_edited_line_is_named_or_changes_the_root() {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut chain = Chain::open(dir.path()).expect("opens");
        for n in 0..4 {
            chain.append(&segment(n)).expect("appended");
        }
        let root = chain.root_at(4);
        drop(chain);
        let path = dir.path().join(CHAIN_FILE);
        let text = std::fs::read_to_string(&path).expect("read");
        // Still a leaf, but not the one written: the root differs.
        std::fs::write(&path, text.replacen("\"rows\":20", "\"rows\":21", 1)).expect("edit");
        assert_ne!(Chain::open(dir.path()).expect("opens").root_at(4), root);
        // Not a leaf at all: named by line.
        std::fs::write(&path, text.replacen("{\"kind\":\"segment\"", "{\"kind\":\"other\"", 2)).expect("edit");
        let error = Chain::open(dir.path()).expect_err("damaged").to_string();
        assert!(error.contains("line 1") && error.contains("edited or damaged"), "{error}");
    }

    #[test]
    fn a_directory_hash_covers_names_and_contents() {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("a"), b"one").expect("a");
        std::fs::write(dir.path().join("b"), b"two").expect("b");
        let before = directory_sha256(dir.path()).expect("hash");
        assert_eq!(before, directory_sha256(dir.path()).expect("hash"), "stable");
        std::fs::write(dir.path().join("b"), b"twO").expect("b");
        assert_ne!(before, directory_sha256(dir.path()).expect("hash"));
        std::fs::write(dir.path().join("b"), b"two").expect("b");
        std::fs::rename(dir.path().join("b"), dir.path().join("c")).expect("rename");
        assert_ne!(before, directory_sha256(dir.path()).expect("hash"));
    }
}
