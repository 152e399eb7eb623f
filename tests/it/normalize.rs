//! `agentrail normalize` and `agentrail sources`.

use std::fs;

use serde_json::{Value, json};

use crate::harness::{TempDir, run, stderr, stdout_lines, workspace_root};

/// Checks an output event against `schemas/agent_event.schema.json`: the
/// exact set of columns, each of the declared JSON type, enums and patterns.
fn assert_matches_schema(event: &Value) {
    let schema: Value = serde_json::from_str(agentrail_event::JSON_SCHEMA).expect("schema");
    let properties = schema["properties"].as_object().expect("properties");
    let object = event.as_object().expect("event is an object");
    let keys: Vec<&String> = object.keys().collect();
    let expected: Vec<&String> = properties.keys().collect();
    assert_eq!(keys, expected, "columns of {event}");
    for (name, property) in properties {
        let value = &object[name];
        let types: Vec<&str> = match &property["type"] {
            Value::String(t) => vec![t.as_str()],
            Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
            _ => vec![],
        };
        let type_name = match value {
            Value::Null => "null",
            Value::String(_) => "string",
            Value::Array(_) => "array",
            Value::Object(_) => "object",
            Value::Number(_) => "integer",
            Value::Bool(_) => "boolean",
        };
        assert!(types.contains(&type_name), "{name} is {type_name} in {event}");
        if let (Some(allowed), Some(text)) = (property["enum"].as_array(), value.as_str()) {
            assert!(allowed.iter().any(|a| a == text), "{name} = {text} not in its enum");
        }
        if let (Some(pattern), Some(text)) = (property["pattern"].as_str(), value.as_str()) {
            let ok = match pattern {
                "^[0-9a-f]{32}$" => {
                    text.len() == 32 && text.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
                }
                _ => text.len() == 27 && text.ends_with('Z') && text.as_bytes()[10] == b'T',
            };
            assert!(ok, "{name} = {text} does not match {pattern}");
        }
        if let Some(text) = value.as_str()
            && property["minLength"] == json!(1)
        {
            assert!(!text.is_empty(), "{name} is empty in {event}");
        }
    }
}

#[test]
fn every_fixture_normalizes_to_schema_valid_events() {
    let root = workspace_root().join("tests/fixtures/sources");
    let mut total = 0;
    for dir in fs::read_dir(&root).expect("fixtures").filter_map(Result::ok).filter(|e| e.path().is_dir()) {
        let files: Vec<String> = fs::read_dir(dir.path())
            .expect("dir")
            .filter_map(Result::ok)
            .map(|e| e.path().display().to_string())
            .filter(|p| p.ends_with(".json"))
            .collect();
        let mut args = vec!["normalize"];
        args.extend(files.iter().map(String::as_str));
        let output = run(&args, b"");
        assert_eq!(output.status.code(), Some(0), "{}: {}", dir.path().display(), stderr(&output));
        for event in stdout_lines(&output) {
            assert_matches_schema(&event);
            total += 1;
        }
    }
    assert!(total >= 35, "{total} events");
}

#[test]
fn bad_lines_are_reported_with_position_and_good_ones_kept() {
    let input = concat!(
        r#"{"id":"gw-1","ts":"2026-11-20T10:00:00Z","agent_id":"a1","tool":"github.list_repos"}"#,
        "\n",
        r#"{"id":"gw-2","ts":"#,
        "\n\n",
        r#"{"hello":"world"}"#,
        "\n",
        r#"{"id":"gw-3","ts":1763632800,"agent_id":"a1","tool":"aws.logs.delete_log_group"}"#,
        "\n"
    );
    let output = run(&["normalize", "-"], input.as_bytes());
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let events = stdout_lines(&output);
    assert_eq!(events.len(), 2);
    assert_eq!(events[1]["action_class"], "delete");
    assert_eq!(events[1]["time"], "2025-11-20T10:00:00.000000Z");
    let err = stderr(&output);
    assert!(err.contains("-:line 2: rejected: invalid JSON at column 18: EOF while parsing a value"), "{err}");
    assert!(err.contains("-:line 4: rejected: no source mapping recognises this record"), "{err}");
    assert!(err.contains("2 events, 2 records rejected"), "{err}");
}

#[test]
fn forced_source_and_usage_errors() {
    let record = br#"{"eventTime":"2026-11-20T10:00:00Z","eventName":"ListBuckets","eventSource":"s3.amazonaws.com"}"#;
    let output = run(&["normalize", "--source", "aws.cloudtrail"], record);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(stdout_lines(&output)[0]["action_class"], "read");

    let output = run(&["normalize", "--source", "nosuch"], record);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("--source takes `auto` or one of: "), "{}", stderr(&output));

    let output = run(&["normalize", "/nonexistent/file.ndjson"], b"");
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("cannot open /nonexistent/file.ndjson"), "{}", stderr(&output));

    let output = run(&["normalize", "--bogus"], b"");
    assert_eq!(output.status.code(), Some(2));
}

#[test]
fn a_mapping_directory_adds_sources_and_broken_files_are_named() {
    let dir = TempDir::new("mappings");
    fs::write(
        dir.path().join("vault.toml"),
        r#"
[source]
name = "vault"
[detect]
all = ["request.path", "auth.accessor"]
[fields]
time = "time"
action = "request.operation"
resource = "request.path"
credential_id = "auth.accessor"
actor_id = "auth.display_name"
"#,
    )
    .expect("write mapping");
    let record = br#"{"time":"2026-11-20T10:00:00.5Z","type":"response","auth":{"accessor":"hmac-sha256:abc","display_name":"approle-agent"},"request":{"operation":"delete","path":"secret/data/prod"}}"#;
    let mappings = dir.path().display().to_string();
    let output = run(&["normalize", "--mappings", &mappings], record);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let event = &stdout_lines(&output)[0];
    assert_eq!(event["source"], "vault");
    assert_eq!(event["credential_id"], "hmac-sha256:abc");
    assert_eq!(event["attributes"]["type"], "response");

    fs::write(
        dir.path().join("broken.toml"),
        "[source]\nname = \"x\"\n[fields]\ntime = \"t\"\naction = { path = \"a\", regex = \"(\" }\n",
    )
    .expect("write");
    let output = run(&["normalize", "--mappings", &mappings], record);
    assert_eq!(output.status.code(), Some(2));
    let err = stderr(&output);
    assert!(err.contains("broken.toml") && err.contains("bad regex"), "{err}");
}

#[test]
fn long_inputs_stream_in_chunks_with_exact_line_numbers() {
    // About 12 MiB: more than one read chunk, with a bad line near the end.
    let line = r#"{"id":"gw-N","ts":"2026-11-20T10:00:00Z","agent_id":"a1","tool":"github.list_repos","pad":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}"#;
    let count = 12 * 1024 * 1024 / line.len();
    let mut input = String::new();
    for i in 0..count {
        input.push_str(&line.replace("gw-N", &format!("gw-{i}")));
        input.push('\n');
    }
    input.push_str("{broken\n");
    let output = run(&["normalize"], input.as_bytes());
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(String::from_utf8_lossy(&output.stdout).lines().count(), count);
    let err = stderr(&output);
    assert!(err.contains(&format!("-:line {}: rejected", count + 1)), "{err}");
}

#[test]
fn pretty_printed_records_files_and_arrays_are_read_whole() {
    let doc = r#"{
  "Records": [
    {
      "eventVersion": "1.09", "eventTime": "2026-11-20T10:00:00Z", "eventSource": "iam.amazonaws.com",
      "eventName": "AttachRolePolicy", "eventID": "e-1",
      "userIdentity": {"type": "AssumedRole", "arn": "arn:aws:sts::1:assumed-role/ops/agent-fixer-2", "accessKeyId": "AKIAIOSFODNN7EXAMPLE"}
    },
    {
      "eventVersion": "1.09", "eventTime": "2026-11-20T10:00:01Z", "eventSource": "iam.amazonaws.com",
      "eventName": "ListRoles", "eventID": "e-2", "readOnly": true
    }
  ]
}"#;
    let output = run(&["normalize"], doc.as_bytes());
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let events = stdout_lines(&output);
    assert_eq!(events.len(), 2);
    // The role session `agent-fixer-2` names the agent `fixer-2`: the marker is not the id.
    assert_eq!(events[0]["agent_id"], "fixer-2");
    assert_eq!(events[0]["action_class"], "admin");
    assert_eq!(events[0]["credential_type"], "api_key");
    // The key id is the credential's id: kept in its column and in the raw record.
    assert_eq!(events[0]["credential_id"], "AKIAIOSFODNN7EXAMPLE");
    assert!(events[0]["raw"].as_str().unwrap_or_default().contains("AKIAIOSFODNN7EXAMPLE"));

    let array = format!("[{}, 5]", r#"{"id":"x","ts":"2026-11-20T10:00:00Z","agent_id":"a","tool":"t"}"#);
    let output = run(&["normalize"], array.as_bytes());
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("-:line 1, record 2: rejected: expected a JSON object, found a number"));
}

#[test]
fn sources_lists_every_built_in_mapping() {
    let output = run(&["sources"], b"");
    assert_eq!(output.status.code(), Some(0));
    let text = String::from_utf8_lossy(&output.stdout);
    for name in ["agent", "otel", "aws.cloudtrail", "okta", "github", "k8s.audit", "gcp.audit"] {
        assert!(text.contains(&format!("{name}  (built-in:{name}.toml)")), "{name} missing:\n{text}");
    }
}

#[test]
fn sources_check_says_which_mapping_a_record_takes_and_where_each_column_comes_from() {
    let fixture = workspace_root().join("tests/fixtures/sources/okta/03-agent-token-exchange-on-behalf.json");
    let fixture = fixture.display().to_string();
    let output = run(&["sources", "check", &fixture], b"");
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(text.contains("okta (priority 5): matched: yes eventType present"), "{text}");
    assert!(text.contains("taken by: okta (the first, in priority order, whose detection matched)"), "{text}");
    assert!(text.contains("other mappings did not match; --all shows why"), "{text}");
    let line = |column: &str| text.lines().find(|l| l.trim_start().starts_with(column)).unwrap_or_default().to_owned();
    assert!(line("on_behalf_of").contains("\"alice@example.com\"  <- template"), "{text}");
    assert!(line("event_id").contains("<- path uuid"), "{text}");
    assert!(line("approved_by").contains("-  (tried:") || line("approved_by").is_empty(), "{text}");

    // JSON, one object per record: every mapping's conditions, the columns' provenance.
    let output = run(&["sources", "check", "--format", "json", "--source", "okta", "-"], b"{\"hello\":1}\n{oops\n");
    assert_eq!(output.status.code(), Some(1));
    let checks = stdout_lines(&output);
    assert_eq!(checks.len(), 2);
    assert_eq!(checks[0]["chosen"], "okta");
    assert_eq!(checks[0]["chosen_because"], "named with --source");
    assert!(checks[0]["rejected"].as_str().is_some_and(|r| r.contains("no usable `time`")), "{}", checks[0]);
    assert!(checks[0]["detection"].as_array().is_some_and(|d| d.len() >= 7));
    assert!(checks[1]["rejected"].as_str().is_some_and(|r| r.contains("invalid JSON")), "{}", checks[1]);

    // Nothing recognises it: every mapping's failed conditions are shown with --all.
    let output = run(&["sources", "check", "--all"], b"{\"hello\":1}\n");
    assert_eq!(output.status.code(), Some(1));
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(text.contains("taken by: none"), "{text}");
    assert!(text.contains("aws.cloudtrail (priority") && text.contains("NO "), "{text}");
    assert!(text.contains("rejected: no source mapping recognises this record"), "{text}");
    let missing = run(&["sources", "check", "/no/such/file.json"], b"");
    assert_eq!(missing.status.code(), Some(2));
    assert!(stderr(&missing).contains("cannot read /no/such/file.json"));
}
