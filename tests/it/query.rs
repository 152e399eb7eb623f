//! `agentrail query`: read-only SQL over a data directory, its output
//! formats, segment pruning by time, and its limits.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::harness::{duckdb, run, sample_store, stderr};

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
