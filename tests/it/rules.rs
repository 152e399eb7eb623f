//! Changing the anomaly rules of a running server: `PUT` and `DELETE
//! /api/v1/admin/rules/{name}` write the rules directory and the scheduler
//! runs the change at once; `SIGHUP` reads a hand edit; a name that could
//! reach another path, a rule that could not run, an oversized or non-UTF-8
//! body and a server without a rules directory are refused with the reason,
//! and nothing is written.

use std::time::Duration;

use serde_json::Value;

use crate::harness::{
    ADMIN, ANALYST, HttpResponse, Server, TempDir, get, http, ingest_sample, server, wait_until, workspace_root,
};

/// The built-in destructive rule, made to run every two seconds over ten
/// years and to say so in its findings.
fn tuned_rule(marker: &str) -> String {
    let builtin = std::fs::read_to_string(workspace_root().join("queries/anomalies/destructive_without_approval.sql"))
        .expect("built-in rule");
    let tuned = builtin
        .replace("-- schedule: 15m", "-- schedule: 2s")
        .replace("-- lookback: 24h", "-- lookback: 3650d")
        .replace("-- description: ", &format!("-- description: {marker}: "));
    assert_ne!(tuned, builtin, "the rule's header changed: update this test");
    tuned
}

fn send(server: &Server, method: &str, name: &str, token: &str, body: &[u8]) -> HttpResponse {
    let path = format!("/api/v1/admin/rules/{name}");
    http(server.addr, method, &path, &[("Authorization", token), ("Content-Type", "application/sql")], body)
        .expect("answers")
}

fn listed(server: &Server) -> Value {
    let answer = get(server, "/api/v1/rules", ANALYST);
    assert_eq!(answer.status, 200, "{}", String::from_utf8_lossy(&answer.body));
    answer.json()
}

fn rule_named<'a>(list: &'a Value, name: &str) -> Option<&'a Value> {
    list["rules"].as_array()?.iter().find(|rule| rule["name"] == name)
}

/// Waits until `check` holds of the rule list.
fn wait_for_rules(server: &Server, what: &str, check: impl Fn(&Value) -> bool) -> Value {
    wait_until(what, 30, || {
        let list = listed(server);
        if check(&list) { Ok(list) } else { Err(format!("{list:#}")) }
    })
}

fn runs(server: &Server, rule: &str) -> Vec<Value> {
    let answer = get(server, &format!("/api/v1/reports/runs?rule={rule}&limit=1000"), ANALYST);
    assert_eq!(answer.status, 200, "{}", String::from_utf8_lossy(&answer.body));
    answer.json()["runs"].as_array().cloned().unwrap_or_default()
}

fn files(dir: &TempDir) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir.path())
        .expect("rules dir")
        .map(|entry| entry.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn a_rule_put_runs_at_once_is_replaced_removed_and_read_again_on_sighup() {
    let rules = TempDir::new("rules-api-dir");
    let config = format!("[reports]\nrules_dir = \"{}\"\nfirst_run_delay_seconds = 0\n", rules.path().display());
    let (_data, _dir, server) = server("rules-api", &config);
    ingest_sample(&server);
    let builtin_count = listed(&server)["rules"].as_array().map(Vec::len).unwrap_or_default();
    assert!(builtin_count >= 9, "{builtin_count} built-in rules");

    // Added: 201, listed with its header, run by the scheduler on its new schedule.
    let first = tuned_rule("first");
    let added = send(&server, "PUT", "fast_destructive", ADMIN, first.as_bytes());
    assert_eq!(added.status, 201, "{}", String::from_utf8_lossy(&added.body));
    assert_eq!(added.header("location"), Some("/api/v1/rules/fast_destructive"));
    let saved = added.json();
    assert_eq!(saved["created"], true);
    assert_eq!(saved["overrides_builtin"], false);
    assert_eq!(saved["rule"]["schedule"], "2s");
    assert_eq!(saved["rule"]["severity"], "high");
    assert_eq!(files(&rules), ["fast_destructive.sql"]);
    let list = listed(&server);
    let shown = rule_named(&list, "fast_destructive").expect("listed");
    assert!(shown["description"].as_str().is_some_and(|d| d.starts_with("first: ")), "{shown}");
    assert!(shown["origin"].as_str().is_some_and(|o| o.ends_with("fast_destructive.sql")), "{shown}");
    let text = get(&server, "/api/v1/rules/fast_destructive", ANALYST);
    assert_eq!(text.status, 200);
    assert_eq!(String::from_utf8_lossy(&text.body), first);

    let ran = wait_until("the new rule's runs", 60, || {
        let ran = runs(&server, "fast_destructive");
        if ran.len() >= 2 { Ok(ran) } else { Err(format!("{} runs: {ran:#?}", ran.len())) }
    });
    assert!(ran.iter().all(|run| run["error"].is_null()), "{ran:#?}");
    assert!(ran.iter().any(|run| run["findings"].as_u64().is_some_and(|n| n > 0)), "{ran:#?}");

    // Replaced: 200, the new text is what is served and run.
    let second = tuned_rule("second");
    let replaced = send(&server, "PUT", "fast_destructive", ADMIN, second.as_bytes());
    assert_eq!(replaced.status, 200, "{}", String::from_utf8_lossy(&replaced.body));
    assert_eq!(replaced.json()["created"], false);
    assert_eq!(String::from_utf8_lossy(&get(&server, "/api/v1/rules/fast_destructive", ANALYST).body), second);

    // A built-in rule overridden, then back when its file is removed.
    let override_text = tuned_rule("override");
    let overridden = send(&server, "PUT", "rate_spike", ADMIN, override_text.as_bytes());
    assert_eq!(overridden.status, 201, "{}", String::from_utf8_lossy(&overridden.body));
    assert_eq!(overridden.json()["overrides_builtin"], true);
    let removed = send(&server, "DELETE", "rate_spike", ADMIN, b"");
    assert_eq!(removed.status, 200, "{}", String::from_utf8_lossy(&removed.body));
    assert_eq!(removed.json()["builtin_restored"]["origin"], "builtin");
    let gone = send(&server, "DELETE", "rate_spike", ADMIN, b"");
    assert_eq!(gone.status, 404);
    assert!(gone.json()["error"].as_str().is_some_and(|e| e.contains("built-in rules are replaced with PUT")));

    // Removed: no longer listed, served, run or in the current report.
    let removed = send(&server, "DELETE", "fast_destructive", ADMIN, b"");
    assert_eq!(removed.status, 200, "{}", String::from_utf8_lossy(&removed.body));
    assert!(removed.json()["builtin_restored"].is_null());
    assert!(files(&rules).is_empty(), "{:?}", files(&rules));
    assert!(rule_named(&listed(&server), "fast_destructive").is_none());
    assert_eq!(get(&server, "/api/v1/rules/fast_destructive", ANALYST).status, 404);
    let report = get(&server, "/api/v1/reports", ANALYST).json();
    let in_report = report["rules_run"].as_array().into_iter().flatten().any(|r| r["rule"] == "fast_destructive");
    assert!(!in_report, "{report:#}");
    std::thread::sleep(Duration::from_secs(3));
    let settled = runs(&server, "fast_destructive").len();
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(runs(&server, "fast_destructive").len(), settled, "a removed rule still runs");

    // A hand edit is read on SIGHUP (and the server keeps serving).
    std::fs::write(rules.path().join("by_hand.sql"), tuned_rule("by hand")).expect("written");
    std::fs::write(rules.path().join("broken.sql"), "SELECT 1").expect("written");
    let hangup = std::process::Command::new("kill").args(["-HUP", &server.child.id().to_string()]).status();
    assert!(hangup.expect("kill runs").success());
    let list =
        wait_for_rules(&server, "the hand-written rule after SIGHUP", |list| rule_named(list, "by_hand").is_some());
    let unusable: Vec<&Value> = list["unusable"].as_array().into_iter().flatten().collect();
    assert!(unusable.iter().any(|u| u["rule"] == "broken"), "{list:#}");
    assert_eq!(get(&server, "/healthz", ANALYST).status, 200);
}

#[test]
fn hostile_rule_changes_are_refused_with_the_reason_and_nothing_is_written() {
    let rules = TempDir::new("rules-api-hostile-dir");
    let config = format!("[reports]\nrules_dir = \"{}\"\n", rules.path().display());
    let (data, _dir, server) = server("rules-api-hostile", &config);
    let good = tuned_rule("good");

    // Names that could reach another path, or another file.
    for name in ["..%2F..%2Fescape", "%2Fetc%2Fpasswd", "name.sql", "sp%C3%A4%C3%9Fe", "a%00b", ".hidden"] {
        let refused = send(&server, "PUT", name, ADMIN, good.as_bytes());
        assert_eq!(refused.status, 400, "{name}: {}", String::from_utf8_lossy(&refused.body));
        assert!(refused.json()["error"].as_str().is_some_and(|e| e.contains("letters, digits")), "{name}");
    }
    let long = "x".repeat(129);
    assert_eq!(send(&server, "PUT", &long, ADMIN, good.as_bytes()).status, 400);

    // Rules that could not run, each named.
    let cases = [
        ("SELECT event_id, time, 'x' AS finding FROM events".to_owned(), "description"),
        (good.replace("-- severity: high", "-- severity: apocalyptic"), "severity"),
        (good.replace(" AS finding", " AS why"), "no `finding` column"),
        (good.replace("FROM events", "FROM no_such_table"), "no_such_table"),
        (good.replace("SELECT ", "DELETE FROM events; SELECT "), "cannot be used"),
        (good.replace("-- schedule: 2s", "-- schedule: often"), "schedule"),
    ];
    for (text, says) in &cases {
        let refused = send(&server, "PUT", "bad_rule", ADMIN, text.as_bytes());
        assert_eq!(refused.status, 400, "{says}: {}", String::from_utf8_lossy(&refused.body));
        let error = refused.json()["error"].as_str().unwrap_or_default().to_owned();
        assert!(error.contains(says), "{error:?} should say {says}");
    }
    let oversized = format!("{good}\n-- {}", "x".repeat(70_000));
    let refused = send(&server, "PUT", "bad_rule", ADMIN, oversized.as_bytes());
    assert_eq!(refused.status, 413, "{}", String::from_utf8_lossy(&refused.body));
    let mut not_text = good.clone().into_bytes();
    not_text.extend_from_slice(&[0xff, 0xfe, 0x00]);
    let refused = send(&server, "PUT", "bad_rule", ADMIN, &not_text);
    assert_eq!(refused.status, 400);
    assert!(refused.json()["error"].as_str().is_some_and(|e| e.contains("UTF-8")));
    assert_eq!(send(&server, "DELETE", "never_saved", ADMIN, b"").status, 404);
    assert_eq!(send(&server, "PUT", "good_rule", ANALYST, good.as_bytes()).status, 403);
    assert!(files(&rules).is_empty(), "{:?}", files(&rules));
    assert_eq!(listed(&server)["rules"].as_array().map(Vec::len), Some(9));
    drop(server);
    drop(data);

    // No rules directory: nothing can be changed, and it says how to allow it.
    let (_data, _dir, server) = crate::harness::server("rules-api-no-dir", "");
    let refused = send(&server, "PUT", "good_rule", ADMIN, good.as_bytes());
    assert_eq!(refused.status, 409, "{}", String::from_utf8_lossy(&refused.body));
    assert!(refused.json()["error"].as_str().is_some_and(|e| e.contains("rules_dir")));
    assert_eq!(send(&server, "DELETE", "rate_spike", ADMIN, b"").status, 409);
    assert!(listed(&server)["rules_dir"].is_null());
}
