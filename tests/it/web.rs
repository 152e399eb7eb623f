//! The incident web page in real headless Chromium (Debian's), driven by
//! playwright-core (`tests/web/page.mjs`): sign in with a token, search an
//! incident, open its replay, expand an event, copy its SQL. What the DOM
//! shows is compared with the replay API's answer; the screenshot is kept
//! in `target/test-artifacts/`.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::harness::{
    ANALYST, TempDir, get, ingest_sample, post_query, quick_destructive_rule, server, wait_until, workspace_root,
};

/// Every delegate's name, depth first, as the page nests them.
fn delegates(nodes: &Value, names: &mut Vec<String>) {
    for node in nodes.as_array().into_iter().flatten() {
        names.push(node["name"].as_str().unwrap_or_default().to_owned());
        delegates(&node["children"], names);
    }
}

fn ids(values: impl Iterator<Item = Value>) -> Vec<String> {
    values.filter_map(|v| v.as_str().map(str::to_owned)).collect()
}

#[test]
fn the_page_finds_an_incident_replays_it_by_system_and_expands_an_event_as_the_api_answers() {
    let rules = TempDir::new("web-rules");
    quick_destructive_rule(rules.path());
    let config =
        format!("[reports]\nfirst_run_delay_seconds = 0\nrules_dir = {:?}\n", rules.path().display().to_string());
    let (_data, _dir, server) = server("web-page", &config);
    ingest_sample(&server);
    wait_until("the scheduler has findings for the page", 60, || {
        let report = get(&server, "/api/v1/reports", ANALYST).json();
        if report["findings"].as_array().is_some_and(|f| !f.is_empty()) { Ok(()) } else { Err(format!("{report}")) }
    });
    let body = r#"{"sql": "SELECT correlation_id FROM events WHERE correlation_id IS NOT NULL AND action_class IN ('delete', 'admin') AND approval_id IS NULL GROUP BY correlation_id ORDER BY count(*) DESC, correlation_id LIMIT 1"}"#;
    let worst = post_query(&server, body, &[]).json()["rows"][0]["correlation_id"]
        .as_str()
        .expect("an incident with unapproved destructive actions")
        .to_owned();
    let replay = get(&server, &format!("/api/v1/replay/{worst}?expand=true"), ANALYST).json();

    let html = http_page(&server);
    assert_eq!(html.status, 200, "the page itself needs no token");
    assert!(String::from_utf8_lossy(&html.body).contains("/ui/app.js"));
    assert!(html.header("content-security-policy").is_some_and(|csp| csp.contains("script-src 'self'")));

    let modules = workspace_root().join("tests/web/node_modules/playwright-core");
    assert!(
        modules.is_dir(),
        "run `npm ci --prefix tests/web` first (`.ci/run` does): playwright-core drives Chromium"
    );
    let artifacts = workspace_root().join("target/test-artifacts");
    std::fs::create_dir_all(&artifacts).expect("artifacts directory");
    let screenshot = artifacts.join("web-replay.png");
    let token = ANALYST.trim_start_matches("Bearer ");
    let output = std::process::Command::new("node")
        .arg(workspace_root().join("tests/web/page.mjs"))
        .args([&format!("http://{}", server.addr), &worst, &screenshot.display().to_string(), token])
        .output()
        .expect("node runs (Node.js is on the machine)");
    assert!(
        output.status.success(),
        "the browser test failed (Debian's chromium must be installed): {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let seen: Value = serde_json::from_slice(&output.stdout).expect("page.mjs prints JSON");
    assert_eq!(seen["errors"], serde_json::json!([]), "the page logged errors");
    assert!(seen["results"].as_u64() >= Some(1), "the search lists the incident: {seen}");
    assert_eq!(seen["correlation_id"], worst.as_str());
    assert!(seen["findings"].as_u64() >= Some(1), "the start page lists the scheduler's findings: {seen}");

    // One lane per system, every event in order, the highlights and the tree.
    let systems: BTreeSet<String> =
        ids(replay["systems"].as_array().expect("systems").iter().map(|s| s["source"].clone())).into_iter().collect();
    let lanes: BTreeSet<String> = ids(seen["lanes"].as_array().expect("lanes").iter().cloned()).into_iter().collect();
    assert_eq!(lanes, systems);
    let events = ids(replay["events"].as_array().expect("events").iter().map(|e| e["event_id"].clone()));
    assert_eq!(ids(seen["events"].as_array().expect("events").iter().cloned()), events);
    let destructive = replay["destructive_actions"].as_array().expect("destructive");
    let unapproved = ids(destructive.iter().filter(|a| a["approved"] == false).map(|a| a["event_id"].clone()));
    assert!(!unapproved.is_empty());
    assert_eq!(
        ids(seen["destructive"].as_array().expect("destructive").iter().cloned()),
        ids(destructive.iter().map(|a| a["event_id"].clone()))
    );
    assert_eq!(ids(seen["unapproved"].as_array().expect("unapproved").iter().cloned()), unapproved);
    let mut names = Vec::new();
    delegates(&replay["delegation"], &mut names);
    assert_eq!(ids(seen["delegates"].as_array().expect("delegates").iter().cloned()), names);

    // The expanded event shows its fields and its (redacted) raw record.
    let expanded = seen["details_event_id"].as_str().expect("an expanded event");
    assert_eq!(expanded, destructive[0]["event_id"].as_str().expect("id"));
    assert!(!seen["raw_text"].as_str().unwrap_or_default().is_empty());
    let sql = seen["sql"].as_str().expect("the SQL");
    assert!(sql.contains(&format!("WHERE correlation_id = '{worst}'")), "{sql}");
    // The SQL it offers answers the same events.
    let answered = post_query(&server, &serde_json::json!({ "sql": sql }).to_string(), &[]).json();
    let direct = events.len() - replay["expanded"].as_array().map_or(0, Vec::len);
    assert_eq!(answered["rows"].as_array().map(Vec::len), Some(direct), "the SQL answers the incident's own events");
    assert!(screenshot.is_file(), "the screenshot is kept");
    assert!(server.stop().success());
}

fn http_page(server: &crate::harness::Server) -> crate::harness::HttpResponse {
    crate::harness::http(server.addr, "GET", "/", &[("Accept", "text/html,application/xhtml+xml")], b"").expect("page")
}
