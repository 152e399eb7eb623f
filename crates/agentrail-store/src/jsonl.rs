//! Append-only JSON-lines files, one entry a line, each append fsynced: the
//! digest [`chain`](crate::chain) and its signed checkpoints live in two.
//!
//! A last line without its newline was cut short by a crash before its
//! append returned, so it was never relied on: readers ignore it and
//! [`Appender::open`] cuts it off, as the write-ahead log drops a torn tail.
//! Any other line that does not parse is damage, named by its line number,
//! never skipped: these files are evidence.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::merkle::{Hash, leaf_hash};

/// Why a JSON-lines file could not be read or appended to.
#[derive(Debug, thiserror::Error)]
pub enum JsonlError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}, line {line}: not a valid entry ({problem}): the file was edited or damaged")]
    Damaged { path: PathBuf, line: usize, problem: String },
}

/// What a file holds.
#[derive(Debug)]
pub struct Lines<T> {
    pub entries: Vec<T>,
    /// The Merkle leaf hash of each entry's line as stored (without its newline).
    pub hashes: Vec<Hash>,
    /// Bytes of whole lines; anything after them is a torn tail.
    pub whole_bytes: u64,
    pub torn_bytes: u64,
}

/// Reads every whole line of `path`; a missing file holds nothing.
pub fn read<T: DeserializeOwned>(path: &Path) -> Result<Lines<T>, JsonlError> {
    let io = |source| JsonlError::Io { path: path.to_owned(), source };
    let mut lines = Lines { entries: Vec::new(), hashes: Vec::new(), whole_bytes: 0, torn_bytes: 0 };
    let file = match File::open(path) {
        Ok(file) => file,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(lines),
        Err(error) => return Err(io(error)),
    };
    let mut reader = BufReader::new(file);
    let mut line = Vec::new();
    for number in 1.. {
        line.clear();
        let read = reader.read_until(b'\n', &mut line).map_err(io)?;
        if read == 0 {
            break;
        }
        if line.last() != Some(&b'\n') {
            lines.torn_bytes = read as u64;
            break;
        }
        let text = &line[..line.len() - 1];
        let entry = serde_json::from_slice(text).map_err(|e| JsonlError::Damaged {
            path: path.to_owned(),
            line: number,
            problem: e.to_string(),
        })?;
        lines.entries.push(entry);
        lines.hashes.push(leaf_hash(text));
        lines.whole_bytes += read as u64;
    }
    Ok(lines)
}

/// A file open for appending.
#[derive(Debug)]
pub struct Appender {
    path: PathBuf,
    file: File,
}

impl Appender {
    /// Opens (creating it and its directory if needed) `path`, whose whole
    /// lines end at `whole_bytes` (from [`read`]): a torn tail is cut off.
    pub fn open(path: &Path, whole_bytes: u64) -> Result<Appender, JsonlError> {
        let io = |path: &Path| {
            let path = path.to_owned();
            move |source| JsonlError::Io { path, source }
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(io(dir))?;
        }
        let file = OpenOptions::new().append(true).create(true).open(path).map_err(io(path))?;
        if file.metadata().map_err(io(path))?.len() > whole_bytes {
            tracing::warn!(path = %path.display(), "cutting a line a crash left unfinished");
            file.set_len(whole_bytes).and_then(|()| file.sync_all()).map_err(io(path))?;
        }
        Ok(Appender { path: path.to_owned(), file })
    }

    /// Appends `entry` as one line and fsyncs; returns the line's leaf hash.
    pub fn append<T: Serialize>(&mut self, entry: &T) -> Result<Hash, JsonlError> {
        let io = |source| JsonlError::Io { path: self.path.clone(), source };
        let mut line = serde_json::to_vec(entry).map_err(|e| io(std::io::Error::other(e)))?;
        let hash = leaf_hash(&line);
        line.push(b'\n');
        self.file.write_all(&line).and_then(|()| self.file.sync_data()).map_err(io)?;
        Ok(hash)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_survive_a_reopen_a_torn_tail_is_cut_and_damage_is_named() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("sub/log.jsonl");
        let mut log = Appender::open(&path, 0).expect("opens");
        let hashes: Vec<Hash> = (0..3_u32).map(|n| log.append(&n).expect("appended")).collect();
        drop(log);
        let mut file = OpenOptions::new().append(true).open(&path).expect("file");
        file.write_all(b"12").expect("a torn write");
        drop(file);

        let read: Lines<u32> = super::read(&path).expect("reads");
        assert_eq!((read.entries.as_slice(), read.torn_bytes), ([0, 1, 2].as_slice(), 2));
        assert_eq!(read.hashes, hashes);
        let mut log = Appender::open(&path, read.whole_bytes).expect("reopens");
        log.append(&3_u32).expect("appended after the cut");
        assert_eq!(super::read::<u32>(&path).expect("reads").entries, [0, 1, 2, 3]);

        std::fs::write(&path, "0\nx\n2\n").expect("damage");
        let error = super::read::<u32>(&path).expect_err("damaged").to_string();
        assert!(error.contains("line 2") && error.contains("edited or damaged"), "{error}");
        assert!(super::read::<u32>(&dir.path().join("none")).expect("missing is empty").entries.is_empty());
    }
}
