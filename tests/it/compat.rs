//! Shippers sending in their own protocols: Elasticsearch `_bulk` as Vector
//! and Fluent Bit send it, Splunk HEC as the OpenTelemetry Collector's
//! `splunkhec` exporter sends it.

use serde_json::json;

use crate::harness::{Server, TempDir, duckdb, http};

const CLOUDTRAIL: &str = r#"{"eventVersion":"1.09","eventTime":"2026-11-20T10:02:11Z","eventSource":"s3.amazonaws.com","eventName":"DeleteBucket","eventID":"4f1c2d3e-aaaa-bbbb-cccc-000000000001","userIdentity":{"type":"AssumedRole","arn":"arn:aws:sts::111122223333:assumed-role/agent-runtime/agent-deployer-7","accessKeyId":"ASIAXQ7EXAMPLE4AGNT7"},"requestParameters":{"bucketName":"acme-artifacts"},"userAgent":"aws-sdk-go-v2/1.30 corr/inc-4711"}"#;
const GATEWAY: &str = r#"{"id":"gw-es-1","ts":"2026-11-20T10:02:10Z","agent_id":"deployer-7","on_behalf_of":"alice@example.com","tool":"aws.s3.delete_bucket","correlation_id":"inc-4711"}"#;

#[test]
fn elasticsearch_clients_check_the_cluster_and_bulk_index() {
    let data = TempDir::new("es");
    let data_dir = data.path().display().to_string();
    let server = Server::start(&["--data-dir", &data_dir]);

    let info = http(server.addr, "GET", "/", &[], b"").expect("request");
    assert_eq!(info.status, 200);
    assert_eq!(info.header("x-elastic-product"), Some("Elasticsearch"));
    assert!(info.json()["version"]["number"].as_str().is_some_and(|v| v.starts_with('8')));
    let health = http(server.addr, "GET", "/_cluster/health", &[], b"").expect("request");
    assert_eq!(health.json()["status"], "green");

    // As Vector sends it: action lines, then documents carrying Vector's own fields.
    let with_vector_fields = |record: &str| {
        let mut value: serde_json::Value = serde_json::from_str(record).expect("record");
        value["host"] = json!("collector-1");
        value["source_type"] = json!("file");
        value.to_string()
    };
    let body = format!(
        "{}\n{}\n{}\n{}\n{}\n{}\n{}\n",
        r#"{"index":{"_index":"vector-2026.11.20"}}"#,
        with_vector_fields(CLOUDTRAIL),
        r#"{"create":{"_index":"agent"}}"#,
        GATEWAY,
        r#"{"index":{"_index":"vector-2026.11.20","_id":"x1"}}"#,
        r#"{"message":"just a log line","host":"h"}"#,
        r#"{"delete":{"_index":"vector-2026.11.20","_id":"x1"}}"#,
    );
    let answer = http(server.addr, "POST", "/_bulk", &[("Content-Type", "application/x-ndjson")], body.as_bytes())
        .expect("request");
    assert_eq!(answer.status, 200);
    let json = answer.json();
    assert_eq!(json["errors"], true);
    let items = json["items"].as_array().expect("items");
    assert_eq!(items.len(), 4);
    assert_eq!(items[0]["index"]["status"], 201);
    assert_eq!(items[0]["index"]["_id"], "aws.cloudtrail:4f1c2d3e-aaaa-bbbb-cccc-000000000001");
    assert_eq!(items[1]["create"]["status"], 201);
    assert_eq!(items[2]["index"]["status"], 400);
    assert!(items[2]["index"]["error"]["reason"].as_str().is_some_and(|r| r.contains("no source mapping")), "{json}");
    assert_eq!(items[3]["delete"]["status"], 400);

    // Fluent Bit's shape, to an index path; a retry of stored documents is not an error.
    let body = format!("{}\n{}\n", r#"{"create":{}}"#, GATEWAY);
    let answer =
        http(server.addr, "POST", "/audit/_bulk", &[("Content-Type", "application/x-ndjson")], body.as_bytes())
            .expect("request");
    assert_eq!((answer.status, answer.json()["errors"].clone()), (200, json!(false)));

    let malformed = http(server.addr, "POST", "/_bulk", &[], b"not json\n{}\n").expect("request");
    assert_eq!(malformed.status, 400);
    assert!(malformed.json()["error"]["reason"].as_str().is_some_and(|r| r.contains("line [1]")));

    assert!(server.stop().success());
    let rows = duckdb(&format!(
        "SELECT source, event_id FROM read_parquet('{data_dir}/segments/**/*.parquet') ORDER BY source"
    ));
    assert_eq!(rows.as_array().map(Vec::len), Some(2), "{rows}");
    assert_eq!(rows[0][0], "agent");
    assert_eq!(rows[1][0], "aws.cloudtrail");
}

#[test]
fn splunk_hec_clients_send_concatenated_events() {
    let data = TempDir::new("hec");
    let config = data.path().join("agentrail.toml");
    std::fs::write(&config, "[[tokens]]\nname = \"otel-collector\"\ntoken = \"00000000-hec-token\"\n").expect("config");
    let (config, data_dir) = (config.display().to_string(), data.path().join("data").display().to_string());
    let server = Server::start(&["--config", &config, "--data-dir", &data_dir]);

    let health = http(server.addr, "GET", "/services/collector/health", &[], b"").expect("request");
    assert_eq!(health.json(), json!({"text": "HEC is healthy", "code": 17}));

    // As the OpenTelemetry Collector's splunkhec exporter sends logs: the log body
    // as `event`, objects back to back without separators.
    let event = |body: &str| {
        json!({"time": 1763632931.5, "host": "node-1", "source": "otel", "sourcetype": "otel", "index": "main", "event": body, "fields": {"k": "v"}}).to_string()
    };
    let body = format!("{}{}", event(CLOUDTRAIL), event(GATEWAY));
    let auth = ("Authorization", "Splunk 00000000-hec-token");
    let answer = http(server.addr, "POST", "/services/collector/event", &[auth], body.as_bytes()).expect("request");
    assert_eq!(answer.status, 200, "{}", String::from_utf8_lossy(&answer.body));
    let json = answer.json();
    assert_eq!((json["text"].clone(), json["code"].clone()), (json!("Success"), json!(0)));
    assert_eq!(json["agentrail"]["accepted"], 2);

    let missing = http(server.addr, "POST", "/services/collector/event", &[], body.as_bytes()).expect("request");
    assert_eq!((missing.status, missing.json()["code"].clone()), (401, json!(2)));
    let wrong =
        http(server.addr, "POST", "/services/collector/event", &[("Authorization", "Splunk nope")], body.as_bytes())
            .expect("request");
    assert_eq!((wrong.status, wrong.json()["code"].clone()), (403, json!(4)));

    let broken = format!("{}{{\"event\": ", event(GATEWAY));
    let answer = http(server.addr, "POST", "/services/collector", &[auth], broken.as_bytes()).expect("request");
    assert_eq!(answer.status, 400);
    assert_eq!(answer.json()["invalid-event-number"], 1);
}

#[test]
fn an_opentelemetry_sdk_exports_logs_in_protobuf_unchanged() {
    let data = TempDir::new("otel-sdk");
    let data_dir = data.path().display().to_string();
    let server = Server::start(&["--data-dir", &data_dir]);
    let script = crate::harness::workspace_root().join("tests/clients/otel_logs.py");
    let output = std::process::Command::new("python3")
        .arg(&script)
        .arg(format!("http://{}/v1/logs", server.addr))
        .output()
        .expect("python3 runs");
    assert!(
        output.status.success(),
        "the OpenTelemetry SDK client failed (`.ci/run` installs opentelemetry-sdk and opentelemetry-exporter-otlp-proto-http): {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), "SUCCESS");
    assert!(server.stop().success());
    let rows = duckdb(&format!(
        "SELECT source, action, action_class, agent_id, on_behalf_of, correlation_id FROM read_parquet('{data_dir}/segments/**/*.parquet')"
    ));
    assert_eq!(
        rows,
        json!([["otel", "aws.logs.delete_log_group", "delete", "deployer-7", "alice@example.com", "inc-4711"]])
    );
}

#[test]
fn otlp_json_and_garbage_protobuf_get_otlp_answers() {
    let data = TempDir::new("otlp-json");
    let server = Server::start(&["--data-dir", &data.path().display().to_string()]);
    let json_request = std::fs::read(
        crate::harness::workspace_root().join("../shared/corpora/otlp/opentelemetry-proto_examples_logs.json"),
    )
    .expect("example");
    let answer =
        http(server.addr, "POST", "/v1/logs", &[("Content-Type", "application/json")], &json_request).expect("request");
    assert_eq!((answer.status, answer.json()), (200, json!({})));
    let garbage = http(server.addr, "POST", "/v1/logs", &[("Content-Type", "application/x-protobuf")], b"\x0a\xff\xff")
        .expect("request");
    assert_eq!(garbage.status, 400);
    assert!(garbage.json()["error"].as_str().is_some_and(|e| e.contains("protobuf")));
}
