//! The read API of `agentrail serve`: query (JSON, CSV, Arrow IPC), named
//! queries, search and replay over a real socket, answering from what the
//! server sealed, equal to the CLI on the same directory, behind roles, and
//! refusing bad requests with reasons.

use serde_json::Value;

use crate::harness::{
    ANALYST, HttpResponse, SHIPPER, cli_json, get, http, ingest_sample, most_common, post_query, run, server,
};

fn error_of(response: &HttpResponse) -> String {
    response.json()["error"].as_str().unwrap_or_default().to_owned()
}

#[test]
fn the_read_api_answers_from_sealed_events_as_the_cli_does() {
    let (_data, dir, server) = server("api-agree", "");
    let accepted = ingest_sample(&server);
    assert_eq!(accepted, 2051);

    // JSON: columns in order with types, rows keyed by name.
    let sql = "SELECT source, count(*) AS n FROM events GROUP BY source ORDER BY source";
    let answer = post_query(&server, &serde_json::json!({ "sql": sql }).to_string(), &[]);
    assert_eq!(answer.status, 200);
    let answer = answer.json();
    assert_eq!(answer["columns"][0]["name"], "source");
    assert_eq!(answer["columns"][1], serde_json::json!({"name": "n", "type": "Int64"}));
    assert_eq!(answer["rows"], cli_json(&["query", "--data-dir", &dir, "--format", "json", sql]));
    assert_eq!(answer["row_count"], 7);

    // CSV by field or by Accept; Arrow IPC by Accept, read back by an Arrow reader.
    let csv = post_query(&server, &serde_json::json!({ "sql": sql, "format": "csv" }).to_string(), &[]);
    assert_eq!(csv.header("content-type"), Some("text/csv; charset=utf-8"));
    let csv_by_accept = post_query(&server, &serde_json::json!({ "sql": sql }).to_string(), &[("Accept", "text/csv")]);
    assert_eq!(csv.body, csv_by_accept.body);
    let cli_csv = run(&["query", "--data-dir", &dir, "--format", "csv", sql], b"");
    assert_eq!(csv.body, cli_csv.stdout);
    let arrow = post_query(
        &server,
        &serde_json::json!({ "sql": sql }).to_string(),
        &[("Accept", "application/vnd.apache.arrow.stream")],
    );
    assert_eq!(arrow.header("content-type"), Some("application/vnd.apache.arrow.stream"));
    let reader = arrow_ipc::reader::StreamReader::try_new(std::io::Cursor::new(arrow.body), None).expect("IPC stream");
    let rows: usize = reader.map(|batch| batch.expect("batch").num_rows()).sum();
    assert_eq!(rows, 7);

    // A named query, with its parameters bound.
    let agent = most_common(&dir, "agent_id");
    let named = post_query(
        &server,
        &serde_json::json!({"name": "agent_activity", "params": {"agent_id": agent, "from": "2026-11-17T00:00:00Z"}})
            .to_string(),
        &[],
    );
    assert_eq!(named.status, 200, "{}", String::from_utf8_lossy(&named.body));
    let cli_named = cli_json(&[
        "query",
        "--data-dir",
        &dir,
        "--format",
        "json",
        "--named",
        "agent_activity",
        "--param",
        &format!("agent_id={agent}"),
        "--param",
        "from=2026-11-17T00:00:00Z",
    ]);
    assert_eq!(named.json()["rows"], cli_named);
    assert!(!cli_named.as_array().expect("rows").is_empty());
    // A value is bound, never pasted into SQL.
    let injected = post_query(
        &server,
        &serde_json::json!({"name": "agent_activity", "params": {"agent_id": "x' OR '1'='1"}}).to_string(),
        &[],
    );
    assert_eq!(injected.status, 200);
    assert_eq!(injected.json()["row_count"], 0);
    let listed = get(&server, "/api/v1/queries", ANALYST).json();
    assert!(listed["queries"].as_array().expect("queries").iter().any(|q| q["name"] == "credential_usage"));

    // Replay: the same document as `agentrail replay --format json`.
    let incident = most_common(&dir, "correlation_id");
    for (query, flag) in [("", None), ("?expand=true", Some("--expand"))] {
        let replayed = get(&server, &format!("/api/v1/replay/{incident}{query}"), ANALYST);
        assert_eq!(replayed.status, 200);
        let mut args = vec!["replay", "--data-dir", &dir, "--format", "json"];
        args.extend(flag);
        args.push(&incident);
        assert_eq!(replayed.json(), cli_json(&args));
    }

    // Search: an id field finds the incident's events, newest first.
    let found = get(&server, &format!("/api/v1/search?q=correlation_id:{incident}&limit=1000"), ANALYST).json();
    let replayed = get(&server, &format!("/api/v1/replay/{incident}"), ANALYST).json();
    let ids = |events: &Value| {
        let mut ids: Vec<String> = events
            .as_array()
            .expect("events")
            .iter()
            .map(|e| e["event_id"].as_str().unwrap_or_default().to_owned())
            .collect();
        ids.sort();
        ids
    };
    assert_eq!(ids(&found["events"]), ids(&replayed["events"]));
    assert_eq!(found["truncated"], false);
    let times: Vec<&str> =
        found["events"].as_array().expect("events").iter().filter_map(|e| e["time"].as_str()).collect();
    assert!(times.windows(2).all(|w| w[0] >= w[1]), "newest first: {times:?}");
    let one = get(&server, &format!("/api/v1/search?q=correlation_id:{incident}&limit=1"), ANALYST).json();
    assert_eq!((one["returned"].as_u64(), one["truncated"].as_bool()), (Some(1), Some(true)));

    // Roles: the shipper cannot read, the analyst cannot write, no token is 401.
    let refused = http(server.addr, "POST", "/api/v1/query", &[("Authorization", SHIPPER)], br#"{"sql": "SELECT 1"}"#)
        .expect("request");
    assert_eq!(refused.status, 403);
    assert!(error_of(&refused).contains("analyst"), "{}", error_of(&refused));
    let refused = http(server.addr, "POST", "/v1/events", &[("Authorization", ANALYST)], b"{}").expect("request");
    assert_eq!(refused.status, 403);
    assert_eq!(get(&server, "/api/v1/queries", "Bearer nope").status, 401);
    assert_eq!(http(server.addr, "GET", "/api/v1/queries", &[], b"").expect("request").status, 401);
}

#[test]
fn bad_requests_to_the_read_api_are_refused_with_reasons() {
    let (_data, _dir, server) = server("api-hostile", "[query]\ntimeout_seconds = 1\nmax_rows = 50\n");
    ingest_sample(&server);
    let cases: Vec<(String, u16, &str)> = vec![
        ("not json".into(), 400, "JSON object"),
        (r#"{"sql": 5}"#.into(), 400, "invalid type"),
        (r#"{"sql": "SELECT 1", "sq": 1}"#.into(), 400, "unknown field"),
        (r#"{"name": "agent_activity", "params": {"agent_id": 7}}"#.into(), 400, "invalid type"),
        (r#"{"sql": "SELECT 1", "name": "agent_activity"}"#.into(), 400, "either"),
        (r#"{}"#.into(), 400, "give `sql` or `name`"),
        (r#"{"sql": "SELECT 1", "params": {"a": "b"}}"#.into(), 400, "named query"),
        (r#"{"sql": "SELECT 1", "format": "xml"}"#.into(), 400, "unknown variant"),
        (r#"{"sql": "DROP TABLE events"}"#.into(), 403, "only queries are allowed"),
        (r#"{"sql": "CREATE EXTERNAL TABLE p STORED AS CSV LOCATION '/etc/passwd'"}"#.into(), 403, "only queries"),
        (r#"{"sql": "SELEC 1"}"#.into(), 400, "SELEC"),
        (r#"{"sql": "SELECT event_id FROM events"}"#.into(), 413, "more than 50 rows"),
        // Stopped, and stopped for real: every later case needs the query threads within 1 s.
        (r#"{"sql": "SELECT count(*) FROM events a, events b, events c"}"#.into(), 408, "ran longer than 1s"),
        (r#"{"name": "nope"}"#.into(), 404, "no named query \"nope\""),
        (r#"{"name": "agent_activity"}"#.into(), 400, "agent_id"),
        (r#"{"name": "agent_activity", "params": {"agent_id": "a", "agnet": "b"}}"#.into(), 400, "\"agnet\""),
        (format!(r#"{{"sql": "SELECT '{}'"}}"#, "x".repeat(2 << 20)), 413, "at most"),
    ];
    for (body, status, reason) in &cases {
        let response = post_query(&server, body, &[]);
        let shown: String = body.chars().take(80).collect();
        assert_eq!(response.status, *status, "{shown}: {}", String::from_utf8_lossy(&response.body));
        assert!(error_of(&response).contains(reason), "{shown}: {}", error_of(&response));
    }
    let long_id = "c".repeat(2000);
    let gets: Vec<(String, u16, &str)> = vec![
        ("/api/v1/search".into(), 400, "`q` is required"),
        ("/api/v1/search?q=delete&from=yesterday".into(), 400, "`from`"),
        ("/api/v1/search?q=delete&limit=0".into(), 400, "`limit`"),
        ("/api/v1/search?q=delete&limit=abc".into(), 400, "`limit`"),
        ("/api/v1/search?q=delete&colour=red".into(), 400, "unknown field"),
        ("/api/v1/search?q=a&q=b".into(), 400, "duplicate"),
        ("/api/v1/search?q=message%3A(unclosed".into(), 400, "message:(unclosed"),
        (format!("/api/v1/replay/{long_id}"), 400, "1 to 1024 bytes"),
        ("/api/v1/replay/no-such-incident".into(), 404, "no stored event"),
        ("/api/v1/replay/x?expand=maybe".into(), 400, "`expand`"),
        ("/api/v1/replay/%FF%FE".into(), 400, "UTF-8"),
    ];
    for (path, status, reason) in &gets {
        let response = get(&server, path, ANALYST);
        let shown: String = path.chars().take(80).collect();
        assert_eq!(response.status, *status, "{shown}: {}", String::from_utf8_lossy(&response.body));
        assert!(error_of(&response).contains(reason), "{shown}: {}", error_of(&response));
    }
    // The server is still whole: it answers, and counted the refusals.
    let counted = post_query(&server, r#"{"sql": "SELECT count(*) AS n FROM events"}"#, &[]);
    assert_eq!(counted.json()["rows"][0]["n"], 2051);
    let metrics = String::from_utf8(get(&server, "/metrics", ANALYST).body).expect("text");
    let errors = metrics
        .lines()
        .find_map(|l| l.strip_prefix("agentrail_api_errors_total "))
        .and_then(|n| n.parse::<usize>().ok())
        .expect("api error counter");
    assert_eq!(errors, cases.len() + gets.len());
}
