//! Compaction end to end: small segments merge into fewer, every event stays
//! exactly once, merged-away files stay for their grace and then go with a
//! deletion leaf, the store verifies at every step, and a crash at any step
//! is finished (or undone) on the next open.

mod common;

use common::{copy_dir, sample_events, sealing_on_demand};

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::time::Duration;

use agentrail_event::{Event, Timestamp};
use agentrail_store::compaction::PENDING_FILE;
use agentrail_store::index::part_path;
use agentrail_store::manifest::MANIFEST_FILE;
use agentrail_store::segment::for_each_event_id;
use agentrail_store::verify::{VerifyOptions, verify};
use agentrail_store::{CompactionPolicy, IndexPart, IntegrityOptions, Store};
use arrow_array::Array;
use arrow_array::cast::AsArray;
use arrow_array::types::TimestampMicrosecondType;

fn open(dir: &Path) -> Store {
    Store::open(dir, sealing_on_demand()).expect("opens").0
}

/// A store sealed in `parts` seals: many small segments a day.
fn many_small_segments(dir: &Path, parts: usize) -> Vec<Event> {
    let events = sample_events();
    let mut store = open(dir);
    for part in events.chunks(events.len().div_ceil(parts)) {
        store.append(part.to_vec(), Vec::new()).expect("durable");
        store.seal().expect("seals");
    }
    events
}

/// How many times each event id is stored in the listed segments.
fn stored_ids(store: &Store) -> BTreeMap<String, usize> {
    let mut ids = BTreeMap::new();
    for segment in &store.manifest().segments {
        for_each_event_id(&store.dir().join(&segment.path), |id| *ids.entry(id.to_owned()).or_default() += 1)
            .expect("segment reads");
    }
    ids
}

fn assert_verifies(dir: &Path) {
    let report = verify(dir, &VerifyOptions::default(), &mut |_, _| {}).expect("verification runs");
    assert!(report.verified, "{:?}", report.problems);
}

fn policy(grace: Duration) -> CompactionPolicy {
    CompactionPolicy { target_rows: 100_000, min_segments: 4, grace, max_merges: 16 }
}

const HOUR: Duration = Duration::from_secs(3600);

fn later(by: Duration) -> Timestamp {
    Timestamp::from_micros(Timestamp::now().as_micros() + by.as_micros() as i64)
}

#[test]
fn small_segments_merge_every_event_stays_once_and_old_files_go_after_their_grace() {
    let dir = tempfile::tempdir().expect("temp dir");
    let events = many_small_segments(dir.path(), 12);
    let mut store = open(dir.path());
    let before = stored_ids(&store);
    assert_eq!(before.len(), events.len());
    let segments_before = store.manifest().segments.len();

    let dry = store.compact(&policy(HOUR), true).expect("dry run");
    assert!(!dry.merges.is_empty(), "{dry:?}");
    assert_eq!(store.manifest().segments.len(), segments_before, "a dry run writes nothing");

    let outcome = store.compact(&policy(HOUR), false).expect("compacts");
    assert_eq!(outcome.merges.len(), dry.merges.len());
    assert_eq!(outcome.segments_after, store.manifest().segments.len());
    assert!(outcome.segments_after < segments_before / 4, "{segments_before} → {}", outcome.segments_after);
    assert_eq!(stored_ids(&store), before, "every event once, none lost");
    for merge in &outcome.merges {
        let merged = store.manifest().segments.iter().find(|s| s.path == merge.into).expect("listed");
        assert_eq!(merged.rows, merge.rows);
        IndexPart::open_checked(dir.path(), merged).expect("the merged segment has a sound index part");
        for old in &merge.from {
            assert!(dir.path().join(old).exists(), "{old} stays during its grace");
            assert!(dir.path().join(part_path(old)).exists());
        }
    }
    // Re-sent events are still duplicates.
    let again = store.append(events[..100].to_vec(), Vec::new()).expect("durable");
    assert_eq!((again.accepted, again.duplicates), (0, 100));
    drop(store);
    assert_verifies(dir.path());

    // A reopen keeps the merged-away files (they are in no manifest).
    let mut store = open(dir.path());
    let old = &outcome.merges[0].from[0];
    assert!(dir.path().join(old).exists());
    assert_eq!(store.collect_retired(Timestamp::now()).expect("collects"), 0, "not due yet");
    let gone = store.collect_retired(later(2 * HOUR)).expect("collects");
    assert_eq!(gone, outcome.merges.iter().map(|m| m.from.len()).sum::<usize>());
    assert!(!dir.path().join(old).exists());
    assert!(!dir.path().join(part_path(old)).exists());
    assert!(!dir.path().join(PENDING_FILE).exists());
    assert_eq!(stored_ids(&store), before);
    drop(store);
    assert_verifies(dir.path());

    // Nothing left to merge; and a missing merged segment is still caught.
    let mut store = open(dir.path());
    assert!(store.compact(&policy(HOUR), false).expect("compacts").merges.is_empty());
    let merged = outcome.merges[0].into.clone();
    drop(store);
    fs::remove_file(dir.path().join(&merged)).expect("remove");
    let report = verify(dir.path(), &VerifyOptions::default(), &mut |_, _| {}).expect("runs");
    assert_eq!(report.problems.len(), 1, "{:?}", report.problems);
    assert_eq!(report.problems[0].path, merged);
}

#[test]
fn merged_rows_are_in_time_order_and_merged_segments_merge_again() {
    let dir = tempfile::tempdir().expect("temp dir");
    many_small_segments(dir.path(), 16);
    let mut store = open(dir.path());
    let before = stored_ids(&store);
    let first = store.compact(&policy(Duration::ZERO), false).expect("compacts");
    assert!(!first.merges.is_empty());
    // Retired at once with no grace.
    for merge in &first.merges {
        assert!(merge.from.iter().all(|old| !dir.path().join(old).exists()));
    }
    // More small seals; the merged segments are small too, and merge again.
    let more = sample_events();
    let mut fresh: Vec<Event> = more.into_iter().take(400).collect();
    for (n, event) in fresh.iter_mut().enumerate() {
        event.event_id = format!("test:extra-{n}");
    }
    for part in fresh.chunks(50) {
        store.append(part.to_vec(), Vec::new()).expect("durable");
        store.seal().expect("seals");
    }
    let second = store.compact(&policy(Duration::ZERO), false).expect("compacts");
    let merged_again = second.merges.iter().flat_map(|m| &m.from).filter(|p| p.contains("-c")).count();
    assert!(merged_again > 0, "{second:?}");
    let mut expected = before;
    expected.extend(fresh.iter().map(|e| (e.event_id.clone(), 1)));
    assert_eq!(stored_ids(&store), expected);

    // Each merged segment: rows in time order (then by correlation id).
    for merge in &second.merges {
        let (_, batches) = agentrail_store::segment::read_segment(&dir.path().join(&merge.into)).expect("reads");
        let mut keys = Vec::new();
        for batch in &batches {
            let ids = batch.column_by_name("correlation_id").expect("column").as_string::<i32>();
            let times = batch.column_by_name("time").expect("column").as_primitive::<TimestampMicrosecondType>();
            for row in 0..batch.num_rows() {
                let id = ids.is_valid(row).then(|| ids.value(row).to_owned());
                keys.push((times.value(row), id.is_none(), id));
            }
        }
        assert!(keys.is_sorted(), "{} is not in time order", merge.into);
    }
    drop(store);
    assert_verifies(dir.path());
}

#[test]
fn what_is_not_small_or_not_many_is_left_alone() {
    let dir = tempfile::tempdir().expect("temp dir");
    many_small_segments(dir.path(), 3);
    let mut store = open(dir.path());
    let days = store.manifest().segments.iter().map(|s| s.day.clone()).collect::<std::collections::BTreeSet<_>>();
    assert!(store.manifest().segments.len() <= 3 * days.len());
    assert!(store.compact(&policy(HOUR), false).expect("runs").merges.is_empty(), "fewer than min_segments a day");
    let tiny = CompactionPolicy { target_rows: 10, ..policy(HOUR) };
    assert!(store.compact(&tiny, false).expect("runs").merges.is_empty(), "none under half the target");
}

#[test]
fn a_merge_split_by_the_target_keeps_each_merged_segment_under_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    many_small_segments(dir.path(), 20);
    let mut store = open(dir.path());
    let largest = store.manifest().segments.iter().map(|s| s.rows).max().expect("segments");
    let target = largest * 4;
    let outcome = store.compact(&CompactionPolicy { target_rows: target, ..policy(HOUR) }, false).expect("runs");
    assert!(outcome.merges.len() > 1, "{outcome:?}");
    assert!(outcome.merges.iter().all(|m| m.rows <= target && m.from.len() >= 2), "{outcome:?}");
    drop(store);
    assert_verifies(dir.path());
}

/// The merged files written, then a crash before anything was recorded: the
/// next open removes them, as a seal's unlisted files.
#[test]
fn a_merge_a_crash_left_unrecorded_leaves_nothing() {
    let dir = tempfile::tempdir().expect("temp dir");
    many_small_segments(dir.path(), 12);
    let store = open(dir.path());
    let before = stored_ids(&store);
    let listed = store.manifest().clone();
    let done = store.begin_compaction(&policy(HOUR), Timestamp::now()).run().expect("writes");
    let merged = done.outcome().merges[0].into.clone();
    assert!(dir.path().join(&merged).exists());
    drop(store);
    let store = open(dir.path());
    assert_eq!(store.manifest(), &listed);
    assert!(!dir.path().join(&merged).exists());
    assert!(!dir.path().join(part_path(&merged)).exists());
    assert_eq!(stored_ids(&store), before);
    drop(store);
    assert_verifies(dir.path());
}

/// The pending file written, then a crash before the manifest (with the
/// chain's leaf written, and without): the next open lists the merge.
#[test]
fn a_merge_a_crash_left_unlisted_is_finished_on_open() {
    let integrity = IntegrityOptions::default();
    for chain_written in [true, false] {
        let dir = tempfile::tempdir().expect("temp dir");
        many_small_segments(dir.path(), 12);
        let before_dir = tempfile::tempdir().expect("temp dir");
        copy_dir(dir.path(), before_dir.path());
        let mut store = open(dir.path());
        let before = stored_ids(&store);
        let outcome = store.compact(&policy(HOUR), false).expect("compacts");
        let after = store.manifest().clone();
        drop(store);
        // Undo what came after the pending file.
        fs::copy(before_dir.path().join(MANIFEST_FILE), dir.path().join(MANIFEST_FILE)).expect("old manifest");
        if !chain_written {
            let (old, new) = (integrity.dir(before_dir.path()), integrity.dir(dir.path()));
            for name in [agentrail_store::chain::CHAIN_FILE, agentrail_store::integrity::CHECKPOINTS_FILE] {
                fs::copy(old.join(name), new.join(name)).expect("old record");
            }
        }
        let store = open(dir.path());
        assert_eq!(store.manifest().segments, after.segments, "chain written: {chain_written}");
        assert_eq!(stored_ids(&store), before);
        assert!(outcome.merges.iter().all(|m| m.from.iter().all(|old| dir.path().join(old).exists())));
        drop(store);
        assert_verifies(dir.path());
    }
}

/// Deletion leaves written, then a crash before the pending file was
/// rewritten: the next collection neither records them twice nor fails.
#[test]
fn a_retirement_a_crash_interrupted_is_finished_without_a_second_record() {
    let dir = tempfile::tempdir().expect("temp dir");
    many_small_segments(dir.path(), 12);
    let mut store = open(dir.path());
    store.compact(&policy(HOUR), false).expect("compacts");
    let pending = fs::read(dir.path().join(PENDING_FILE)).expect("pending");
    store.collect_retired(later(2 * HOUR)).expect("collects");
    let leaves = store.integrity().chain().len();
    drop(store);
    fs::write(dir.path().join(PENDING_FILE), pending).expect("the crash left it");
    let mut store = open(dir.path());
    // Due by now only in two hours: collect explicitly.
    store.collect_retired(later(2 * HOUR)).expect("collects again");
    assert_eq!(store.integrity().chain().len(), leaves, "recorded once");
    assert!(!dir.path().join(PENDING_FILE).exists());
    drop(store);
    assert_verifies(dir.path());
}

/// The grace counts from the swap: a merge that took longer than the grace
/// to write still leaves its old files for the whole grace.
#[test]
fn the_grace_counts_from_the_moment_the_merge_is_listed() {
    let dir = tempfile::tempdir().expect("temp dir");
    many_small_segments(dir.path(), 12);
    let mut store = open(dir.path());
    let started_long_ago = Timestamp::from_micros(Timestamp::now().as_micros() - 2 * HOUR.as_micros() as i64);
    let done = store.begin_compaction(&policy(HOUR), started_long_ago).run().expect("writes");
    store.finish_compaction(&done).expect("lists");
    assert_eq!(store.collect_retired(Timestamp::now()).expect("collects"), 0, "still in its grace");
    let old = &done.outcome().merges[0].from[0];
    assert!(dir.path().join(old).exists());
    assert!(store.collect_retired(later(2 * HOUR)).expect("collects") > 0);
}
