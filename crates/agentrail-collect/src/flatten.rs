//! The `attributes` column: every field of a record that no column copied,
//! flattened to dotted keys, bounded so a hostile record cannot blow it up.

use std::collections::BTreeMap;

use crate::json::Json;

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
pub fn flatten(record: &Json<'_>, skip: &[&str], limits: AttributeLimits) -> BTreeMap<String, String> {
    // Collected in a vector and bulk-loaded: the tree sorts once instead of
    // inserting key by key. Repeated keys keep the last value.
    let mut out = Vec::new();
    let mut dropped = 0_usize;
    if let Json::Object(pairs) = record {
        let mut key = String::new();
        for (name, value) in pairs {
            walk(name, value, &mut key, 1, skip, limits, &mut out, &mut dropped);
        }
    }
    if dropped > 0 {
        out.push((DROPPED_KEY.to_owned(), dropped.to_string()));
    }
    out.into_iter().collect()
}

#[allow(clippy::too_many_arguments)]
fn walk(
    name: &str,
    value: &Json<'_>,
    key: &mut String,
    depth: usize,
    skip: &[&str],
    limits: AttributeLimits,
    out: &mut Vec<(String, String)>,
    dropped: &mut usize,
) {
    let mark = key.len();
    if !key.is_empty() {
        key.push('.');
    }
    key.push_str(name);
    if !skip.contains(&key.as_str()) {
        match value {
            Json::Null => {}
            Json::Object(pairs) if depth < limits.max_depth => {
                for (child, item) in pairs {
                    walk(child, item, key, depth + 1, skip, limits, out, dropped);
                }
            }
            other => {
                if out.len() >= limits.max_attributes {
                    *dropped += 1;
                } else {
                    let text = match other {
                        Json::String(s) => truncate(s, limits.max_value_bytes),
                        Json::Number(n) => n.to_string(),
                        Json::Bool(b) => b.to_string(),
                        nested => truncate(&nested.to_json_string(), limits.max_value_bytes),
                    };
                    out.push((key.clone(), text));
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

    fn parsed(value: serde_json::Value) -> Json<'static> {
        Json::parse(value.to_string().as_bytes()).expect("valid JSON").into_owned()
    }

    #[test]
    fn flattens_and_skips_copied_paths() {
        let record =
            json!({"a": {"b": 1, "c": {"d": "x"}}, "list": [1, {"z": 2}], "n": null, "skip": {"me": 1}, "t": true});
        let flat = flatten(&parsed(record), &["skip", "a.b"], AttributeLimits::default());
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
        let wide: serde_json::Map<String, serde_json::Value> =
            (0..1000).map(|i| (format!("k{i}"), json!("é".repeat(5000)))).collect();
        let limits = AttributeLimits { max_attributes: 10, max_value_bytes: 9, max_depth: 4 };
        let flat = flatten(&parsed(json!({"deep": deep, "wide": wide})), &[], limits);
        assert_eq!(flat.len(), 11);
        assert_eq!(flat.get(DROPPED_KEY).map(String::as_str), Some("991"));
        assert!(flat.values().all(|v| v.len() <= 12), "{flat:?}");
        assert!(flat.keys().any(|k| k == "deep.d.d.d"));
    }
}
