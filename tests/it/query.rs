//! `agentrail query`: read-only SQL over a data directory, its output
//! formats, segment pruning by time, and its limits.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::harness::{duckdb, most_common, run, sample_store, stderr};

fn query(dir: &str, format: &str, sql: &str) -> std::process::Output {
    run(&["query", "--data-dir", dir, "--format", format, sql], b"")
}

fn json_rows(output: &std::process::Output) -> Vec<Value> {
    assert!(output.status.success(), "query failed: {}", stderr(output));
    serde_json::from_slice::<Value>(&output.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&output.stdout)))
        .as_array()
        .cloned()
        .expect("an array of rows")
}

#[test]
fn answers_agree_with_duckdb_and_every_row_has_every_column() {
    let (_data, dir) = sample_store("query-agree");
    let rows = json_rows(&query(
        &dir,
        "json",
        "SELECT source, count(*) AS events, count(DISTINCT event_id) AS ids FROM events GROUP BY source ORDER BY source",
    ));
    let expected = duckdb(&format!(
        "SELECT source, count(*), count(DISTINCT event_id) FROM read_parquet('{dir}/segments/**/*.parquet') \
         GROUP BY source ORDER BY source"
    ));
    let ours: Vec<Value> = rows.iter().map(|r| serde_json::json!([r["source"], r["events"], r["ids"]])).collect();
    assert_eq!(Value::Array(ours), expected);

    // Nulls are written out: a row object has every selected column.
    let rows = json_rows(&query(&dir, "json", "SELECT event_id, agent_id, on_behalf_of FROM events LIMIT 50"));
    assert_eq!(rows.len(), 50);
    assert!(rows.iter().all(|r| r.as_object().is_some_and(|o| o.len() == 3)), "{rows:?}");

    // CSV has a header; the table format is aligned text.
    let csv = query(&dir, "csv", "SELECT source FROM events ORDER BY source LIMIT 2");
    assert_eq!(String::from_utf8_lossy(&csv.stdout).lines().next(), Some("source"));
    let table = query(&dir, "table", "SELECT count(*) AS n FROM quarantine");
    assert!(String::from_utf8_lossy(&table.stdout).contains("| n "), "{}", String::from_utf8_lossy(&table.stdout));
}

#[test]
fn a_time_range_reads_only_the_segments_it_can_match() {
    let (_data, dir) = sample_store("query-prune");
    let days = duckdb(&format!(
        "SELECT DISTINCT regexp_extract(filename, 'dt=([0-9-]+)', 1) AS d FROM read_parquet('{dir}/segments/**/*.parquet', filename=true) ORDER BY d"
    ));
    let days: Vec<String> =
        days.as_array().expect("rows").iter().filter_map(|r| r[0].as_str().map(str::to_owned)).collect();
    assert!(days.len() >= 2, "the sample spans several days: {days:?}");
    let last = days.last().expect("a day");
    let plan =
        query(&dir, "csv", &format!("EXPLAIN SELECT event_id FROM events WHERE time >= TIMESTAMP '{last}T00:00:00Z'"));
    let plan = String::from_utf8_lossy(&plan.stdout).into_owned();
    assert!(plan.contains(&format!("dt={last}")), "{plan}");
    for day in &days[..days.len() - 1] {
        assert!(!plan.contains(&format!("dt={day}")), "segment of {day} scanned: {plan}");
    }
    // And the answer is the same as without pruning.
    let pruned = json_rows(&query(
        &dir,
        "json",
        &format!("SELECT count(*) AS n FROM events WHERE time >= TIMESTAMP '{last}T00:00:00Z'"),
    ));
    let scanned = json_rows(&query(
        &dir,
        "json",
        &format!("SELECT count(*) AS n FROM events WHERE CAST(time AS VARCHAR) >= '{last}'"),
    ));
    assert_eq!(pruned, scanned);
}

#[test]
fn writes_are_refused_and_limits_stop_runaway_queries_with_reasons() {
    let (_data, dir) = sample_store("query-limits");
    let refused = [
        "CREATE EXTERNAL TABLE passwd STORED AS CSV LOCATION '/etc/passwd'",
        "INSERT INTO events SELECT * FROM events",
        "SET datafusion.execution.batch_size = 1",
        "COPY events TO '/tmp/agentrail-stolen.parquet'",
        "DROP TABLE events",
    ];
    for sql in refused {
        let output = query(&dir, "table", sql);
        assert_eq!(output.status.code(), Some(2), "{sql}");
        assert!(stderr(&output).contains("only queries are allowed"), "{sql}: {}", stderr(&output));
    }
    assert!(!std::path::Path::new("/tmp/agentrail-stolen.parquet").exists());

    let started = Instant::now();
    let output =
        run(&["query", "--data-dir", &dir, "--timeout", "2", "SELECT count(*) FROM events a, events b, events c"], b"");
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("ran longer than 2s"), "{}", stderr(&output));
    assert!(started.elapsed() < Duration::from_secs(20), "the timeout answered late: {:?}", started.elapsed());

    let output = run(&["query", "--data-dir", &dir, "--memory-mib", "1", "SELECT * FROM events ORDER BY raw"], b"");
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("more than its 1048576 bytes of memory"), "{}", stderr(&output));

    let output = run(&["query", "--data-dir", &dir, "--max-rows", "5", "SELECT event_id FROM events"], b"");
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("more than 5 rows"), "{}", stderr(&output));

    let output = query(&dir, "table", "SELEC nonsense");
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("SELEC"), "the parser's reason is shown: {}", stderr(&output));

    let output = run(&["query", "--data-dir", "/nonexistent/agentrail", "SELECT 1"], b"");
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("is not a data directory"), "{}", stderr(&output));
}

#[test]
fn ids_and_search_go_through_the_index_and_agree_with_duckdb() {
    let (_data, dir) = sample_store("query-index");
    let incident = duckdb(&format!(
        "SELECT min(correlation_id) FROM read_parquet('{dir}/segments/**/*.parquet') WHERE correlation_id IS NOT NULL"
    ));
    let incident = incident[0][0].as_str().expect("an incident id").to_owned();
    let sql = format!("SELECT event_id FROM events WHERE correlation_id = '{incident}' ORDER BY event_id");
    let ours: Vec<Value> = json_rows(&query(&dir, "json", &sql)).iter().map(|r| r["event_id"].clone()).collect();
    let theirs = duckdb(&format!(
        "SELECT event_id FROM read_parquet('{dir}/segments/**/*.parquet') WHERE correlation_id = '{incident}' ORDER BY event_id"
    ));
    let theirs: Vec<Value> = theirs.as_array().expect("rows").iter().map(|r| r[0].clone()).collect();
    assert!(!ours.is_empty());
    assert_eq!(ours, theirs);

    let plan = query(&dir, "csv", &format!("EXPLAIN {sql}"));
    let plan = String::from_utf8_lossy(&plan.stdout).into_owned();
    assert!(plan.contains("IndexLookupExec: correlation_id = "), "{plan}");

    // search(): words in text fields, ids by field, combined with SQL.
    let denied = json_rows(&query(
        &dir,
        "json",
        "SELECT count(*) AS n FROM events WHERE search('outcome:denied') AND source <> 'nothing'",
    ));
    let expected =
        duckdb(&format!("SELECT count(*) FROM read_parquet('{dir}/segments/**/*.parquet') WHERE outcome = 'denied'"));
    assert_eq!(denied[0]["n"], expected[0][0]);

    let output = query(&dir, "table", "SELECT event_id FROM events WHERE search('message:(unclosed')");
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("message:(unclosed"), "{}", stderr(&output));
}

#[test]
fn named_queries_run_by_name_with_bound_parameters_and_a_directory_adds_its_own() {
    let (data, dir) = sample_store("query-named");
    let listed = run(&["queries"], b"");
    let listed = String::from_utf8_lossy(&listed.stdout).into_owned();
    for name in ["replay_timeline", "agent_activity", "delegated_activity", "credential_usage"] {
        assert!(listed.contains(name), "{name} listed: {listed}");
    }
    let credential = most_common(&dir, "credential_id");
    let output = run(
        &[
            "query",
            "--data-dir",
            &dir,
            "--format",
            "json",
            "--named",
            "credential_usage",
            "--param",
            &format!("credential_id={credential}"),
        ],
        b"",
    );
    let used: u64 = json_rows(&output).iter().filter_map(|r| r["actions"].as_u64()).sum();
    let expected = duckdb(&format!(
        "SELECT count(*) FROM read_parquet('{dir}/segments/**/*.parquet') WHERE credential_id = '{credential}'"
    ));
    assert_eq!(Some(used), expected[0][0].as_u64());

    let output = run(&["query", "--data-dir", &dir, "--named", "credential_usage"], b"");
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("needs the parameter(s) credential_id"), "{}", stderr(&output));

    // A directory adds queries; a bad file is refused by name and reason.
    let extra = data.path().join("queries");
    std::fs::create_dir_all(&extra).expect("dir");
    std::fs::write(
        extra.join("by_source.sql"),
        "-- description: events of one source\n-- param: source\nSELECT count(*) AS n FROM events WHERE source = $source\n",
    )
    .expect("query file");
    let extra_dir = extra.display().to_string();
    let output = run(
        &[
            "query",
            "--data-dir",
            &dir,
            "--queries",
            &extra_dir,
            "--format",
            "json",
            "--named",
            "by_source",
            "--param",
            "source=okta",
        ],
        b"",
    );
    let expected =
        duckdb(&format!("SELECT count(*) FROM read_parquet('{dir}/segments/**/*.parquet') WHERE source = 'okta'"));
    assert_eq!(json_rows(&output)[0]["n"], expected[0][0]);
    std::fs::write(extra.join("broken.sql"), "-- description: x\nSELECT $undeclared\n").expect("query file");
    let output = run(&["queries", "--queries", &extra_dir], b"");
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("broken.sql") && stderr(&output).contains("$undeclared"), "{}", stderr(&output));
}

#[test]
fn search_prints_the_newest_matches_and_says_when_there_are_none() {
    let (_data, dir) = sample_store("query-search");
    let output = run(&["search", "--data-dir", &dir, "--limit", "3", "source:okta"], b"");
    assert!(output.status.success(), "{}", stderr(&output));
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 4, "three events and the truncation note: {text}");
    assert!(lines[..3].iter().all(|l| l.contains("okta")), "{text}");
    assert!(lines[3].contains("more events match"), "{text}");

    let output = run(&["search", "--data-dir", &dir, "--format", "json", "--limit", "1000", "source:okta"], b"");
    let answer: Value = serde_json::from_slice(&output.stdout).expect("JSON");
    let expected =
        duckdb(&format!("SELECT count(*) FROM read_parquet('{dir}/segments/**/*.parquet') WHERE source = 'okta'"));
    assert_eq!(answer["returned"].as_u64(), expected[0][0].as_u64());
    assert_eq!(answer["truncated"], false);

    let output = run(&["search", "--data-dir", &dir, "nosuchwordanywhere"], b"");
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("no stored event matches"), "{}", stderr(&output));
    let output = run(&["search", "--data-dir", &dir, "--from", "yesterday", "x"], b"");
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("--from"), "{}", stderr(&output));
}
