//! Compaction: a day's many small segments merged into fewer large ones, in
//! the background, without a moment where a query sees an event twice or not
//! at all, and with the digest chain saying what happened.
//!
//! Seals by age leave small segments (a quiet source seals a few rows every
//! `seal_age`); each costs a file open, a footer and an index part per query.
//! A day whose small segments (under half of `target_rows`) number
//! `min_segments` or more has them merged, in manifest order, into segments
//! of at most `target_rows`, each with its index part. Merged rows are
//! sorted by time in row groups of [`MERGED_ROW_GROUP_ROWS`]: an incident is
//! short, so its rows stay together, and a lookup decodes the dictionaries
//! of only the few groups it reads from.
//!
//! Like a seal, the work is split in two: [`CompactionJob::run`] reads the
//! inputs and writes the merged files without touching the store (another
//! thread); [`Store::finish_compaction`] then records the merge in
//! `compaction.pending.json`, appends the merged segments' leaves to the
//! chain and signs them, and replaces the manifest: from that instant every
//! new query reads the merged segments, and none reads both.
//!
//! The merged-away files are *retired*, not deleted: a query planned on the
//! previous manifest (on this server, in `agentrail query`, on a query node)
//! may still open them, so they stay, still in the chain and still
//! verified, for `grace` (ClickHouse keeps its merged parts the same way).
//! [`Store::collect_retired`] then appends a deletion leaf for each, removes
//! them and drops the merge from the pending file. A crash at any step is
//! finished on the next open; before the pending file is written, the merged
//! files are simply unlisted and go.
//!
//! In a shared store ([`crate::publish`]) the job also uploads the merged
//! files, and the swap is made in the catalog (one transaction) after the
//! pending file and before the manifest, so every query node sees the same
//! switch; a crash in between is finished on open (the manifest first, then
//! the catalog brought to it). Only this node's own files are merged, and
//! the merged-away uploads are deleted when their grace ends.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use agentrail_event::{Timestamp, columns};
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_ord::sort::{SortColumn, lexsort_to_indices};
use arrow_schema::SortOptions;
use serde::{Deserialize, Serialize};

use crate::chain::{ChainState, Leaf};
use crate::durable::{read_json, replace_json};
use crate::index::part_path;
use crate::manifest::Manifest;
use crate::publish::{Files, Publish};
use crate::retention::remove;
use crate::segment::{MERGED_ROW_GROUP_ROWS, SegmentError, SegmentMeta, read_segment, write_segment_batch};
use crate::store::{Store, StoreError, file_stem, segment_leaf};

/// The merges whose old files wait for their grace to end, in the data directory.
pub const PENDING_FILE: &str = "compaction.pending.json";

/// A merge reads at most this many segments: a backlog of tiny seals is
/// worked through over several runs instead of one very long one.
const MAX_INPUTS: usize = 1000;

/// Which segments are merged, and how long merged-away files stay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompactionPolicy {
    /// Rows of a merged segment, at most; segments under half of it are small.
    pub target_rows: u64,
    /// A day's small segments are merged once there are this many.
    pub min_segments: usize,
    /// How long a merged-away file stays for queries planned before the merge.
    pub grace: Duration,
    /// Merges per run, at most (each holds up to `target_rows` in memory).
    pub max_merges: usize,
}

impl Default for CompactionPolicy {
    fn default() -> Self {
        // A merge holds its rows in memory: 66k rows of the bench data
        // peaked at 0.8 GB while the sort still copied them.
        CompactionPolicy { target_rows: 64 * 1024, min_segments: 8, grace: Duration::from_secs(300), max_merges: 16 }
    }
}

/// One merge: what it read, what it wrote, and when the old files go.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Merge {
    /// The merged segment.
    pub into: SegmentMeta,
    /// The segments merged, in manifest order.
    pub from: Vec<SegmentMeta>,
    /// The merged segment's chain leaf.
    leaf: Leaf,
    /// When the merged-away files may be deleted: the grace counts from the
    /// moment the manifest swapped them out, not from the job's start (a
    /// slow merge would otherwise eat the grace).
    pub retire_at: Timestamp,
}

/// What a compaction did (or, dry, would do).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CompactionOutcome {
    pub merges: Vec<MergeOutcome>,
    /// Listed segments before and after.
    pub segments_before: usize,
    pub segments_after: usize,
}

/// One merge as reported.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct MergeOutcome {
    pub day: String,
    /// The merged segment's path; empty for a dry run.
    pub into: String,
    pub from: Vec<String>,
    pub rows: u64,
}

/// The segments a compaction will merge, chosen from the manifest.
#[derive(Debug)]
pub struct CompactionJob {
    dir: PathBuf,
    now: Timestamp,
    grace: Duration,
    segments_before: usize,
    /// Each merge's inputs with the log range their leaves carry.
    groups: Vec<Vec<(SegmentMeta, (u64, u64))>>,
    /// The shared store the merged files are uploaded to, if any.
    publisher: Option<Arc<dyn Publish>>,
}

/// A job whose merged files are written, ready for the manifest.
#[derive(Debug, Clone, Default)]
pub struct CompactionDone {
    merges: Vec<Merge>,
    segments_before: usize,
    grace: Duration,
}

impl CompactionDone {
    /// What the job did, once finished.
    pub fn outcome(&self) -> CompactionOutcome {
        let merges = self.merges.iter().map(|m| MergeOutcome {
            day: m.into.day.clone(),
            into: m.into.path.clone(),
            from: m.from.iter().map(|s| s.path.clone()).collect(),
            rows: m.into.rows,
        });
        CompactionOutcome::of(self.segments_before, merges.collect())
    }
}

impl CompactionOutcome {
    /// Each merge of `n` segments leaves `n - 1` fewer.
    fn of(segments_before: usize, merges: Vec<MergeOutcome>) -> CompactionOutcome {
        let merged: usize = merges.iter().map(|m| m.from.len().saturating_sub(1)).sum();
        CompactionOutcome { merges, segments_before, segments_after: segments_before.saturating_sub(merged) }
    }
}

/// The merges whose old files still wait, as kept in [`PENDING_FILE`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Pending {
    merges: Vec<Merge>,
}

impl Pending {
    pub(crate) fn load(dir: &Path) -> Result<Pending, StoreError> {
        let read = read_json(&dir.join(PENDING_FILE)).map_err(|(path, source)| StoreError::Io { path, source })?;
        Ok(read.unwrap_or_default())
    }

    fn store(&self, dir: &Path) -> Result<(), StoreError> {
        let path = dir.join(PENDING_FILE);
        if self.merges.is_empty() {
            return remove(&path);
        }
        replace_json(&path, self).map_err(|(path, source)| StoreError::Io { path, source })
    }

    /// The merged-away segments still in their grace.
    pub(crate) fn retired(&self) -> Vec<String> {
        self.merges.iter().flat_map(|m| m.from.iter().map(|s| s.path.clone())).collect()
    }

    /// Files that are in no manifest yet must stay: merged-away segments and
    /// their index parts, and merged segments not listed yet.
    pub(crate) fn files(&self) -> impl Iterator<Item = String> + '_ {
        self.merges
            .iter()
            .flat_map(|m| m.from.iter().chain([&m.into]).flat_map(|s| [s.path.clone(), part_path(&s.path)]))
    }

    /// Finishes what a crash interrupted between the pending file and the
    /// manifest: each merge whose segment is not listed while all its inputs
    /// still are is listed now (its leaf appended unless the chain ends with
    /// it). A merge whose segment is unlisted and whose inputs are not was
    /// finished, and its segment since merged again (or expired).
    pub(crate) fn complete(
        &self,
        dir: &Path,
        manifest: &mut Manifest,
        integrity: &mut crate::integrity::Integrity,
    ) -> Result<(), StoreError> {
        let listed: HashSet<&str> = manifest.segments.iter().map(|s| s.path.as_str()).collect();
        let unfinished: Vec<&Merge> = self
            .merges
            .iter()
            .filter(|m| !listed.contains(m.into.path.as_str()))
            .filter(|m| m.from.iter().all(|s| listed.contains(s.path.as_str())))
            .collect();
        if unfinished.is_empty() {
            return Ok(());
        }
        let leaves: Vec<Leaf> = unfinished.iter().map(|m| m.leaf.clone()).collect();
        integrity.record(&leaves)?;
        let merged_away: HashSet<&str> =
            unfinished.iter().flat_map(|m| m.from.iter().map(|s| s.path.as_str())).collect();
        let mut next = manifest.clone();
        next.segments.retain(|s| !merged_away.contains(s.path.as_str()));
        next.segments.extend(unfinished.iter().map(|m| m.into.clone()));
        next.store(dir)?;
        *manifest = next;
        Ok(())
    }
}

impl Store {
    /// Chooses what to merge under `policy` at `now`. Cheap: nothing is read.
    pub fn begin_compaction(&self, policy: &CompactionPolicy, now: Timestamp) -> CompactionJob {
        let state = ChainState::of(self.integrity().chain().entries());
        let ranges: BTreeMap<&str, (u64, u64)> =
            state.live.iter().map(|s| (s.path.as_str(), (s.first_seq, s.last_seq))).collect();
        let mut days: BTreeMap<&str, Vec<&SegmentMeta>> = BTreeMap::new();
        for segment in &self.manifest().segments {
            if segment.rows.saturating_mul(2) < policy.target_rows {
                days.entry(segment.day.as_str()).or_default().push(segment);
            }
        }
        let mut groups = Vec::new();
        for small in days.values().filter(|small| small.len() >= policy.min_segments.max(2)) {
            let mut group: Vec<(SegmentMeta, (u64, u64))> = Vec::new();
            let mut rows = 0;
            for segment in small {
                let full = rows + segment.rows > policy.target_rows || group.len() >= MAX_INPUTS;
                if full && group.len() >= 2 {
                    groups.push(std::mem::take(&mut group));
                    rows = 0;
                } else if full {
                    group.clear();
                    rows = 0;
                }
                rows += segment.rows;
                group.push(((*segment).clone(), ranges.get(segment.path.as_str()).copied().unwrap_or((0, 0))));
            }
            if group.len() >= 2 {
                groups.push(group);
            }
        }
        groups.truncate(policy.max_merges);
        CompactionJob {
            dir: self.dir().to_owned(),
            now,
            grace: policy.grace,
            segments_before: self.manifest().segments.len(),
            groups,
            publisher: self.publisher().cloned(),
        }
    }

    /// Makes a finished job's merges visible: see the module's doc. A merge
    /// whose inputs are no longer all listed (something else rewrote them
    /// meanwhile) is dropped and its files removed.
    pub fn finish_compaction(&mut self, done: &CompactionDone) -> Result<(), StoreError> {
        let listed: HashSet<&str> = self.manifest().segments.iter().map(|s| s.path.as_str()).collect();
        let (valid, stale): (Vec<&Merge>, Vec<&Merge>) =
            done.merges.iter().partition(|m| m.from.iter().all(|s| listed.contains(s.path.as_str())));
        for merge in stale {
            tracing::warn!(merged = %merge.into.path, "the merge's inputs changed meanwhile; it is dropped");
            self.discard_files(std::slice::from_ref(&merge.into), &[])?;
        }
        if valid.is_empty() {
            return Ok(());
        }
        let dir = self.dir().to_owned();
        let mut pending = self.pending_merges().clone();
        let retire_at = Timestamp::from_micros(
            Timestamp::now().as_micros().saturating_add(i64::try_from(done.grace.as_micros()).unwrap_or(i64::MAX)),
        );
        pending.merges.extend(valid.iter().map(|m| Merge { retire_at, ..(*m).clone() }));
        pending.store(&dir)?;
        if let Some(publisher) = self.publisher().cloned() {
            // Chained first, so the records copied out with the swap hold
            // the merged segments' leaves (`complete` does not add them twice).
            let leaves: Vec<Leaf> = valid.iter().map(|m| m.leaf.clone()).collect();
            self.manifest_and_integrity().1.record(&leaves)?;
            let merged: Vec<SegmentMeta> = valid.iter().map(|m| m.into.clone()).collect();
            let removed: Vec<String> = valid.iter().flat_map(|m| m.from.iter().map(|s| s.path.clone())).collect();
            let files = Files { dir: &dir, segments: &merged, quarantine: &[] };
            if let Err(error) = publisher.replace(files, &removed, &self.records()) {
                // Nothing swapped: the merge is forgotten, the chain told why.
                self.pending_merges().store(&dir)?;
                let at = Timestamp::now();
                let reason = format!("the shared catalog did not take the merge ({error}); its inputs stay listed");
                let deleted: Vec<Leaf> = merged
                    .iter()
                    .map(|s| Leaf::Deleted {
                        segment: s.path.clone(),
                        sha256: s.sha256.clone(),
                        reason: reason.clone(),
                        at,
                    })
                    .collect();
                self.manifest_and_integrity().1.record(&deleted)?;
                self.discard_files(&merged, &[])?;
                return Err(StoreError::Publish(error));
            }
        }
        let (manifest, integrity) = self.manifest_and_integrity();
        pending.complete(&dir, manifest, integrity)?;
        tracing::info!(
            merges = valid.len(),
            segments = valid.iter().map(|m| m.from.len()).sum::<usize>(),
            "segments merged"
        );
        *self.pending_merges_mut() = pending;
        Ok(())
    }

    /// Deletes the merged-away files whose grace ended by `now`, each with
    /// its deletion leaf first. Returns how many segments went.
    pub fn collect_retired(&mut self, now: Timestamp) -> Result<usize, StoreError> {
        let is_due = |m: &Merge| m.retire_at.as_micros() <= now.as_micros();
        if !self.pending_merges().merges.iter().any(is_due) {
            return Ok(0);
        }
        let dir = self.dir().to_owned();
        let mut pending = self.pending_merges().clone();
        let (due, waiting): (Vec<Merge>, Vec<Merge>) = pending.merges.into_iter().partition(is_due);
        // A file the manifest lists again is never deleted (nothing lists a
        // merged-away file; this guards against a bug doing so).
        let listed: HashSet<String> = self.manifest().segments.iter().map(|s| s.path.clone()).collect();
        // Deterministic leaves (`at` is the merge's retire time), so a
        // crash between the chain and the pending file is not recorded twice.
        let leaves: Vec<Leaf> = due
            .iter()
            .flat_map(|m| {
                m.from.iter().filter(|s| !listed.contains(&s.path)).map(|s| Leaf::Deleted {
                    segment: s.path.clone(),
                    sha256: s.sha256.clone(),
                    reason: format!("compaction: its rows were merged into {}", m.into.path),
                    at: m.retire_at,
                })
            })
            .collect();
        let (_, integrity) = self.manifest_and_integrity();
        integrity.record(&leaves)?;
        let gone: Vec<SegmentMeta> =
            due.iter().flat_map(|m| &m.from).filter(|s| !listed.contains(&s.path)).cloned().collect();
        self.discard_files(&gone, &[])?;
        pending.merges = waiting;
        pending.store(&dir)?;
        *self.pending_merges_mut() = pending;
        tracing::info!(segments = leaves.len(), "merged-away segments deleted");
        Ok(leaves.len())
    }

    /// Merges now (the CLI's way; the server runs the job on its own
    /// thread), then deletes whatever retired files are due. A dry run
    /// writes nothing.
    pub fn compact(&mut self, policy: &CompactionPolicy, dry_run: bool) -> Result<CompactionOutcome, StoreError> {
        let now = Timestamp::now();
        let job = self.begin_compaction(policy, now);
        if dry_run {
            return Ok(job.plan_only());
        }
        let done = job.run()?;
        self.finish_compaction(&done)?;
        self.collect_retired(Timestamp::now())?;
        Ok(done.outcome())
    }
}

impl CompactionJob {
    /// Whether there is nothing to merge.
    pub fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }

    /// What would be merged (a dry run).
    pub fn plan_only(&self) -> CompactionOutcome {
        let merges = self.groups.iter().map(|group| MergeOutcome {
            day: group[0].0.day.clone(),
            into: String::new(),
            from: group.iter().map(|(s, _)| s.path.clone()).collect(),
            rows: group.iter().map(|(s, _)| s.rows).sum(),
        });
        CompactionOutcome::of(self.segments_before, merges.collect())
    }

    /// Reads each group and writes its merged segment and index part.
    /// Touches no listed file.
    pub fn run(self) -> Result<CompactionDone, StoreError> {
        let mut merges = Vec::with_capacity(self.groups.len());
        for (n, group) in self.groups.into_iter().enumerate() {
            let day = group[0].0.day.clone();
            let first = group.iter().map(|(_, (first, _))| *first).min().unwrap_or(0);
            let last = group.iter().map(|(_, (_, last))| *last).max().unwrap_or(0);
            // Named after the log range it holds, and unique by the time of
            // the merge (a later merge may cover the same range).
            let stem = file_stem(self.publisher.as_ref(), (first, last));
            let relative = format!("segments/dt={day}/{stem}-c{}-{n}.parquet", self.now.as_micros());
            let batch = merged_rows(&self.dir, group.iter().map(|(s, _)| s))?;
            let into = write_segment_batch(&self.dir, &day, &relative, &batch, MERGED_ROW_GROUP_ROWS)?;
            let leaf = segment_leaf(&self.dir, &into, true, (first, last), self.now)?;
            tracing::debug!(merged = %relative, inputs = group.len(), rows = into.rows, "merge written");
            let from = group.into_iter().map(|(s, _)| s).collect();
            // Set when the merge is listed (`finish_compaction`).
            merges.push(Merge { into, from, leaf, retire_at: self.now });
        }
        let done = CompactionDone { merges, segments_before: self.segments_before, grace: self.grace };
        if let Some(publisher) = &self.publisher {
            // Copied out here, off the writer; listed by `finish_compaction`.
            let merged: Vec<SegmentMeta> = done.merges.iter().map(|m| m.into.clone()).collect();
            let files = Files { dir: &self.dir, segments: &merged, quarantine: &[] };
            publisher.upload(files).map_err(StoreError::Publish)?;
        }
        Ok(done)
    }
}

/// The rows of `segments`, sorted by time (then correlation id). An
/// incident is short, so its rows still sit together, and the newest rows
/// of the day sit in its last row group, where a newest-first search reads
/// them.
fn merged_rows<'a>(dir: &Path, segments: impl Iterator<Item = &'a SegmentMeta>) -> Result<RecordBatch, StoreError> {
    let arrow = |e| StoreError::Segment(SegmentError::Arrow(e));
    let mut batches = Vec::new();
    for segment in segments {
        batches.extend(read_segment(&dir.join(&segment.path))?.1);
    }
    if batches.is_empty() {
        return Ok(RecordBatch::new_empty(agentrail_event::event_schema()));
    }
    // Only the sort keys are concatenated; the rows are then taken from the
    // batches as read, so the merge holds one copy of them, not two.
    let key = |name: &str| -> Result<ArrayRef, StoreError> {
        let parts = batches
            .iter()
            .map(|b| {
                b.column_by_name(name).map(|c| c.as_ref()).ok_or_else(|| {
                    arrow(arrow_schema::ArrowError::SchemaError(format!("a segment has no column {name}")))
                })
            })
            .collect::<Result<Vec<&dyn Array>, StoreError>>()?;
        arrow_select::concat::concat(&parts).map_err(arrow)
    };
    let keys = [
        SortColumn { values: key(columns::TIME)?, options: Some(SortOptions::default()) },
        SortColumn {
            values: key(columns::CORRELATION_ID)?,
            options: Some(SortOptions { descending: false, nulls_first: false }),
        },
    ];
    let order = lexsort_to_indices(&keys, None).map_err(arrow)?;
    // Row `i` of the concatenation is row `i - start` of the batch it falls in.
    let starts: Vec<usize> = batches
        .iter()
        .scan(0, |start, b| {
            let this = *start;
            *start += b.num_rows();
            Some(this)
        })
        .collect();
    let at: Vec<(usize, usize)> = order
        .values()
        .iter()
        .map(|&i| {
            let i = i as usize;
            let batch = starts.partition_point(|&start| start <= i) - 1;
            (batch, i - starts[batch])
        })
        .collect();
    let batches: Vec<&RecordBatch> = batches.iter().collect();
    arrow_select::interleave::interleave_record_batch(&batches, &at).map_err(arrow)
}
