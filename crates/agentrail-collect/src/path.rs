//! Field paths into a JSON record: `userIdentity.sessionContext.sourceIdentity`,
//! `user.extra["authentication.kubernetes.io/credential-id"][0]`.
//!
//! A bare segment runs up to the next `.` or `[`; keys that contain dots (as
//! Kubernetes and OpenTelemetry attribute keys do) are written in brackets
//! with double quotes; `[N]` indexes an array.

use std::fmt;

use crate::json::Json;

/// One step of a path.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Key(String),
    Index(usize),
    /// `[field=value]`: the first array element whose `field` is the text `value`.
    Find {
        field: String,
        value: String,
    },
}

/// A parsed path, with the dotted form used for attribute keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldPath {
    segments: Vec<Segment>,
    /// The path as an attribute key: keys joined by dots, indexes as numbers.
    dotted: String,
}

/// A path that does not parse, with what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad field path `{path}`: {problem}")]
pub struct PathError {
    pub path: String,
    pub problem: &'static str,
}

impl FieldPath {
    pub fn parse(text: &str) -> Result<Self, PathError> {
        if text == "$" {
            // The whole record.
            return Ok(FieldPath { segments: Vec::new(), dotted: "$".to_owned() });
        }
        let error = |problem| PathError { path: text.to_owned(), problem };
        let bytes = text.as_bytes();
        let mut segments = Vec::new();
        let mut at = 0;
        let mut expect_segment = true;
        while at < bytes.len() {
            match bytes[at] {
                b'[' => {
                    at += 1;
                    if bytes.get(at) == Some(&b'"') {
                        at += 1;
                        let mut key = String::new();
                        loop {
                            match bytes.get(at) {
                                None => return Err(error("unterminated quoted key")),
                                Some(b'"') => break,
                                Some(b'\\') => {
                                    let escaped = bytes.get(at + 1).ok_or_else(|| error("dangling escape"))?;
                                    key.push(char::from(*escaped));
                                    at += 2;
                                }
                                Some(_) => {
                                    // Copy one UTF-8 character.
                                    let rest = &text[at..];
                                    let ch = rest.chars().next().ok_or_else(|| error("bad character"))?;
                                    key.push(ch);
                                    at += ch.len_utf8();
                                }
                            }
                        }
                        at += 1;
                        if bytes.get(at) != Some(&b']') {
                            return Err(error("expected `]` after quoted key"));
                        }
                        at += 1;
                        segments.push(Segment::Key(key));
                    } else if let Some(close) = text[at..].find(']').filter(|&end| text[at..at + end].contains('=')) {
                        let inner = &text[at..at + close];
                        let (field, value) = inner.split_once('=').ok_or_else(|| error("expected field=value"))?;
                        if field.is_empty() || value.is_empty() {
                            return Err(error("expected field=value in a filter"));
                        }
                        segments.push(Segment::Find { field: field.to_owned(), value: value.to_owned() });
                        at += close + 1;
                    } else {
                        let start = at;
                        while bytes.get(at).is_some_and(u8::is_ascii_digit) {
                            at += 1;
                        }
                        let index = text[start..at].parse().map_err(|_| error("expected an index or a quoted key"))?;
                        if bytes.get(at) != Some(&b']') {
                            return Err(error("expected `]` after index"));
                        }
                        at += 1;
                        segments.push(Segment::Index(index));
                    }
                    expect_segment = false;
                }
                b'.' => {
                    if expect_segment {
                        return Err(error("empty segment"));
                    }
                    at += 1;
                    expect_segment = true;
                }
                _ => {
                    if !expect_segment {
                        return Err(error("expected `.` or `[` between segments"));
                    }
                    let start = at;
                    while at < bytes.len() && bytes[at] != b'.' && bytes[at] != b'[' {
                        at += 1;
                    }
                    segments.push(Segment::Key(text[start..at].to_owned()));
                    expect_segment = false;
                }
            }
        }
        if segments.is_empty() || (expect_segment && !text.is_empty()) {
            return Err(error("empty path or trailing dot"));
        }
        let dotted = segments
            .iter()
            .map(|s| match s {
                Segment::Key(k) => k.clone(),
                Segment::Index(i) => i.to_string(),
                Segment::Find { field, value } => format!("[{field}={value}]"),
            })
            .collect::<Vec<_>>()
            .join(".");
        Ok(FieldPath { segments, dotted })
    }

    /// The value at this path, if every step exists. `null` counts as absent.
    pub fn lookup<'v, 'a>(&self, mut value: &'v Json<'a>) -> Option<&'v Json<'a>> {
        for segment in &self.segments {
            value = match (segment, value) {
                (Segment::Key(key), Json::Object(_)) => value.get(key)?,
                (Segment::Index(index), Json::Array(items)) => items.get(*index)?,
                (Segment::Find { field, value: wanted }, Json::Array(items)) => {
                    items.iter().find(|item| item.get(field).and_then(Json::as_str) == Some(wanted.as_str()))?
                }
                _ => return None,
            };
        }
        (!value.is_null()).then_some(value)
    }

    /// The dotted form, as the key of a flattened attribute.
    pub fn dotted(&self) -> &str {
        &self.dotted
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.dotted)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    fn look(path: &str, value: &Value) -> Option<Value> {
        let text = value.to_string();
        let record = Json::parse(text.as_bytes()).ok()?;
        let found = FieldPath::parse(path).ok()?.lookup(&record)?.to_json_string();
        serde_json::from_str(&found).ok()
    }

    #[test]
    fn walks_keys_quoted_keys_and_indexes() {
        let record = json!({
            "user": {"extra": {"authentication.kubernetes.io/credential-id": ["JTI=abc"]}},
            "a": {"b": [{"c": 1}, {"c": 2}]},
            "@timestamp": 5,
            "n": null
        });
        assert_eq!(
            look(r#"user.extra["authentication.kubernetes.io/credential-id"][0]"#, &record),
            Some(json!("JTI=abc"))
        );
        assert_eq!(look("a.b[1].c", &record), Some(json!(2)));
        assert_eq!(look("@timestamp", &record), Some(json!(5)));
        assert_eq!(look("n", &record), None);
        assert_eq!(look("a.b.c", &record), None);
        assert_eq!(look("a.b[9]", &record), None);
        assert_eq!(look("$", &json!({"x": 1})), Some(json!({"x": 1})));
        let okta = json!({"target": [{"type": "AppInstance", "id": "a"}, {"type": "User", "id": "u"}]});
        assert_eq!(look("target[type=User].id", &okta), Some(json!("u")));
        assert_eq!(look("target[type=Group].id", &okta), None);
    }

    #[test]
    fn dotted_form_joins_segments() -> Result<(), PathError> {
        assert_eq!(FieldPath::parse(r#"resource["service.name"]"#)?.dotted(), "resource.service.name");
        assert_eq!(FieldPath::parse("target[0].id")?.dotted(), "target.0.id");
        Ok(())
    }

    #[test]
    fn rejects_malformed_paths() {
        for bad in ["", ".a", "a.", "a..b", "a[", "a[x]", r#"a["b"#, "a[0]b", r#"a["b"x]"#, "a[=x]", "a[k=]"] {
            assert!(FieldPath::parse(bad).is_err(), "{bad} parsed");
        }
    }
}
