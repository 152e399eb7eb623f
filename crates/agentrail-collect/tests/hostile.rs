//! Hostile and malformed input: nothing panics, every rejection has a reason,
//! good records of a batch are kept, and no secret survives.

use std::sync::LazyLock;

use agentrail_collect::{DecodeProblem, Normalizer, RejectReason, SourceChoice, builtin_normalizer};
use proptest::prelude::*;
use serde_json::{Value, json};

static NORMALIZER: LazyLock<Normalizer> = LazyLock::new(|| builtin_normalizer().expect("built-ins load"));

fn arbitrary_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(Value::from),
        "\\PC{0,24}".prop_map(Value::String),
        // Values that look like what mappings read.
        prop_oneof![
            Just(json!("2026-11-20T10:00:00Z")),
            Just(json!("AKIAIOSFODNN7EXAMPLE")),
            Just(json!("Bearer abcdefghijkl")),
            Just(json!("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")),
        ],
    ];
    let keys = prop_oneof![
        Just("eventName".to_owned()),
        Just("eventSource".to_owned()),
        Just("eventTime".to_owned()),
        Just("userIdentity".to_owned()),
        Just("agent_id".to_owned()),
        Just("act".to_owned()),
        Just("token".to_owned()),
        Just("kind".to_owned()),
        Just("verb".to_owned()),
        Just("Records".to_owned()),
        Just("resourceLogs".to_owned()),
        Just("protoPayload".to_owned()),
        Just("action".to_owned()),
        Just("actor".to_owned()),
        Just("ts".to_owned()),
        Just("password".to_owned()),
        "[a-z]{1,8}",
    ];
    leaf.prop_recursive(6, 64, 8, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(keys.clone(), inner, 0..8).prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_json_never_panics_and_every_rejection_has_a_reason(value in arbitrary_json()) {
        let normalizer = &*NORMALIZER;
        let input = value.to_string();
        for choice in [SourceChoice::Auto, SourceChoice::Named("agent".into()), SourceChoice::Named("aws.cloudtrail".into())] {
            normalizer.normalize(input.as_bytes(), &choice, &mut |result| {
                if let Err(rejection) = result {
                    assert!(!rejection.reason.to_string().is_empty());
                }
            });
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        NORMALIZER.normalize(&bytes, &SourceChoice::Auto, &mut |_| {});
    }
}

fn run(input: &[u8]) -> (Vec<agentrail_event::Event>, Vec<String>) {
    let mut events = Vec::new();
    let mut rejections = Vec::new();
    NORMALIZER.normalize(input, &SourceChoice::Auto, &mut |result| match result {
        Ok(event) => events.push(event),
        Err(rejection) => rejections.push(format!("{}: {}", rejection.position, rejection.reason)),
    });
    (events, rejections)
}

const GOOD: &str = r#"{"id":"gw-1","ts":"2026-11-20T10:00:00Z","agent_id":"a1","tool":"github.list_repos"}"#;

#[test]
fn a_bad_line_is_rejected_alone() {
    let input = format!("{GOOD}\n{{\"id\": \"gw-2\", \"ts\": \n\u{0}\u{1}garbage\n[1,2]\n{GOOD}\n");
    let (events, rejections) = run(input.as_bytes());
    assert_eq!(events.len(), 2);
    assert_eq!(rejections.len(), 4, "{rejections:?}");
    assert!(rejections[0].starts_with("line 2: invalid JSON"), "{rejections:?}");
    assert!(rejections[2].starts_with("line 4, record 1: expected a JSON object, found a number"), "{rejections:?}");
}

#[test]
fn wrong_types_are_reasons_not_crashes() {
    let input = r#"{"id":"gw-1","ts":{"when":"now"},"agent_id":"a1","tool":"x"}
{"id":"gw-2","ts":"2026-11-20T10:00:00Z","agent_id":["a"],"tool":{"name":"x"}}
{"id":"gw-3","ts":true,"agent_id":"a1","tool":"x"}
{"eventSource":"s3.amazonaws.com","eventName":["DeleteBucket"],"eventTime":"2026-11-20T10:00:00Z","eventVersion":"1.09"}"#;
    let (events, rejections) = run(input.as_bytes());
    assert!(events.is_empty(), "{events:?}");
    assert_eq!(
        rejections,
        vec![
            "line 1: agent: no usable `time`: found an object, which is not a timestamp (tried ts, time, timestamp, @timestamp)",
            "line 2: agent: no `action`: none of [tool, params.name, action, operation, method] is present",
            "line 3: agent: no usable `time`: found `true`, which is not a timestamp (tried ts, time, timestamp, @timestamp)",
            "line 4: aws.cloudtrail: no `action`: none of [eventName] is present",
        ]
    );
}

#[test]
fn oversized_records_and_deep_nesting_are_refused() {
    let normalizer = &*NORMALIZER;
    let huge = format!(
        "{{\"id\":\"x\",\"ts\":\"2026-11-20T10:00:00Z\",\"agent_id\":\"a\",\"tool\":\"t\",\"pad\":\"{}\"}}",
        "x".repeat(2 << 20)
    );
    let mut reasons = Vec::new();
    normalizer.normalize(huge.as_bytes(), &SourceChoice::Auto, &mut |r| reasons.push(r.err().map(|e| e.reason)));
    assert!(matches!(reasons.as_slice(), [Some(RejectReason::Decode(DecodeProblem::TooLarge { .. }))]), "{reasons:?}");

    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let (events, rejections) = run(deep.as_bytes());
    assert!(events.is_empty());
    assert!(rejections[0].contains("recursion limit exceeded"), "{rejections:?}");
}

#[test]
fn every_planted_secret_kind_is_absent_from_the_output() {
    let secrets = [
        "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl",
        "ghp_abcdefghijklmnopqrstuvwxyz0123456789",
        "glpat-abcdefghij0123456789",
        "xoxb-1234567890-abcdefghij",
        "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXk",
        "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "hunter2-correct-horse",
        "sk-proj-abcdefghijklmnopqrstuvwxyz012345",
        "hvs.CAESIJabcdefghijklmnopqrstuvwxyz0123",
        "abcdEFGH012345.atlasv1.abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJ",
    ];
    let record = json!({
        "id": "gw-9", "ts": "2026-11-20T10:00:00Z", "agent_id": "a1", "tool": "deploy",
        "message": format!("used {} and {}", secrets[0], secrets[1]),
        "reason": format!("token {} for gitlab", secrets[2]),
        "headers": {"authorization": format!("Bearer {}", secrets[3])},
        "env": {"SSH_KEY": secrets[4], "aws_secret_access_key": secrets[5], "AWS_ACCESS_KEY_ID": "AKIAIOSFODNN7EXAMPLE"},
        "password": secrets[6],
        "args": ["--key", secrets[7]],
        "vault": {"client_token": secrets[8]},
        "notes": format!("tfc token {} leaked", secrets[9]),
        "token": {"jti": "tok-123", "type": "oauth"}
    });
    let (events, rejections) = run(record.to_string().as_bytes());
    assert!(rejections.is_empty(), "{rejections:?}");
    let printed = serde_json::to_string(&events[0]).expect("serializes");
    for secret in secrets {
        assert!(!printed.contains(secret), "{secret} survived: {printed}");
    }
    assert_eq!(events[0].credential_id.as_deref(), Some("tok-123"));
    // An access key id is an id, not a secret: kept for investigators.
    assert!(printed.contains("AKIAIOSFODNN7EXAMPLE"));
    assert!(events[0].redactions >= 8, "{}", events[0].redactions);
}
