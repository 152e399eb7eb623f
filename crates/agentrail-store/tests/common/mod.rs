//! Shared by the store's integration tests (each uses a part of it).
#![allow(dead_code)]

use std::fs;
use std::path::Path;

use agentrail_collect::{SourceChoice, builtin_normalizer};
use agentrail_event::Event;
use agentrail_store::StoreOptions;

/// The checked-in multi-source bench-data sample, normalized.
pub fn sample_events() -> Vec<Event> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../bench-data/samples/mixed.ndjson");
    let input = fs::read(path).expect("bench-data sample");
    builtin_normalizer().expect("built-ins load").normalize_all(&input, &SourceChoice::Auto).expect("sample normalizes")
}

/// A store that seals only when told to.
pub fn sealing_on_demand() -> StoreOptions {
    StoreOptions { seal_rows: 1_000_000, auto_seal: false, ..StoreOptions::default() }
}

/// Copies the tree under `from` into `to`.
pub fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).expect("dir");
    for entry in fs::read_dir(from).expect("list") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), target).expect("copy");
        }
    }
}
