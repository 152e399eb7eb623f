//! Retention: events older than their source's retention leave the store,
//! and the digest chain says so, so `verify` still passes and still catches
//! any other missing segment.
//!
//! Segments are per day and mix sources. A segment whose every source is
//! past its retention is deleted whole; one where only some are is
//! rewritten without their rows (a new segment and index part) and the old
//! one deleted. Quarantine files follow the default retention.
//!
//! The work is split like a seal: [`RetentionJob::run`] reads the old
//! segments and writes the rewritten ones without touching the store (it
//! may run on another thread); [`Store::finish_retention`] then writes an
//! intent file, appends the chain's leaves (new segments, then deletions)
//! and signs them, replaces the manifest, deletes the old files and
//! removes the intent. A crash anywhere after the intent is written is
//! finished on the next open; before it, the new files are unlisted and go.
//!
//! In a shared store ([`crate::publish`]) the job uploads the rewritten
//! segments, and the catalog swaps the files (one change, after the intent
//! and before the chain and the manifest); the old uploads are deleted
//! with the local files. A refused swap leaves everything as it was.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use agentrail_event::{Timestamp, columns};
use arrow_array::cast::AsArray;
use arrow_array::types::Int32Type;
use arrow_array::{BooleanArray, RecordBatch};
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde::{Deserialize, Serialize};

use crate::chain::{ChainState, Leaf};
use crate::durable::{read_json, replace_json};
use crate::index::part_path;
use crate::integrity::Integrity;
use crate::manifest::Manifest;
use crate::publish::{Files, Publish};
use crate::segment::{ROW_GROUP_ROWS, SegmentError, SegmentMeta, read_segment, write_segment_batch};
use crate::store::{Store, StoreError, segment_leaf};

/// The intent file of a retention being applied, in the data directory.
pub const INTENT_FILE: &str = "retention.pending.json";

/// How long events are kept.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RetentionPolicy {
    /// Every source, unless listed below; none keeps forever.
    pub keep: Option<Duration>,
    /// Per source (`aws.cloudtrail`, `agentrail`, …), longer or shorter.
    pub sources: BTreeMap<String, Duration>,
}

impl RetentionPolicy {
    pub fn is_empty(&self) -> bool {
        self.keep.is_none() && self.sources.is_empty()
    }

    fn keep_of(&self, source: &str) -> Option<Duration> {
        self.sources.get(source).copied().or(self.keep)
    }

    /// The shortest retention: no day younger than it can hold expired rows.
    fn shortest(&self) -> Option<Duration> {
        self.keep.into_iter().chain(self.sources.values().copied()).min()
    }
}

/// What retention did (or, for a dry run, would do).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RetentionOutcome {
    pub segments_deleted: Vec<String>,
    /// `(old, new)` for each segment rewritten without its expired rows.
    pub segments_rewritten: Vec<(String, String)>,
    pub quarantine_deleted: Vec<String>,
    pub rows_deleted: u64,
}

/// What one old file becomes.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Action {
    Delete { reason: String },
    Rewrite { drop_sources: BTreeSet<String>, reason: String },
}

/// The candidates of a retention: the files of days old enough to hold
/// expired rows, with the log range their leaves carry.
#[derive(Debug)]
pub struct RetentionJob {
    dir: PathBuf,
    policy: RetentionPolicy,
    now: Timestamp,
    /// `(file, is a segment (not quarantine), log range)`.
    candidates: Vec<(SegmentMeta, bool, (u64, u64))>,
    /// The shared store the rewritten segments are uploaded to, if any.
    publisher: Option<Arc<dyn Publish>>,
}

/// A retention whose new files are written: what the chain, the manifest
/// and the disk must now reflect. Also the intent file's content.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetentionDone {
    pub removed: Vec<SegmentMeta>,
    pub added: Vec<SegmentMeta>,
    /// New segments' leaves, then a deletion leaf per removed file.
    pub leaves: Vec<Leaf>,
    pub rows_deleted: u64,
}

/// The day after `day` (`YYYY-MM-DD`) begins: when its newest row is this old.
fn day_end(day: &str) -> Option<Timestamp> {
    let start = Timestamp::parse(&format!("{day}T00:00:00Z")).ok()?;
    Some(Timestamp::from_micros(start.as_micros() + 86_400_000_000))
}

/// Whether every row of `day` is older than `keep` at `now`.
fn expired(day: &str, keep: Duration, now: Timestamp) -> bool {
    let keep = i64::try_from(keep.as_micros()).unwrap_or(i64::MAX);
    day_end(day).is_some_and(|end| end.as_micros().saturating_add(keep) <= now.as_micros())
}

fn human(duration: Duration) -> String {
    let days = duration.as_secs() / 86_400;
    if days > 0 && duration.as_secs().is_multiple_of(86_400) {
        format!("{days}d")
    } else {
        format!("{}s", duration.as_secs())
    }
}

impl Store {
    /// The files retention may concern at `now`. Cheap: nothing is read.
    pub fn begin_retention(&self, policy: &RetentionPolicy, now: Timestamp) -> RetentionJob {
        let state = ChainState::of(self.integrity().chain().entries());
        let range =
            |path: &str| state.live.iter().find(|s| s.path == path).map_or((0, 0), |s| (s.first_seq, s.last_seq));
        let mut candidates = Vec::new();
        if let Some(shortest) = policy.shortest() {
            for segment in self.manifest().segments.iter().filter(|s| expired(&s.day, shortest, now)) {
                candidates.push((segment.clone(), true, range(&segment.path)));
            }
        }
        if let Some(keep) = policy.keep {
            for file in self.manifest().quarantine.iter().filter(|s| expired(&s.day, keep, now)) {
                candidates.push((file.clone(), false, range(&file.path)));
            }
        }
        RetentionJob {
            dir: self.dir().to_owned(),
            policy: policy.clone(),
            now,
            candidates,
            publisher: self.publisher().cloned(),
        }
    }

    /// Makes a finished job's changes durable: see the module's doc.
    pub fn finish_retention(&mut self, done: &RetentionDone) -> Result<(), StoreError> {
        if done.removed.is_empty() && done.added.is_empty() {
            return Ok(());
        }
        let dir = self.dir().to_owned();
        let intent = dir.join(INTENT_FILE);
        replace_json(&intent, done).map_err(|(path, source)| StoreError::Io { path, source })?;
        let publisher = self.publisher().cloned();
        if let Some(publisher) = &publisher {
            let removed: Vec<String> = done.removed.iter().map(|s| s.path.clone()).collect();
            let files = Files { dir: &dir, segments: &done.added, quarantine: &[] };
            if let Err(error) = publisher.replace(files, &removed, &self.records()) {
                // Nothing swapped, nothing recorded: as if never run.
                remove(&intent)?;
                self.discard_files(&done.added, &[])?;
                return Err(StoreError::Publish(error));
            }
        }
        let (manifest, integrity) = self.manifest_and_integrity();
        complete(&dir, manifest, integrity, done)?;
        if let Some(publisher) = &publisher {
            // After the chain's deletion leaves, copied out with them.
            let (segments, quarantine): (Vec<SegmentMeta>, Vec<SegmentMeta>) =
                done.removed.iter().cloned().partition(|file| file.path.starts_with("segments/"));
            let files = Files { dir: &dir, segments: &segments, quarantine: &quarantine };
            publisher.withdraw(files, &self.records()).map_err(StoreError::Publish)?;
        }
        self.trim_sealed_log()?;
        tracing::info!(
            deleted = done.removed.len(),
            added = done.added.len(),
            rows = done.rows_deleted,
            "retention applied"
        );
        Ok(())
    }

    /// Runs a retention here and now (the CLI's way; the server runs the job
    /// on its own thread). A dry run writes nothing.
    pub fn apply_retention(
        &mut self,
        policy: &RetentionPolicy,
        now: Timestamp,
        dry_run: bool,
    ) -> Result<RetentionOutcome, StoreError> {
        let job = self.begin_retention(policy, now);
        if dry_run {
            return job.plan_only();
        }
        let (outcome, done) = job.run()?;
        self.finish_retention(&done)?;
        Ok(outcome)
    }
}

/// Finishes an intent (again, after a crash): every step is idempotent.
pub(crate) fn complete(
    dir: &Path,
    manifest: &mut Manifest,
    integrity: &mut Integrity,
    done: &RetentionDone,
) -> Result<(), StoreError> {
    integrity.record(&done.leaves)?;
    let removed: BTreeSet<&str> = done.removed.iter().map(|s| s.path.as_str()).collect();
    let mut next = manifest.clone();
    next.segments.retain(|s| !removed.contains(s.path.as_str()));
    next.quarantine.retain(|s| !removed.contains(s.path.as_str()));
    for added in &done.added {
        if !next.segments.iter().any(|s| s.path == added.path) {
            next.segments.push(added.clone());
        }
    }
    if next != *manifest {
        next.store(dir)?;
        *manifest = next;
    }
    for file in &done.removed {
        remove(&dir.join(&file.path))?;
        if file.path.starts_with("segments/") {
            remove(&dir.join(part_path(&file.path)))?;
        }
    }
    let intent = dir.join(INTENT_FILE);
    remove(&intent)?;
    File::open(dir).and_then(|d| d.sync_all()).map_err(|source| StoreError::Io { path: dir.to_owned(), source })
}

/// The intent left by a crash, if any.
pub(crate) fn pending_intent(dir: &Path) -> Result<Option<RetentionDone>, StoreError> {
    read_json(&dir.join(INTENT_FILE)).map_err(|(path, source)| StoreError::Io { path, source })
}

pub(crate) fn remove(path: &Path) -> Result<(), StoreError> {
    let removal = if path.is_dir() { fs::remove_dir_all(path) } else { fs::remove_file(path) };
    match removal {
        Err(error) if error.kind() != std::io::ErrorKind::NotFound => {
            Err(StoreError::Io { path: path.to_owned(), source: error })
        }
        _ => Ok(()),
    }
}

impl RetentionJob {
    /// What would happen to each candidate, without writing anything.
    fn decide(&self) -> Result<Vec<(usize, Action)>, StoreError> {
        let mut actions = Vec::new();
        for (i, (file, is_segment, _)) in self.candidates.iter().enumerate() {
            if !is_segment {
                if let Some(keep) = self.policy.keep {
                    let reason = format!("retention: quarantined records older than {}", human(keep));
                    actions.push((i, Action::Delete { reason }));
                }
                continue;
            }
            let sources = segment_sources(&self.dir.join(&file.path))?;
            let expired_sources: BTreeSet<String> = sources
                .iter()
                .filter(|source| self.policy.keep_of(source).is_some_and(|keep| expired(&file.day, keep, self.now)))
                .cloned()
                .collect();
            let described: Vec<String> = expired_sources
                .iter()
                .map(|s| format!("{s} older than {}", self.policy.keep_of(s).map(human).unwrap_or_default()))
                .collect();
            if expired_sources.is_empty() {
                continue;
            } else if expired_sources.len() == sources.len() {
                let reason = format!("retention: {}", described.join(", "));
                actions.push((i, Action::Delete { reason }));
            } else {
                let reason = format!("retention: the rows of {} removed", described.join(", "));
                actions.push((i, Action::Rewrite { drop_sources: expired_sources, reason }));
            }
        }
        Ok(actions)
    }

    /// What would happen, without writing anything.
    fn plan(&self) -> Result<(RetentionOutcome, Vec<(usize, Action)>), StoreError> {
        let actions = self.decide()?;
        let mut outcome = RetentionOutcome::default();
        for (i, action) in &actions {
            let (file, is_segment, _) = &self.candidates[*i];
            match action {
                Action::Delete { .. } if *is_segment => {
                    outcome.segments_deleted.push(file.path.clone());
                    outcome.rows_deleted += file.rows;
                }
                Action::Delete { .. } => outcome.quarantine_deleted.push(file.path.clone()),
                Action::Rewrite { .. } => outcome.segments_rewritten.push((file.path.clone(), String::new())),
            }
        }
        Ok((outcome, actions))
    }

    /// What would happen (a dry run), without writing anything.
    pub fn plan_only(&self) -> Result<RetentionOutcome, StoreError> {
        self.plan().map(|(outcome, _)| outcome)
    }

    /// Decides, and writes the rewritten segments. Touches no listed file.
    pub fn run(self) -> Result<(RetentionOutcome, RetentionDone), StoreError> {
        let (mut outcome, actions) = self.plan()?;
        let mut done = RetentionDone::default();
        let mut deletions = Vec::new();
        let mut rewritten = outcome.segments_rewritten.iter_mut();
        for (i, action) in actions {
            let (file, _, range) = &self.candidates[i];
            let reason = match action {
                Action::Delete { reason } => reason,
                Action::Rewrite { drop_sources, reason } => {
                    let stem = file.path.strip_suffix(".parquet").unwrap_or(&file.path);
                    let relative = format!("{stem}-r{}.parquet", self.now.as_micros());
                    let (batch, dropped) = rows_without(&self.dir.join(&file.path), &drop_sources)?;
                    let meta = write_segment_batch(&self.dir, &file.day, &relative, &batch, ROW_GROUP_ROWS)?;
                    done.leaves.push(segment_leaf(&self.dir, &meta, true, *range, self.now)?);
                    done.rows_deleted += dropped;
                    if let Some(entry) = rewritten.next() {
                        entry.1 = relative.clone();
                    }
                    done.added.push(meta);
                    format!("{reason}; the other rows were rewritten to {relative}")
                }
            };
            deletions.push(Leaf::Deleted {
                segment: file.path.clone(),
                sha256: file.sha256.clone(),
                reason,
                at: self.now,
            });
            done.removed.push(file.clone());
        }
        done.rows_deleted += outcome.rows_deleted;
        outcome.rows_deleted = done.rows_deleted;
        done.leaves.extend(deletions);
        if let Some(publisher) = &self.publisher {
            // Copied out here, off the writer; listed by `finish_retention`.
            let files = Files { dir: &self.dir, segments: &done.added, quarantine: &[] };
            publisher.upload(files).map_err(StoreError::Publish)?;
        }
        Ok((outcome, done))
    }
}

fn parquet_error(path: &Path) -> impl FnOnce(parquet::errors::ParquetError) -> StoreError + '_ {
    move |source| StoreError::Segment(SegmentError::Parquet { path: path.to_owned(), source })
}

/// The distinct sources of a segment (reads that column only).
fn segment_sources(path: &Path) -> Result<BTreeSet<String>, StoreError> {
    let file = File::open(path).map_err(|source| StoreError::Io { path: path.to_owned(), source })?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(parquet_error(path))?;
    let mask = ProjectionMask::columns(builder.parquet_schema(), [columns::SOURCE]);
    let reader = builder.with_projection(mask).build().map_err(parquet_error(path))?;
    let mut sources = BTreeSet::new();
    for batch in reader {
        let batch = batch.map_err(|e| StoreError::Segment(SegmentError::Arrow(e)))?;
        for_each_source(&batch, |source| {
            sources.insert(source.to_owned());
        });
    }
    Ok(sources)
}

/// Calls `each` with every row's source (a dictionary column).
fn for_each_source(batch: &RecordBatch, mut each: impl FnMut(&str)) {
    let Some(column) = batch.column_by_name(columns::SOURCE) else { return };
    let Some(dictionary) = column.as_dictionary_opt::<Int32Type>() else { return };
    let values = dictionary.values().as_string::<i32>();
    for key in dictionary.keys().iter() {
        each(key.map_or("", |key| values.value(key as usize)));
    }
}

/// A segment's rows, in order, without those of `drop_sources`; and how many were left out.
fn rows_without(path: &Path, drop_sources: &BTreeSet<String>) -> Result<(RecordBatch, u64), StoreError> {
    let (schema, batches) = read_segment(path)?;
    let arrow = |e| StoreError::Segment(SegmentError::Arrow(e));
    let (mut kept, mut dropped) = (Vec::new(), 0_u64);
    for batch in batches {
        let mut keep = Vec::with_capacity(batch.num_rows());
        for_each_source(&batch, |source| keep.push(!drop_sources.contains(source)));
        dropped += keep.iter().filter(|k| !**k).count() as u64;
        kept.push(arrow_select::filter::filter_record_batch(&batch, &BooleanArray::from(keep)).map_err(arrow)?);
    }
    Ok((arrow_select::concat::concat_batches(&schema, &kept).map_err(arrow)?, dropped))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_day_expires_once_its_last_moment_is_older_than_the_retention() {
        let now = Timestamp::parse("2026-11-24T12:00:00Z").expect("time");
        let day = Duration::from_secs(86_400);
        assert!(expired("2026-11-22", day, now));
        assert!(!expired("2026-11-23", day, now), "its last rows are 12 hours old");
        assert!(expired("2026-11-23", day / 2, now));
        assert!(!expired("not a day", day, now));
        assert_eq!(human(400 * day), "400d");
    }
}
