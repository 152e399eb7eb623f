//! Declarative source mappings: how to recognise a source's records and where
//! each column of the event comes from.
//!
//! A mapping file has three sections:
//!
//! ```toml
//! [source]
//! name = "aws.cloudtrail"        # the `source` column and the --source name
//! priority = 0                   # higher is tried first by auto-detection
//!
//! [detect]                       # every condition must hold
//! all = ["eventSource", "eventName"]     # paths that must be present
//! any = ["eventVersion", "awsRegion"]    # at least one present
//! equals = { "eventType" = "Aws*" }      # text at path matches a glob
//!
//! [fields]
//! action = "eventName"                             # a path
//! request_id = [{ path = "requestID" }, { path = "requestId" }]   # first that yields
//! ```
//!
//! Each alternative has one getter (`path`, `template = "{a}:{b}"`,
//! `const`, or `column` to read a column already filled) and optional
//! transforms applied in this order: `act_chain`, `each`, `traceparent`,
//! `regex` (+ `replace`), `split`, `lowercase`, `exclude` (globs to drop), `match` (ordered
//! glob = value table), `value`, `prefix`, `hash`; time columns take
//! `time = "auto"|"rfc3339"|"epoch_s"|"epoch_ms"|"epoch_us"|"epoch_ns"`.
//! `require = [paths]` makes an alternative apply only when they are present.
//! List columns may use `{ concat = [alternatives] }` to join every list found.

mod column;
mod compile;
mod rule;

use agentrail_event::{Event, Timestamp};

pub use column::{Column, ColumnKind};
pub use compile::{MappingError, compile};
pub use rule::secret_id;
use rule::{Alternative, Val};

use crate::glob::Glob;
use crate::json::Json;
use crate::path::FieldPath;

/// How a rule combines its alternatives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Combine {
    /// The first alternative that yields a value wins.
    First,
    /// Every alternative's list is appended (list columns only).
    Concat,
}

/// The rule for one column.
#[derive(Debug, Clone)]
struct FieldRule {
    column: Column,
    combine: Combine,
    alternatives: Vec<Alternative>,
}

/// The `[detect]` conditions of a mapping.
#[derive(Debug, Clone, Default)]
pub struct Detector {
    all: Vec<FieldPath>,
    any: Vec<FieldPath>,
    equals: Vec<(FieldPath, Glob)>,
}

impl Detector {
    /// A detector with no condition never matches: such a source is used only
    /// when named explicitly.
    pub fn is_empty(&self) -> bool {
        self.all.is_empty() && self.any.is_empty() && self.equals.is_empty()
    }

    pub fn matches(&self, record: &Json<'_>) -> bool {
        !self.is_empty()
            && self.all.iter().all(|p| p.lookup(record).is_some())
            && (self.any.is_empty() || self.any.iter().any(|p| p.lookup(record).is_some()))
            && self.equals.iter().all(|(path, glob)| {
                path.lookup(record).and_then(|v| Val::Json(v).as_text()).is_some_and(|text| glob.matches(&text))
            })
    }

    /// Each condition, and whether `record` meets it: why a mapping was or
    /// was not picked (`agentrail sources check`).
    pub fn explain(&self, record: &Json<'_>) -> Vec<ConditionCheck> {
        let present = |path: &FieldPath| path.lookup(record).is_some();
        let mut checks: Vec<ConditionCheck> = self
            .all
            .iter()
            .map(|path| ConditionCheck {
                condition: format!("{} present", path.dotted()),
                held: present(path),
                found: None,
            })
            .collect();
        if !self.any.is_empty() {
            let found = self.any.iter().find(|path| present(path)).map(|path| path.dotted().to_owned());
            checks.push(ConditionCheck {
                condition: format!("any of [{}] present", join_paths(self.any.iter())),
                held: found.is_some(),
                found,
            });
        }
        for (path, glob) in &self.equals {
            let text = path.lookup(record).and_then(|v| Val::Json(v).as_text()).map(|t| t.into_owned());
            checks.push(ConditionCheck {
                condition: format!("{} matches \"{glob}\"", path.dotted()),
                held: text.as_deref().is_some_and(|text| glob.matches(text)),
                found: text,
            });
        }
        checks
    }

    /// The conditions in words, for `agentrail sources` and rejection reasons.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if !self.all.is_empty() {
            parts.push(format!("all of [{}]", join_paths(self.all.iter())));
        }
        if !self.any.is_empty() {
            parts.push(format!("any of [{}]", join_paths(self.any.iter())));
        }
        for (path, glob) in &self.equals {
            parts.push(format!("{path} matches \"{glob}\""));
        }
        if parts.is_empty() { "only when named with --source".to_owned() } else { parts.join(", ") }
    }
}

/// One `[detect]` condition checked against a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConditionCheck {
    pub condition: String,
    pub held: bool,
    /// What the record has there: the path found for `any`, the text for `equals`.
    pub found: Option<String>,
}

fn join_paths<'a>(paths: impl Iterator<Item = &'a FieldPath>) -> String {
    paths.map(FieldPath::dotted).collect::<Vec<_>>().join(", ")
}

/// A compiled mapping file.
#[derive(Debug, Clone)]
pub struct Mapping {
    pub name: String,
    pub description: String,
    /// Where the mapping came from: `built-in:<file>` or a file path.
    pub origin: String,
    pub priority: i64,
    pub detect: Detector,
    /// Rules reading no column first, then those reading one.
    rules: Vec<FieldRule>,
}

/// What a mapping made of a record, before redaction and attributes.
#[derive(Debug)]
pub struct Mapped<'m> {
    pub event: Event,
    /// Record paths copied verbatim into columns, left out of `attributes`.
    pub copied: Vec<&'m FieldPath>,
    /// Whether the mapping gave an event id (else the id is a content hash).
    pub has_own_id: bool,
}

/// How one column was filled, for `agentrail sources check`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnTrace {
    pub column: Column,
    /// The alternatives that gave the value, in words (several for a
    /// `concat` list); empty when none did.
    pub from: Vec<String>,
    /// The alternatives tried that gave nothing usable, in order.
    pub tried: Vec<String>,
}

/// Why a mapping could not make an event of a record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MapError {
    #[error("no usable `time`: {0}")]
    NoTime(String),
    #[error("no `action`: none of [{0}] is present")]
    NoAction(String),
}

impl Mapping {
    /// The columns this mapping fills, in evaluation order.
    pub fn columns(&self) -> impl Iterator<Item = Column> + '_ {
        self.rules.iter().map(|r| r.column)
    }

    /// The paths a column is read from, for error messages and `sources`.
    pub fn paths_of(&self, column: Column) -> Vec<String> {
        let mut paths = Vec::new();
        for rule in self.rules.iter().filter(|r| r.column == column) {
            for alternative in &rule.alternatives {
                match &alternative.getter {
                    rule::Getter::Path(p) => paths.push(p.dotted().to_owned()),
                    rule::Getter::Template(parts) => {
                        for part in parts {
                            if let rule::TemplatePart::Path(p) = part {
                                paths.push(p.dotted().to_owned());
                            }
                        }
                    }
                    rule::Getter::Const(c) => paths.push(format!("const {c:?}")),
                    rule::Getter::Column(c) => paths.push(format!("column {}", c.name())),
                }
            }
        }
        paths
    }

    /// Fills an event from a record. The event's `raw` is left empty and its
    /// `event_id` is the source-qualified own id, or empty when there is none.
    pub fn apply<'m>(&'m self, record: &Json<'_>) -> Result<Mapped<'m>, MapError> {
        self.apply_traced(record, None)
    }

    /// [`Mapping::apply`], saying in `trace` (when given) where each column's
    /// value came from and what was tried before.
    pub fn apply_traced<'m>(
        &'m self,
        record: &Json<'_>,
        mut trace: Option<&mut Vec<ColumnTrace>>,
    ) -> Result<Mapped<'m>, MapError> {
        let tracing = trace.is_some();
        let mut event =
            Event::new(String::new(), Timestamp::from_micros(0), self.name.clone(), String::new(), String::new());
        let mut copied = Vec::new();
        let mut has_time = false;
        let mut time_seen: Option<String> = None;
        for rule in &self.rules {
            let (mut from, mut tried) = (Vec::new(), Vec::new());
            let mut note = |alternative: &Alternative, gave: bool| {
                if tracing {
                    (if gave { &mut from } else { &mut tried }).push(alternative.describe());
                }
            };
            match rule.combine {
                Combine::First => {
                    for alternative in &rule.alternatives {
                        let Some(value) = alternative.evaluate(record, &event) else {
                            note(alternative, false);
                            continue;
                        };
                        let written = match rule.column.kind() {
                            ColumnKind::Text | ColumnKind::Vocabulary => value
                                .as_text()
                                .map(|t| t.trim().to_owned())
                                .filter(|t| !t.is_empty())
                                .is_some_and(|text| rule.column.write_text(&mut event, text)),
                            ColumnKind::List => match value.into_list() {
                                Some(list) => {
                                    rule.column.write_list(&mut event, list);
                                    true
                                }
                                None => false,
                            },
                            ColumnKind::Time => match Val::as_time(&value, alternative.transforms.time) {
                                Some(ts) => {
                                    rule.column.write_time(&mut event, ts);
                                    has_time |= rule.column == Column::Time;
                                    true
                                }
                                None => {
                                    if rule.column == Column::Time && time_seen.is_none() {
                                        time_seen = Some(describe_value(&value));
                                    }
                                    false
                                }
                            },
                        };
                        note(alternative, written);
                        if written {
                            copied.extend(alternative.copied_path());
                            break;
                        }
                    }
                }
                Combine::Concat => {
                    let mut list = Vec::new();
                    for alternative in &rule.alternatives {
                        let items = alternative.evaluate(record, &event).and_then(Val::into_list);
                        note(alternative, items.is_some());
                        if let Some(items) = items {
                            list.extend(items);
                            copied.extend(alternative.copied_path());
                        }
                    }
                    if !list.is_empty() {
                        rule.column.write_list(&mut event, list);
                    }
                }
            }
            if let Some(trace) = trace.as_deref_mut() {
                trace.push(ColumnTrace { column: rule.column, from, tried });
            }
        }
        if !has_time {
            let tried = self.paths_of(Column::Time).join(", ");
            return Err(MapError::NoTime(match time_seen {
                Some(found) => format!("found {found}, which is not a timestamp (tried {tried})"),
                None => format!("none of [{tried}] is present"),
            }));
        }
        if event.action.is_empty() {
            return Err(MapError::NoAction(self.paths_of(Column::Action).join(", ")));
        }
        // The contract's chain is the human first, then the agents down to the
        // actor; a source that names both but no chain has a chain of two.
        if event.delegation_chain.is_empty()
            && let (Some(human), Some(agent)) = (&event.on_behalf_of, &event.agent_id)
        {
            event.delegation_chain = vec![human.clone(), agent.clone()];
        }
        let has_own_id = !event.event_id.is_empty();
        if has_own_id {
            event.event_id = format!("{}:{}", self.name, event.event_id);
        }
        if let Some(trace_id) = event.trace_id.take() {
            event.trace_id = normalize_trace_id(&trace_id);
        }
        Ok(Mapped { event, copied, has_own_id })
    }
}

/// A short description of a value for an error message.
fn describe_value(value: &Val<'_>) -> String {
    match value {
        Val::Json(Json::Object(_)) => "an object".to_owned(),
        Val::Json(Json::Array(_)) | Val::List(_) => "a list".to_owned(),
        other => match other.as_text() {
            Some(text) if text.chars().count() > 40 => format!("`{}…`", text.chars().take(40).collect::<String>()),
            Some(text) => format!("`{text}`"),
            None => "a value".to_owned(),
        },
    }
}

/// A W3C trace id: 32 hex digits, lower-cased, not all zero.
fn normalize_trace_id(text: &str) -> Option<String> {
    let valid = text.len() == 32 && text.bytes().all(|b| b.is_ascii_hexdigit()) && text.bytes().any(|b| b != b'0');
    valid.then(|| text.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn parsed(value: serde_json::Value) -> Json<'static> {
        Json::parse(value.to_string().as_bytes()).expect("valid JSON").into_owned()
    }

    fn mapping(fields: &str) -> Mapping {
        let text = format!("[source]\nname = \"test\"\n[detect]\nall = [\"a\"]\n[fields]\n{fields}");
        match compile("test.toml", &text) {
            Ok(m) => m,
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn alternatives_transforms_and_column_reads() -> Result<(), MapError> {
        let m = mapping(
            r#"
time = [{ path = "ts" }, { path = "at" }]
action = "act"
event_id = { template = "{id}:{stage}" }
action_class = [{ path = "ro", match = { "true" = "read" } }, { path = "act", match = { "Delete*" = "delete", "*" = "write" } }]
agent_id = { path = "ua", regex = 'agent/([a-z0-9-]+)' }
actor_type = [{ column = "agent_id", value = "agent" }, { const = "human" }]
scopes = { path = "scope", split = " " }
delegation_chain = { concat = [{ path = "chain", each = ["p.email"] }, { path = "who" }] }
"#,
        );
        let record = parsed(json!({
            "at": "2026-01-02T03:04:05Z", "act": "DeleteBucket", "id": "x1", "stage": "done",
            "ua": "sdk/1 agent/deployer-7 corr/9", "scope": "a  b", "chain": [{"p": {"email": "alice"}}], "who": "sa"
        }));
        let mapped = m.apply(&record)?;
        let e = &mapped.event;
        assert_eq!(e.time.to_string(), "2026-01-02T03:04:05.000000Z");
        assert_eq!(e.event_id, "test:x1:done");
        assert_eq!(e.action_class.as_str(), "delete");
        assert_eq!(e.agent_id.as_deref(), Some("deployer-7"));
        assert_eq!(e.actor_type.as_str(), "agent");
        assert_eq!(e.scopes, vec!["a", "b"]);
        assert_eq!(e.delegation_chain, vec!["alice", "sa"]);
        let copied: Vec<&str> = mapped.copied.iter().map(|p| p.dotted()).collect();
        assert!(copied.contains(&"at") && copied.contains(&"act") && !copied.contains(&"ua"), "{copied:?}");
        Ok(())
    }

    #[test]
    fn missing_or_bad_time_and_action_are_reasons() {
        let m = mapping("time = \"ts\"\naction = \"act\"");
        assert_eq!(
            m.apply(&parsed(json!({"act": "x"}))).err(),
            Some(MapError::NoTime("none of [ts] is present".into()))
        );
        let bad = m.apply(&parsed(json!({"ts": {"nested": 1}, "act": "x"}))).err().map(|e| e.to_string());
        assert_eq!(bad.as_deref(), Some("no usable `time`: found an object, which is not a timestamp (tried ts)"));
        assert_eq!(m.apply(&parsed(json!({"ts": 1_700_000_000}))).err(), Some(MapError::NoAction("act".into())));
    }

    #[test]
    fn compile_errors_name_the_problem() {
        let cases = [
            ("time = \"ts\"\naction = \"act\"\nbogus = \"x\"", "unknown column `bogus`"),
            ("time = \"ts\"\naction = { path = \"a\", clasify = {} }", "unknown key `clasify`"),
            ("time = \"ts\"\naction = { path = \"a\", regex = \"(\" }", "bad regex"),
            ("time = \"ts\"\naction = \"a\"\noutcome = { const = \"ok\" }", "`ok` is not a valid outcome"),
            ("time = \"ts\"\naction = \"a\"\nagent_id = { path = \"a\", split = \",\" }", "not a list column"),
            ("time = \"ts\"", "must say where `action` comes from"),
            ("time = \"ts\"\naction = { template = \"{a\" }", "unclosed"),
            (
                "time = \"ts\"\naction = \"a\"\nagent_id = { column = \"actor_id\" }\nactor_id = { column = \"agent_id\" }",
                "chains are not supported",
            ),
        ];
        for (fields, expected) in cases {
            let text = format!("[source]\nname = \"t\"\n[fields]\n{fields}");
            let error = compile("t.toml", &text).err().map(|e| e.to_string()).unwrap_or_default();
            assert!(error.contains(expected), "{fields:?}: {error}");
        }
    }
}
