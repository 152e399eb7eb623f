//! The store: a data directory holding the log, the segments and the manifest.
//!
//! `append` is the acknowledgement point: when it returns `Ok`, the batch is
//! in the write-ahead log and fsynced. Events stay in memory until sealed
//! into Parquet (by size, or on `seal`); the log is trimmed only after the
//! manifest that lists the new segments is durable. Opening a store replays
//! the log past the manifest's `sealed_through_seq`, so a crash at any point
//! loses nothing acknowledged and stores nothing twice.
//!
//! Exactly-once effect comes from ids: an event whose `event_id` is already
//! stored (sealed or pending) is counted as a duplicate and dropped, across
//! restarts too.

use std::collections::HashSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use agentrail_event::{Event, Timestamp};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::chain::{ChainState, Leaf, directory_sha256, events_root};
use crate::compaction;
use crate::index::{IndexError, IndexPart, PartProblem, part_path, rebuild_part};
use crate::integrity::{Integrity, IntegrityError, IntegrityOptions};
use crate::jsonl::JsonlError;
use crate::manifest::{Manifest, ManifestError};
use crate::publish::{Files, Listed, OpenFiles, Publish, PublishError, Reconciled, Records};
use crate::quarantine::{Quarantined, write_quarantine};
use crate::retention;
use crate::segment::{SegmentError, SegmentMeta, for_each_event_id, write_segments};
use crate::wal::{Damage, Wal, WalError, WalOptions};

/// Why the store failed. Every variant means nothing was acknowledged.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(transparent)]
    Wal(#[from] WalError),
    #[error(transparent)]
    Segment(#[from] SegmentError),
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    #[error(transparent)]
    Integrity(#[from] IntegrityError),
    #[error("write-ahead log entry {seq} is not a batch this version wrote: {source}")]
    BadEntry {
        seq: u64,
        #[source]
        source: serde_json::Error,
    },
    #[error(
        "another agentrail process (a server, an ingest or a retention) is writing to {0}: stop it first, or go \
         through the server's API"
    )]
    Locked(PathBuf),
    #[error("publishing to the shared store: {0}")]
    Publish(#[source] PublishError),
    #[error("data directory {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl StoreError {
    /// Whether trying again later may help (a full disk, a failing device):
    /// ingestion answers 503 then, never an acknowledgement.
    pub fn is_retryable(&self) -> bool {
        match self {
            StoreError::Wal(WalError::EntryTooLarge { .. }) => false,
            StoreError::Wal(_)
            | StoreError::Segment(SegmentError::Io { .. } | SegmentError::Index(IndexError::Io { .. }))
            | StoreError::Integrity(IntegrityError::Log(JsonlError::Io { .. }))
            | StoreError::Publish(_)
            | StoreError::Io { .. } => true,
            _ => false,
        }
    }
}

/// Settings of a store.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// Pending events are sealed into segments once there are this many.
    pub seal_rows: usize,
    /// Whether `append` seals by itself when `seal_rows` is reached; a caller
    /// that seals on its own thread ([`Store::begin_seal`]) turns this off.
    pub auto_seal: bool,
    pub wal: WalOptions,
    /// Where the digest chain, its checkpoints and the signing key live.
    pub integrity: IntegrityOptions,
    /// The shared store each seal is published to, if any.
    pub publisher: Option<Arc<dyn Publish>>,
}

impl Default for StoreOptions {
    fn default() -> Self {
        // Pending rows live in memory until sealed: this bounds it (~200 MiB).
        StoreOptions {
            seal_rows: 64 * 1024,
            auto_seal: true,
            wal: WalOptions::default(),
            integrity: IntegrityOptions::default(),
            publisher: None,
        }
    }
}

/// One batch as the log holds it.
#[derive(Debug, Serialize, Deserialize)]
struct Batch {
    events: Vec<Event>,
    #[serde(default)]
    rejects: Vec<Quarantined>,
}

/// What an append did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct AppendOutcome {
    pub accepted: usize,
    pub duplicates: usize,
    pub quarantined: usize,
}

/// What opening found.
#[derive(Debug, Default)]
pub struct OpenReport {
    pub replayed_entries: usize,
    pub replayed_events: usize,
    pub torn_tail_bytes: u64,
    pub wal_damage: Vec<Damage>,
    pub removed_unlisted_files: Vec<PathBuf>,
    /// Segments whose index part was missing, unreadable or disagreeing
    /// with the segment, and was rebuilt from the segment.
    pub rebuilt_index_parts: usize,
    /// Segments the digest chain holds but no manifest listed: a seal a
    /// crash interrupted, whose rows are sealed again from the log.
    pub abandoned_seals: usize,
    /// What bringing the shared catalog to the manifest changed.
    pub reconciled: Reconciled,
}

/// A data directory open for writing.
#[derive(Debug)]
pub struct Store {
    dir: PathBuf,
    options: StoreOptions,
    wal: Wal,
    manifest: Manifest,
    integrity: Integrity,
    pending_events: Vec<Event>,
    pending_rejects: Vec<Quarantined>,
    /// The log entries the pending rows came from.
    pending_seqs: Option<(u64, u64)>,
    /// [`event_digest`]s of every stored event id.
    seen: HashSet<u128>,
    /// Merges whose merged-away files wait for their grace to end.
    merges: compaction::Pending,
    /// Held (locked) while the store is open: one writer per directory.
    _lock: fs::File,
}

/// The 128-bit digest by which an event id is known as stored, here and in
/// a shared catalog.
pub fn event_digest(event_id: &str) -> u128 {
    let digest = Sha256::digest(event_id.as_bytes());
    let mut first = [0_u8; 16];
    first.copy_from_slice(&digest[..16]);
    u128::from_le_bytes(first)
}

impl Store {
    /// Opens (creating if needed) the store in `dir` and replays its log.
    pub fn open(dir: &Path, options: StoreOptions) -> Result<(Store, OpenReport), StoreError> {
        fs::create_dir_all(dir).map_err(|source| StoreError::Io { path: dir.to_owned(), source })?;
        let lock = lock_dir(dir)?;
        let mut integrity = Integrity::open(dir, &options.integrity)?;
        let mut manifest = Manifest::load(dir)?;
        // A shared store also deletes the uploads of the files it removed.
        let mut retained_away = Vec::new();
        if let Some(intent) = retention::pending_intent(dir)? {
            tracing::info!("finishing a retention a crash interrupted");
            retention::complete(dir, &mut manifest, &mut integrity, &intent)?;
            for file in &intent.removed {
                retained_away.push(file.path.clone());
                if file.path.starts_with("segments/") {
                    retained_away.push(part_path(&file.path));
                }
            }
        }
        let merges = compaction::Pending::load(dir)?;
        merges.complete(dir, &mut manifest, &mut integrity)?;
        let mut report = OpenReport {
            removed_unlisted_files: remove_unlisted_files(dir, &manifest, merges.files())?,
            ..OpenReport::default()
        };
        let mut leaves = abandoned_seals(&integrity, &manifest);
        report.abandoned_seals = leaves.len();
        leaves.extend(repair_index_parts(dir, &manifest)?);
        report.rebuilt_index_parts = leaves.len() - report.abandoned_seals;
        integrity.record(&leaves)?;
        if let Some(publisher) = &options.publisher {
            let records = Records::of(&options.integrity, dir);
            let abandoned: Vec<String> = report
                .removed_unlisted_files
                .iter()
                .filter_map(|path| path.strip_prefix(dir).ok())
                .map(|path| path.to_string_lossy().into_owned())
                .chain(retained_away)
                .collect();
            let retired = merges.retired();
            let files = OpenFiles { abandoned: &abandoned, retired: &retired };
            report.reconciled = publisher.reconcile(dir, &manifest, &records, files).map_err(StoreError::Publish)?;
        }
        let mut seen = HashSet::new();
        for segment in &manifest.segments {
            for_each_event_id(&dir.join(&segment.path), |id| {
                seen.insert(event_digest(id));
            })?;
        }
        let (wal, recovery) = Wal::open(&dir.join("wal"), options.wal)?;
        report.torn_tail_bytes = recovery.torn_tail_bytes;
        report.wal_damage = recovery.damage;
        let mut store = Store {
            dir: dir.to_owned(),
            options,
            wal,
            manifest,
            integrity,
            pending_events: Vec::new(),
            pending_rejects: Vec::new(),
            pending_seqs: None,
            seen,
            merges,
            _lock: lock,
        };
        store.collect_retired(Timestamp::now())?;
        let sealed_through = store.manifest.sealed_through_seq;
        for entry in recovery.entries.into_iter().filter(|e| e.seq > sealed_through) {
            let mut batch: Batch = serde_json::from_slice(&entry.payload)
                .map_err(|source| StoreError::BadEntry { seq: entry.seq, source })?;
            report.replayed_entries += 1;
            // The log may hold an event twice: a group whose fsync failed was
            // refused, yet may have reached the disk, and its retry logged it
            // again. One copy is kept.
            batch.events.retain(|event| store.seen.insert(event_digest(&event.event_id)));
            report.replayed_events += batch.events.len();
            store.take_pending(entry.seq, batch);
        }
        if report.replayed_entries > 0 {
            tracing::info!(
                entries = report.replayed_entries,
                events = report.replayed_events,
                "replayed the write-ahead log"
            );
        }
        Ok((store, report))
    }

    /// The data directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Whether seals are published to a shared store.
    pub fn is_shared(&self) -> bool {
        self.options.publisher.is_some()
    }

    /// Refuses `what` on a shared store: compaction and retention change
    /// files other nodes read, through steps only the local manifest knows.
    /// The shared store this one publishes to, if any.
    pub(crate) fn publisher(&self) -> Option<&Arc<dyn Publish>> {
        self.options.publisher.as_ref()
    }

    /// Where this store's integrity records are, to copy out.
    pub(crate) fn records(&self) -> Records {
        Records::of(&self.options.integrity, &self.dir)
    }

    /// Removes files no manifest lists (any more), each segment with its
    /// index part: in a shared store their uploads first (after copying out
    /// the integrity records, which say why they went), so a failed
    /// deletion is retried with the local files still there to name them.
    pub(crate) fn discard_files(&self, segments: &[SegmentMeta], quarantine: &[SegmentMeta]) -> Result<(), StoreError> {
        if let Some(publisher) = &self.options.publisher {
            let files = Files { dir: &self.dir, segments, quarantine };
            publisher.withdraw(files, &self.records()).map_err(StoreError::Publish)?;
        }
        for file in segments.iter().chain(quarantine) {
            retention::remove(&self.dir.join(&file.path))?;
        }
        for segment in segments {
            retention::remove(&self.dir.join(part_path(&segment.path)))?;
        }
        Ok(())
    }

    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// The digest chain and its checkpoints.
    pub fn integrity(&self) -> &Integrity {
        &self.integrity
    }

    /// Rotates the checkpoint signing key (see [`Integrity::rotate`]);
    /// returns the new public key, hex.
    pub fn rotate_key(&mut self) -> Result<String, StoreError> {
        Ok(self.integrity.rotate()?)
    }

    pub(crate) fn pending_merges(&self) -> &compaction::Pending {
        &self.merges
    }

    pub(crate) fn pending_merges_mut(&mut self) -> &mut compaction::Pending {
        &mut self.merges
    }

    pub(crate) fn manifest_and_integrity(&mut self) -> (&mut Manifest, &mut Integrity) {
        (&mut self.manifest, &mut self.integrity)
    }

    /// Removes log files every entry of which is sealed (a trim a failure
    /// left undone).
    pub(crate) fn trim_sealed_log(&mut self) -> Result<(), StoreError> {
        self.wal.remove_through(self.manifest.sealed_through_seq)?;
        Ok(())
    }

    pub fn pending_events(&self) -> usize {
        self.pending_events.len()
    }

    fn take_pending(&mut self, seq: u64, batch: Batch) {
        self.pending_events.extend(batch.events);
        self.pending_rejects.extend(batch.rejects);
        self.pending_seqs = Some(match self.pending_seqs {
            Some((first, _)) => (first, seq),
            None => (seq, seq),
        });
    }

    /// Makes a batch durable: duplicates dropped, `ingest_time` set, the rest
    /// and the rejects appended to the log and fsynced. When this returns
    /// `Ok`, the batch may be acknowledged.
    pub fn append(&mut self, events: Vec<Event>, rejects: Vec<Quarantined>) -> Result<AppendOutcome, StoreError> {
        let mut outcomes = self.append_group(vec![(events, rejects)])?;
        Ok(outcomes.pop().unwrap_or_default())
    }

    /// Group commit: appends every batch to the log, then one fsync for all
    /// of them. On `Ok`, every batch may be acknowledged; on `Err`, none.
    pub fn append_group(
        &mut self,
        batches: Vec<(Vec<Event>, Vec<Quarantined>)>,
    ) -> Result<Vec<AppendOutcome>, StoreError> {
        let now = Timestamp::now();
        let mut group_ids: HashSet<u128> = HashSet::new();
        let mut written = Vec::with_capacity(batches.len());
        let mut outcomes = Vec::with_capacity(batches.len());
        for (events, rejects) in batches {
            let mut outcome = AppendOutcome { quarantined: rejects.len(), ..AppendOutcome::default() };
            let mut fresh = Vec::with_capacity(events.len());
            for mut event in events {
                let digest = event_digest(&event.event_id);
                if self.seen.contains(&digest) || !group_ids.insert(digest) {
                    outcome.duplicates += 1;
                    continue;
                }
                event.ingest_time = Some(now);
                fresh.push(event);
            }
            outcome.accepted = fresh.len();
            outcomes.push(outcome);
            if fresh.is_empty() && rejects.is_empty() {
                continue;
            }
            let batch = Batch { events: fresh, rejects };
            let payload = serde_json::to_vec(&batch)
                .map_err(|source| StoreError::BadEntry { seq: self.wal.next_seq(), source })?;
            let seq = self.wal.append(&payload)?;
            written.push((seq, batch));
        }
        self.wal.sync()?;
        // Only now, durable: count the ids as stored and keep the rows for sealing.
        self.seen.extend(group_ids);
        for (seq, batch) in written {
            self.take_pending(seq, batch);
        }
        if self.options.auto_seal && self.pending_events.len() >= self.options.seal_rows {
            self.seal()?;
        }
        Ok(outcomes)
    }

    /// Bytes appended to the write-ahead log since the store was opened.
    pub fn wal_bytes_written(&self) -> u64 {
        self.wal.bytes_written()
    }

    /// Whether rows wait to be sealed.
    pub fn has_pending(&self) -> bool {
        self.pending_seqs.is_some()
    }

    /// Whether enough rows wait for a seal.
    pub fn wants_seal(&self) -> bool {
        self.pending_events.len() >= self.options.seal_rows
    }

    /// Seals every pending event and reject into segments, lists them in the
    /// manifest, then trims the log. Returns the new segments.
    pub fn seal(&mut self) -> Result<Vec<SegmentMeta>, StoreError> {
        // A seal another node's listing overtook is done again without the
        // events it listed: fewer rows each time, so this ends.
        while let Some(job) = self.begin_seal() {
            match job.run() {
                Ok(mut sealed) => match self.finish_seal(&mut sealed)? {
                    Finished::Listed { .. } => return Ok(std::mem::take(&mut sealed.segments)),
                    Finished::Requeued { .. } => continue,
                },
                Err(failure) => {
                    let SealFailure { job, error } = *failure;
                    self.restore(job);
                    return Err(error);
                }
            }
        }
        Ok(Vec::new())
    }

    /// Takes the pending rows for sealing elsewhere (another thread), so
    /// appends go on meanwhile. Their log entries stay until
    /// [`Store::finish_seal`], so a crash before it replays them.
    pub fn begin_seal(&mut self) -> Option<SealJob> {
        let (first, last) = self.pending_seqs.take()?;
        // Named after the log entries they hold (a crash before the manifest
        // is written rewrites the same names on the next seal), and in a
        // shared store after the node, so no two nodes' names meet.
        let name = file_stem(self.options.publisher.as_ref(), (first, last));
        Some(SealJob {
            dir: self.dir.clone(),
            name,
            publisher: self.options.publisher.clone(),
            first,
            last,
            events: std::mem::take(&mut self.pending_events),
            rejects: std::mem::take(&mut self.pending_rejects),
        })
    }

    /// Records a finished job's segments in the digest chain and signs it,
    /// lists them in the shared catalog (if any) and in the manifest
    /// (durably), then trims the log it covered. Jobs must finish in the
    /// order they began. On error the manifest is unchanged, and the same
    /// job may be finished again.
    ///
    /// When another node listed some of the job's events first, the job's
    /// files are withdrawn and its other rows pending again, ahead of what
    /// arrived since ([`Finished::Requeued`]).
    pub fn finish_seal(&mut self, sealed: &mut SealedJob) -> Result<Finished, StoreError> {
        if !sealed.recorded {
            self.integrity.record(&sealed.leaves)?;
            sealed.recorded = true;
        }
        if let Some(publisher) = &self.options.publisher {
            let files = Files { dir: &self.dir, segments: &sealed.segments, quarantine: &sealed.quarantine };
            let records = self.records();
            if let Listed::Duplicates(digests) = publisher.list(files, &records).map_err(StoreError::Publish)? {
                return self.requeue(sealed, &digests);
            }
        }
        let mut manifest = self.manifest.clone();
        manifest.segments.extend(sealed.segments.iter().cloned());
        manifest.quarantine.extend(sealed.quarantine.iter().cloned());
        manifest.sealed_through_seq = sealed.last;
        manifest.store(&self.dir)?;
        self.manifest = manifest;
        self.wal.remove_through(sealed.last)?;
        tracing::info!(segments = sealed.segments.len(), through = sealed.last, "sealed");
        Ok(Finished::Listed { dropped: sealed.dropped })
    }

    /// Withdraws a seal whose listing another node's overtook: its uploads
    /// deleted, the chain told why its files are gone, the files removed,
    /// and its rows but `duplicates` pending again.
    fn requeue(&mut self, sealed: &mut SealedJob, duplicates: &HashSet<u128>) -> Result<Finished, StoreError> {
        if !sealed.withdrawn {
            let at = Timestamp::now();
            let reason = format!(
                "another node listed {} of its events first (a partition re-read after a node stopped); its other \
                 rows were sealed again",
                duplicates.len()
            );
            let leaves: Vec<Leaf> = sealed
                .segments
                .iter()
                .chain(&sealed.quarantine)
                .map(|file| Leaf::Deleted {
                    segment: file.path.clone(),
                    sha256: file.sha256.clone(),
                    reason: reason.clone(),
                    at,
                })
                .collect();
            self.integrity.record(&leaves)?;
            sealed.withdrawn = true;
        }
        self.discard_files(&sealed.segments, &sealed.quarantine)?;
        let mut events = std::mem::take(&mut sealed.events);
        let before = events.len();
        events.retain(|event| !duplicates.contains(&event_digest(&event.event_id)));
        let dropped = before - events.len();
        tracing::warn!(
            duplicates = dropped,
            requeued = events.len(),
            "another node listed some of this seal's events first; sealing the rest again"
        );
        self.restore_rows((sealed.first, sealed.last), events, std::mem::take(&mut sealed.rejects));
        Ok(Finished::Requeued { dropped: sealed.dropped + dropped })
    }

    /// Puts a failed job's rows back, ahead of what arrived since, to be
    /// sealed again later.
    pub fn restore(&mut self, job: SealJob) {
        self.restore_rows((job.first, job.last), job.events, job.rejects);
    }

    fn restore_rows(&mut self, (first, last): (u64, u64), mut events: Vec<Event>, mut rejects: Vec<Quarantined>) {
        events.append(&mut self.pending_events);
        self.pending_events = events;
        rejects.append(&mut self.pending_rejects);
        self.pending_rejects = rejects;
        self.pending_seqs = Some(match self.pending_seqs {
            Some((_, newest)) => (first, newest),
            None => (first, last),
        });
    }
}

/// A file's name but its suffix: the log range its rows came from, led in a
/// shared store by the node's id, so no two nodes' names meet.
pub(crate) fn file_stem(publisher: Option<&Arc<dyn Publish>>, (first, last): (u64, u64)) -> String {
    match publisher {
        Some(publisher) => format!("{}-{first:020}-{last:020}", publisher.node()),
        None => format!("{first:020}-{last:020}"),
    }
}

/// Takes the directory's writer lock (released when the file closes, so a
/// crashed process leaves no stale lock).
fn lock_dir(dir: &Path) -> Result<fs::File, StoreError> {
    let path = dir.join(LOCK_FILE);
    let io = |source| StoreError::Io { path: path.clone(), source };
    let file = fs::OpenOptions::new().create(true).truncate(false).write(true).open(&path).map_err(io)?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(fs::TryLockError::WouldBlock) => Err(StoreError::Locked(dir.to_owned())),
        Err(fs::TryLockError::Error(source)) => Err(io(source)),
    }
}

/// The writer lock's file in the data directory.
pub const LOCK_FILE: &str = "writer.lock";

/// Rows taken for sealing: writing their files needs no access to the store.
#[derive(Debug)]
pub struct SealJob {
    dir: PathBuf,
    name: String,
    publisher: Option<Arc<dyn Publish>>,
    first: u64,
    last: u64,
    events: Vec<Event>,
    rejects: Vec<Quarantined>,
}

/// A job whose files could not be written: the rows, for [`Store::restore`].
#[derive(Debug)]
pub struct SealFailure {
    pub job: SealJob,
    pub error: StoreError,
}

/// A job whose files are written, ready for the manifest.
#[derive(Debug)]
pub struct SealedJob {
    first: u64,
    last: u64,
    pub segments: Vec<SegmentMeta>,
    quarantine: Vec<SegmentMeta>,
    /// The rows, kept until listed in a shared store: a seal another
    /// node's listing overtook is done again from them.
    events: Vec<Event>,
    rejects: Vec<Quarantined>,
    /// Events left out as another node had listed them.
    dropped: usize,
    /// The digest chain's leaves for the files, segments first.
    leaves: Vec<Leaf>,
    /// Whether the leaves are in the chain (a retried finish adds them once).
    recorded: bool,
    /// Whether the chain says the files were withdrawn.
    withdrawn: bool,
}

/// How [`Store::finish_seal`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finished {
    /// Listed; `dropped` events were left out, another node had them.
    Listed { dropped: usize },
    /// Withdrawn: another node listed some of its events in the meantime;
    /// the rest are pending again. `dropped` counts the events left out.
    Requeued { dropped: usize },
}

impl SealJob {
    /// Rows in the job.
    pub fn rows(&self) -> usize {
        self.events.len()
    }

    /// Writes the segments and quarantine files (and uploads them to the
    /// shared store, if any). On failure, the job comes back with the
    /// error, for [`Store::restore`].
    pub fn run(mut self) -> Result<SealedJob, Box<SealFailure>> {
        let dropped = match self.drop_stored_elsewhere() {
            Ok(dropped) => dropped,
            Err(error) => return Err(Box::new(SealFailure { job: self, error })),
        };
        let segments = match write_segments(&self.dir, &self.name, &self.events) {
            Ok(segments) => segments,
            Err(error) => return Err(Box::new(SealFailure { job: self, error: error.into() })),
        };
        let quarantine = match write_quarantine(&self.dir, &self.name, &self.rejects) {
            Ok(quarantine) => quarantine,
            Err(error) => return Err(Box::new(SealFailure { job: self, error: error.into() })),
        };
        let leaves = match self.leaves(&segments, &quarantine) {
            Ok(leaves) => leaves,
            Err(error) => return Err(Box::new(SealFailure { job: self, error })),
        };
        if let Some(publisher) = &self.publisher {
            let files = Files { dir: &self.dir, segments: &segments, quarantine: &quarantine };
            if let Err(error) = publisher.upload(files) {
                return Err(Box::new(SealFailure { job: self, error: StoreError::Publish(error) }));
            }
        }
        // Only a shared store's listing can be refused and the rows needed
        // again; a data directory's are dropped now, as before.
        let (events, rejects) =
            if self.publisher.is_some() { (self.events, self.rejects) } else { (Vec::new(), Vec::new()) };
        Ok(SealedJob {
            first: self.first,
            last: self.last,
            segments,
            quarantine,
            events,
            rejects,
            dropped,
            leaves,
            recorded: false,
            withdrawn: false,
        })
    }

    /// Leaves out the events another node has listed (it re-read what this
    /// node had made durable before it stopped); returns how many.
    fn drop_stored_elsewhere(&mut self) -> Result<usize, StoreError> {
        let Some(publisher) = &self.publisher else { return Ok(0) };
        if self.events.is_empty() {
            return Ok(0);
        }
        let digests: Vec<u128> = self.events.iter().map(|event| event_digest(&event.event_id)).collect();
        let elsewhere = publisher.stored_elsewhere(&digests).map_err(StoreError::Publish)?;
        if elsewhere.is_empty() {
            return Ok(0);
        }
        let before = self.events.len();
        let mut kept = digests.iter().map(|digest| !elsewhere.contains(digest));
        self.events.retain(|_| kept.next().unwrap_or(true));
        let dropped = before - self.events.len();
        tracing::info!(dropped, "left out of a seal events another node has stored");
        Ok(dropped)
    }

    /// The chain's leaf of each written file.
    fn leaves(&self, segments: &[SegmentMeta], quarantine: &[SegmentMeta]) -> Result<Vec<Leaf>, StoreError> {
        let sealed_at = Timestamp::now();
        let files = segments.iter().map(|m| (m, true)).chain(quarantine.iter().map(|m| (m, false)));
        files
            .map(|(meta, indexed)| segment_leaf(&self.dir, meta, indexed, (self.first, self.last), sealed_at))
            .collect()
    }
}

/// The chain's leaf of a written file: its hashes as written, and for a
/// segment (`indexed`) its index part's hash and the root of its event ids
/// (read back from the file, so the root is of what was stored).
pub(crate) fn segment_leaf(
    dir: &Path,
    meta: &SegmentMeta,
    indexed: bool,
    (first_seq, last_seq): (u64, u64),
    sealed_at: Timestamp,
) -> Result<Leaf, StoreError> {
    let (mut index_sha256, mut root) = (None, None);
    if indexed {
        let part = dir.join(part_path(&meta.path));
        index_sha256 = Some(directory_sha256(&part).map_err(|source| StoreError::Io { path: part.clone(), source })?);
        let mut ids = Vec::with_capacity(meta.rows as usize);
        for_each_event_id(&dir.join(&meta.path), |id| ids.push(id.to_owned()))?;
        root = Some(hex::encode(events_root(ids.iter().map(String::as_str))));
    }
    Ok(Leaf::Segment {
        segment: meta.path.clone(),
        sha256: meta.sha256.clone(),
        bytes: meta.bytes,
        rows: meta.rows,
        first_seq,
        last_seq,
        index_sha256,
        events_root: root,
        sealed_at,
    })
}

/// Segments the chain holds but the manifest never listed, sealed from log
/// entries the manifest does not count as sealed: a crash came between the
/// chain and the manifest. Their files are gone (unlisted files are removed
/// on open) and their rows are replayed from the log, so the chain says so.
/// A chained segment missing from the manifest although its entries are
/// sealed is not explained by a crash: it is left for `verify` to report.
fn abandoned_seals(integrity: &Integrity, manifest: &Manifest) -> Vec<Leaf> {
    let listed: HashSet<&str> = manifest.segments.iter().chain(&manifest.quarantine).map(|s| s.path.as_str()).collect();
    let at = Timestamp::now();
    ChainState::of(integrity.chain().entries())
        .live
        .into_iter()
        .filter(|live| !listed.contains(live.path.as_str()) && live.first_seq > manifest.sealed_through_seq)
        .map(|live| Leaf::Deleted {
            segment: live.path,
            sha256: live.sha256,
            reason: "a crash interrupted its seal before the manifest listed it; its rows were sealed again \
                     from the write-ahead log"
                .to_owned(),
            at,
        })
        .collect()
}

/// Segment files and index parts not in the manifest were written by a seal
/// that crashed before its manifest (their rows are still in the log) or by
/// a merge that crashed before it was recorded: they go. Merged-away files
/// in their grace (`keep`) stay.
fn remove_unlisted_files(
    dir: &Path,
    manifest: &Manifest,
    keep: impl Iterator<Item = String>,
) -> Result<Vec<PathBuf>, StoreError> {
    let mut listed: HashSet<String> =
        manifest.segments.iter().chain(&manifest.quarantine).map(|s| s.path.clone()).collect();
    listed.extend(manifest.segments.iter().map(|s| part_path(&s.path)));
    listed.extend(keep);
    let mut removed = Vec::new();
    for top in ["segments", "quarantine", "index"] {
        let Ok(days) = fs::read_dir(dir.join(top)) else { continue };
        for day in days.flatten() {
            let Ok(entries) = fs::read_dir(day.path()) else { continue };
            for entry in entries.flatten() {
                let path = entry.path();
                let relative = path.strip_prefix(dir).map(|p| p.to_string_lossy().into_owned()).unwrap_or_default();
                if listed.contains(&relative) {
                    continue;
                }
                retention::remove(&path)?;
                removed.push(path);
            }
        }
    }
    Ok(removed)
}

/// A listed segment whose index part is missing (deleted, or written by a
/// version without an index), unreadable or disagreeing with its rows gets
/// it back from its own rows; the chain's leaf for each says why.
fn repair_index_parts(dir: &Path, manifest: &Manifest) -> Result<Vec<Leaf>, StoreError> {
    let broken: Vec<(&SegmentMeta, PartProblem)> = manifest
        .segments
        .iter()
        .filter_map(|segment| IndexPart::open_checked(dir, segment).err().map(|problem| (segment, problem)))
        .collect();
    for (done, (segment, problem)) in broken.iter().enumerate() {
        tracing::info!(
            segment = %segment.path,
            %problem,
            progress = %format!("{}/{}", done + 1, broken.len()),
            "rebuilding an index part"
        );
        rebuild_part(dir, segment).map_err(SegmentError::from)?;
    }
    let at = Timestamp::now();
    broken
        .into_iter()
        .map(|(segment, problem)| {
            let part = dir.join(part_path(&segment.path));
            let index_sha256 = directory_sha256(&part).map_err(|source| StoreError::Io { path: part, source })?;
            Ok(Leaf::IndexRebuilt { segment: segment.path.clone(), index_sha256, reason: problem.to_string(), at })
        })
        .collect()
}
