//! `agentrail report` on the checked-in bench-data sample against its
//! ground truth: every rule finds its planted cases and none of their
//! look-alikes (an approved delete, a 55-minute token, one agent's restarts
//! sharing a credential, …); a broken rule is named and the others run.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::harness::{TempDir, run, sample_store, stderr, workspace_root, write_broken_rules};

/// The sample's window: the day after its baseline day.
const REPORT: [&str; 4] = ["--until", "2026-11-18T00:00:00Z", "--since", "24h"];

fn report(dir: &str, extra: &[&str]) -> (Value, i32, String) {
    let mut args = vec!["report", "--data-dir", dir, "--format", "json"];
    args.extend(REPORT);
    args.extend(extra);
    let output = run(&args, b"");
    let report = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("report JSON ({e}); stderr: {}", stderr(&output)));
    (report, output.status.code().unwrap_or(-1), stderr(&output))
}

fn strings(value: &Value) -> BTreeSet<String> {
    value.as_array().into_iter().flatten().filter_map(|v| v.as_str().map(str::to_owned)).collect()
}

#[test]
fn every_rule_finds_its_planted_cases_and_no_look_alike() {
    let (_data, dir) = sample_store("report-truth");
    let truth: Value = serde_json::from_slice(
        &std::fs::read(workspace_root().join("bench-data/samples/ground_truth.json")).expect("ground truth"),
    )
    .expect("ground truth JSON");
    let (report, status, messages) = report(&dir, &[]);
    assert_eq!(status, 1, "findings exit 1; stderr: {messages}");
    assert_eq!(report["errors"], Value::Array(Vec::new()));
    let findings = report["findings"].as_array().expect("findings");
    let anomalies = truth["anomalies"].as_array().expect("anomalies");
    assert_eq!(report["rules_run"].as_array().map(Vec::len), Some(anomalies.len()), "every rule ran");
    for anomaly in anomalies {
        let rule = anomaly["rule"].as_str().expect("rule");
        let found: BTreeSet<String> =
            findings.iter().filter(|f| f["rule"] == rule).flat_map(|f| strings(&f["event_ids"])).collect();
        let planted = strings(&anomaly["event_ids"]);
        let missed: Vec<&String> = planted.difference(&found).collect();
        assert!(missed.is_empty(), "{rule} missed {missed:?}");
        let look_alikes: Vec<String> =
            strings(&anomaly["look_alike_event_ids"]).intersection(&found).cloned().collect();
        assert!(look_alikes.is_empty(), "{rule} fired on look-alikes {look_alikes:?}");
    }
    for finding in findings {
        let count = finding["event_ids"].as_array().map(Vec::len);
        assert_eq!(finding["count"].as_u64().map(|c| c as usize), count, "{finding}");
        assert!(finding["first_seen"].as_str() <= finding["last_seen"].as_str(), "{finding}");
        assert!(!finding["title"].as_str().unwrap_or_default().is_empty(), "{finding}");
    }
}

#[test]
fn a_broken_or_failing_rule_is_named_and_the_others_still_run() {
    let (_data, dir) = sample_store("report-broken");
    let rules = TempDir::new("report-rules");
    write_broken_rules(rules.path());
    let write = |name: &str, text: &str| std::fs::write(rules.path().join(name), text).expect("rule written");
    // Runs, but returns no `finding` column.
    write(
        "no_finding.sql",
        "-- description: x\n-- severity: low\n-- schedule: 1h\n-- lookback: 1d\n-- param: from\n-- param: to\n\
         SELECT event_id, time FROM events WHERE time >= to_timestamp_micros($from) AND time < to_timestamp_micros($to)",
    );
    let rules_dir = rules.path().display().to_string();
    let (report, status, messages) = report(&dir, &["--rules", &rules_dir]);
    assert_eq!(status, 2, "a failed rule exits 2; stderr: {messages}");
    let errors: Vec<(String, String)> = report["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .map(|e| (e["rule"].as_str().unwrap_or("").to_owned(), e["error"].as_str().unwrap_or("").to_owned()))
        .collect();
    let error = |rule: &str| errors.iter().find(|(r, _)| r == rule).map(|(_, e)| e.clone()).unwrap_or_default();
    assert!(error("no_severity").contains("severity:"), "{errors:?}");
    assert!(error("bad_column").contains("no_such_column"), "{errors:?}");
    assert!(error("no_finding").contains("`finding`"), "{errors:?}");
    assert!(messages.contains("no_severity"), "stderr names the rule: {messages}");
    let ran: BTreeSet<String> = report["rules_run"]
        .as_array()
        .expect("rules_run")
        .iter()
        .map(|r| r["rule"].as_str().unwrap_or("").to_owned())
        .collect();
    assert!(ran.contains("rate_spike") && ran.contains("shared_credential"), "the built-ins still ran: {ran:?}");
    assert!(!report["findings"].as_array().expect("findings").is_empty());

    let output = run(&["report", "--data-dir", &dir, "--since", "soon"], b"");
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("\"soon\" is not a duration"), "{}", stderr(&output));
}

/// The HTML page, rendered by a real browser (headless chromium): the DOM it
/// builds has the summary, both charts and every finding, and a screenshot
/// is kept under `target/test-artifacts/` for a person to look at.
#[test]
fn the_html_report_renders_in_a_real_browser() {
    let (_data, dir) = sample_store("report-html");
    let replay = "http://agentrail.example:7070/api/v1/replay/";
    let mut args = vec!["report", "--data-dir", &dir, "--format", "html", "--replay-url", replay];
    args.extend(REPORT);
    let output = run(&args, b"");
    assert_eq!(output.status.code(), Some(1), "findings exit 1: {}", stderr(&output));
    let page = String::from_utf8(output.stdout).expect("UTF-8 page");
    let (json, _, _) = report(&dir, &[]);
    let findings = json["findings"].as_array().map(Vec::len).unwrap_or(0);
    assert!(findings > 0);

    let work = TempDir::new("report-html-page");
    let file = work.path().join("report.html");
    std::fs::write(&file, &page).expect("page written");
    let url = format!("file://{}", file.display());
    let chromium = |extra: &[&str]| {
        let mut command = std::process::Command::new("chromium");
        command.args(["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--window-size=1200,2400"]);
        command.args(extra).arg(&url);
        let output = command.output().expect("chromium runs (CI installs Debian's chromium)");
        assert!(output.status.success(), "chromium: {}", String::from_utf8_lossy(&output.stderr));
        output
    };
    let dom = String::from_utf8_lossy(&chromium(&["--dump-dom"]).stdout).into_owned();
    for id in ["count-high", "count-medium", "chart-rules", "chart-activity"] {
        assert!(dom.contains(&format!("id=\"{id}\"")), "the rendered page has #{id}");
    }
    assert_eq!(dom.matches("class=\"finding\"").count(), findings, "one card per finding");
    let links = dom.matches(&format!("class=\"replay\" href=\"{replay}corr-")).count();
    assert!(links > 0 && links <= findings, "findings link to their replay ({links} links)");

    let artifacts = workspace_root().join("target/test-artifacts");
    std::fs::create_dir_all(&artifacts).expect("artifact dir");
    let screenshot = artifacts.join("report.png");
    let _ = std::fs::remove_file(&screenshot);
    chromium(&[&format!("--screenshot={}", screenshot.display())]);
    let png = std::fs::read(&screenshot).expect("screenshot written");
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "a PNG");
    // IHDR: width and height, big-endian, at bytes 16..24.
    let width = u32::from_be_bytes([png[16], png[17], png[18], png[19]]);
    assert_eq!(width, 1200);
    assert!(png.len() > 50_000, "a page with content, not a blank one ({} bytes)", png.len());
}
