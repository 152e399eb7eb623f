//! The `attributes` column: every field of a record that no column copied,
//! flattened to dotted keys, bounded so a hostile record cannot blow it up.

use std::collections::BTreeMap;

use serde_json::Value;

/// Bounds on the attributes of one event.
#[derive(Debug, Clone, Copy)]
pub struct AttributeLimits {
    /// Keys kept at most; the rest are counted under `agentrail.attributes_dropped`.
    pub max_attributes: usize,
    /// Longest value kept, in bytes; longer ones are cut at a character boundary.
    pub max_value_bytes: usize,
    /// Objects nested deeper than this are kept as JSON text.
    pub max_depth: usize,
}

impl Default for AttributeLimits {
    fn default() -> Self {
        AttributeLimits { max_attributes: 256, max_value_bytes: 4096, max_depth: 12 }
    }
}

pub const DROPPED_KEY: &str = "agentrail.attributes_dropped";

/// Flattens `record`, leaving out the dotted paths in `skip` (and whatever
/// lies under them). Arrays are kept whole as JSON text under their key.
/// `skip` is a handful of paths, so a slice scan beats hashing every key.
pub fn flatten(record: &Value, skip: &[&str], limits: AttributeLimits) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut dropped = 0_usize;
    if let Value::Object(map) = record {
        let mut key = String::new();
        for (name, value) in map {
            walk(name, value, &mut key, 1, skip, limits, &mut out, &mut dropped);
        }
    }
    if dropped > 0 {
        out.insert(DROPPED_KEY.to_owned(), dropped.to_string());
    }
    out
}

#[allow(clippy::too_many_arguments)]
fn walk(
    name: &str,
    value: &Value,
    key: &mut String,
    depth: usize,
    skip: &[&str],
    limits: AttributeLimits,
    out: &mut BTreeMap<String, String>,
    dropped: &mut usize,
) {
    let mark = key.len();
    if !key.is_empty() {
        key.push('.');
    }
    key.push_str(name);
    if !skip.contains(&key.as_str()) {
        match value {
            Value::Null => {}
            Value::Object(map) if depth < limits.max_depth => {
                for (child, item) in map {
                    walk(child, item, key, depth + 1, skip, limits, out, dropped);
                }
            }
            other => {
                if out.len() >= limits.max_attributes {
                    *dropped += 1;
                } else {
                    let text = match other {
                        Value::String(s) => truncate(s, limits.max_value_bytes),
                        scalar @ (Value::Number(_) | Value::Bool(_)) => scalar.to_string(),
                        nested => truncate(&nested.to_string(), limits.max_value_bytes),
                    };
                    out.insert(key.clone(), text);
                }
            }
        }
    }
    key.truncate(mark);
}

fn truncate(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn flattens_and_skips_copied_paths() {
        let record =
            json!({"a": {"b": 1, "c": {"d": "x"}}, "list": [1, {"z": 2}], "n": null, "skip": {"me": 1}, "t": true});
        let flat = flatten(&record, &["skip", "a.b"], AttributeLimits::default());
        let expected: BTreeMap<String, String> = [("a.c.d", "x"), ("list", "[1,{\"z\":2}]"), ("t", "true")]
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect();
        assert_eq!(flat, expected);
    }

    #[test]
    fn limits_bound_size_depth_and_count() {
        let mut deep = json!("leaf");
        for _ in 0..50 {
            deep = json!({"d": deep});
        }
        let wide: serde_json::Map<String, Value> =
            (0..1000).map(|i| (format!("k{i}"), json!("é".repeat(5000)))).collect();
        let limits = AttributeLimits { max_attributes: 10, max_value_bytes: 9, max_depth: 4 };
        let flat = flatten(&json!({"deep": deep, "wide": wide}), &[], limits);
        assert_eq!(flat.len(), 11);
        assert_eq!(flat.get(DROPPED_KEY).map(String::as_str), Some("991"));
        assert!(flat.values().all(|v| v.len() <= 12), "{flat:?}");
        assert!(flat.keys().any(|k| k == "deep.d.d.d"));
    }
}
