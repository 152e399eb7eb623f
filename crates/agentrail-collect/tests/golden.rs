//! Golden tests: every fixture under `tests/fixtures/sources/<source>/`
//! (written from the vendors' documentation) is normalized with automatic
//! source detection and checked column by column against the
//! `.expect.toml` beside it. `"absent"` means the column must be empty.
//! Fixtures with `secrets = [...]` must not show any of them anywhere.

use std::fs;
use std::path::{Path, PathBuf};

use agentrail_collect::{SourceChoice, builtin_normalizer};
use serde_json::Value;

fn fixtures_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/sources")
}

fn toml_to_json(value: &toml::Value) -> Value {
    match value {
        toml::Value::String(s) => Value::String(s.clone()),
        toml::Value::Array(items) => Value::Array(items.iter().map(toml_to_json).collect()),
        toml::Value::Boolean(b) => Value::Bool(*b),
        toml::Value::Integer(i) => Value::from(*i),
        other => Value::String(other.to_string()),
    }
}

fn is_absent(actual: &Value) -> bool {
    match actual {
        Value::Null => true,
        Value::Array(items) => items.is_empty(),
        Value::String(s) => s.is_empty() || s == "unknown",
        _ => false,
    }
}

/// Compares one event with one table of expectations; returns the mismatches.
fn compare(event: &Value, expected: &toml::Table, label: &str) -> Vec<String> {
    let mut problems = Vec::new();
    for (column, want) in expected {
        if column == "secrets" || column == "events" {
            continue;
        }
        let Some(actual) = event.get(column) else {
            problems.push(format!("{label}: expectation names unknown column `{column}`"));
            continue;
        };
        let want = toml_to_json(want);
        let ok = if want == Value::String("absent".into()) { is_absent(actual) } else { actual == &want };
        if !ok {
            problems.push(format!("{label}: {column}: expected {want}, got {actual}"));
        }
    }
    problems
}

#[test]
fn fixtures_normalize_to_their_expectations() {
    let normalizer = builtin_normalizer().expect("built-in configuration loads");
    let mut problems = Vec::new();
    let mut checked = 0;
    let mut sources: Vec<PathBuf> = fs::read_dir(fixtures_root())
        .expect("fixtures")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    sources.sort();
    assert!(sources.len() >= 6, "expected fixture folders for every source");
    for dir in sources {
        let source = dir.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_owned();
        let mut files: Vec<PathBuf> = fs::read_dir(&dir)
            .expect("dir")
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        files.sort();
        for file in files {
            let label = format!("{source}/{}", file.file_name().and_then(|n| n.to_str()).unwrap_or_default());
            let input = fs::read(&file).expect("fixture");
            let expect_path = file.with_extension("expect.toml");
            let expected: toml::Table =
                toml::from_str(&fs::read_to_string(&expect_path).unwrap_or_else(|_| panic!("{label}: no expect file")))
                    .expect("expect toml");
            let mut events = Vec::new();
            normalizer.normalize(&input, &SourceChoice::Auto, &mut |result| match result {
                Ok(event) => events.push(serde_json::to_value(&event).expect("serializes")),
                Err(rejection) => {
                    problems.push(format!("{label}: rejected at {}: {}", rejection.position, rejection.reason))
                }
            });
            let tables: Vec<toml::Table> = match expected.get("events") {
                Some(toml::Value::Array(items)) => items.iter().filter_map(|i| i.as_table().cloned()).collect(),
                _ => vec![expected.clone()],
            };
            if tables.len() != events.len() {
                problems.push(format!("{label}: expected {} events, got {}", tables.len(), events.len()));
            }
            for (index, (event, table)) in events.iter().zip(&tables).enumerate() {
                let label = format!("{label}#{}", index + 1);
                if event["source"] != Value::String(source.clone()) {
                    problems.push(format!("{label}: detected as {}, expected {source}", event["source"]));
                }
                problems.extend(compare(event, table, &label));
                checked += 1;
            }
            if let Some(toml::Value::Array(secrets)) = expected.get("secrets") {
                let printed: String = events.iter().map(Value::to_string).collect();
                for secret in secrets.iter().filter_map(toml::Value::as_str) {
                    if printed.contains(secret) {
                        problems.push(format!("{label}: secret `{secret}` is in the output"));
                    }
                }
                if !events.iter().any(|e| e["redactions"].as_u64().unwrap_or(0) > 0) {
                    problems.push(format!("{label}: no redaction counted"));
                }
            }
        }
    }
    assert!(checked >= 30, "only {checked} events checked");
    assert!(problems.is_empty(), "{} mismatches:\n{}", problems.len(), problems.join("\n"));
}
