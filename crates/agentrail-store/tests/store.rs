//! The store end to end on realistic data: durability across crashes before
//! and during sealing, exactly-once effect through ids, and segments read
//! back row for row.

mod common;

use common::sample_events;

use std::collections::HashSet;
use std::fs::File;
use std::path::{Path, PathBuf};

use agentrail_event::{Event, Timestamp};
use agentrail_store::{IndexPart, Quarantined, SegmentMeta, Store, StoreOptions};
use arrow_array::Array;
use arrow_array::cast::AsArray;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

fn options() -> StoreOptions {
    StoreOptions { seal_rows: 1_000_000, ..StoreOptions::default() }
}

/// (event_id, correlation_id) of every row in the manifest's segments, in file order.
fn stored_rows(dir: &Path, store: &Store) -> Vec<(String, Option<String>)> {
    segment_rows(dir, &store.manifest().segments)
}

fn segment_rows(dir: &Path, segments: &[SegmentMeta]) -> Vec<(String, Option<String>)> {
    let mut rows = Vec::new();
    for segment in segments {
        let file = File::open(dir.join(&segment.path)).expect("segment exists");
        let reader = ParquetRecordBatchReaderBuilder::try_new(file).expect("parquet").build().expect("reader");
        for batch in reader {
            let batch = batch.expect("batch");
            let ids = batch.column_by_name("event_id").expect("event_id").as_string::<i32>().clone();
            let corr = batch.column_by_name("correlation_id").expect("correlation_id").as_string::<i32>().clone();
            for i in 0..batch.num_rows() {
                rows.push((ids.value(i).to_owned(), (!corr.is_null(i)).then(|| corr.value(i).to_owned())));
            }
        }
    }
    rows
}

#[test]
fn acknowledged_events_survive_a_crash_before_sealing_exactly_once() {
    let dir = tempfile::tempdir().expect("temp dir");
    let events = sample_events();
    let (first_half, second_half) = events.split_at(events.len() / 2);
    {
        let (mut store, _) = Store::open(dir.path(), options()).expect("opens");
        let outcome = store.append(first_half.to_vec(), Vec::new()).expect("durable");
        assert_eq!(outcome.accepted, first_half.len());
        store.seal().expect("seals");
        let outcome = store.append(second_half.to_vec(), Vec::new()).expect("durable");
        assert_eq!(outcome.accepted, second_half.len());
        // Dropped without sealing: a crash after the acknowledgement.
    }
    let (mut store, report) = Store::open(dir.path(), options()).expect("reopens");
    assert_eq!(report.replayed_events, second_half.len());
    // A shipper retrying the whole input changes nothing.
    let retry = store.append(events.clone(), Vec::new()).expect("durable");
    assert_eq!((retry.accepted, retry.duplicates), (0, events.len()));
    store.seal().expect("seals");

    let rows = stored_rows(dir.path(), &store);
    assert_eq!(rows.len(), events.len(), "every event once");
    let ids: HashSet<&String> = rows.iter().map(|(id, _)| id).collect();
    assert_eq!(ids.len(), events.len());
    assert!(events.iter().all(|e| ids.contains(&e.event_id)));
    assert_eq!(store.manifest().total_rows(), events.len() as u64);
}

#[test]
fn a_crash_between_segment_and_manifest_leaves_no_trace() {
    let dir = tempfile::tempdir().expect("temp dir");
    let events = sample_events();
    {
        let (mut store, _) = Store::open(dir.path(), options()).expect("opens");
        store.append(events.clone(), Vec::new()).expect("durable");
    }
    // What a seal that crashed before its manifest leaves: a segment no manifest lists.
    let orphan: PathBuf = dir.path().join("segments/dt=2026-11-16/00000000000000000001-00000000000000000001.parquet");
    std::fs::create_dir_all(orphan.parent().expect("parent")).expect("dir");
    std::fs::write(&orphan, b"half a parquet file").expect("write");

    let (mut store, report) = Store::open(dir.path(), options()).expect("reopens");
    assert_eq!(report.removed_unlisted_files, vec![orphan]);
    assert_eq!(report.replayed_events, events.len());
    store.seal().expect("seals");
    assert_eq!(stored_rows(dir.path(), &store).len(), events.len());
}

#[test]
fn segments_are_partitioned_by_day_and_sorted_for_replay() {
    let dir = tempfile::tempdir().expect("temp dir");
    let events = sample_events();
    let (mut store, _) = Store::open(dir.path(), options()).expect("opens");
    store.append(events.clone(), Vec::new()).expect("durable");
    let segments = store.seal().expect("seals");
    let days: HashSet<String> = events.iter().map(|e| e.time.date_string()).collect();
    assert_eq!(segments.len(), days.len(), "one segment per day");
    for segment in &segments {
        assert!(segment.path.starts_with(&format!("segments/dt={}/", segment.day)), "{}", segment.path);
        assert_eq!(segment.sha256.len(), 64);
    }
    // Within each segment, every correlation id's rows are contiguous.
    for segment in &store.manifest().segments {
        let mut seen_done: HashSet<String> = HashSet::new();
        let mut current: Option<String> = None;
        let rows = segment_rows(dir.path(), std::slice::from_ref(segment));
        for (_, corr) in rows {
            if corr != current {
                if let Some(done) = current.take() {
                    assert!(seen_done.insert(done.clone()), "{done} split in {}", segment.path);
                }
                current = corr;
            }
        }
    }
}

#[test]
fn rejected_records_are_kept_in_quarantine_with_reason_and_bytes() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (mut store, _) = Store::open(dir.path(), options()).expect("opens");
    let reject = Quarantined {
        received_at: Timestamp::now(),
        origin: "file:input.ndjson:line 7".into(),
        source: None,
        reason: "invalid JSON at column 3".into(),
        raw: vec![b'{', 0xff, b'x'],
    };
    let outcome = store.append(Vec::new(), vec![reject.clone()]).expect("durable");
    assert_eq!(outcome.quarantined, 1);
    drop(store);
    let (mut store, report) = Store::open(dir.path(), options()).expect("reopens");
    assert_eq!(report.replayed_entries, 1);
    store.seal().expect("seals");
    let segment = &store.manifest().quarantine[0];
    let file = File::open(dir.path().join(&segment.path)).expect("quarantine file");
    let batch = ParquetRecordBatchReaderBuilder::try_new(file).expect("parquet").build().expect("reader").next();
    let batch = batch.expect("a batch").expect("readable");
    assert_eq!(batch.column_by_name("raw").expect("raw").as_binary::<i32>().value(0), &[b'{', 0xff, b'x']);
    assert_eq!(batch.column_by_name("reason").expect("reason").as_string::<i32>().value(0), reject.reason);
}

#[test]
fn sealing_elsewhere_lets_appends_go_on_and_a_crash_mid_seal_loses_nothing() {
    let dir = tempfile::tempdir().expect("temp dir");
    let events = sample_events();
    let (first, rest) = events.split_at(events.len() / 3);
    let (second, third) = rest.split_at(rest.len() / 2);
    let manual = StoreOptions { auto_seal: false, ..options() };
    {
        let (mut store, _) = Store::open(dir.path(), manual.clone()).expect("opens");
        store.append(first.to_vec(), Vec::new()).expect("durable");
        let job = store.begin_seal().expect("rows to seal");
        assert_eq!(job.rows(), first.len());
        // Appends go on while the job is written (here: before it runs).
        store.append(second.to_vec(), Vec::new()).expect("durable");
        let mut sealed = job.run().expect("written");
        store.finish_seal(&mut sealed).expect("listed");
        assert_eq!(store.manifest().total_rows(), first.len() as u64);

        store.append(third.to_vec(), Vec::new()).expect("durable");
        let _job = store.begin_seal().expect("rows to seal");
        // Crash: the job never finishes.
    }
    let (mut store, report) = Store::open(dir.path(), manual).expect("reopens");
    assert_eq!(report.replayed_events, second.len() + third.len());
    store.seal().expect("seals");
    let rows = stored_rows(dir.path(), &store);
    assert_eq!(rows.len(), events.len());
    let ids: HashSet<&String> = rows.iter().map(|(id, _)| id).collect();
    assert_eq!(ids.len(), events.len(), "each event once");
}

/// A seal that wrote its segment and index part but crashed before the
/// manifest: both go on reopen, the rows come back from the log, and every
/// listed segment ends with a part that agrees with it.
#[test]
fn a_crash_after_segment_and_index_before_manifest_leaves_them_agreeing() {
    let dir = tempfile::tempdir().expect("temp dir");
    let events = sample_events();
    let manual = StoreOptions { auto_seal: false, ..options() };
    let unlisted = {
        let (mut store, _) = Store::open(dir.path(), manual.clone()).expect("opens");
        store.append(events.clone(), Vec::new()).expect("durable");
        let job = store.begin_seal().expect("rows to seal");
        let sealed = job.run().expect("written");
        // Crash: finish_seal never runs.
        let unlisted: Vec<PathBuf> = sealed.segments.iter().map(|s| dir.path().join(&s.path)).collect();
        assert!(unlisted.iter().all(|p| p.is_file()));
        unlisted
    };
    let (mut store, report) = Store::open(dir.path(), manual).expect("reopens");
    for segment in &unlisted {
        assert!(report.removed_unlisted_files.contains(segment), "{:?}", report.removed_unlisted_files);
    }
    assert!(report.removed_unlisted_files.iter().any(|p| p.starts_with(dir.path().join("index"))), "{report:?}");
    assert_eq!(report.replayed_events, events.len());
    store.seal().expect("seals");
    assert_eq!(stored_rows(dir.path(), &store).len(), events.len());
    for segment in &store.manifest().segments {
        IndexPart::open_checked(dir.path(), segment).expect("the part agrees with its segment");
    }
}

/// A group whose fsync failed was refused but may have reached the disk;
/// its retry logs the same events again. Replaying such a log stores each
/// event once.
#[test]
fn an_event_logged_twice_is_replayed_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let events: Vec<Event> = sample_events().into_iter().take(20).collect();
    {
        let (mut store, _) = Store::open(dir.path(), options()).expect("open");
        store.append(events.clone(), Vec::new()).expect("append");
    }
    // Log the same entry again, as a retry after a refused group would.
    let wal_dir = dir.path().join("wal");
    let (mut wal, recovery) = agentrail_store::Wal::open(&wal_dir, Default::default()).expect("wal");
    let entry = recovery.entries.first().expect("one entry").payload.clone();
    wal.append(&entry).expect("append again");
    wal.sync().expect("sync");
    drop(wal);

    let (mut store, report) = Store::open(dir.path(), options()).expect("reopen");
    assert_eq!(report.replayed_entries, 2);
    assert_eq!(report.replayed_events, 20, "the second copy is dropped");
    store.seal().expect("seal");
    let ids: Vec<String> = stored_rows(dir.path(), &store).into_iter().map(|(id, _)| id).collect();
    let unique: HashSet<&String> = ids.iter().collect();
    assert_eq!((ids.len(), unique.len()), (20, 20));
}

/// The layout an index lookup depends on: small data pages with a page
/// index, and no dictionary page on the columns whose dictionary would cost
/// a lookup more than the rows it returns.
#[test]
fn segments_have_small_pages_and_no_dictionary_on_near_unique_columns() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (mut store, _) = Store::open(dir.path(), options()).expect("opens");
    store.append(sample_events(), Vec::new()).expect("durable");
    store.seal().expect("seals");
    let segment = &store.manifest().segments[0];
    let file = File::open(dir.path().join(&segment.path)).expect("segment exists");
    let options = parquet::arrow::arrow_reader::ArrowReaderOptions::new()
        .with_page_index_policy(parquet::file::metadata::PageIndexPolicy::Required);
    let reader = ParquetRecordBatchReaderBuilder::try_new_with_options(file, options).expect("parquet");
    let metadata = reader.metadata();
    let group = metadata.row_group(0);
    let dictionary = |path: &str| {
        let chunk = group.columns().iter().find(|c| c.column_path().string() == path).expect(path);
        chunk.dictionary_page_offset().is_some()
    };
    for path in ["event_id", "request_id", "raw", "message", "time", "attributes.entries.values"] {
        assert!(!dictionary(path), "{path} has a dictionary page");
    }
    for path in ["source", "action", "agent_id", "correlation_id", "attributes.entries.keys"] {
        assert!(dictionary(path), "{path} has no dictionary page");
    }
    let offsets = metadata.offset_index().expect("page index read");
    let pages = offsets[0][0].page_locations().len();
    assert!(pages as u64 >= segment.rows / 1024, "{pages} pages for {} rows", segment.rows);
}
