//! The real public samples in `../shared/corpora/` (see its README for
//! origins): Panther's rule-test logs and the OpenTelemetry proto examples.
//! The Panther samples are hand-written and partial (many have no timestamp),
//! so the test holds three lines: nothing panics, nothing is taken for the
//! wrong source, and at least the known number of records normalize.

use std::fs;
use std::path::{Path, PathBuf};

use agentrail_collect::{RejectReason, SourceChoice, builtin_normalizer};

fn corpora() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpora")
}

/// (file, source it holds, records that must normalize at least).
const PANTHER: &[(&str, &str, usize)] = &[
    ("aws_cloudtrail.ndjson", "aws.cloudtrail", 416),
    ("eks_k8s_audit.ndjson", "k8s.audit", 12),
    ("gcp_auditlog.ndjson", "gcp.audit", 131),
    ("github_audit.ndjson", "github", 63),
    ("okta_systemlog.ndjson", "okta", 21),
];

#[test]
fn panther_samples_map_to_their_source() {
    let root = corpora().join("panther/extracted");
    if !root.exists() {
        panic!("corpora not found at {} (shared/ must sit beside the repository)", root.display());
    }
    let normalizer = builtin_normalizer().expect("built-ins load");
    for (file, source, floor) in PANTHER {
        let input = fs::read(root.join(file)).expect("sample file");
        let mut normalized = 0;
        let mut wrong = Vec::new();
        normalizer.normalize(&input, &SourceChoice::Auto, &mut |result| match result {
            Ok(event) if event.source == *source => normalized += 1,
            Ok(event) => wrong.push(format!("{} taken for {}", event.event_id, event.source)),
            Err(rejection) => {
                if let RejectReason::Map { mapping, .. } = &rejection.reason {
                    if mapping != source {
                        wrong.push(format!("{} rejected by {mapping}", rejection.position));
                    }
                }
            }
        });
        assert!(wrong.is_empty(), "{file}: {wrong:?}");
        assert!(normalized >= *floor, "{file}: {normalized} normalized, expected at least {floor}");
    }
}

#[test]
fn samples_of_other_systems_are_not_mistaken_for_ours() {
    // Slack, Azure, M365, Teleport, Anthropic and OpenAI have no mapping yet:
    // each record must be refused as unrecognised, never guessed.
    let root = corpora().join("panther/extracted");
    let normalizer = builtin_normalizer().expect("built-ins load");
    for file in [
        "slack_auditlogs.ndjson",
        "azure_monitor_activity.ndjson",
        "m365_audit_aad.ndjson",
        "teleport_audit.ndjson",
        "anthropic_activity.ndjson",
        "openai_audit.ndjson",
    ] {
        let input = fs::read(root.join(file)).expect("sample file");
        normalizer.normalize(&input, &SourceChoice::Auto, &mut |result| match result {
            Ok(event) => panic!("{file}: {} taken for {}", event.event_id, event.source),
            Err(rejection) => assert!(
                matches!(rejection.reason, RejectReason::UnknownSource { .. }),
                "{file}: {}: {}",
                rejection.position,
                rejection.reason
            ),
        });
    }
}

#[test]
fn otlp_examples_become_otel_events() {
    let normalizer = builtin_normalizer().expect("built-ins load");
    let input = fs::read(corpora().join("otlp/opentelemetry-proto_examples_logs.json")).expect("logs.json");
    let mut events = Vec::new();
    normalizer.normalize(&input, &SourceChoice::Auto, &mut |result| events.push(result.expect("normalizes")));
    assert_eq!(events.len(), 1);
    let event = &events[0];
    assert_eq!(event.source, "otel");
    assert_eq!(event.time.to_string(), "2018-12-13T14:51:00.300000Z");
    // The example writes its trace id in upper case; the contract is lower case.
    assert_eq!(event.trace_id.as_deref(), Some("5b8efff798038103d269b633813fc60c"));
    assert_eq!(event.message.as_deref(), Some("Example log record"));
    assert_eq!(event.actor_id.as_deref(), Some("my.service"));
    assert_eq!(event.attributes.get("attributes.int.attribute").map(String::as_str), Some("10"));
    assert_eq!(event.attributes.get("scope.name").map(String::as_str), Some("my.library"));
}
