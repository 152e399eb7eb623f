//! A store published to object storage (the file system through
//! object_store, the embedded catalog) and read back by a query engine that
//! follows the catalog: the publish points of a seal, a crash between the
//! catalog and the manifest, and a directory switched to shared storage.

use std::sync::Arc;
use std::time::Duration;

use agentrail_collect::{SourceChoice, builtin_normalizer};
use agentrail_event::Event;
use agentrail_query::{QueryEngine, QueryLimits};
use agentrail_shared::{CatalogConfig, Listing, Shared, StorageConfig};
use agentrail_store::verify::{VerifyOptions, verify};
use agentrail_store::{CompactionPolicy, Publish, RetentionPolicy, Store, StoreOptions};

fn sample_events() -> Vec<Event> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../bench-data/samples/mixed.ndjson");
    let input = std::fs::read(path).expect("bench-data sample");
    builtin_normalizer().expect("built-ins load").normalize_all(&input, &SourceChoice::Auto).expect("sample normalizes")
}

fn shared(root: &std::path::Path) -> Shared {
    let url = url::Url::from_directory_path(root.join("bucket")).expect("a file URL");
    let storage = StorageConfig { url: url.to_string(), options: Default::default() };
    Shared::open(&storage, &CatalogConfig::default()).expect("a file store opens")
}

fn options(shared: &Shared, node: &str) -> StoreOptions {
    StoreOptions {
        seal_rows: 1_000_000,
        auto_seal: false,
        publisher: Some(shared.publisher(node.to_owned()) as Arc<dyn Publish>),
        ..StoreOptions::default()
    }
}

fn count(engine: &QueryEngine) -> u64 {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let answer = runtime.block_on(engine.query("SELECT count(*) AS n FROM events")).expect("count");
    answer.json_rows().expect("rows")[0]["n"].as_u64().expect("a number")
}

fn listing(shared: &Shared) -> Listing {
    shared.runtime.block_on(shared.catalog.list()).expect("the catalog lists")
}

#[test]
fn sealed_segments_are_listed_only_once_uploaded_and_a_follower_reads_them_all() {
    let root = tempfile::tempdir().expect("tempdir");
    let shared = shared(root.path());
    let events = sample_events();
    let (left, right) = events.split_at(events.len() / 2);
    for (node, rows) in [("a", left), ("b", right)] {
        let (mut store, _) = Store::open(&root.path().join(node), options(&shared, node)).expect("opens");
        store.append(rows.to_vec(), Vec::new()).expect("durable");
        let sealed = store.seal().expect("sealed and published");
        assert!(sealed.iter().all(|s| s.path.contains(&format!("/{node}-"))), "{sealed:?}");
    }
    let listed = listing(&shared);
    assert_eq!(listed.segments.iter().map(|s| s.rows).sum::<u64>(), events.len() as u64);
    for segment in &listed.segments {
        let object = root.path().join("bucket").join(&segment.path);
        assert_eq!(std::fs::metadata(&object).expect("uploaded").len(), segment.bytes);
    }
    for node in ["a", "b"] {
        let records = root.path().join("bucket/integrity").join(node);
        for file in ["chain.jsonl", "checkpoints.jsonl", "checkpoint.key.pub"] {
            assert!(records.join(file).is_file(), "{node}: {file}");
        }
        assert!(!records.join("checkpoint.key").exists(), "the private key stays home");
    }

    let cache = root.path().join("cache");
    let engine = QueryEngine::open_shared(&shared, &cache, Duration::from_millis(50), QueryLimits::default())
        .expect("follows the catalog");
    assert_eq!(count(&engine), events.len() as u64);
    assert!(cache.join("index").is_dir(), "index parts are cached locally");
    // An id lookup goes through the cached parts.
    let id = &events[7].event_id;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let sql = format!("SELECT event_id FROM events WHERE event_id = '{id}'");
    assert_eq!(runtime.block_on(engine.query(&sql)).expect("lookup").rows(), 1);

    // A later seal reaches the follower's next listing.
    let (mut store, _) = Store::open(&root.path().join("a"), options(&shared, "a")).expect("reopens");
    let mut more = events[0].clone();
    more.event_id = "late:1".into();
    store.append(vec![more], Vec::new()).expect("durable");
    store.seal().expect("sealed");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while count(&engine) != events.len() as u64 + 1 {
        assert!(std::time::Instant::now() < deadline, "the follower never saw the new seal");
        engine.refresh().expect("refresh");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn what_the_catalog_lists_beyond_the_manifest_is_unlisted_on_open_and_a_local_backlog_is_published() {
    let root = tempfile::tempdir().expect("tempdir");
    let shared = shared(root.path());
    let events = sample_events();
    let dir = root.path().join("node");
    // A directory sealed before it shared anything.
    {
        let local = StoreOptions { seal_rows: 1_000_000, auto_seal: false, ..StoreOptions::default() };
        let (mut store, _) = Store::open(&dir, local).expect("opens");
        store.append(events.clone(), Vec::new()).expect("durable");
        store.seal().expect("sealed locally");
    }
    // A catalog entry of this node that its manifest never listed: a crash
    // came between the two.
    let mut ghost = listing(&shared);
    let local = agentrail_store::Manifest::load(&dir).expect("manifest");
    let mut stray = local.segments[0].clone();
    stray.path = "segments/dt=2026-01-01/n-00000000000000000009-00000000000000000009.parquet".into();
    ghost.segments.push(stray.clone());
    shared.runtime.block_on(shared.catalog.change("n", &ghost, &[], &[])).expect("listed");

    let (_store, report) = Store::open(&dir, options(&shared, "n")).expect("opens shared");
    assert_eq!(report.reconciled.unlisted, [stray.path.clone()]);
    assert_eq!(report.reconciled.published.len(), local.segments.len() + local.quarantine.len());
    let listed = listing(&shared);
    assert_eq!(listed.segments, local.segments);
    assert_eq!(listed.segments.iter().map(|s| s.rows).sum::<u64>(), events.len() as u64);
}

#[test]
fn retention_swaps_files_in_the_catalog_and_deletes_the_old_uploads() {
    let root = tempfile::tempdir().expect("tempdir");
    let shared = shared(root.path());
    let dir = root.path().join("n");
    let (mut store, _) = Store::open(&dir, options(&shared, "n")).expect("opens");
    let events = small_seals(&mut store, 4);
    let before = listing(&shared).segments;

    // One source kept a day, the rest a week, judged two days after the
    // first day: that day's segments are rewritten without the source.
    let first_day = before.iter().map(|s| s.day.clone()).min().expect("a day");
    let source = events[0].source.clone();
    let now = agentrail_event::Timestamp::parse(&format!("{first_day}T00:00:00Z")).expect("a day");
    let now = agentrail_event::Timestamp::from_micros(now.as_micros() + 3 * 86_400_000_000);
    let policy = RetentionPolicy {
        keep: Some(Duration::from_secs(7 * 86_400)),
        sources: [(source.clone(), Duration::from_secs(86_400))].into(),
    };
    let outcome = store.apply_retention(&policy, now, false).expect("applied");
    assert!(outcome.rows_deleted > 0, "{outcome:?}");
    let gone: Vec<&String> =
        outcome.segments_deleted.iter().chain(outcome.segments_rewritten.iter().map(|(old, _)| old)).collect();
    assert!(!gone.is_empty(), "{outcome:?}");

    let after = listing(&shared).segments;
    assert_eq!(after, store.manifest().segments, "the catalog lists what the manifest does");
    // The source's rows of the first two days (a day goes once its end is a day old).
    let expired = now.as_micros() - 86_400_000_000;
    let deleted = events.iter().filter(|e| e.source == source && e.time.as_micros() < expired).count();
    assert_eq!(outcome.rows_deleted, deleted as u64);
    assert_eq!(after.iter().map(|s| s.rows).sum::<u64>(), (events.len() - deleted) as u64);
    for old in &gone {
        assert!(!in_bucket(root.path(), old), "{old} still uploaded");
        assert!(!in_bucket(root.path(), &agentrail_store::index::part_path(old)));
    }
    for (_, new) in &outcome.segments_rewritten {
        assert!(in_bucket(root.path(), new), "{new} uploaded");
    }
    let engine = QueryEngine::open_shared(
        &shared,
        &root.path().join("cache"),
        Duration::from_millis(10),
        QueryLimits::default(),
    )
    .expect("follows the catalog");
    assert_eq!(count(&engine), events.len() as u64 - outcome.rows_deleted);
    drop(store);
    assert_verifies(&dir);
    let uploaded_chain = std::fs::read_to_string(root.path().join("bucket/integrity/n/chain.jsonl")).expect("chain");
    assert!(uploaded_chain.contains("retention:"), "the uploaded chain says why the files went");
}

/// `parts` seals of the sample, each a small segment, in `dir`.
fn small_seals(store: &mut Store, parts: usize) -> Vec<Event> {
    let events = sample_events();
    for part in events.chunks(events.len().div_ceil(parts)) {
        store.append(part.to_vec(), Vec::new()).expect("durable");
        store.seal().expect("sealed and listed");
    }
    events
}

/// The merged files of a compaction, and the files merged away.
fn outcome_files(outcome: &agentrail_store::CompactionOutcome) -> (Vec<String>, Vec<String>) {
    let merged = outcome.merges.iter().map(|m| m.into.clone()).collect();
    (merged, outcome.merges.iter().flat_map(|m| m.from.clone()).collect())
}

/// Whether the bucket holds an object at `path` or under it (a file
/// system store leaves the directories of deleted objects behind).
fn in_bucket(root: &std::path::Path, path: &str) -> bool {
    fn holds_a_file(path: &std::path::Path) -> bool {
        match std::fs::read_dir(path) {
            Ok(entries) => entries.flatten().any(|entry| holds_a_file(&entry.path())),
            Err(_) => path.is_file(),
        }
    }
    holds_a_file(&root.join("bucket").join(path))
}

fn assert_verifies(dir: &std::path::Path) {
    let report = verify(dir, &VerifyOptions::default(), &mut |_, _| {}).expect("verification runs");
    assert!(report.verified, "{:?}", report.problems);
}

#[test]
fn a_compaction_swaps_files_in_the_catalog_at_once_and_a_follower_counting_throughout_never_sees_a_waver() {
    let root = tempfile::tempdir().expect("tempdir");
    let shared = shared(root.path());
    let dir = root.path().join("n");
    let (mut store, _) = Store::open(&dir, options(&shared, "n")).expect("opens");
    let events = small_seals(&mut store, 12);
    let before = listing(&shared).segments;
    assert!(before.len() >= 12, "{before:?}");

    let engine = QueryEngine::open_shared(
        &shared,
        &root.path().join("cache"),
        Duration::from_millis(10),
        QueryLimits::default(),
    )
    .expect("follows the catalog");
    let expected = events.len() as u64;
    assert_eq!(count(&engine), expected);
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let counter = std::thread::spawn({
        let stop = Arc::clone(&stop);
        move || {
            let mut counts = Vec::new();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                counts.push(count(&engine));
            }
            (counts, engine)
        }
    });

    let grace = Duration::from_millis(1500);
    let policy = CompactionPolicy { target_rows: 1_000_000, min_segments: 2, grace, ..CompactionPolicy::default() };
    let outcome = store.compact(&policy, false).expect("merged and swapped");
    let (merged, merged_away) = outcome_files(&outcome);
    assert!(merged_away.len() >= 10, "{outcome:?}");
    assert!(merged.iter().all(|m| m.contains("/n-")), "a shared store's merged files are named after its node");
    let after = listing(&shared).segments;
    assert_eq!(after.len(), before.len() - merged_away.len() + merged.len());
    assert!(merged.iter().all(|m| after.iter().any(|s| &s.path == m)), "{after:?}");
    assert!(merged_away.iter().all(|m| !after.iter().any(|s| &s.path == m)), "{after:?}");
    assert_eq!(after.iter().map(|s| s.rows).sum::<u64>(), expected);
    assert_eq!(store.manifest().segments, after, "the catalog lists what the manifest does");
    assert!(merged.iter().all(|m| in_bucket(root.path(), m)));
    assert!(merged_away.iter().all(|m| in_bucket(root.path(), m)), "merged-away uploads stay for their grace");

    std::thread::sleep(grace + Duration::from_millis(200));
    assert_eq!(store.collect_retired(agentrail_event::Timestamp::now()).expect("retired"), merged_away.len());
    for segment in &merged_away {
        assert!(!in_bucket(root.path(), segment), "{segment} still uploaded");
        assert!(!in_bucket(root.path(), &agentrail_store::index::part_path(segment)));
    }
    std::thread::sleep(Duration::from_millis(100));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (counts, engine) = counter.join().expect("the counter");
    assert!(counts.len() > 3, "the follower counted throughout: {counts:?}");
    let wrong: Vec<&u64> = counts.iter().filter(|n| **n != expected).collect();
    assert!(wrong.is_empty(), "{} of {} counts wavered: {wrong:?}", wrong.len(), counts.len());
    assert_eq!(count(&engine), expected);
    drop(store);
    assert_verifies(&dir);
    let uploaded_chain = std::fs::read_to_string(root.path().join("bucket/integrity/n/chain.jsonl")).expect("chain");
    assert!(merged.iter().all(|m| uploaded_chain.contains(m.as_str())), "the uploaded chain holds the merges' leaves");
    assert!(uploaded_chain.contains("compaction: its rows were merged into"), "and the retirements");
}

#[test]
fn a_merge_the_catalog_never_saw_is_listed_on_open_and_the_merged_away_uploads_wait_for_their_grace() {
    let root = tempfile::tempdir().expect("tempdir");
    let shared = shared(root.path());
    let dir = root.path().join("n");
    let (mut store, _) = Store::open(&dir, options(&shared, "n")).expect("opens");
    let events = small_seals(&mut store, 6);
    let before = listing(&shared).segments;
    drop(store);

    // Merged with no shared store at hand (a crash between the manifest
    // and the catalog leaves the same): the catalog still lists the inputs.
    let grace = Duration::from_secs(3600);
    let policy = CompactionPolicy { target_rows: 1_000_000, min_segments: 2, grace, ..CompactionPolicy::default() };
    let local = StoreOptions { seal_rows: 1_000_000, auto_seal: false, ..StoreOptions::default() };
    let (mut store, _) = Store::open(&dir, local).expect("opens alone");
    let (mut merged, mut merged_away) = outcome_files(&store.compact(&policy, false).expect("merged"));
    drop(store);
    assert_eq!(listing(&shared).segments, before);

    let (store, report) = Store::open(&dir, options(&shared, "n")).expect("reopens shared");
    let mut reconciled = report.reconciled.clone();
    for paths in [&mut merged, &mut merged_away, &mut reconciled.published, &mut reconciled.unlisted] {
        paths.sort();
    }
    assert_eq!((reconciled.published, reconciled.unlisted), (merged, merged_away.clone()));
    let listed = listing(&shared).segments;
    assert_eq!(listed, store.manifest().segments);
    assert_eq!(listed.iter().map(|s| s.rows).sum::<u64>(), events.len() as u64);
    assert!(merged_away.iter().all(|m| in_bucket(root.path(), m)), "in their grace, queries may still read them");

    let mut store = store;
    let later = agentrail_event::Timestamp::from_micros(agentrail_event::Timestamp::now().as_micros() + 7_200_000_000);
    assert_eq!(store.collect_retired(later).expect("retired"), merged_away.len());
    assert!(merged_away.iter().all(|m| !in_bucket(root.path(), m)));
    drop(store);
    assert_verifies(&dir);
}

#[test]
fn an_upload_a_crash_left_unlisted_is_deleted_on_open_so_the_bucket_holds_each_row_once() {
    let root = tempfile::tempdir().expect("tempdir");
    let shared = shared(root.path());
    let events = sample_events();
    let dir = root.path().join("node");
    let uploaded = {
        let (mut store, _) = Store::open(&dir, options(&shared, "n")).expect("opens");
        store.append(events.clone(), Vec::new()).expect("durable");
        let job = store.begin_seal().expect("rows to seal");
        // Written and uploaded, then the process dies before listing them.
        job.run().expect("written and uploaded").segments
    };
    assert!(uploaded.iter().all(|s| root.path().join("bucket").join(&s.path).is_file()));
    assert!(listing(&shared).segments.is_empty());

    let (mut store, report) = Store::open(&dir, options(&shared, "n")).expect("reopens");
    assert!(!report.removed_unlisted_files.is_empty());
    for segment in &uploaded {
        assert!(!root.path().join("bucket").join(&segment.path).exists(), "{} still uploaded", segment.path);
    }
    store.seal().expect("sealed again from the log");
    let listed = listing(&shared);
    assert_eq!(listed.segments.iter().map(|s| s.rows).sum::<u64>(), events.len() as u64);
    let mut in_bucket = Vec::new();
    for day in std::fs::read_dir(root.path().join("bucket/segments")).expect("segments").flatten() {
        in_bucket.extend(std::fs::read_dir(day.path()).expect("day").flatten().map(|f| f.path()));
    }
    assert_eq!(in_bucket.len(), listed.segments.len(), "{in_bucket:?}");
}
