//! The write-ahead log: what makes an acknowledgement a promise.
//!
//! Every accepted batch is appended here and fsynced before anyone is told
//! it was accepted; sealing it into Parquet happens later, and a crash in
//! between is repaired by replaying the log on start.
//!
//! ## Format
//!
//! A directory of files `<first seq, 20 digits>.wal`, each a run of entries:
//!
//! ```text
//! [len: u32 LE][crc32c: u32 LE][seq: u64 LE][payload: len bytes]
//! ```
//!
//! The CRC (Castagnoli, hardware-accelerated) covers the sequence number and
//! the payload. Sequence numbers increase by one across files, so a reader
//! knows what comes next. A file is rotated once it passes a size limit.
//!
//! ## Recovery
//!
//! Opening the log reads every file in order and verifies every entry:
//! - an entry cut short at the end of the last file is a **torn tail** (a
//!   crash during a write that was never acknowledged): it is cut off before
//!   anything new is appended;
//! - an entry that fails its CRC, or whose header is impossible, anywhere
//!   else is **damage**: it is reported with its file and offset, and the
//!   reader re-synchronises on the next position holding an entry that
//!   verifies and carries a later sequence number. Every entry before the
//!   damage is recovered; nothing unverified is ever returned.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

const HEADER_BYTES: usize = 16;

/// Why the log cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum WalError {
    #[error("write-ahead log I/O on {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("entry of {size} bytes is over the log's limit of {limit} bytes")]
    EntryTooLarge { size: usize, limit: usize },
    /// A failed write could not be undone: the log refuses appends until a
    /// restart, whose recovery cuts the unfinished tail.
    #[error("the write-ahead log stopped after a failure it could not undo ({0}); restart to recover")]
    Broken(String),
}

impl WalError {
    fn io(path: &Path, source: io::Error) -> Self {
        WalError::Io { path: path.to_owned(), source }
    }

    /// Whether the error says the disk is full (ingestion should answer 503).
    pub fn is_disk_full(&self) -> bool {
        matches!(self, WalError::Io { source, .. } if source.raw_os_error() == Some(28))
    }
}

/// Settings of a log.
#[derive(Debug, Clone, Copy)]
pub struct WalOptions {
    /// A file is closed and a new one started once it is this large.
    pub max_file_bytes: u64,
    /// The largest payload accepted (and believed when reading a header).
    pub max_entry_bytes: usize,
}

impl Default for WalOptions {
    fn default() -> Self {
        // An entry is one request's normalized events, which carry their raw
        // records and attributes: well above the largest body accepted.
        WalOptions { max_file_bytes: 64 * 1024 * 1024, max_entry_bytes: 1024 * 1024 * 1024 }
    }
}

/// One entry read back from the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WalEntry {
    pub seq: u64,
    pub payload: Vec<u8>,
}

/// A stretch of a file that did not verify.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Damage {
    pub file: PathBuf,
    pub offset: u64,
    pub bytes_skipped: u64,
    pub reason: String,
}

/// What opening the log found.
#[derive(Debug, Default)]
pub struct Recovery {
    /// Every entry that verified, in sequence order.
    pub entries: Vec<WalEntry>,
    /// Bytes cut from the end of the last file (an unacknowledged write).
    pub torn_tail_bytes: u64,
    /// Damage found and skipped.
    pub damage: Vec<Damage>,
}

/// An append-only, CRC-checked, fsynced log of byte payloads.
#[derive(Debug)]
pub struct Wal {
    dir: PathBuf,
    options: WalOptions,
    file: File,
    file_path: PathBuf,
    file_bytes: u64,
    next_seq: u64,
    /// First sequence number of each file, oldest first (the current one last).
    files: Vec<(u64, PathBuf)>,
    unsynced: bool,
    /// Bytes appended since the log was opened.
    bytes_written: u64,
    /// The current file's length and the next sequence number at the last
    /// successful sync: what a failed write is rolled back to.
    synced_bytes: u64,
    synced_seq: u64,
    broken: Option<String>,
}

fn file_name(first_seq: u64) -> String {
    format!("{first_seq:020}.wal")
}

fn crc(seq: u64, payload: &[u8]) -> u32 {
    crc32c::crc32c_append(crc32c::crc32c(&seq.to_le_bytes()), payload)
}

/// Makes a new directory entry durable.
fn sync_dir(dir: &Path) -> Result<(), WalError> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(|e| WalError::io(dir, e))
}

impl Wal {
    /// Opens (creating if needed) the log in `dir` and recovers its entries.
    pub fn open(dir: &Path, options: WalOptions) -> Result<(Wal, Recovery), WalError> {
        fs::create_dir_all(dir).map_err(|e| WalError::io(dir, e))?;
        let mut files = list_files(dir)?;
        let mut recovery = Recovery::default();
        // Trimming removes the oldest files, so the first one may start
        // anywhere; after it, sequence numbers must run on without a gap.
        let mut next_seq = files.first().map_or(1, |(first, _)| *first);
        let mut tail_is_damaged = false;
        let count = files.len();
        for (index, (_, path)) in files.iter().enumerate() {
            let is_last = index + 1 == count;
            let read = read_file(path, options, next_seq, is_last)?;
            if let Some(last) = read.entries.last() {
                next_seq = last.seq + 1;
            }
            recovery.entries.extend(read.entries);
            recovery.damage.extend(read.damage);
            if is_last {
                if read.torn_at < read.len {
                    recovery.torn_tail_bytes = read.len - read.torn_at;
                    let file = OpenOptions::new().write(true).open(path).map_err(|e| WalError::io(path, e))?;
                    file.set_len(read.torn_at).and_then(|()| file.sync_all()).map_err(|e| WalError::io(path, e))?;
                    tracing::warn!(file = %path.display(), bytes = recovery.torn_tail_bytes, "cut a torn tail from the write-ahead log");
                }
                tail_is_damaged = !recovery.damage.is_empty() && recovery.damage.iter().any(|d| &d.file == path);
            }
        }
        for damage in &recovery.damage {
            tracing::error!(file = %damage.file.display(), offset = damage.offset, skipped = damage.bytes_skipped,
                reason = %damage.reason, "write-ahead log damage skipped");
        }
        // Append to the last file unless it is damaged: then keep it as
        // evidence and start a new one.
        let (file, file_path, file_bytes) = match files.last() {
            Some((_, path)) if !tail_is_damaged => {
                let file = OpenOptions::new().append(true).open(path).map_err(|e| WalError::io(path, e))?;
                let len = file.metadata().map_err(|e| WalError::io(path, e))?.len();
                (file, path.clone(), len)
            }
            _ => {
                let path = dir.join(file_name(next_seq));
                let file = create(&path)?;
                sync_dir(dir)?;
                files.push((next_seq, path.clone()));
                (file, path, 0)
            }
        };
        let wal = Wal {
            dir: dir.to_owned(),
            options,
            file,
            file_path,
            file_bytes,
            next_seq,
            files,
            unsynced: false,
            bytes_written: 0,
            synced_bytes: file_bytes,
            synced_seq: next_seq,
            broken: None,
        };
        Ok((wal, recovery))
    }

    /// The sequence number the next append will get.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// Appends one entry (not yet durable: call [`Wal::sync`]). Returns its
    /// sequence number. A failed append rolls the log back to its last sync,
    /// so nothing half-written stays in front of later entries.
    pub fn append(&mut self, payload: &[u8]) -> Result<u64, WalError> {
        if let Some(reason) = &self.broken {
            return Err(WalError::Broken(reason.clone()));
        }
        if payload.len() > self.options.max_entry_bytes {
            return Err(WalError::EntryTooLarge { size: payload.len(), limit: self.options.max_entry_bytes });
        }
        if self.file_bytes >= self.options.max_file_bytes {
            self.rotate()?;
        }
        let seq = self.next_seq;
        let mut header = [0_u8; HEADER_BYTES];
        header[..4].copy_from_slice(&(payload.len() as u32).to_le_bytes());
        header[4..8].copy_from_slice(&crc(seq, payload).to_le_bytes());
        header[8..].copy_from_slice(&seq.to_le_bytes());
        let written = self.file.write_all(&header).and_then(|()| self.file.write_all(payload));
        if let Err(error) = written {
            let error = WalError::io(&self.file_path, error);
            self.roll_back(&error);
            return Err(error);
        }
        self.file_bytes += (HEADER_BYTES + payload.len()) as u64;
        self.bytes_written += (HEADER_BYTES + payload.len()) as u64;
        self.next_seq += 1;
        self.unsynced = true;
        Ok(seq)
    }

    /// Bytes appended since the log was opened (headers included).
    pub fn bytes_written(&self) -> u64 {
        self.bytes_written
    }

    /// Makes every append so far durable (one fsync for all of them: the
    /// group commit). A failed sync rolls back every append since the last
    /// one: after a failed fsync the kernel may have dropped those pages,
    /// so they are not trusted, and their callers were not acknowledged.
    pub fn sync(&mut self) -> Result<(), WalError> {
        if let Some(reason) = &self.broken {
            return Err(WalError::Broken(reason.clone()));
        }
        if self.unsynced {
            if let Err(error) = self.file.sync_data() {
                let error = WalError::io(&self.file_path, error);
                self.roll_back(&error);
                return Err(error);
            }
            self.unsynced = false;
        }
        self.synced_bytes = self.file_bytes;
        self.synced_seq = self.next_seq;
        Ok(())
    }

    /// Cuts the current file back to its last synced length.
    fn roll_back(&mut self, cause: &WalError) {
        let cut = self.file.set_len(self.synced_bytes).and_then(|()| self.file.sync_data());
        match cut {
            Ok(()) => {
                tracing::warn!(error = %cause, "write-ahead log append failed; rolled back to the last sync");
                self.file_bytes = self.synced_bytes;
                self.next_seq = self.synced_seq;
                self.unsynced = false;
            }
            Err(error) => {
                tracing::error!(%error, cause = %cause, "cannot roll back the write-ahead log; refusing appends");
                self.broken = Some(format!("{cause}; then: {error}"));
            }
        }
    }

    /// Deletes the files whose every entry has a sequence number up to
    /// `seq` (they are sealed into segments). The current file is kept.
    pub fn remove_through(&mut self, seq: u64) -> Result<usize, WalError> {
        let mut removed = 0;
        while self.files.len() > 1 && self.files[1].0 <= seq + 1 {
            let (_, path) = self.files.remove(0);
            fs::remove_file(&path).map_err(|e| WalError::io(&path, e))?;
            removed += 1;
        }
        if removed > 0 {
            sync_dir(&self.dir)?;
        }
        Ok(removed)
    }

    /// The log's files, oldest first.
    pub fn files(&self) -> impl Iterator<Item = &Path> {
        self.files.iter().map(|(_, p)| p.as_path())
    }

    fn rotate(&mut self) -> Result<(), WalError> {
        self.sync()?;
        let path = self.dir.join(file_name(self.next_seq));
        let file = create(&path)?;
        if let Err(error) = sync_dir(&self.dir) {
            // Not durably created: keep appending to the old file.
            let _ = fs::remove_file(&path);
            return Err(error);
        }
        self.file = file;
        self.files.push((self.next_seq, path.clone()));
        self.file_path = path;
        self.file_bytes = 0;
        self.synced_bytes = 0;
        Ok(())
    }
}

fn create(path: &Path) -> Result<File, WalError> {
    OpenOptions::new().create_new(true).append(true).open(path).map_err(|e| WalError::io(path, e))
}

fn list_files(dir: &Path) -> Result<Vec<(u64, PathBuf)>, WalError> {
    let mut files = Vec::new();
    for entry in fs::read_dir(dir).map_err(|e| WalError::io(dir, e))? {
        let path = entry.map_err(|e| WalError::io(dir, e))?.path();
        let first = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".wal"))
            .and_then(|n| n.parse::<u64>().ok());
        if let Some(first) = first {
            files.push((first, path));
        }
    }
    files.sort();
    Ok(files)
}

struct FileRead {
    entries: Vec<WalEntry>,
    damage: Vec<Damage>,
    /// Where a torn tail starts (the file's length when there is none).
    torn_at: u64,
    len: u64,
}

/// The entry at `at`, if a whole one that verifies starts there.
fn entry_at(bytes: &[u8], at: usize, options: WalOptions) -> Result<WalEntry, &'static str> {
    let header = bytes.get(at..at + HEADER_BYTES).ok_or("header cut short")?;
    let len = u32::from_le_bytes([header[0], header[1], header[2], header[3]]) as usize;
    let sum = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
    let seq = u64::from_le_bytes([
        header[8], header[9], header[10], header[11], header[12], header[13], header[14], header[15],
    ]);
    if len > options.max_entry_bytes {
        return Err("impossible length");
    }
    let payload = bytes.get(at + HEADER_BYTES..at + HEADER_BYTES + len).ok_or("payload cut short")?;
    if crc(seq, payload) != sum {
        return Err("checksum mismatch");
    }
    Ok(WalEntry { seq, payload: payload.to_vec() })
}

fn read_file(path: &Path, options: WalOptions, mut expected_seq: u64, is_last: bool) -> Result<FileRead, WalError> {
    let mut bytes = Vec::new();
    File::open(path).and_then(|mut f| f.read_to_end(&mut bytes)).map_err(|e| WalError::io(path, e))?;
    let len = bytes.len() as u64;
    let mut read = FileRead { entries: Vec::new(), damage: Vec::new(), torn_at: len, len };
    let mut at = 0;
    while at < bytes.len() {
        match entry_at(&bytes, at, options) {
            Ok(entry) if entry.seq >= expected_seq => {
                if entry.seq > expected_seq {
                    read.damage.push(Damage {
                        file: path.to_owned(),
                        offset: at as u64,
                        bytes_skipped: 0,
                        reason: format!("entries {expected_seq}..={} are missing (a deleted file?)", entry.seq - 1),
                    });
                }
                expected_seq = entry.seq + 1;
                at += HEADER_BYTES + entry.payload.len();
                read.entries.push(entry);
            }
            outcome => {
                let reason = match outcome {
                    Ok(entry) => format!("sequence {} repeats or goes back (expected {expected_seq})", entry.seq),
                    Err(reason) => reason.to_owned(),
                };
                // Look for the next entry that verifies and moves forward.
                let resume = (at + 1..bytes.len()).find_map(|next| {
                    entry_at(&bytes, next, options).ok().filter(|e| e.seq >= expected_seq).map(|e| (next, e.seq))
                });
                let cut_short = reason.ends_with("cut short");
                match resume {
                    None if is_last && cut_short => {
                        // Nothing valid follows an unfinished entry at the
                        // very end: a write cut short by a crash.
                        read.torn_at = at as u64;
                        break;
                    }
                    None => {
                        read.damage.push(Damage {
                            file: path.to_owned(),
                            offset: at as u64,
                            bytes_skipped: len - at as u64,
                            reason,
                        });
                        break;
                    }
                    Some((next, resumed_seq)) => {
                        let reason = if resumed_seq > expected_seq {
                            format!("{reason}; entries {expected_seq}..={} lost", resumed_seq - 1)
                        } else {
                            reason
                        };
                        read.damage.push(Damage {
                            file: path.to_owned(),
                            offset: at as u64,
                            bytes_skipped: (next - at) as u64,
                            reason,
                        });
                        // The skipped entries are reported here, not again as a gap.
                        expected_seq = resumed_seq;
                        at = next;
                    }
                }
            }
        }
    }
    Ok(read)
}
