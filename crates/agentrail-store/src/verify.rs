//! Verification of a data directory against its integrity records: every
//! segment and index part against the digest chain, the chain against the
//! signed checkpoints, the checkpoints against the public key.
//!
//! Each finding is a [`Problem`] naming the file and classifying what
//! happened to it ([`ProblemKind`]); a directory verifies only when there is
//! none. Only the public key is needed, so an auditor can run this with the
//! copy of the key they keep, on a copy of the data.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};

use agentrail_event::Timestamp;
use ed25519_dalek::VerifyingKey;
use serde::Serialize;

use crate::chain::{CHAIN_FILE, ChainState, Leaf, LiveSegment, directory_sha256};
use crate::checkpoint::{Attestation, Checkpoint, CheckpointProblem, check_checkpoints, parse_public_key};
use crate::index::part_path;
use crate::integrity::{CHECKPOINTS_FILE, IntegrityOptions};
use crate::jsonl;
use crate::manifest::{MANIFEST_FILE, Manifest};
use crate::merkle::Frontier;
use crate::segment::{SegmentMeta, file_sha256};

/// What happened to a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProblemKind {
    /// Its bytes differ from what was sealed (edited, truncated, replaced).
    Modified,
    /// Sealed, never deleted on purpose, and gone.
    Missing,
    /// Present or listed, but never sealed by this store.
    Extra,
    /// Holds another segment's contents, or is listed out of seal order.
    Reordered,
    /// A checkpoint whose signature does not hold, or that does not carry
    /// the signature of the one before it.
    BadSignature,
    /// The chain or the checkpoints went back to an earlier state.
    RolledBack,
    /// Leaves that no checkpoint signs.
    Unsigned,
    /// A record file that does not parse.
    Damaged,
}

impl ProblemKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ProblemKind::Modified => "modified",
            ProblemKind::Missing => "missing",
            ProblemKind::Extra => "extra",
            ProblemKind::Reordered => "reordered",
            ProblemKind::BadSignature => "bad_signature",
            ProblemKind::RolledBack => "rolled_back",
            ProblemKind::Unsigned => "unsigned",
            ProblemKind::Damaged => "damaged",
        }
    }

    /// Whether a store being written can show it for a moment (a seal
    /// between its files and its leaf, a deletion between its leaf and its
    /// files): worth a second look before reporting.
    pub fn may_be_transient(self) -> bool {
        matches!(self, ProblemKind::Extra | ProblemKind::Missing | ProblemKind::Unsigned)
    }
}

impl fmt::Display for ProblemKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    pub kind: ProblemKind,
    /// The file, relative to the data directory (or the integrity record's path).
    pub path: String,
    pub detail: String,
}

/// What to verify, and with which key.
#[derive(Debug, Clone, Default)]
pub struct VerifyOptions {
    pub integrity: IntegrityOptions,
    /// The public key (hex, as exported); the one beside the signing key by
    /// default. An auditor's own copy rules out a replaced key.
    pub public_key: Option<PathBuf>,
    /// Only segments of these days (`YYYY-MM-DD`, inclusive) are hashed; the
    /// chain and checkpoints are always checked whole.
    pub from: Option<String>,
    pub to: Option<String>,
    /// A checkpoint saved earlier (from `verify` or `GET /api/v1/verify`):
    /// the chain must still extend it, which catches a rollback of every
    /// record at once.
    pub trusted_checkpoint: Option<PathBuf>,
}

/// The outcome.
#[derive(Debug, Clone, Serialize)]
pub struct VerifyReport {
    /// True only when there is no problem.
    pub verified: bool,
    /// The public key verified with, hex, and where it was read.
    pub public_key: String,
    pub public_key_file: String,
    pub chain_leaves: u64,
    pub checkpoints: usize,
    /// The newest checkpoint: save it, and pass it back as a trusted
    /// checkpoint to prove later that nothing was rolled back.
    pub latest_checkpoint: Option<Checkpoint>,
    /// The newest checkpoint as an OCSF `record_integrity` attestation.
    pub attestation: Option<Attestation>,
    pub segments_checked: usize,
    pub segments_deleted: usize,
    pub problems: Vec<Problem>,
}

/// Why verification could not run at all.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("cannot read the public key {path}: {source} (pass --public-key, or see [integrity] key_file)")]
    KeyIo {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is not an Ed25519 public key (64 hex digits expected)")]
    BadKey { path: PathBuf },
    #[error("trusted checkpoint {path}: {problem}")]
    BadTrusted { path: PathBuf, problem: String },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Segment(#[from] crate::segment::SegmentError),
}

/// Verifies `data_dir`; `progress(done, total)` is called as segments are hashed.
pub fn verify(
    data_dir: &Path,
    options: &VerifyOptions,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<VerifyReport, VerifyError> {
    let key_path = options.public_key.clone().unwrap_or_else(|| options.integrity.public_key_file(data_dir));
    let key_text =
        fs::read_to_string(&key_path).map_err(|source| VerifyError::KeyIo { path: key_path.clone(), source })?;
    let key = parse_public_key(&key_text).ok_or_else(|| VerifyError::BadKey { path: key_path.clone() })?;
    let trusted = options.trusted_checkpoint.as_deref().map(read_trusted).transpose()?;
    let mut check = Check { problems: Vec::new(), reported: HashSet::new() };
    let mut report = VerifyReport {
        verified: false,
        public_key: hex::encode(key.as_bytes()),
        public_key_file: key_path.display().to_string(),
        chain_leaves: 0,
        checkpoints: 0,
        latest_checkpoint: None,
        attestation: None,
        segments_checked: 0,
        segments_deleted: 0,
        problems: Vec::new(),
    };

    let dir = options.integrity.dir(data_dir);
    let chain_path = dir.join(CHAIN_FILE);
    let chain_name = chain_path.display().to_string();
    let chain = match jsonl::read::<Leaf>(&chain_path) {
        Ok(chain) => chain,
        Err(error) => {
            check.add(ProblemKind::Damaged, &chain_name, error.to_string());
            report.problems = check.problems;
            return Ok(report);
        }
    };
    if !chain_path.exists() {
        check.add(ProblemKind::Missing, &chain_name, "the digest chain is gone: nothing can be verified".into());
    }
    report.chain_leaves = chain.hashes.len() as u64;

    let checkpoints_path = dir.join(CHECKPOINTS_FILE);
    let checkpoints_name = checkpoints_path.display().to_string();
    let checkpoints = match jsonl::read::<Checkpoint>(&checkpoints_path) {
        Ok(read) => read.entries,
        Err(error) => {
            check.add(ProblemKind::Damaged, &checkpoints_name, error.to_string());
            Vec::new()
        }
    };
    report.checkpoints = checkpoints.len();
    report.latest_checkpoint = checkpoints.last().cloned();
    report.attestation =
        checkpoints.first().zip(checkpoints.last()).map(|(first, last)| last.attestation(&report.public_key, first));
    check_signatures(&checkpoints, &key, &checkpoints_name, &mut check);
    check_roots(&chain.hashes, &checkpoints, trusted.as_ref(), &key, &chain_name, &mut check);

    let manifest = match Manifest::load(data_dir) {
        Ok(manifest) => manifest,
        Err(error) => {
            check.add(ProblemKind::Damaged, MANIFEST_FILE, error.to_string());
            Manifest::default()
        }
    };
    let state = ChainState::of(&chain.entries);
    report.segments_deleted = state.deleted.len();
    let in_range = |path: &str| day_in_range(path, options.from.as_deref(), options.to.as_deref());
    let live: Vec<&LiveSegment> = state.live.iter().filter(|s| in_range(&s.path)).collect();
    report.segments_checked = live.len();
    check_files(data_dir, &live, &state, progress, &mut check)?;
    check_disk(data_dir, &state, &in_range, &mut check)?;
    check_manifest(&manifest, &state, &in_range, &mut check);

    report.problems = check.problems;
    report.verified = report.problems.is_empty();
    Ok(report)
}

/// [`verify`], and once more after `pause` when every problem found is one
/// a store being written shows for a moment (see
/// [`ProblemKind::may_be_transient`]): the second answer stands.
pub fn verify_settled(
    data_dir: &Path,
    options: &VerifyOptions,
    pause: std::time::Duration,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<VerifyReport, VerifyError> {
    let report = verify(data_dir, options, progress)?;
    if report.verified || !report.problems.iter().all(|p| p.kind.may_be_transient()) {
        return Ok(report);
    }
    std::thread::sleep(pause);
    verify(data_dir, options, progress)
}

/// A day bound of `--from`/`--to`: `YYYY-MM-DD`, or the day of an RFC 3339 time.
pub fn parse_day(text: &str) -> Option<String> {
    let valid_day = |day: &str| {
        Timestamp::parse(&format!("{day}T00:00:00Z")).is_ok_and(|t| t.date_string() == day).then(|| day.to_owned())
    };
    valid_day(text).or_else(|| Timestamp::parse(text).ok().map(Timestamp::date_string))
}

/// Problems found so far; one per kind and path.
struct Check {
    problems: Vec<Problem>,
    reported: HashSet<(ProblemKind, String)>,
}

impl Check {
    fn add(&mut self, kind: ProblemKind, path: &str, detail: String) {
        if self.reported.insert((kind, path.to_owned())) {
            self.problems.push(Problem { kind, path: path.to_owned(), detail });
        }
    }

    fn has_path(&self, path: &str) -> bool {
        self.problems.iter().any(|p| p.path == path)
    }
}

fn read_trusted(path: &Path) -> Result<Checkpoint, VerifyError> {
    let text = fs::read(path).map_err(|source| VerifyError::Io { path: path.to_owned(), source })?;
    // The checkpoint itself, or a verify report holding it.
    let value: serde_json::Value = serde_json::from_slice(&text)
        .map_err(|e| VerifyError::BadTrusted { path: path.to_owned(), problem: e.to_string() })?;
    let value = value.get("latest_checkpoint").cloned().unwrap_or(value);
    serde_json::from_value(value).map_err(|e| VerifyError::BadTrusted { path: path.to_owned(), problem: e.to_string() })
}

fn check_signatures(checkpoints: &[Checkpoint], key: &VerifyingKey, name: &str, check: &mut Check) {
    for problem in check_checkpoints(checkpoints, key) {
        let (kind, detail) = match problem {
            CheckpointProblem::BadSignature { .. } => (ProblemKind::BadSignature, problem.to_string()),
            CheckpointProblem::BrokenLink { .. } => {
                (ProblemKind::BadSignature, format!("{problem}: a checkpoint was removed or replaced"))
            }
            CheckpointProblem::RolledBack { .. } => (ProblemKind::RolledBack, problem.to_string()),
        };
        check.problems.push(Problem { kind, path: name.to_owned(), detail });
    }
}

/// Every checkpoint's root must be the chain's root at its size, and the
/// newest must cover the whole chain.
fn check_roots(
    hashes: &[crate::merkle::Hash],
    checkpoints: &[Checkpoint],
    trusted: Option<&Checkpoint>,
    key: &VerifyingKey,
    chain_name: &str,
    check: &mut Check,
) {
    let leaves = hashes.len() as u64;
    let mut wanted: HashMap<u64, Vec<(String, &Checkpoint)>> = HashMap::new();
    for (index, checkpoint) in checkpoints.iter().enumerate() {
        wanted.entry(checkpoint.size).or_default().push((format!("checkpoint {index}"), checkpoint));
    }
    if let Some(trusted) = trusted {
        if !checkpoints.iter().any(|c| c.signature == trusted.signature) {
            let detail = if trusted_signature_holds(trusted, checkpoints, key) {
                format!(
                    "the trusted checkpoint (size {}, {}) is no longer among the checkpoints: they were rolled back",
                    trusted.size, trusted.time
                )
            } else {
                "the trusted checkpoint's signature does not hold under the public key".to_owned()
            };
            check.add(ProblemKind::RolledBack, chain_name, detail);
        }
        wanted.entry(trusted.size).or_default().push(("the trusted checkpoint".to_owned(), trusted));
    }
    let mut frontier = Frontier::default();
    for size in 0..=leaves {
        if size > 0 {
            frontier.push(hashes[(size - 1) as usize]);
        }
        for (name, checkpoint) in wanted.remove(&size).unwrap_or_default() {
            if checkpoint.root != hex::encode(frontier.root()) {
                check.problems.push(Problem {
                    kind: ProblemKind::Modified,
                    path: chain_name.to_owned(),
                    detail: format!(
                        "the first {size} leaves no longer hash to the root {name} signed: a leaf was edited, \
                         inserted or removed"
                    ),
                });
            }
        }
    }
    let mut beyond: Vec<(u64, String)> =
        wanted.into_iter().flat_map(|(size, all)| all.into_iter().map(move |(name, _)| (size, name))).collect();
    beyond.sort();
    for (size, name) in beyond {
        check.problems.push(Problem {
            kind: ProblemKind::RolledBack,
            path: chain_name.to_owned(),
            detail: format!("{name} signed {size} leaves, the chain holds {leaves}: leaves were cut from its end"),
        });
    }
    let signed = checkpoints.iter().map(|c| c.size).max().unwrap_or(0);
    if leaves > signed || (checkpoints.is_empty() && leaves > 0) {
        check.add(
            ProblemKind::Unsigned,
            chain_name,
            format!("leaves {} to {} are signed by no checkpoint", signed + 1, leaves),
        );
    }
}

/// Whether a checkpoint is signed by the key or one it was rotated to.
fn trusted_signature_holds(trusted: &Checkpoint, checkpoints: &[Checkpoint], key: &VerifyingKey) -> bool {
    let mut keys = vec![*key];
    keys.extend(checkpoints.iter().filter_map(|c| c.next_key.as_deref().and_then(parse_public_key)));
    keys.iter().any(|key| trusted.signature_holds(key))
}

/// `segments/dt=2026-11-24/…` is in `[from, to]`; a path without a day
/// partition always is.
fn day_in_range(path: &str, from: Option<&str>, to: Option<&str>) -> bool {
    let Some(day) = path.split('/').find_map(|part| part.strip_prefix("dt=")) else { return true };
    from.is_none_or(|from| day >= from) && to.is_none_or(|to| day <= to)
}

/// Each sealed segment against its leaf: present, same bytes, its index part too.
fn check_files(
    data_dir: &Path,
    live: &[&LiveSegment],
    state: &ChainState,
    progress: &mut dyn FnMut(usize, usize),
    check: &mut Check,
) -> Result<(), VerifyError> {
    let by_hash: HashMap<&str, &str> = state.live.iter().map(|s| (s.sha256.as_str(), s.path.as_str())).collect();
    for (done, segment) in live.iter().enumerate() {
        progress(done, live.len());
        let path = data_dir.join(&segment.path);
        match fs::metadata(&path) {
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                check.add(ProblemKind::Missing, &segment.path, "sealed into the chain, never deleted, and gone".into())
            }
            Err(source) => return Err(VerifyError::Io { path, source }),
            Ok(metadata) => {
                let sha256 = file_sha256(&path)?;
                if sha256 != segment.sha256 {
                    let (kind, detail) = match by_hash.get(sha256.as_str()) {
                        Some(other) => (ProblemKind::Reordered, format!("holds the contents of {other}")),
                        None if metadata.len() < segment.bytes => (
                            ProblemKind::Modified,
                            format!("truncated: {} of the {} bytes sealed", metadata.len(), segment.bytes),
                        ),
                        None => (ProblemKind::Modified, "its SHA-256 is not the one sealed into the chain".into()),
                    };
                    check.add(kind, &segment.path, detail);
                }
            }
        }
        if let Some(expected) = &segment.index_sha256 {
            let part = part_path(&segment.path);
            match directory_sha256(&data_dir.join(&part)) {
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                    check.add(ProblemKind::Missing, &part, "the segment's index part is gone".into())
                }
                Err(source) => return Err(VerifyError::Io { path: data_dir.join(&part), source }),
                Ok(actual) if &actual != expected => check.add(
                    ProblemKind::Modified,
                    &part,
                    "the index part's files are not the ones sealed (or last rebuilt) into the chain".into(),
                ),
                Ok(_) => {}
            }
        }
    }
    progress(live.len(), live.len());
    Ok(())
}

/// Files and index parts on disk that the chain never sealed.
fn check_disk(
    data_dir: &Path,
    state: &ChainState,
    in_range: &dyn Fn(&str) -> bool,
    check: &mut Check,
) -> Result<(), VerifyError> {
    let mut known: HashSet<String> = state.live.iter().map(|s| s.path.clone()).collect();
    known.extend(state.live.iter().filter(|s| s.index_sha256.is_some()).map(|s| part_path(&s.path)));
    let by_hash: HashMap<&str, &str> = state.live.iter().map(|s| (s.sha256.as_str(), s.path.as_str())).collect();
    for top in ["segments", "quarantine", "index"] {
        for relative in partition_entries(data_dir, top)? {
            if known.contains(&relative) || !in_range(&relative) {
                continue;
            }
            let detail = match state.deleted.get(&relative) {
                Some(reason) => format!("the chain records its deletion ({reason}), yet it is back"),
                None => {
                    let copy = file_sha256(&data_dir.join(&relative)).ok();
                    match copy.as_deref().and_then(|sha| by_hash.get(sha)) {
                        Some(original) => format!("not in the chain: a copy of {original}"),
                        None => "not in the chain: added outside agentrail's seals".to_owned(),
                    }
                }
            };
            check.add(ProblemKind::Extra, &relative, detail);
        }
    }
    Ok(())
}

/// `top/dt=…/name` for every entry of every day partition under `top`, in
/// name order; hidden names (temporaries of a write in progress) left out.
fn partition_entries(data_dir: &Path, top: &str) -> Result<Vec<String>, VerifyError> {
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| VerifyError::Io { path, source }
    };
    let root = data_dir.join(top);
    let mut found = Vec::new();
    let days = match fs::read_dir(&root) {
        Ok(days) => days,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(found),
        Err(error) => return Err(io(&root)(error)),
    };
    for day in days {
        let day = day.map_err(io(&root))?;
        let day_name = day.file_name().to_string_lossy().into_owned();
        if !day.path().is_dir() {
            found.push(format!("{top}/{day_name}"));
            continue;
        }
        for entry in fs::read_dir(day.path()).map_err(io(&day.path()))? {
            let name = entry.map_err(io(&day.path()))?.file_name().to_string_lossy().into_owned();
            if !name.starts_with('.') {
                found.push(format!("{top}/{day_name}/{name}"));
            }
        }
    }
    found.sort();
    Ok(found)
}

/// The manifest lists exactly the live segments, in the order they were sealed.
fn check_manifest(manifest: &Manifest, state: &ChainState, in_range: &dyn Fn(&str) -> bool, check: &mut Check) {
    let live: HashSet<&str> = state.live.iter().map(|s| s.path.as_str()).collect();
    for listed in [&manifest.segments, &manifest.quarantine] {
        let listed: Vec<&SegmentMeta> = listed.iter().filter(|s| in_range(&s.path)).collect();
        for segment in listed.iter().filter(|s| !live.contains(s.path.as_str())) {
            if check.has_path(&segment.path) {
                continue;
            }
            let detail = match state.deleted.get(&segment.path) {
                Some(reason) => format!("the manifest lists it, but the chain records its deletion ({reason})"),
                None => "the manifest lists it, but the chain never sealed it".to_owned(),
            };
            check.add(ProblemKind::Extra, &segment.path, detail);
        }
        let in_manifest: HashSet<&str> = listed.iter().map(|s| s.path.as_str()).collect();
        let manifest_order = listed.iter().map(|s| s.path.as_str()).filter(|p| live.contains(p));
        let chain_order = state.live.iter().map(|s| s.path.as_str()).filter(|p| in_manifest.contains(p));
        if let Some((listed, sealed)) = manifest_order.zip(chain_order).find(|(a, b)| a != b) {
            check.add(
                ProblemKind::Reordered,
                listed,
                format!("the manifest lists it where the chain sealed {sealed}: segments were reordered"),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_outside_the_range_are_skipped() {
        let path = "segments/dt=2026-11-24/a.parquet";
        assert!(day_in_range(path, None, None));
        assert!(day_in_range(path, Some("2026-11-24"), Some("2026-11-24")));
        assert!(!day_in_range(path, Some("2026-11-25"), None));
        assert!(!day_in_range(path, None, Some("2026-11-23")));
        assert!(day_in_range("manifest.json", Some("2030-01-01"), None));
    }

    #[test]
    fn a_day_bound_is_a_date_or_the_day_of_a_time() {
        assert_eq!(parse_day("2026-11-24").as_deref(), Some("2026-11-24"));
        assert_eq!(parse_day("2026-11-24T23:00:00-02:00").as_deref(), Some("2026-11-25"));
        assert_eq!(parse_day("2026-02-30"), None);
        assert_eq!(parse_day("yesterday"), None);
    }
}
