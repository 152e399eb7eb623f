//! Tamper evidence end to end: a store sealed the usual way verifies, run
//! after run; every kind of tampering with its files or its integrity
//! records is named and classified; a crash between the chain and the
//! manifest is explained, not reported.

mod common;

use common::{copy_dir, sample_events, sealing_on_demand};

use std::collections::HashSet;
use std::fs;
use std::path::{Path, PathBuf};

use agentrail_event::Event;
use agentrail_store::checkpoint::CheckpointKey;
use agentrail_store::integrity::CHECKPOINTS_FILE;
use agentrail_store::verify::{ProblemKind, VerifyOptions, VerifyReport, verify};
use agentrail_store::{IntegrityOptions, Store};

/// A store sealed in four parts, so it has several segments.
fn sealed_store(dir: &Path) -> Vec<String> {
    let events = sample_events();
    let (mut store, _) = Store::open(dir, sealing_on_demand()).expect("opens");
    for part in events.chunks(events.len().div_ceil(4)) {
        store.append(part.to_vec(), Vec::new()).expect("durable");
        store.seal().expect("seals");
    }
    let segments: Vec<String> = store.manifest().segments.iter().map(|s| s.path.clone()).collect();
    assert!(segments.len() >= 4, "{segments:?}");
    segments
}

fn check(dir: &Path, options: &VerifyOptions) -> VerifyReport {
    verify(dir, options, &mut |_, _| {}).expect("verification runs")
}

/// Each problem as (kind, path).
fn found(report: &VerifyReport) -> HashSet<(ProblemKind, String)> {
    report.problems.iter().map(|p| (p.kind, p.path.clone())).collect()
}

fn integrity_file(dir: &Path, name: &str) -> PathBuf {
    IntegrityOptions::default().dir(dir).join(name)
}

#[test]
fn an_untouched_store_verifies_run_after_run_across_reopens() {
    let dir = tempfile::tempdir().expect("temp dir");
    let events = sample_events();
    for (round, part) in events.chunks(events.len().div_ceil(8)).enumerate() {
        let (mut store, _) = Store::open(dir.path(), sealing_on_demand()).expect("opens");
        store.append(part.to_vec(), Vec::new()).expect("durable");
        store.seal().expect("seals");
        drop(store);
        for _ in 0..3 {
            let report = check(dir.path(), &VerifyOptions::default());
            assert!(report.verified, "round {round}: {:?}", report.problems);
            assert_eq!(report.segments_checked as u64, report.chain_leaves, "one leaf a segment, nothing else");
        }
    }
    // Opening and reading a part (Tantivy's lock files) changes nothing verified.
    let (store, _) = Store::open(dir.path(), sealing_on_demand()).expect("opens");
    for segment in &store.manifest().segments {
        agentrail_store::IndexPart::open_checked(dir.path(), segment).expect("part opens");
    }
    let report = check(dir.path(), &VerifyOptions::default());
    assert!(report.verified, "{:?}", report.problems);
    assert_eq!(report.latest_checkpoint.map(|c| c.size), Some(report.chain_leaves));
}

/// Each tampering on a fresh store, and what verify must say of it.
#[test]
fn each_tampering_with_the_data_is_named_and_classified() {
    type Tamper = fn(&Path, &[String]) -> Vec<(ProblemKind, String)>;
    let cases: Vec<(&str, Tamper)> = vec![
        ("flip one byte", |dir, segments| {
            let path = dir.join(&segments[0]);
            let mut bytes = fs::read(&path).expect("read");
            bytes[100] ^= 0x01;
            fs::write(&path, bytes).expect("write");
            vec![(ProblemKind::Modified, segments[0].clone())]
        }),
        ("delete one", |dir, segments| {
            fs::remove_file(dir.join(&segments[1])).expect("remove");
            vec![(ProblemKind::Missing, segments[1].clone())]
        }),
        ("add a foreign one", |dir, segments| {
            let day = Path::new(&segments[0]).parent().expect("day").to_string_lossy().into_owned();
            let foreign = format!("{day}/99999999999999999999-99999999999999999999.parquet");
            fs::copy(dir.join(&segments[0]), dir.join(&foreign)).expect("copy");
            let other = "segments/dt=2001-01-01/forged.parquet".to_owned();
            fs::create_dir_all(dir.join("segments/dt=2001-01-01")).expect("day");
            fs::write(dir.join(&other), b"PAR1 not really").expect("write");
            vec![(ProblemKind::Extra, foreign), (ProblemKind::Extra, other)]
        }),
        ("swap two", |dir, segments| {
            let (a, b) = (dir.join(&segments[0]), dir.join(&segments[2]));
            let temporary = dir.join("swap");
            fs::rename(&a, &temporary).expect("a");
            fs::rename(&b, &a).expect("b");
            fs::rename(&temporary, &b).expect("a again");
            vec![(ProblemKind::Reordered, segments[0].clone()), (ProblemKind::Reordered, segments[2].clone())]
        }),
        ("truncate one", |dir, segments| {
            let path = dir.join(&segments[3]);
            let length = fs::metadata(&path).expect("metadata").len();
            fs::OpenOptions::new().write(true).open(&path).expect("open").set_len(length / 2).expect("truncate");
            vec![(ProblemKind::Modified, segments[3].clone())]
        }),
        ("edit an index part", |dir, segments| {
            let part = agentrail_store::index::part_path(&segments[1]);
            fs::write(dir.join(&part).join("meta.json"), b"{}").expect("write");
            vec![(ProblemKind::Modified, part)]
        }),
        ("reorder the manifest", |dir, segments| {
            let path = dir.join("manifest.json");
            let mut manifest: serde_json::Value =
                serde_json::from_slice(&fs::read(&path).expect("read")).expect("json");
            manifest["segments"].as_array_mut().expect("segments").swap(0, 1);
            fs::write(&path, serde_json::to_vec(&manifest).expect("json")).expect("write");
            vec![(ProblemKind::Reordered, segments[1].clone())]
        }),
    ];
    for (name, tamper) in cases {
        let dir = tempfile::tempdir().expect("temp dir");
        let segments = sealed_store(dir.path());
        assert!(check(dir.path(), &VerifyOptions::default()).verified, "{name}: clean before");
        let expected: HashSet<(ProblemKind, String)> = tamper(dir.path(), &segments).into_iter().collect();
        let report = check(dir.path(), &VerifyOptions::default());
        assert!(!report.verified, "{name}");
        assert_eq!(found(&report), expected, "{name}: {:#?}", report.problems);
    }
}

#[test]
fn tampering_with_the_records_is_named_and_a_rollback_caught_by_a_saved_checkpoint() {
    let dir = tempfile::tempdir().expect("temp dir");
    sealed_store(dir.path());
    let chain = integrity_file(dir.path(), "chain.jsonl");
    let checkpoints = integrity_file(dir.path(), CHECKPOINTS_FILE);
    let (chain_name, checkpoints_name) = (chain.display().to_string(), checkpoints.display().to_string());
    let clean = check(dir.path(), &VerifyOptions::default());
    assert!(clean.verified, "{:?}", clean.problems);
    // The auditor keeps the newest checkpoint and a copy of the public key.
    let saved = dir.path().join("saved-checkpoint.json");
    fs::write(&saved, serde_json::to_vec(&clean).expect("json")).expect("save");
    let public_copy = dir.path().join("auditor.pub");
    fs::write(&public_copy, &clean.public_key).expect("save");
    let auditor = VerifyOptions {
        public_key: Some(public_copy.clone()),
        trusted_checkpoint: Some(saved.clone()),
        ..VerifyOptions::default()
    };
    assert!(check(dir.path(), &auditor).verified);
    let (chain_text, checkpoint_text) =
        (fs::read_to_string(&chain).expect("chain"), fs::read_to_string(&checkpoints).expect("checkpoints"));
    let restore = || {
        fs::write(&chain, &chain_text).expect("restore");
        fs::write(&checkpoints, &checkpoint_text).expect("restore");
    };
    let kinds = |options: &VerifyOptions| -> HashSet<ProblemKind> {
        check(dir.path(), options).problems.iter().map(|p| p.kind).collect()
    };

    // A checkpoint replaced: its signature no longer holds.
    let mut lines: Vec<String> = checkpoint_text.lines().map(str::to_owned).collect();
    let mut second: serde_json::Value = serde_json::from_str(&lines[1]).expect("checkpoint");
    second["time"] = "2020-01-01T00:00:00.000000Z".into();
    lines[1] = second.to_string();
    fs::write(&checkpoints, lines.join("\n") + "\n").expect("write");
    let report = check(dir.path(), &VerifyOptions::default());
    assert!(found(&report).contains(&(ProblemKind::BadSignature, checkpoints_name.clone())), "{:?}", report.problems);
    restore();

    // Checkpoints rolled back (the newest ones cut): the leaves they signed
    // are unsigned; with the saved checkpoint, a rollback.
    let cut: Vec<&str> = checkpoint_text.lines().collect();
    fs::write(&checkpoints, cut[..cut.len() - 2].join("\n") + "\n").expect("write");
    assert_eq!(kinds(&VerifyOptions::default()), HashSet::from([ProblemKind::Unsigned]));
    assert!(kinds(&auditor).contains(&ProblemKind::RolledBack));
    // Rolled back whole (the chain, its checkpoints and the data as they
    // were earlier, all consistent): only the saved checkpoint shows it.
    let leaves: Vec<&str> = chain_text.lines().collect();
    fs::write(&chain, leaves[..leaves.len() - 1].join("\n") + "\n").expect("write");
    let rolled = check(dir.path(), &auditor);
    assert!(found(&rolled).contains(&(ProblemKind::RolledBack, chain_name.clone())), "{:?}", rolled.problems);
    restore();

    // The chain's last leaf cut, the checkpoints kept: a rollback, and the
    // segment that leaf sealed is now extra.
    fs::write(&chain, leaves[..leaves.len() - 1].join("\n") + "\n").expect("write");
    let report = check(dir.path(), &VerifyOptions::default());
    let kinds_found: HashSet<ProblemKind> = report.problems.iter().map(|p| p.kind).collect();
    assert_eq!(kinds_found, HashSet::from([ProblemKind::RolledBack, ProblemKind::Extra]), "{:?}", report.problems);
    restore();

    // A leaf edited to match a tampered file: the signed root no longer holds.
    fs::write(&chain, chain_text.replacen("\"rows\":", "\"rows\":1", 1)).expect("write");
    assert!(
        found(&check(dir.path(), &VerifyOptions::default())).contains(&(ProblemKind::Modified, chain_name.clone()))
    );
    // Not a leaf at all.
    fs::write(&chain, chain_text.replacen("{\"kind\"", "{\"kinds\"", 1)).expect("write");
    assert_eq!(kinds(&VerifyOptions::default()), HashSet::from([ProblemKind::Damaged]));
    restore();

    // Everything re-signed with a new key, the exported public key replaced:
    // the auditor's copy of the old key refuses every checkpoint.
    let forger = dir.path().join("forged.key");
    let (key, _) = CheckpointKey::load_or_create(&forger).expect("key");
    let records = agentrail_store::jsonl::read::<agentrail_store::checkpoint::Checkpoint>(&checkpoints).expect("read");
    let mut forged = Vec::new();
    for checkpoint in &records.entries {
        let root: [u8; 32] = hex::decode(&checkpoint.root).expect("hex").try_into().expect("32 bytes");
        forged.push(key.sign(checkpoint.size, &root, checkpoint.time, forged.last()));
    }
    let text: String = forged.iter().map(|c| serde_json::to_string(c).expect("json") + "\n").collect();
    fs::write(&checkpoints, text).expect("write");
    fs::write(IntegrityOptions::default().public_key_file(dir.path()), key.public_hex()).expect("replace");
    assert!(check(dir.path(), &VerifyOptions::default()).verified, "the forgery holds under the forged key");
    let with_copy = VerifyOptions { public_key: Some(public_copy), ..VerifyOptions::default() };
    let report = check(dir.path(), &with_copy);
    assert_eq!(report.problems.iter().filter(|p| p.kind == ProblemKind::BadSignature).count(), forged.len());
}

/// A crash after the chain recorded a seal and before the manifest listed
/// it: on reopen the chain records the abandoned files, the rows are sealed
/// again from the log, and the store verifies.
#[test]
fn a_crash_between_the_chain_and_the_manifest_is_explained() {
    let dir = tempfile::tempdir().expect("temp dir");
    let events = sample_events();
    let (first, second) = events.split_at(events.len() / 2);
    let before = tempfile::tempdir().expect("temp dir");
    {
        let (mut store, _) = Store::open(dir.path(), sealing_on_demand()).expect("opens");
        store.append(first.to_vec(), Vec::new()).expect("durable");
        store.seal().expect("seals");
        store.append(second.to_vec(), Vec::new()).expect("durable");
        // What the manifest and the log were before the seal below.
        fs::copy(dir.path().join("manifest.json"), before.path().join("manifest.json")).expect("copy");
        copy_dir(&dir.path().join("wal"), &before.path().join("wal"));
        store.seal().expect("seals");
    }
    // The crash: the chain and the files of the second seal are on disk,
    // the manifest and the log are as before it.
    fs::copy(before.path().join("manifest.json"), dir.path().join("manifest.json")).expect("restore");
    fs::remove_dir_all(dir.path().join("wal")).expect("remove");
    copy_dir(&before.path().join("wal"), &dir.path().join("wal"));

    let (mut store, report) = Store::open(dir.path(), sealing_on_demand()).expect("reopens");
    assert!(report.abandoned_seals > 0, "{report:?}");
    assert_eq!(report.replayed_events, second.len());
    store.seal().expect("seals again");
    assert_eq!(store.manifest().total_rows(), events.len() as u64);
    drop(store);
    let report = check(dir.path(), &VerifyOptions::default());
    assert!(report.verified, "{:?}", report.problems);
    assert!(report.chain_leaves > report.segments_checked as u64, "the abandoned files have their leaves");
}

mod retention {
    use std::time::Duration;

    use agentrail_event::Timestamp;
    use agentrail_store::retention::INTENT_FILE;
    use agentrail_store::{RetentionPolicy, Store};

    use super::*;

    const DAY: Duration = Duration::from_secs(86_400);

    /// The sample's first day, a source seen on it, and a time at which that
    /// day is a day and an hour past a one-day retention (the next day is not).
    fn first_day(events: &[Event]) -> (String, String, Timestamp) {
        let day = events.iter().map(|e| e.time.date_string()).min().expect("events");
        let source = events.iter().find(|e| e.time.date_string() == day).map(|e| e.source.clone()).expect("source");
        let start = Timestamp::parse(&format!("{day}T00:00:00Z")).expect("day");
        (day, source, Timestamp::from_micros(start.as_micros() + 2 * 86_400_000_000 + 3_600_000_000))
    }

    fn rows(dir: &Path) -> u64 {
        let (store, _) = Store::open(dir, sealing_on_demand()).expect("opens");
        store.manifest().total_rows()
    }

    #[test]
    fn expired_rows_go_the_chain_records_it_and_the_store_still_verifies() {
        let events = sample_events();
        let (day, source, now) = first_day(&events);
        let expiring = events.iter().filter(|e| e.time.date_string() == day && e.source == source).count() as u64;
        let dir = tempfile::tempdir().expect("temp dir");
        sealed_store(dir.path());

        // One source's rows of the first day: rewritten out of their segments.
        let policy = RetentionPolicy { keep: None, sources: [(source.clone(), DAY)].into() };
        let (mut store, _) = Store::open(dir.path(), sealing_on_demand()).expect("opens");
        let dry = store.apply_retention(&policy, now, true).expect("dry run");
        assert!(!dry.segments_rewritten.is_empty() || !dry.segments_deleted.is_empty(), "{dry:?}");
        assert_eq!(store.manifest().total_rows(), events.len() as u64, "a dry run writes nothing");
        let outcome = store.apply_retention(&policy, now, false).expect("applied");
        assert_eq!(outcome.rows_deleted, expiring, "{outcome:?}");
        drop(store);
        assert_eq!(rows(dir.path()), events.len() as u64 - expiring);
        let report = check(dir.path(), &VerifyOptions::default());
        assert!(report.verified, "{:?}", report.problems);
        assert!(report.segments_deleted > 0);

        // Everything of the first day; the second day stays.
        let policy = RetentionPolicy { keep: Some(DAY), sources: Default::default() };
        let (mut store, _) = Store::open(dir.path(), sealing_on_demand()).expect("opens");
        let outcome = store.apply_retention(&policy, now, false).expect("applied");
        assert!(!outcome.segments_deleted.is_empty(), "{outcome:?}");
        assert!(store.manifest().segments.iter().all(|s| s.day != day));
        assert!(!store.manifest().segments.is_empty());
        let left = store.manifest().segments[0].path.clone();
        drop(store);
        assert!(check(dir.path(), &VerifyOptions::default()).verified);
        assert_eq!(store_again(dir.path()).apply_retention(&policy, now, false).expect("again"), Default::default());

        // Any other missing segment is still caught.
        fs::remove_file(dir.path().join(&left)).expect("remove");
        let report = check(dir.path(), &VerifyOptions::default());
        assert_eq!(found(&report), HashSet::from([(ProblemKind::Missing, left)]));
    }

    fn store_again(dir: &Path) -> Store {
        Store::open(dir, sealing_on_demand()).expect("opens").0
    }

    /// A crash after the intent was written: the next open finishes it.
    #[test]
    fn a_retention_a_crash_interrupted_is_finished_on_open() {
        let events = sample_events();
        let (day, _, now) = first_day(&events);
        let dir = tempfile::tempdir().expect("temp dir");
        sealed_store(dir.path());
        let policy = RetentionPolicy { keep: Some(DAY), sources: Default::default() };
        {
            let store = store_again(dir.path());
            let (_, done) = store.begin_retention(&policy, now).run().expect("runs");
            assert!(!done.removed.is_empty());
            fs::write(dir.path().join(INTENT_FILE), serde_json::to_vec(&done).expect("json")).expect("intent");
            // Crash: nothing else happened.
        }
        let store = store_again(dir.path());
        assert!(store.manifest().segments.iter().all(|s| s.day != day));
        assert!(!dir.path().join(INTENT_FILE).exists());
        drop(store);
        let report = check(dir.path(), &VerifyOptions::default());
        assert!(report.verified, "{:?}", report.problems);
    }
}

#[test]
fn one_writer_at_a_time() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (store, _) = Store::open(dir.path(), sealing_on_demand()).expect("opens");
    let error = Store::open(dir.path(), sealing_on_demand()).expect_err("a second writer").to_string();
    assert!(error.contains("another agentrail process"), "{error}");
    drop(store);
    Store::open(dir.path(), sealing_on_demand()).expect("free again");
}
