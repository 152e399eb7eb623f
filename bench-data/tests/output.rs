//! Output-level properties: determinism, valid JSON everywhere, time order
//! of `mixed.ndjson`, and counts that follow `--events`.

#![allow(clippy::unwrap_used)]

mod common;

use std::fs;

use agentrail_bench_data::mixed_ndjson;
use common::{SOURCES, generate_dir, identify, lines, otel_records, read_all};
use serde_json::Value;

#[test]
fn same_seed_gives_the_same_bytes() {
    let (a, truth_a) = generate_dir("det-a", 11, 3_000, 2);
    let (b, truth_b) = generate_dir("det-b", 11, 3_000, 2);
    assert_eq!(truth_a, truth_b);
    for name in
        SOURCES.iter().map(|s| format!("{s}.ndjson")).chain(["mixed.ndjson".to_owned(), "ground_truth.json".to_owned()])
    {
        let left = fs::read(a.join(&name)).unwrap();
        let right = fs::read(b.join(&name)).unwrap();
        assert!(!left.is_empty(), "{name} is empty");
        assert!(left == right, "{name} differs between two runs with the same seed");
    }
    assert_eq!(mixed_ndjson(5, 2_500), mixed_ndjson(5, 2_500));
    assert_ne!(mixed_ndjson(5, 2_500), mixed_ndjson(6, 2_500));
    let _ = fs::remove_dir_all(a);
    let _ = fs::remove_dir_all(b);
}

#[test]
fn every_line_is_json_and_mixed_is_in_time_order() {
    let (dir, truth) = generate_dir("json", 3, 6_000, 2);
    let records = read_all(&dir);
    let total: u64 = truth.events_per_source.values().sum();
    assert_eq!(records.len() as u64, total, "per-source files hold exactly events_per_source records");
    for source in SOURCES {
        let count = records.iter().filter(|r| r.source == source).count() as u64;
        assert_eq!(Some(&count), truth.events_per_source.get(source), "{source}");
        assert!(count > 0, "{source} has records");
    }
    // mixed.ndjson: one vendor record per line, every record once, in time order.
    let mixed = lines(&dir.join("mixed.ndjson"));
    assert_eq!(mixed.len() as u64, total);
    let mut last = i64::MIN;
    let mut seen = std::collections::BTreeSet::new();
    for line in &mixed {
        let rec = if line.get("resourceLogs").is_some() {
            let records = otel_records(line);
            assert_eq!(records.len(), 1, "mixed OTLP requests hold a single log record");
            identify("otel", &records[0].0, &records[0].1)
        } else if line.get("eventVersion").is_some() {
            identify("aws.cloudtrail", line, &Value::Null)
        } else if line.get("auditID").is_some() {
            identify("k8s.audit", line, &Value::Null)
        } else if line.get("protoPayload").is_some() {
            identify("gcp.audit", line, &Value::Null)
        } else if line.get("_document_id").is_some() {
            identify("github", line, &Value::Null)
        } else if line.get("uuid").is_some() && line.get("eventType").is_some() {
            identify("okta", line, &Value::Null)
        } else {
            identify("agent", line, &Value::Null)
        };
        // CloudTrail and GitHub round to s / ms: compare at second granularity.
        let second = rec.time.div_euclid(1_000_000_000);
        assert!(second >= last, "mixed.ndjson goes back in time at {}", rec.id);
        last = last.max(second);
        assert!(seen.insert(rec.id.clone()), "{} twice in mixed.ndjson", rec.id);
    }
    let ids: std::collections::BTreeSet<String> = records.into_iter().map(|r| r.id).collect();
    assert_eq!(seen, ids, "mixed.ndjson and the per-source files hold the same records");
    let _ = fs::remove_dir_all(dir);
}

#[test]
fn counts_scale_with_events() {
    let (small_dir, small) = generate_dir("scale-s", 21, 4_000, 3);
    let (large_dir, large) = generate_dir("scale-l", 21, 40_000, 3);
    let total = |t: &agentrail_bench_data::GroundTruth| t.events_per_source.values().sum::<u64>();
    assert!(total(&small) >= 4_000 && total(&small) <= 4_400, "small run: {}", total(&small));
    assert_eq!(total(&large), 40_000);
    for (source, large_count) in &large.events_per_source {
        let small_count = small.events_per_source[source].max(1);
        let ratio = *large_count as f64 / small_count as f64;
        assert!((3.0..=25.0).contains(&ratio), "{source}: {small_count} -> {large_count}");
    }
    // Realistic proportions: CloudTrail and Kubernetes carry the most records.
    let share = |s: &str| large.events_per_source[s] as f64 / 40_000.0;
    assert!(share("aws.cloudtrail") > 0.2 && share("k8s.audit") > 0.17, "{:?}", large.events_per_source);
    assert!(share("github") < share("aws.cloudtrail") && share("okta") < share("k8s.audit"));
    assert!(large.incidents.len() >= 3);
    let _ = fs::remove_dir_all(small_dir);
    let _ = fs::remove_dir_all(large_dir);
}
