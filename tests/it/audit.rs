//! The audit of the auditors: every endpoint refuses a token of the wrong
//! role, each refusal is itself stored as an event (source `agentrail`),
//! and so is every read-API request, with what it asked.

use std::time::{Duration, Instant};

use crate::harness::{ADMIN, ANALYST, SHIPPER, get, http, ingest_sample, post_query, server};

/// Every route, and a token whose roles do not allow it.
const WRONG_ROLE: &[(&str, &str, &str)] = &[
    ("POST", "/v1/events", ANALYST),
    ("POST", "/v1/logs", ANALYST),
    ("POST", "/_bulk", ANALYST),
    ("POST", "/services/collector/event", ANALYST),
    ("POST", "/api/v1/query", SHIPPER),
    ("GET", "/api/v1/search?q=delete", SHIPPER),
    ("GET", "/api/v1/replay/inc-1", SHIPPER),
    ("GET", "/api/v1/queries", SHIPPER),
    ("GET", "/api/v1/reports", SHIPPER),
    ("GET", "/api/v1/reports/runs", SHIPPER),
    ("GET", "/api/v1/reports/runs/r-1", SHIPPER),
    ("GET", "/api/v1/verify", SHIPPER),
    ("POST", "/api/v1/admin/retention", SHIPPER),
    ("POST", "/api/v1/admin/retention", ANALYST),
    ("POST", "/api/v1/admin/compact", ANALYST),
    ("POST", "/api/v1/admin/compact", SHIPPER),
    ("POST", "/api/v1/admin/rotate-key", ANALYST),
    ("POST", "/api/v1/admin/rotate-key", SHIPPER),
    ("GET", "/api/v1/rules", SHIPPER),
    ("GET", "/api/v1/rules/rate_spike", SHIPPER),
    ("PUT", "/api/v1/admin/rules/rate_spike", ANALYST),
    ("DELETE", "/api/v1/admin/rules/rate_spike", ANALYST),
    ("PUT", "/api/v1/admin/rules/rate_spike", SHIPPER),
];

/// The audit events stored so far, as JSON rows.
fn audit_rows(server: &crate::harness::Server) -> Vec<serde_json::Value> {
    let sql = "SELECT action, outcome, actor_id, resource, reason, raw, action_class FROM events \
               WHERE source = 'agentrail' ORDER BY time";
    let answer = post_query(server, &serde_json::json!({ "sql": sql }).to_string(), &[("Authorization", ADMIN)]);
    assert_eq!(answer.status, 200, "{}", String::from_utf8_lossy(&answer.body));
    answer.json()["rows"].as_array().cloned().unwrap_or_default()
}

#[test]
fn every_endpoint_refuses_the_wrong_role_and_every_refusal_and_read_is_audited() {
    let extra = r#"
[audit]
enabled = true
"#;
    let (_data, _dir, server) = server("audit", extra);
    ingest_sample(&server);
    for (method, path, token) in WRONG_ROLE {
        let answer = http(server.addr, method, path, &[("Authorization", token)], b"{}").expect("answers");
        assert_eq!(answer.status, 403, "{method} {path} with {token}: {}", String::from_utf8_lossy(&answer.body));
    }
    let unknown = http(server.addr, "GET", "/api/v1/queries", &[("Authorization", "Bearer not-a-token-at-all")], b"")
        .expect("answers");
    assert_eq!(unknown.status, 401);
    let sql = "SELECT count(*) AS n FROM events WHERE source = 'okta'";
    let asked = post_query(&server, &serde_json::json!({ "sql": sql }).to_string(), &[]);
    assert_eq!(asked.status, 200);
    assert_eq!(get(&server, "/api/v1/replay/inc-audit-1", ANALYST).status, 404);

    // Audit events are sealed like any other (every second here).
    let wanted = WRONG_ROLE.len() + 3;
    let deadline = Instant::now() + Duration::from_secs(60);
    let rows = loop {
        let rows = audit_rows(&server);
        let denied = rows.iter().filter(|r| r["outcome"] == "denied").count();
        if denied > WRONG_ROLE.len() && rows.iter().any(|r| r["resource"] == "/api/v1/replay/inc-audit-1") {
            break rows;
        }
        assert!(Instant::now() < deadline, "{} of {wanted} audit events: {rows:#?}", rows.len());
        std::thread::sleep(Duration::from_millis(300));
    };
    for (method, path, token) in WRONG_ROLE {
        let name = if *token == ANALYST { "token:analyst" } else { "token:shipper" };
        let found = rows.iter().any(|r| {
            r["outcome"] == "denied"
                && r["actor_id"] == name
                && r["resource"] == *path
                && r["reason"].as_str().is_some_and(|reason| {
                    // Splunk HEC clients are answered in HEC's words.
                    reason.contains("role this endpoint needs")
                        || (path.contains("collector") && reason == "Invalid token")
                })
        });
        assert!(found, "no audit event for {method} {path} refused to {name}: {rows:#?}");
    }
    assert!(rows.iter().any(|r| r["outcome"] == "denied"
        && r["actor_id"].is_null()
        && r["reason"].as_str() == Some("unknown bearer token")));
    let query = rows
        .iter()
        .find(|r| r["action"] == "api.query" && r["outcome"] == "success" && r["actor_id"] == "token:analyst")
        .expect("the analyst's query is audited");
    assert_eq!(query["action_class"], "read");
    assert!(query["raw"].as_str().is_some_and(|raw| raw.contains("\"status\":200")), "{query}");
    let replay = rows
        .iter()
        .find(|r| r["action"] == "api.replay" && r["resource"] == "/api/v1/replay/inc-audit-1")
        .expect("the analyst's replay is audited");
    assert_eq!((replay["outcome"].as_str(), replay["actor_id"].as_str()), (Some("failure"), Some("token:analyst")));
    // What the query asked is kept with it.
    let sql_kept = post_query(
        &server,
        &serde_json::json!({ "sql": "SELECT attributes FROM events WHERE source = 'agentrail' AND action = 'api.query'" })
            .to_string(),
        &[("Authorization", ADMIN)],
    );
    assert!(
        String::from_utf8_lossy(&sql_kept.body).contains("source = 'okta'"),
        "{}",
        String::from_utf8_lossy(&sql_kept.body)
    );
    let metrics = http(server.addr, "GET", "/metrics", &[], b"").expect("metrics");
    assert!(String::from_utf8_lossy(&metrics.body).contains("agentrail_audit_recorded_total"));
}
