//! Compaction from the command line, the admin API and the server's own
//! schedule: a day's small segments merge, queries running all the while
//! never see a count waver, merged-away files go after their grace, the
//! store verifies and DuckDB reads the merged Parquet.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::harness::{
    ADMIN, ANALYST, TempDir, cli_json, count, duckdb, http, most_common, post_query, refused, run, server_in, stderr,
    verifies, wait_until, workspace_root,
};

/// A data directory holding the bench sample stored by `parts` separate
/// `agentrail ingest` runs: `parts` small segments a day.
fn many_small_segments(name: &str, parts: usize) -> (TempDir, String) {
    let data = TempDir::new(name);
    let dir = data.path().join("data").display().to_string();
    let sample = std::fs::read_to_string(workspace_root().join("bench-data/samples/mixed.ndjson")).expect("sample");
    let lines: Vec<&str> = sample.lines().collect();
    for (n, chunk) in lines.chunks(lines.len().div_ceil(parts)).enumerate() {
        let part = data.path().join(format!("part-{n}.ndjson"));
        std::fs::write(&part, chunk.join("\n")).expect("part written");
        let output = run(&["ingest", "--data-dir", &dir, &part.display().to_string()], b"");
        assert!(output.status.success(), "ingest: {}", stderr(&output));
    }
    (data, dir)
}

fn listed_segments(dir: &str) -> Vec<String> {
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(format!("{dir}/manifest.json")).expect("manifest")).expect("json");
    manifest["segments"]
        .as_array()
        .expect("segments")
        .iter()
        .map(|s| s["path"].as_str().expect("path").to_owned())
        .collect()
}

#[test]
fn the_cli_merges_small_segments_and_everything_still_adds_up() {
    let (_data, dir) = many_small_segments("compact-cli", 10);
    let before = listed_segments(&dir);
    let total = count(&dir, "SELECT count(*) AS n FROM events");
    let ids = count(&dir, "SELECT count(DISTINCT event_id) AS n FROM events");
    assert_eq!(total, ids);

    refused(&["compact", "--data-dir", &dir, "--min-segments", "1"], "at least 2");
    refused(&["compact", "--data-dir", &format!("{dir}/nowhere")], "is not a data directory");
    let dry = run(&["compact", "--data-dir", &dir, "--min-segments", "4", "--dry-run"], b"");
    assert!(dry.status.success(), "{}", stderr(&dry));
    assert!(String::from_utf8_lossy(&dry.stdout).contains("would merge "), "{}", String::from_utf8_lossy(&dry.stdout));
    assert_eq!(listed_segments(&dir), before, "a dry run writes nothing");

    let done = cli_json(&["compact", "--data-dir", &dir, "--min-segments", "4", "--format", "json"]);
    let merges = done["outcome"]["merges"].as_array().expect("merges");
    assert!(!merges.is_empty(), "{done}");
    let after = listed_segments(&dir);
    assert_eq!(after.len() as u64, done["outcome"]["segments_after"].as_u64().expect("count"));
    assert!(after.len() * 4 < before.len(), "{} → {}", before.len(), after.len());
    for old in merges.iter().flat_map(|m| m["from"].as_array().expect("from")) {
        let old = old.as_str().expect("path");
        assert!(!std::path::Path::new(&format!("{dir}/{old}")).exists(), "no grace by default: {old} is gone");
    }
    assert_eq!(count(&dir, "SELECT count(*) AS n FROM events"), total);
    assert_eq!(count(&dir, "SELECT count(DISTINCT event_id) AS n FROM events"), ids);
    // Standard Parquet: DuckDB reads the merged files and finds the same events.
    let counted = duckdb(&format!("SELECT count(*), count(DISTINCT event_id) FROM '{dir}/segments/**/*.parquet'"));
    assert_eq!(counted, serde_json::json!([[total, ids]]));
    verifies(&dir);
    // Nothing is left to merge.
    let again = cli_json(&["compact", "--data-dir", &dir, "--min-segments", "4", "--format", "json"]);
    assert_eq!(again["outcome"]["merges"], serde_json::json!([]), "{again}");
}

/// Analysts query without pause while an admin compacts: every answer is the
/// one before the merge, through the swap and through the deletion of the
/// merged-away files.
#[test]
fn queries_running_through_a_compaction_never_see_a_count_waver() {
    let (data, dir) = many_small_segments("compact-api", 12);
    let incident = most_common(&dir, "correlation_id");
    let before = listed_segments(&dir);
    let extra = "[compaction]\nenabled = false\nmin_segments = 4\ngrace = \"3s\"\n";
    let (_data, _, server) = server_in(data, extra);

    let questions = [
        "SELECT count(*) AS n FROM events".to_owned(),
        "SELECT count(DISTINCT event_id) AS n FROM events".to_owned(),
        format!("SELECT count(*) AS n FROM events WHERE correlation_id = '{incident}'"),
        "SELECT count(*) AS n FROM events WHERE search('delete*')".to_owned(),
    ];
    let ask = |addr, sql: &str| -> Result<u64, String> {
        let body = serde_json::json!({ "sql": sql }).to_string();
        let headers = [("Authorization", ANALYST), ("Content-Type", "application/json")];
        let started = std::time::Instant::now();
        let answer = http(addr, "POST", "/api/v1/query", &headers, body.as_bytes()).map_err(|e| e.to_string())?;
        if answer.status != 200 {
            let took = started.elapsed();
            return Err(format!("{} after {took:?}: {}", answer.status, String::from_utf8_lossy(&answer.body)));
        }
        answer.json()["rows"][0]["n"].as_u64().ok_or_else(|| "no count".to_owned())
    };
    let expected: Vec<u64> = questions.iter().map(|sql| ask(server.addr, sql).expect("answers")).collect();
    assert!(expected.iter().all(|n| *n > 0), "{expected:?}");

    let stop = Arc::new(AtomicBool::new(false));
    let askers: Vec<_> = (0..2)
        .map(|_| {
            let (stop, questions, expected, addr) =
                (Arc::clone(&stop), questions.clone(), expected.clone(), server.addr);
            std::thread::spawn(move || {
                let mut asked = 0;
                let mut wrong = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    for (sql, want) in questions.iter().zip(&expected) {
                        match ask(addr, sql) {
                            Ok(got) if got == *want => {}
                            other => wrong.push(format!("{sql}: {other:?}, expected {want}")),
                        }
                        asked += 1;
                    }
                }
                (asked, wrong)
            })
        })
        .collect();

    let post = |path: &str, auth: &str| http(server.addr, "POST", path, &[("Authorization", auth)], b"").expect("post");
    let refused = post("/api/v1/admin/compact", ANALYST);
    assert_eq!(refused.status, 403, "{}", String::from_utf8_lossy(&refused.body));
    assert_eq!(post("/api/v1/admin/compact?dry_run=maybe", ADMIN).status, 400);
    let dry = post("/api/v1/admin/compact?dry_run=true", ADMIN);
    assert_eq!(dry.status, 200, "{}", String::from_utf8_lossy(&dry.body));
    assert!(!dry.json()["outcome"]["merges"].as_array().expect("merges").is_empty(), "{}", dry.json());
    assert_eq!(listed_segments(&dir), before);

    std::thread::sleep(Duration::from_millis(500));
    let done = post("/api/v1/admin/compact", ADMIN);
    assert_eq!(done.status, 200, "{}", String::from_utf8_lossy(&done.body));
    let outcome = done.json()["outcome"].clone();
    let merged_away: Vec<String> = outcome["merges"]
        .as_array()
        .expect("merges")
        .iter()
        .flat_map(|m| m["from"].as_array().expect("from").iter().map(|p| p.as_str().expect("path").to_owned()))
        .collect();
    assert!(merged_away.len() >= 8, "{outcome}");
    for old in &merged_away {
        assert!(std::path::Path::new(&format!("{dir}/{old}")).exists(), "{old} went before its grace");
    }
    assert!(listed_segments(&dir).len() < before.len());
    wait_until("the merged-away files are deleted after their grace", 30, || {
        match merged_away.iter().find(|old| std::path::Path::new(&format!("{dir}/{old}")).exists()) {
            Some(old) => Err(format!("{old} is still there")),
            None => Ok(()),
        }
    });
    std::thread::sleep(Duration::from_millis(500));
    stop.store(true, Ordering::Relaxed);
    for asker in askers {
        let (asked, wrong) = asker.join().expect("asker");
        assert!(wrong.is_empty(), "{} of {asked} answers wavered: {:?}", wrong.len(), &wrong[..wrong.len().min(5)]);
        assert!(asked >= 20, "only {asked} questions asked");
    }
    let report = http(server.addr, "GET", "/api/v1/verify", &[("Authorization", ADMIN)], b"").expect("verify");
    assert_eq!(report.json()["verified"], true, "{}", report.json());
    let counted = post_query(&server, r#"{"sql": "SELECT count(*) AS n FROM events"}"#, &[]);
    assert_eq!(counted.json()["rows"][0]["n"].as_u64(), Some(expected[0]));
}

#[test]
fn the_server_compacts_on_its_own_schedule() {
    let (data, dir) = many_small_segments("compact-scheduled", 10);
    let before = listed_segments(&dir).len();
    let total = count(&dir, "SELECT count(*) AS n FROM events");
    let extra = "[compaction]\ninterval = \"1s\"\nmin_segments = 4\ngrace = \"1s\"\n";
    let (_data, _, server) = server_in(data, extra);
    wait_until("the server merges by itself", 30, || {
        let now = listed_segments(&dir).len();
        if now * 4 < before { Ok(()) } else { Err(format!("{now} segments of {before}")) }
    });
    wait_until("the merged-away files go", 30, || {
        let pending = std::path::Path::new(&dir).join("compaction.pending.json");
        if pending.exists() { Err("merges wait for their grace".to_owned()) } else { Ok(()) }
    });
    let counted = post_query(&server, r#"{"sql": "SELECT count(*) AS n FROM events"}"#, &[]);
    assert_eq!(counted.json()["rows"][0]["n"].as_u64(), Some(total));
    let report = http(server.addr, "GET", "/api/v1/verify", &[("Authorization", ADMIN)], b"").expect("verify");
    assert_eq!(report.json()["verified"], true, "{}", report.json());
}
