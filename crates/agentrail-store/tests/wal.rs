//! The write-ahead log against crashes and damage: torn tails, flipped bits,
//! zeroed lengths, deleted files, and a model-based property test.

use std::fs::{self, OpenOptions};
use std::path::{Path, PathBuf};

use agentrail_store::{Wal, WalEntry, WalOptions};
use proptest::prelude::*;

fn options(max_file_bytes: u64) -> WalOptions {
    WalOptions { max_file_bytes, max_entry_bytes: 1 << 20 }
}

fn payload(i: u64) -> Vec<u8> {
    format!("batch {i} {}", "x".repeat((i % 7) as usize * 10)).into_bytes()
}

fn write(dir: &Path, count: u64, max_file_bytes: u64) -> Vec<PathBuf> {
    let (mut wal, recovery) = Wal::open(dir, options(max_file_bytes)).expect("opens");
    assert!(recovery.entries.is_empty());
    for i in 1..=count {
        assert_eq!(wal.append(&payload(i)).expect("appends"), i);
    }
    wal.sync().expect("syncs");
    wal.files().map(Path::to_owned).collect()
}

fn seqs(entries: &[WalEntry]) -> Vec<u64> {
    entries.iter().map(|e| e.seq).collect()
}

#[test]
fn entries_survive_reopening_across_rotated_files() {
    let dir = tempfile::tempdir().expect("temp dir");
    let files = write(dir.path(), 50, 300);
    assert!(files.len() > 5, "{files:?}");
    let (mut wal, recovery) = Wal::open(dir.path(), options(300)).expect("reopens");
    assert_eq!(seqs(&recovery.entries), (1..=50).collect::<Vec<_>>());
    assert!(recovery.entries.iter().all(|e| e.payload == payload(e.seq)));
    assert!(recovery.damage.is_empty() && recovery.torn_tail_bytes == 0);
    assert_eq!(wal.append(b"next").expect("appends"), 51);
    wal.sync().expect("syncs");

    // Trimming sealed entries keeps the rest readable, from a later start.
    let removed = wal.remove_through(30).expect("trims");
    assert!(removed > 0);
    drop(wal);
    let (_, recovery) = Wal::open(dir.path(), options(300)).expect("reopens");
    let recovered = seqs(&recovery.entries);
    assert!(recovered[0] <= 31 && recovered.ends_with(&[50, 51]), "{recovered:?}");
    assert!(recovery.damage.is_empty(), "{:?}", recovery.damage);
}

#[test]
fn a_torn_tail_is_cut_and_appends_continue_cleanly() {
    let dir = tempfile::tempdir().expect("temp dir");
    let files = write(dir.path(), 10, 1 << 20);
    let last = files.last().expect("a file");
    let len = fs::metadata(last).expect("metadata").len();
    OpenOptions::new().write(true).open(last).and_then(|f| f.set_len(len - 5)).expect("cut");

    let (mut wal, recovery) = Wal::open(dir.path(), options(1 << 20)).expect("reopens");
    assert_eq!(seqs(&recovery.entries), (1..=9).collect::<Vec<_>>());
    assert!(recovery.torn_tail_bytes > 0 && recovery.damage.is_empty());
    assert_eq!(wal.append(b"after the crash").expect("appends"), 10);
    wal.sync().expect("syncs");
    drop(wal);
    let (_, recovery) = Wal::open(dir.path(), options(1 << 20)).expect("reopens");
    assert_eq!(seqs(&recovery.entries), (1..=10).collect::<Vec<_>>());
    assert_eq!(recovery.entries[9].payload, b"after the crash");
    assert_eq!(recovery.torn_tail_bytes, 0);
}

/// Flips one bit `offset` bytes into the file.
fn flip(path: &Path, offset: usize) {
    let mut bytes = fs::read(path).expect("read");
    bytes[offset] ^= 0x10;
    fs::write(path, bytes).expect("write");
}

#[test]
fn damage_in_the_middle_is_reported_and_skipped_without_losing_what_came_before() {
    for (what, offset) in [("a payload bit", 16 * 4 + 200), ("a length", 0), ("a checksum", 5)] {
        let dir = tempfile::tempdir().expect("temp dir");
        let files = write(dir.path(), 20, 1 << 20);
        let file = &files[0];
        // Damage the entry that starts at `offset` (0 and 5 hit entry 1; the
        // payload offset lands in a later one).
        flip(file, offset);
        let (mut wal, recovery) = Wal::open(dir.path(), options(1 << 20)).expect("reopens");
        let recovered = seqs(&recovery.entries);
        assert_eq!(recovery.damage.len(), 1, "{what}: {:?}", recovery.damage);
        assert_eq!(recovered.len(), 19, "{what}: exactly the damaged entry is lost: {recovered:?}");
        assert!(recovery.entries.iter().all(|e| e.payload == payload(e.seq)), "{what}: nothing garbled");
        // New entries go to a fresh file; the damaged one stays as evidence.
        assert_eq!(wal.append(b"new").expect("appends"), 21);
        assert_eq!(wal.files().count(), 2);
    }
}

#[test]
fn a_deleted_file_is_reported_as_missing_entries() {
    let dir = tempfile::tempdir().expect("temp dir");
    let files = write(dir.path(), 40, 300);
    fs::remove_file(&files[2]).expect("delete");
    let (_, recovery) = Wal::open(dir.path(), options(300)).expect("reopens");
    assert_eq!(recovery.damage.len(), 1, "{:?}", recovery.damage);
    assert!(recovery.damage[0].reason.contains("missing"), "{:?}", recovery.damage);
    let recovered = seqs(&recovery.entries);
    assert!(recovered.windows(2).all(|w| w[0] < w[1]));
    assert!(recovered.starts_with(&[1, 2]) && recovered.ends_with(&[40]));
}

#[test]
fn oversized_entries_are_refused_before_writing() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (mut wal, _) =
        Wal::open(dir.path(), WalOptions { max_file_bytes: 1 << 20, max_entry_bytes: 10 }).expect("opens");
    let error = wal.append(&[0; 11]).expect_err("refused");
    assert!(error.to_string().contains("over the log's limit"), "{error}");
    assert_eq!(wal.append(b"ok").expect("appends"), 1);
}

#[derive(Debug, Clone)]
enum Op {
    Append(Vec<u8>),
    Sync,
    Reopen,
    /// Cut this many bytes off the end of the newest file, then reopen.
    CutTail(u16),
    /// Trim files up to this share of the acknowledged entries.
    Trim(u8),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => prop::collection::vec(any::<u8>(), 0..120).prop_map(Op::Append),
        2 => Just(Op::Sync),
        1 => Just(Op::Reopen),
        1 => (1_u16..200).prop_map(Op::CutTail),
        1 => (0_u8..=100).prop_map(Op::Trim),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 150, ..ProptestConfig::default() })]

    /// Against a model (the list of appended entries): a reopen returns
    /// exactly the model's entries since the last trim; a cut tail loses
    /// only whole entries from the end, never one before the cut.
    #[test]
    fn the_log_matches_a_simple_model(ops in prop::collection::vec(op(), 1..60)) {
        let dir = tempfile::tempdir().expect("temp dir");
        let options = options(256);
        let (mut wal, _) = Wal::open(dir.path(), options).expect("opens");
        let mut model: Vec<WalEntry> = Vec::new();
        let mut trimmed_through = 0_u64;
        for op in ops {
            match op {
                Op::Append(payload) => {
                    let seq = wal.append(&payload).expect("appends");
                    prop_assert!(model.last().is_none_or(|e| seq == e.seq + 1), "sequence runs on");
                    model.push(WalEntry { seq, payload });
                }
                Op::Sync => wal.sync().expect("syncs"),
                Op::Reopen => {
                    wal.sync().expect("syncs");
                    drop(wal);
                    let (reopened, recovery) = Wal::open(dir.path(), options).expect("reopens");
                    wal = reopened;
                    prop_assert!(recovery.damage.is_empty(), "{:?}", recovery.damage);
                    let expected: Vec<&WalEntry> = model.iter().filter(|e| e.seq > trimmed_through).collect();
                    let recovered: Vec<&WalEntry> = recovery.entries.iter().filter(|e| e.seq > trimmed_through).collect();
                    prop_assert_eq!(recovered, expected);
                }
                Op::CutTail(bytes) => {
                    wal.sync().expect("syncs");
                    let last = wal.files().last().expect("a file").to_owned();
                    drop(wal);
                    let len = fs::metadata(&last).expect("metadata").len();
                    let cut = u64::from(bytes).min(len);
                    OpenOptions::new().write(true).open(&last).and_then(|f| f.set_len(len - cut)).expect("cut");
                    let (reopened, recovery) = Wal::open(dir.path(), options).expect("reopens");
                    wal = reopened;
                    prop_assert!(recovery.damage.is_empty(), "{:?}", recovery.damage);
                    // What survives is a prefix of the model: only the newest entries go.
                    let survived = recovery.entries.last().map_or(0, |e| e.seq);
                    model.retain(|e| e.seq <= survived);
                    trimmed_through = trimmed_through.min(survived);
                    let recovered: Vec<&WalEntry> = recovery.entries.iter().filter(|e| e.seq > trimmed_through).collect();
                    let expected: Vec<&WalEntry> = model.iter().filter(|e| e.seq > trimmed_through).collect();
                    prop_assert_eq!(recovered, expected);
                    if survived > 0 {
                        prop_assert_eq!(wal.next_seq(), survived + 1);
                    }
                }
                Op::Trim(share) => {
                    wal.sync().expect("syncs");
                    if let (Some(first), Some(last)) = (model.first(), model.last()) {
                        let through = first.seq + (last.seq - first.seq) * u64::from(share) / 100;
                        wal.remove_through(through).expect("trims");
                        trimmed_through = trimmed_through.max(through);
                    }
                }
            }
        }
    }
}
