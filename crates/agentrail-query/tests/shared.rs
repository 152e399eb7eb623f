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
use agentrail_store::{Publish, Store, StoreOptions};

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
fn compaction_and_retention_are_refused_on_a_shared_store() {
    let root = tempfile::tempdir().expect("tempdir");
    let shared = shared(root.path());
    let (mut store, _) = Store::open(&root.path().join("n"), options(&shared, "n")).expect("opens");
    let compaction = store.compact(&agentrail_store::CompactionPolicy::default(), true).expect_err("refused");
    assert!(compaction.to_string().contains("compaction is not available on a shared store"), "{compaction}");
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
