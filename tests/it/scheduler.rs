//! The report scheduler of `agentrail serve`: rules run on their schedules,
//! runs are kept under the data directory and served at `/api/v1/reports`,
//! new findings reach real webhook receivers (Slack-compatible and
//! generic), a receiver that fails is retried, a dead one stops neither the
//! scheduler, nor ingestion, nor shutdown, and a restart does not send the
//! same findings again.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::harness::{
    ANALYST, ReceivedRequest, SHIPPER, Server, TempDir, WebhookReceiver, get, http, ingest_sample,
    quick_destructive_rule, run, server, stderr, workspace_root, write_broken_rules,
};

const RULE: &str = "destructive_without_approval";
const REPLAY_URL: &str = "https://agentrail.example/api/v1/replay/";

/// A rules directory: the built-in destructive rule made to run every two
/// seconds, a rule file that cannot be used and a rule that fails when it runs.
fn rules_dir(rules: &TempDir) {
    quick_destructive_rule(rules.path());
    write_broken_rules(rules.path());
}

fn runs(server: &Server, rule: &str) -> Vec<Value> {
    let listed = get(server, &format!("/api/v1/reports/runs?rule={rule}&limit=1000"), ANALYST);
    assert_eq!(listed.status, 200, "{}", String::from_utf8_lossy(&listed.body));
    listed.json()["runs"].as_array().cloned().unwrap_or_default()
}

/// Waits until `rule` has run `more` more times than `before`.
fn wait_for_runs(server: &Server, rule: &str, at_least: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let runs = runs(server, rule);
        if runs.len() >= at_least {
            return runs;
        }
        assert!(Instant::now() < deadline, "{rule} ran {} times, not {at_least}", runs.len());
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn scheduled_rules_keep_history_and_post_new_findings_to_webhooks() {
    let rules = TempDir::new("scheduler-rules");
    rules_dir(&rules);
    // The chat receiver refuses the first post (503): the scheduler retries it.
    let chat = WebhookReceiver::start(1);
    let programs = WebhookReceiver::start(0);
    // A port nobody listens on: every post is refused at connect.
    let dead = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("free port");
    let reports = format!(
        r#"
[reports]
rules_dir = "{rules}"
first_run_delay_seconds = 0
replay_url = "{REPLAY_URL}"

[[reports.webhooks]]
name = "chat"
url = "{chat}"

[[reports.webhooks]]
name = "programs"
url = "{programs}"
format = "generic"
min_severity = "high"
headers = {{ Authorization = "Bearer hook-secret" }}

[[reports.webhooks]]
name = "dead"
url = "http://{dead}/hook"
max_attempts = 50
"#,
        rules = rules.path().display(),
        chat = chat.url("/services/T000/B000/XXXX"),
        programs = programs.url("/agentrail"),
    );
    let (data, data_dir, server) = server("scheduler", &reports);
    ingest_sample(&server);

    // The chat message: escaped mrkdwn naming the rule, linking the replays.
    let message = chat.wait_for(60, |r| r.json()["text"].as_str().is_some_and(|t| t.contains(RULE)));
    let text = message.json()["text"].as_str().unwrap_or_default().to_owned();
    assert_eq!(message.path, "/services/T000/B000/XXXX");
    assert_eq!(message.header("content-type"), Some("application/json"));
    assert!(text.starts_with("*agentrail*: ") && text.contains("new findings from rule"), "{text}");
    assert!(text.contains(&format!("<{REPLAY_URL}corr-")), "replay links: {text}");

    // The generic payload: the findings whole, with the configured header.
    let generic = programs.wait_for(60, |r| r.json()["rule"] == RULE);
    assert_eq!(generic.header("authorization"), Some("Bearer hook-secret"));
    let sent = generic.json();
    let findings = sent["findings"].as_array().cloned().unwrap_or_default();
    assert!(!findings.is_empty(), "{sent}");
    assert!(findings.iter().all(|f| f["rule"] == RULE && f["event_ids"].as_array().is_some_and(|e| !e.is_empty())));

    // The same findings as the CLI over the same window and rules.
    // (It exits 2: two of the rules cannot run.)
    let cli = run(
        &[
            "report",
            "--data-dir",
            &data_dir,
            "--rules",
            &rules.path().display().to_string(),
            "--format",
            "json",
            "--since",
            "3650d",
        ],
        b"",
    );
    assert_eq!(cli.status.code(), Some(2), "{}", stderr(&cli));
    let cli: Value = serde_json::from_slice(&cli.stdout).expect("report JSON");
    let cli_keys = |report: &Value| -> Vec<String> {
        let mut keys: Vec<String> = report["findings"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|f| f["rule"] == RULE)
            .filter_map(|f| f["key"].as_str().map(str::to_owned))
            .collect();
        keys.sort();
        keys
    };
    let mut sent_keys: Vec<String> = findings.iter().filter_map(|f| f["key"].as_str().map(str::to_owned)).collect();
    sent_keys.sort();
    assert_eq!(sent_keys, cli_keys(&cli), "the scheduler finds what `agentrail report` finds");

    // While the dead receiver is being retried, ingestion answers as usual
    // and the rule keeps running; later runs find nothing new to send.
    let before = runs(&server, RULE).len();
    let headers = [("Authorization", SHIPPER), ("Content-Type", "application/json")];
    let sample = std::fs::read_to_string(workspace_root().join("bench-data/samples/mixed.ndjson")).expect("sample");
    let line = sample.lines().next().expect("a record");
    let posted = http(server.addr, "POST", "/v1/events", &headers, line.as_bytes()).expect("post");
    assert_eq!(posted.status, 200, "{}", String::from_utf8_lossy(&posted.body));
    let history = wait_for_runs(&server, RULE, before + 2);
    assert!(history.iter().all(|run| run["error"].is_null()), "{history:?}");
    assert!(history[0]["findings"].as_u64() > Some(0) && history[0]["new_findings"] == 0, "{}", history[0]);
    let newest_with_news = history.iter().filter(|run| run["new_findings"].as_u64() > Some(0)).count();
    assert_eq!(newest_with_news, 1, "findings are announced once: {history:?}");
    let about_rule = |r: &ReceivedRequest| r.json()["text"].as_str().is_some_and(|t| t.contains(RULE));
    let chat_posts: Vec<String> =
        chat.received().iter().filter(|r| about_rule(r)).map(|r| r.json().to_string()).collect();
    assert_eq!(chat_posts.len(), 2, "one refused (503), then the same payload again");
    assert_eq!(chat_posts[0], chat_posts[1]);

    // The current report: each rule's newest run, the broken and failing rules named.
    let current = get(&server, "/api/v1/reports", ANALYST);
    assert_eq!(current.status, 200);
    let current = current.json();
    assert_eq!(cli_keys(&current), cli_keys(&cli));
    let errors = current["errors"].to_string();
    assert!(errors.contains("no_severity") && errors.contains("bad_column"), "{errors}");
    assert!(current["rules_run"].as_array().is_some_and(|r| r.iter().any(|r| r["rule"] == RULE)));

    let page = get(&server, "/api/v1/reports?format=html", ANALYST);
    assert_eq!(page.header("content-type"), Some("text/html; charset=utf-8"));
    let page = String::from_utf8_lossy(&page.body).into_owned();
    assert!(page.contains("class=\"finding\"") && page.contains(&format!("href=\"{REPLAY_URL}corr-")));
    let markdown = get(&server, "/api/v1/reports?format=md", ANALYST);
    assert!(String::from_utf8_lossy(&markdown.body).starts_with("# agentrail anomaly report"));

    // One run, whole; bad requests are refused with reasons.
    let id = history[0]["id"].as_str().expect("run id");
    let run = get(&server, &format!("/api/v1/reports/runs/{id}"), ANALYST);
    assert_eq!(run.status, 200);
    assert_eq!(run.json()["rule"], RULE);
    assert!(data.path().join(format!("data/reports/runs/{id}.json")).is_file(), "kept under the data directory");
    for (path, auth, status, named) in [
        ("/api/v1/reports/runs/..%2Fmanifest", ANALYST, 400, "not a run id"),
        ("/api/v1/reports/runs/20200101T000000000000Z_nothing", ANALYST, 404, "no run"),
        ("/api/v1/reports?format=xml", ANALYST, 400, "json, md or html"),
        ("/api/v1/reports/runs?limit=0", ANALYST, 400, "limit"),
        ("/api/v1/reports?colour=red", ANALYST, 400, "colour"),
        ("/api/v1/reports", SHIPPER, 403, "analyst"),
        ("/api/v1/reports", "Bearer wrong-token-0123456789", 401, ""),
    ] {
        let response = get(&server, path, auth);
        let body = String::from_utf8_lossy(&response.body).into_owned();
        assert_eq!(response.status, status, "{path}: {body}");
        assert!(body.contains(named), "{path}: {body}");
    }

    let metrics = String::from_utf8_lossy(&get(&server, "/metrics", ANALYST).body).into_owned();
    let metric = |name: &str| -> u64 {
        metrics
            .lines()
            .find_map(|line| line.strip_prefix(&format!("{name} ")))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("{name} in {metrics}"))
    };
    assert!(metric("agentrail_webhook_failed_attempts_total") >= 2, "the refused post and the dead receiver");
    assert!(metric("agentrail_webhook_delivered_total") >= 2);
    assert!(metric("agentrail_report_failures_total") >= 1, "bad_column fails");

    // Shutdown does not wait for the dead receiver's retries.
    let stopping = Instant::now();
    assert!(server.stop().success());
    assert!(stopping.elapsed() < Duration::from_secs(20), "stopped in {:?}", stopping.elapsed());

    // After a restart the rule resumes from its history: nothing is announced again.
    let delivered = chat.received().len();
    let config = data.path().join("agentrail.toml").display().to_string();
    let server = Server::start(&["--config", &config, "--data-dir", &data_dir]);
    let before = runs(&server, RULE).len();
    let after = wait_for_runs(&server, RULE, before + 2);
    assert_eq!(after[0]["new_findings"], 0, "{}", after[0]);
    assert_eq!(chat.received().len(), delivered, "no message sent again after the restart");
    drop(server);
}

/// A `[reports]` section that cannot be used stops `serve` at start, with
/// the reason and the webhook's name (never its URL, which holds a secret).
#[test]
fn a_bad_reports_configuration_is_refused_at_start() {
    let data = TempDir::new("scheduler-bad-config");
    let cases = [
        ("[reports]\nhistory_dayz = 3\n", "history_dayz"),
        ("[[reports.webhooks]]\nname = \"oncall\"\nurl = \"ftp://hooks.example/T0/secret\"\n", "oncall"),
        ("[[reports.webhooks]]\nurl = \"https://hooks.example/x\"\nformat = \"teams\"\n", "teams"),
        ("[[reports.webhooks]]\nurl = \"https://hooks.example/x\"\nmin_severity = \"urgent\"\n", "urgent"),
        ("[[reports.webhooks]]\nurl = \"https://hooks.example/x\"\nmax_attempts = 0\n", "max_attempts"),
    ];
    for (section, named) in cases {
        let config = data.path().join("agentrail.toml");
        std::fs::write(&config, section).expect("config");
        let data_dir = data.path().join("data").display().to_string();
        let args =
            ["serve", "--config", &config.display().to_string(), "--data-dir", &data_dir, "--listen", "127.0.0.1:0"];
        let output = run(&args, b"");
        let message = stderr(&output);
        assert_eq!(output.status.code(), Some(2), "{section}: {message}");
        assert!(message.contains(named), "{section}: {message}");
        assert!(!message.contains("secret"), "the URL is not shown: {message}");
    }
}
