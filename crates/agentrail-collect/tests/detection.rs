//! Detection stays unambiguous as sources grow: every golden fixture and
//! every real sample of every source is fed to auto-detection, which must
//! pick its own source; and any other mapping that also matches must be
//! below it in priority, so no record's source is decided by the tie-break
//! on names (which would change with a rename).

use std::fs;
use std::path::{Path, PathBuf};

use agentrail_collect::builtin_normalizer;
use agentrail_collect::check::RecordCheck;
use agentrail_collect::{SourceChoice, decode};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The Panther samples (`../shared/corpora/panther/extracted/`) and the source each holds.
const CORPORA: &[(&str, &str)] = &[
    ("aws_cloudtrail.ndjson", "aws.cloudtrail"),
    ("eks_k8s_audit.ndjson", "k8s.audit"),
    ("gcp_auditlog.ndjson", "gcp.audit"),
    ("github_audit.ndjson", "github"),
    ("okta_systemlog.ndjson", "okta"),
    ("anthropic_activity.ndjson", "anthropic"),
    ("openai_audit.ndjson", "openai"),
    ("azure_monitor_activity.ndjson", "azure.activity"),
    ("teleport_audit.ndjson", "teleport"),
    ("slack_auditlogs.ndjson", "slack"),
];

/// Checks every record of `input`; returns the problems found. A record no
/// mapping recognises is a problem only when `must_be_recognised` (the
/// fixtures; the real samples are partial, hand-written test records).
fn problems_of(label: &str, input: &[u8], source: &str, must_be_recognised: bool) -> (usize, Vec<String>) {
    let normalizer = builtin_normalizer().expect("built-ins load");
    let priority_of =
        |name: &str| normalizer.registry().get(name).map(|m| m.priority).expect("a listed mapping exists");
    let mut problems = Vec::new();
    let mut records = 0;
    normalizer.check(input, &SourceChoice::Auto, &mut |check: RecordCheck| {
        if check.detection.is_empty() {
            return; // not a record (a decode problem): another test's business
        }
        records += 1;
        let at = format!("{label}:{}", check.position);
        match check.chosen.as_deref() {
            Some(chosen) if chosen == source => {
                let ours = priority_of(source);
                for other in check.also_matched() {
                    if other.priority >= ours {
                        problems.push(format!(
                            "{at}: also matched by {} at priority {} (>= {source}'s {ours}): decided by name",
                            other.mapping, other.priority
                        ));
                    }
                }
            }
            Some(other) => problems.push(format!("{at}: taken by {other}, not {source}")),
            None if must_be_recognised => problems.push(format!("{at}: no mapping recognises it (expected {source})")),
            None => {}
        }
    });
    (records, problems)
}

#[test]
fn every_fixture_is_detected_as_its_own_source_and_never_by_a_tie() {
    let fixtures = root().join("tests/fixtures/sources");
    let mut problems = Vec::new();
    let mut records = 0;
    let mut folders: Vec<PathBuf> = fs::read_dir(&fixtures)
        .expect("fixtures")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    folders.sort();
    for folder in folders {
        let source = folder.file_name().and_then(|n| n.to_str()).expect("folder name").to_owned();
        let mut files: Vec<PathBuf> = fs::read_dir(&folder)
            .expect("folder")
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "json" || x == "ndjson" || x == "log"))
            .collect();
        files.sort();
        for file in files {
            let label = file.strip_prefix(&fixtures).unwrap_or(&file).display().to_string();
            let (n, found) = problems_of(&label, &fs::read(&file).expect("fixture"), &source, true);
            records += n;
            problems.extend(found);
        }
    }
    assert!(records > 40, "only {records} fixture records found");
    assert!(problems.is_empty(), "{} problems:\n{}", problems.len(), problems.join("\n"));
}

#[test]
fn every_real_sample_is_detected_as_its_own_source_and_never_by_a_tie() {
    let corpora = root().join("../shared/corpora/panther/extracted");
    let mut problems = Vec::new();
    for (file, source) in CORPORA {
        let input = fs::read(corpora.join(file))
            .unwrap_or_else(|e| panic!("{file}: {e} (shared/ must sit beside the repository)"));
        let (records, found) = problems_of(file, &input, source, false);
        assert!(records > 0, "{file}: no records");
        problems.extend(found);
    }
    assert!(problems.is_empty(), "{} problems:\n{}", problems.len(), problems.join("\n"));
}

#[test]
fn decoding_is_shared_with_normalize() {
    // `check` decodes as `normalize` does: the same records, in the same order.
    let input = b"{\"a\":1}\n[{\"b\":2},{\"c\":3}]\n";
    let mut positions = Vec::new();
    decode::decode(input, decode::DecodeLimits::default(), &mut |r| positions.push(r.map(|r| r.position).ok()));
    let normalizer = builtin_normalizer().expect("built-ins load");
    let mut checked = Vec::new();
    normalizer.check(input, &SourceChoice::Auto, &mut |c| checked.push(Some(c.position)));
    assert_eq!(positions, checked);
}
