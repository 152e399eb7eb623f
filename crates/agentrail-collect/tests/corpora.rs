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
    ("anthropic_activity.ndjson", "anthropic", 38),
    ("openai_audit.ndjson", "openai", 29),
    ("azure_monitor_activity.ndjson", "azure.activity", 212),
    ("teleport_audit.ndjson", "teleport", 20),
    ("slack_auditlogs.ndjson", "slack", 15),
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
                if let RejectReason::Map { mapping, .. } = &rejection.reason
                    && mapping != source
                {
                    wrong.push(format!("{} rejected by {mapping}", rejection.position));
                }
            }
        });
        assert!(wrong.is_empty(), "{file}: {wrong:?}");
        assert!(normalized >= *floor, "{file}: {normalized} normalized, expected at least {floor}");
    }
}

#[test]
fn samples_of_other_systems_are_not_mistaken_for_ours() {
    // Microsoft 365 management activity records and Bedrock model invocation
    // logs have no mapping yet: each must be refused as unrecognised, never guessed.
    let root = corpora().join("panther/extracted");
    let normalizer = builtin_normalizer().expect("built-ins load");
    for file in ["m365_audit_aad.ndjson", "aws_bedrock_model_invocation.ndjson"] {
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
fn entra_samples_are_sign_ins_or_directory_audits() {
    let input = fs::read(corpora().join("panther/extracted/azure_audit.ndjson")).expect("sample file");
    let normalizer = builtin_normalizer().expect("built-ins load");
    let (mut signins, mut audits) = (0, 0);
    normalizer.normalize(&input, &SourceChoice::Auto, &mut |result| match result {
        Ok(event) if event.source == "entra.signin" => signins += 1,
        Ok(event) if event.source == "entra.audit" => audits += 1,
        Ok(event) => panic!("{} taken for {}", event.event_id, event.source),
        Err(rejection) => panic!("{}: {}", rejection.position, rejection.reason),
    });
    assert_eq!((signins, audits), (26, 21));
}

#[test]
fn otlp_examples_become_otel_events() {
    let normalizer = builtin_normalizer().expect("built-ins load");
    let input = fs::read(corpora().join("otlp/opentelemetry-proto_examples_logs.json")).expect("logs.json");
    let events = normalizer.normalize_all(&input, &SourceChoice::Auto).expect("normalizes");
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

/// The `n`th (1-based) record of a Panther sample file, normalized.
fn panther_record(file: &str, n: usize) -> agentrail_event::Event {
    let text = fs::read_to_string(corpora().join("panther/extracted").join(file)).expect("sample file");
    let line = text.lines().nth(n - 1).expect("line exists");
    let normalizer = builtin_normalizer().expect("built-ins load");
    let mut events = normalizer.normalize_all(line.as_bytes(), &SourceChoice::Auto).expect("normalizes");
    events.remove(0)
}

#[test]
fn real_samples_field_by_field() {
    // An IAM user with a long-term key changes a Lambda function.
    let e = panther_record("aws_cloudtrail.ndjson", 1);
    assert_eq!(
        (e.event_id.as_str(), e.time.to_string().as_str(), e.action.as_str()),
        ("aws.cloudtrail:1", "2019-01-01T00:00:00.000000Z", "UpdateFunctionConfiguration20150331v2")
    );
    assert_eq!((e.action_class.as_str(), e.outcome.as_str(), e.actor_type.as_str()), ("write", "success", "human"));
    assert_eq!(e.actor_id.as_deref(), Some("arn:aws:iam::123456789012:user/john.developer"));
    assert_eq!((e.credential_type.as_str(), e.credential_id.as_deref()), ("api_key", Some("AKIAI123456789EXAMPLE")));
    assert_eq!(e.resource.as_deref(), Some("production-api"));
    assert_eq!(e.permission.as_deref(), Some("lambda:UpdateFunctionConfiguration20150331v2"));
    assert_eq!(
        (e.src_ip.as_deref(), e.user_agent.as_deref()),
        (Some("203.0.113.50"), Some("aws-cli/2.13.5 Python/3.11.4"))
    );
    assert_eq!(e.agent_id, None);
    assert!(e.attributes.contains_key("awsRegion") && !e.attributes.contains_key("eventName"));
    assert!(e.raw.contains("AKIAI123456789EXAMPLE") && e.redactions == 0);

    // A person patches a subnetwork; the sample writes its time without a `T`.
    let e = panther_record("gcp_auditlog.ndjson", 1);
    assert_eq!((e.action.as_str(), e.action_class.as_str()), ("v1.compute.subnetworks.patch", "write"));
    assert_eq!(e.time.to_string(), "2023-03-08T18:52:52.114000Z");
    assert_eq!((e.actor_id.as_deref(), e.actor_type.as_str()), (Some("user1@company.io"), "human"));
    assert_eq!(e.permission.as_deref(), Some("compute.subnetworks.update"));
    assert_eq!(e.src_ip.as_deref(), Some("1.2.3.4"));
    assert_eq!(e.request_id.as_deref(), Some("operation-abcdefg-1234567"));

    // GitHub: `created_at` in epoch milliseconds, no document id (so a content hash).
    let e = panther_record("github_audit.ndjson", 1);
    assert_eq!((e.action.as_str(), e.action_class.as_str()), ("protected_branch.destroy", "delete"));
    assert_eq!(e.time.to_string(), "2021-05-18T02:31:58.553000Z");
    assert!(e.event_id.starts_with("github:sha256:") && e.event_id.len() == "github:sha256:".len() + 32);
    assert_eq!((e.actor_id.as_deref(), e.resource.as_deref()), (Some("cat"), Some("my-org/my-repo")));

    // Okta: granting impersonation is an admin act, whatever its `user.session` prefix.
    let e = panther_record("okta_systemlog.ndjson", 1);
    assert_eq!((e.action.as_str(), e.action_class.as_str()), ("user.session.impersonation.grant", "admin"));
    assert_eq!((e.actor_id.as_deref(), e.actor_type.as_str()), (Some("homer@springfield.gov"), "human"));
    assert_eq!(e.message.as_deref(), Some("Enable impersonation grant"));
    assert_eq!(e.src_ip.as_deref(), Some("1.1.1.1"));
}
