//! Helpers shared by the integration tests: generate into a temporary
//! directory, read every record back and compute its agentrail event id
//! from the vendor fields, exactly as the ground truth spells them.

#![allow(dead_code, clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use agentrail_bench_data::time::{NANOS_PER_SEC, days_from_civil};
use agentrail_bench_data::{Config, FileSink, GroundTruth, generate};
use serde_json::Value;

/// Generates into a fresh directory and writes `ground_truth.json` like the CLI.
pub fn generate_dir(tag: &str, seed: u64, events: usize, days: u32) -> (PathBuf, GroundTruth) {
    let dir =
        std::env::temp_dir().join(format!("agentrail-bench-test-{tag}-{seed}-{events}-{days}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    let mut config = Config::new(seed, events);
    config.days = days;
    let mut sink = FileSink::create(&dir).unwrap();
    let truth = generate(&config, &mut sink, &mut |_| {}).unwrap();
    fs::write(dir.join("ground_truth.json"), serde_json::to_vec_pretty(&truth).unwrap()).unwrap();
    (dir, truth)
}

pub fn lines(path: &Path) -> Vec<Value> {
    fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{}: {e}: {line}", path.display())))
        .collect()
}

/// Parses an RFC 3339 UTC timestamp into nanoseconds since the epoch.
pub fn parse_time(text: &str) -> i64 {
    let (date, rest) = text.split_once('T').unwrap();
    let mut d = date.split('-').map(|p| p.parse::<i64>().unwrap());
    let (y, m, day) = (d.next().unwrap(), d.next().unwrap(), d.next().unwrap());
    let rest = rest.trim_end_matches('Z');
    let (hms, frac) = rest.split_once('.').unwrap_or((rest, ""));
    let mut t = hms.split(':').map(|p| p.parse::<i64>().unwrap());
    let (h, mi, s) = (t.next().unwrap(), t.next().unwrap(), t.next().unwrap());
    let mut nanos = 0;
    if !frac.is_empty() {
        nanos = format!("{frac:0<9}")[..9].parse::<i64>().unwrap();
    }
    let days = days_from_civil(y, m as u32, day as u32);
    (days * 86_400 + h * 3600 + mi * 60 + s) * NANOS_PER_SEC + nanos
}

/// One vendor record read back.
#[derive(Debug, Clone)]
pub struct Rec {
    pub id: String,
    pub source: &'static str,
    pub time: i64,
    pub value: Value,
    /// OTLP resource attributes of the record's `ResourceLogs`.
    pub resource: Value,
}

impl Rec {
    /// An OTLP attribute (log record first, then resource) as a string.
    pub fn otel_attr(&self, key: &str) -> Option<String> {
        for list in [&self.value["attributes"], &self.resource] {
            if let Some(items) = list.as_array() {
                for item in items {
                    if item["key"] == key {
                        let v = &item["value"];
                        return v["stringValue"]
                            .as_str()
                            .map(str::to_owned)
                            .or_else(|| v["intValue"].as_str().map(str::to_owned));
                    }
                }
            }
        }
        None
    }
}

pub fn otel_records(request: &Value) -> Vec<(Value, Value)> {
    let mut out = Vec::new();
    for resource_logs in request["resourceLogs"].as_array().unwrap() {
        let resource = resource_logs["resource"]["attributes"].clone();
        for scope_logs in resource_logs["scopeLogs"].as_array().unwrap() {
            for record in scope_logs["logRecords"].as_array().unwrap() {
                out.push((record.clone(), resource.clone()));
            }
        }
    }
    out
}

/// The agentrail event id and time of a single (unwrapped) record of `source`.
pub fn identify(source: &'static str, value: &Value, resource: &Value) -> Rec {
    let (id, time) = match source {
        "agent" => (format!("agent:{}", value["id"].as_str().unwrap()), parse_time(value["ts"].as_str().unwrap())),
        "otel" => {
            let rec = Rec { id: String::new(), source, time: 0, value: value.clone(), resource: resource.clone() };
            let uid = rec.otel_attr("log.record.uid").unwrap();
            (format!("otel:{uid}"), value["timeUnixNano"].as_str().unwrap().parse().unwrap())
        }
        "aws.cloudtrail" => (
            format!("aws.cloudtrail:{}", value["eventID"].as_str().unwrap()),
            parse_time(value["eventTime"].as_str().unwrap()),
        ),
        "okta" => {
            (format!("okta:{}", value["uuid"].as_str().unwrap()), parse_time(value["published"].as_str().unwrap()))
        }
        "github" => (
            format!("github:{}", value["_document_id"].as_str().unwrap()),
            value["@timestamp"].as_i64().unwrap() * 1_000_000,
        ),
        "k8s.audit" => (
            format!("k8s.audit:{}:{}", value["auditID"].as_str().unwrap(), value["stage"].as_str().unwrap()),
            parse_time(value["stageTimestamp"].as_str().unwrap()),
        ),
        "gcp.audit" => (
            format!(
                "gcp.audit:{}:{}:{}",
                value["logName"].as_str().unwrap(),
                value["insertId"].as_str().unwrap(),
                value["timestamp"].as_str().unwrap()
            ),
            parse_time(value["timestamp"].as_str().unwrap()),
        ),
        other => panic!("unknown source {other}"),
    };
    Rec { id, source, time, value: value.clone(), resource: resource.clone() }
}

pub const SOURCES: [&str; 7] = ["agent", "otel", "aws.cloudtrail", "okta", "github", "k8s.audit", "gcp.audit"];

/// Every record of every per-source file, unwrapped from CloudTrail/OTLP batches.
pub fn read_all(dir: &Path) -> Vec<Rec> {
    let mut out = Vec::new();
    for source in SOURCES {
        for line in lines(&dir.join(format!("{source}.ndjson"))) {
            match source {
                "aws.cloudtrail" => {
                    let records = line["Records"].as_array().unwrap();
                    assert!(!records.is_empty() && records.len() <= 50, "CloudTrail documents hold 1..=50 records");
                    for r in records {
                        out.push(identify(source, r, &Value::Null));
                    }
                }
                "otel" => {
                    for (r, resource) in otel_records(&line) {
                        out.push(identify(source, &r, &resource));
                    }
                }
                _ => out.push(identify(source, &line, &Value::Null)),
            }
        }
    }
    out
}

/// Records by event id (asserting ids are unique).
pub fn by_id(records: &[Rec]) -> BTreeMap<String, Rec> {
    let mut map = BTreeMap::new();
    for r in records {
        assert!(map.insert(r.id.clone(), r.clone()).is_none(), "duplicate event id {}", r.id);
    }
    map
}

/// Every id the ground truth mentions.
pub fn ground_truth_ids(truth: &GroundTruth) -> Vec<String> {
    let mut ids = Vec::new();
    for incident in &truth.incidents {
        ids.extend(incident.direct_event_ids.iter().cloned());
        ids.extend(incident.expanded_event_ids.iter().map(|e| e.event_id.clone()));
        ids.extend(incident.decoy_event_ids.iter().cloned());
    }
    for anomaly in &truth.anomalies {
        ids.extend(anomaly.event_ids.iter().cloned());
        ids.extend(anomaly.look_alike_event_ids.iter().cloned());
        ids.extend(anomaly.related_event_ids.iter().cloned());
    }
    ids
}
