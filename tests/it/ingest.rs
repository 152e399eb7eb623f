//! `agentrail ingest`: the durable file pipeline, and its Parquet read back
//! by an independent engine (DuckDB).

use serde_json::Value;

use crate::harness::{TempDir, duckdb, run, stderr, workspace_root};

fn summary(output: &std::process::Output) -> Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| panic!("summary is not JSON ({e}): {}", stderr(output)))
}

#[test]
fn ingest_stores_each_event_once_and_duckdb_reads_the_segments() {
    let data = TempDir::new("ingest");
    let data_dir = data.path().display().to_string();
    let sample = workspace_root().join("bench-data/samples/mixed.ndjson").display().to_string();
    let lines = std::fs::read_to_string(&sample).expect("sample").lines().count() as u64;

    let output = run(&["ingest", "--data-dir", &data_dir, "--format", "json", &sample], b"");
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let first = summary(&output);
    assert_eq!(first["accepted"], lines);
    assert_eq!(first["rejected"], 0);

    // The same file again (a retrying shipper): nothing stored twice.
    let output = run(&["ingest", "--data-dir", &data_dir, "--format", "json", &sample], b"");
    let again = summary(&output);
    assert_eq!((again["accepted"].as_u64(), again["duplicates"].as_u64()), (Some(0), Some(lines)));

    let glob = format!("{data_dir}/segments/**/*.parquet");
    let rows = duckdb(&format!(
        "SELECT count(*), count(DISTINCT event_id), count(DISTINCT dt), \
         count(*) FILTER (WHERE len(delegation_chain) > 0), count(*) FILTER (WHERE cardinality(attributes) > 0), \
         min(time) < max(time) \
         FROM read_parquet('{glob}', hive_partitioning = true)"
    ));
    let row = &rows[0];
    assert_eq!(row[0], lines, "all rows readable: {rows}");
    assert_eq!(row[1], lines, "each event once: {rows}");
    assert_eq!(row[2], 2, "two day partitions: {rows}");
    assert!(row[3].as_u64() > Some(0) && row[4].as_u64() > Some(0), "list and map columns readable: {rows}");
    assert_eq!(row[5], true);
}

#[test]
fn rejected_records_go_to_quarantine_and_the_good_ones_are_stored() {
    let data = TempDir::new("quarantine");
    let data_dir = data.path().display().to_string();
    let input = concat!(
        r#"{"id":"gw-1","ts":"2026-11-20T10:00:00Z","agent_id":"a1","tool":"github.list_repos"}"#,
        "\n{\"truncated\": \n",
        r#"{"hello":"world"}"#,
        "\n"
    );
    let output = run(&["ingest", "--data-dir", &data_dir, "--format", "json"], input.as_bytes());
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let result = summary(&output);
    assert_eq!((result["accepted"].as_u64(), result["rejected"].as_u64()), (Some(1), Some(2)));
    assert!(stderr(&output).contains("-:line 2: rejected: invalid JSON"), "{}", stderr(&output));

    let rows = duckdb(&format!(
        "SELECT origin, reason, decode(raw) FROM read_parquet('{data_dir}/quarantine/**/*.parquet') ORDER BY origin"
    ));
    assert_eq!(rows.as_array().map(Vec::len), Some(2), "{rows}");
    assert_eq!(rows[0][0], "file:-:line 2");
    assert!(rows[0][1].as_str().is_some_and(|r| r.starts_with("invalid JSON")), "{rows}");
    assert_eq!(rows[1][2], r#"{"hello":"world"}"#);
}

#[test]
fn a_bad_data_directory_is_a_clear_error() {
    let data = TempDir::new("notadir");
    let file = data.path().join("file");
    std::fs::write(&file, b"x").expect("write");
    let data_dir = file.display().to_string();
    let output = run(&["ingest", "--data-dir", &data_dir], b"");
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("cannot open the data directory"), "{}", stderr(&output));
}
