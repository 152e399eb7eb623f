//! One field rule of a mapping: where a value comes from (a getter) and how it
//! is shaped (transforms), evaluated against one record.

use std::borrow::Cow;

use agentrail_event::{Event, Timestamp};
use regex::Regex;
use sha2::{Digest, Sha256};

use super::column::Column;
use crate::glob::{Glob, lowercase};
use crate::json::{Json, Number};
use crate::path::FieldPath;

/// A value on its way from the record to a column.
#[derive(Debug, Clone, PartialEq)]
pub enum Val<'v> {
    Json(&'v Json<'v>),
    Text(Cow<'v, str>),
    List(Vec<String>),
}

impl<'v> Val<'v> {
    /// The value as text: strings as they are, numbers and booleans printed,
    /// objects, arrays and lists have none.
    pub fn as_text(&self) -> Option<Cow<'v, str>> {
        match self {
            Val::Json(Json::String(s)) => Some(Cow::Borrowed(s.as_ref())),
            Val::Json(Json::Number(n)) => Some(Cow::Owned(n.to_string())),
            Val::Json(Json::Bool(b)) => Some(Cow::Borrowed(if *b { "true" } else { "false" })),
            Val::Json(_) | Val::List(_) => None,
            Val::Text(text) => Some(text.clone()),
        }
    }

    /// The value as a list: arrays of scalars, or one scalar as a list of one.
    pub fn into_list(self) -> Option<Vec<String>> {
        let list = match self {
            Val::List(list) => list,
            Val::Json(Json::Array(items)) => items
                .iter()
                .filter_map(|item| Val::Json(item).as_text().map(|t| t.trim().to_owned()))
                .filter(|t| !t.is_empty())
                .collect(),
            other => vec![other.as_text()?.trim().to_owned()],
        };
        let list: Vec<String> = list.into_iter().filter(|t| !t.is_empty()).collect();
        (!list.is_empty()).then_some(list)
    }

    /// The value as a point in time, read as the given format.
    pub fn as_time(&self, format: TimeFormat) -> Option<Timestamp> {
        match self {
            Val::Json(Json::Number(Number::Int(i))) => format.epoch(*i),
            Val::Json(Json::Number(Number::Uint(u))) => format.epoch(i64::try_from(*u).ok()?),
            Val::Json(Json::Number(Number::Float(seconds))) => match format {
                TimeFormat::Auto | TimeFormat::EpochSeconds => Timestamp::from_epoch_seconds_f64(*seconds).ok(),
                _ => None,
            },
            other => {
                let text = other.as_text()?;
                let text = text.trim();
                if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
                    format.epoch(text.parse().ok()?)
                } else if format == TimeFormat::Auto || format == TimeFormat::Rfc3339 {
                    Timestamp::parse(text).ok()
                } else {
                    None
                }
            }
        }
    }
}

/// How a time field is written in the record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TimeFormat {
    /// RFC 3339 text, or an epoch number whose unit is told by its magnitude.
    #[default]
    Auto,
    Rfc3339,
    EpochSeconds,
    EpochMillis,
    EpochMicros,
    EpochNanos,
}

impl TimeFormat {
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "auto" => TimeFormat::Auto,
            "rfc3339" => TimeFormat::Rfc3339,
            "epoch_s" => TimeFormat::EpochSeconds,
            "epoch_ms" => TimeFormat::EpochMillis,
            "epoch_us" => TimeFormat::EpochMicros,
            "epoch_ns" => TimeFormat::EpochNanos,
            _ => return None,
        })
    }

    fn epoch(self, value: i64) -> Option<Timestamp> {
        // Zero is how OTLP and others write "not set", never a real audit time.
        if value == 0 {
            return None;
        }
        let units = match self {
            TimeFormat::Auto => return Timestamp::from_epoch_guess(value).ok(),
            TimeFormat::Rfc3339 => return None,
            TimeFormat::EpochSeconds => 1,
            TimeFormat::EpochMillis => 1_000,
            TimeFormat::EpochMicros => 1_000_000,
            TimeFormat::EpochNanos => 1_000_000_000,
        };
        Timestamp::from_epoch_units(value, units).ok()
    }
}

/// A literal or a path inside a template such as `{auditID}:{stage}`.
#[derive(Debug, Clone)]
pub enum TemplatePart {
    Literal(String),
    Path(FieldPath),
}

/// Where an alternative takes its value from.
#[derive(Debug, Clone)]
pub enum Getter {
    Path(FieldPath),
    /// Renders its paths into text; a missing path renders empty, and the
    /// template yields nothing when every path is missing.
    Template(Vec<TemplatePart>),
    Const(String),
    /// The value another rule already wrote into the event.
    Column(Column),
}

/// The transforms of one alternative, applied in this order (`exclude`
/// runs just before `match`).
#[derive(Debug, Clone, Default)]
pub struct Transforms {
    /// RFC 8693 `act` claims (an object with `sub` and nested `act`) to the
    /// delegation chain: subject first, then actors from earliest to current.
    pub act_chain: bool,
    /// For an array of objects: the first non-empty of these sub-paths of each.
    pub each: Vec<FieldPath>,
    /// A W3C `traceparent` header to its trace id.
    pub traceparent: bool,
    /// Keep the first capture group (or the replacement, when given) of a match.
    pub regex: Option<(Regex, Option<String>)>,
    pub split: Option<String>,
    pub lowercase: bool,
    /// Ordered globs to values: the first match gives the value.
    pub matches: Vec<(Glob, String)>,
    /// Drop a text value that matches any of these globs.
    pub exclude: Vec<Glob>,
    /// Any non-empty value becomes this constant.
    pub value: Option<String>,
    pub prefix: Option<String>,
    /// Replace the value by `sha256:` and the first 32 hex digits of its hash:
    /// the id of a secret that must not be kept.
    pub hash: bool,
    pub time: TimeFormat,
}

/// One way of filling a column; a rule tries its alternatives in order.
#[derive(Debug, Clone)]
pub struct Alternative {
    pub getter: Getter,
    /// Paths that must be present for this alternative to apply.
    pub require: Vec<FieldPath>,
    pub transforms: Transforms,
}

impl Alternative {
    /// Whether this alternative copies a record field as it is, so the field
    /// need not also be kept in `attributes`.
    pub fn copied_path(&self) -> Option<&FieldPath> {
        let t = &self.transforms;
        let derived = t.regex.is_some()
            || !t.matches.is_empty()
            || t.value.is_some()
            || t.hash
            || t.traceparent
            || t.act_chain
            || !t.each.is_empty();
        match &self.getter {
            Getter::Path(path) if !derived => Some(path),
            _ => None,
        }
    }

    /// The alternative in words, for `agentrail sources check`: its getter,
    /// then its conditions and transforms (`path actor.alternateId | regex '^agent-(.+)$'`).
    pub fn describe(&self) -> String {
        let mut text = match &self.getter {
            Getter::Path(path) => format!("path {}", path.dotted()),
            Getter::Template(parts) => {
                let rendered: String = parts
                    .iter()
                    .map(|part| match part {
                        TemplatePart::Literal(literal) => literal.clone(),
                        TemplatePart::Path(path) => format!("{{{}}}", path.dotted()),
                    })
                    .collect();
                format!("template {rendered:?}")
            }
            Getter::Const(constant) => format!("const {constant:?}"),
            Getter::Column(column) => format!("column {}", column.name()),
        };
        if !self.require.is_empty() {
            let paths: Vec<&str> = self.require.iter().map(FieldPath::dotted).collect();
            text.push_str(&format!(" | require [{}]", paths.join(", ")));
        }
        let t = &self.transforms;
        let named = [
            (t.act_chain, "act_chain".to_owned()),
            (!t.each.is_empty(), "each".to_owned()),
            (t.traceparent, "traceparent".to_owned()),
            (t.regex.is_some(), format!("regex '{}'", t.regex.as_ref().map(|(r, _)| r.as_str()).unwrap_or_default())),
            (t.split.is_some(), "split".to_owned()),
            (t.lowercase, "lowercase".to_owned()),
            (!t.exclude.is_empty(), "exclude".to_owned()),
            (!t.matches.is_empty(), "match".to_owned()),
            (t.value.is_some(), format!("value {:?}", t.value.as_deref().unwrap_or_default())),
            (t.prefix.is_some(), "prefix".to_owned()),
            (t.hash, "hash".to_owned()),
        ];
        for (used, name) in named {
            if used {
                text.push_str(" | ");
                text.push_str(&name);
            }
        }
        text
    }

    pub fn evaluate<'v>(&self, record: &'v Json<'v>, event: &Event) -> Option<Val<'v>> {
        if !self.require.iter().all(|path| path.lookup(record).is_some()) {
            return None;
        }
        let value = match &self.getter {
            Getter::Path(path) => Val::Json(path.lookup(record)?),
            Getter::Const(text) => Val::Text(Cow::Owned(text.clone())),
            Getter::Column(column) => Val::Text(Cow::Owned(column.read_text(event)?)),
            Getter::Template(parts) => render_template(parts, record)?,
        };
        self.transforms.apply(value)
    }
}

fn render_template<'v>(parts: &[TemplatePart], record: &'v Json<'v>) -> Option<Val<'v>> {
    let mut out = String::new();
    let mut found_any = false;
    for part in parts {
        match part {
            TemplatePart::Literal(text) => out.push_str(text),
            TemplatePart::Path(path) => {
                if let Some(text) = path.lookup(record).and_then(|v| Val::Json(v).as_text()) {
                    found_any = true;
                    out.push_str(&text);
                }
            }
        }
    }
    found_any.then_some(Val::Text(Cow::Owned(out)))
}

impl Transforms {
    fn apply<'v>(&self, mut value: Val<'v>) -> Option<Val<'v>> {
        if self.act_chain {
            value = Val::List(act_chain(value_json(&value)?));
        }
        if !self.each.is_empty() {
            let Val::Json(Json::Array(items)) = value else { return None };
            let list = items
                .iter()
                .filter_map(|item| self.each.iter().find_map(|p| p.lookup(item).and_then(|v| Val::Json(v).as_text())))
                .map(Cow::into_owned)
                .collect();
            value = Val::List(list);
        }
        if self.traceparent {
            value = Val::Text(Cow::Owned(trace_id_of_traceparent(&value.as_text()?)?.to_owned()));
        }
        if let Some((regex, replacement)) = &self.regex {
            let text = value.as_text()?;
            let captures = regex.captures(&text)?;
            let extracted = match replacement {
                Some(template) => {
                    let mut out = String::new();
                    captures.expand(template, &mut out);
                    out
                }
                None => captures.get(1).or_else(|| captures.get(0))?.as_str().to_owned(),
            };
            value = Val::Text(Cow::Owned(extracted));
        }
        if let Some(separator) = &self.split {
            let text = value.as_text()?;
            let parts: Vec<String> = if separator.trim().is_empty() {
                text.split_whitespace().map(str::to_owned).collect()
            } else {
                text.split(separator.as_str()).map(|p| p.trim().to_owned()).filter(|p| !p.is_empty()).collect()
            };
            value = Val::List(parts);
        }
        if self.lowercase {
            value = match value {
                Val::List(list) => Val::List(list.into_iter().map(|t| t.to_lowercase()).collect()),
                other => Val::Text(Cow::Owned(other.as_text()?.to_lowercase())),
            };
        }
        if !self.exclude.is_empty() {
            let text = value.as_text()?;
            let lower = lowercase(&text);
            if self.exclude.iter().any(|glob| glob.matches_lowercase(&lower)) {
                return None;
            }
        }
        if !self.matches.is_empty() {
            let text = value.as_text()?;
            let lower = lowercase(&text);
            let (_, result) = self.matches.iter().find(|(glob, _)| glob.matches_lowercase(&lower))?;
            value = Val::Text(Cow::Owned(result.clone()));
        }
        if let Some(constant) = &self.value {
            if is_empty(&value) {
                return None;
            }
            value = Val::Text(Cow::Owned(constant.clone()));
        }
        if let Some(prefix) = &self.prefix {
            value = Val::Text(Cow::Owned(format!("{prefix}{}", value.as_text()?)));
        }
        if self.hash {
            value = Val::Text(Cow::Owned(secret_id(value.as_text()?.as_bytes())));
        }
        (!is_empty(&value)).then_some(value)
    }
}

fn value_json<'a, 'v>(value: &'a Val<'v>) -> Option<&'a Json<'v>> {
    match value {
        Val::Json(json) => Some(json),
        _ => None,
    }
}

fn is_empty(value: &Val<'_>) -> bool {
    match value {
        Val::Json(Json::String(s)) => s.trim().is_empty(),
        Val::Json(Json::Array(items)) => items.is_empty(),
        Val::Json(Json::Object(pairs)) => pairs.is_empty(),
        Val::Json(Json::Null) => true,
        Val::Json(_) => false,
        Val::Text(text) => text.trim().is_empty(),
        Val::List(list) => list.is_empty(),
    }
}

/// The RFC 8693 delegation chain of claims `{sub, act: {sub, act: {...}}}`.
/// The outermost `act` is the current actor and nested ones are earlier
/// actors, so the chain is the subject, then the actors innermost first.
/// Depth is bounded so a hostile record cannot make it loop long.
fn act_chain(claims: &Json<'_>) -> Vec<String> {
    const MAX_DEPTH: usize = 32;
    let principal = |level: &Json<'_>| {
        // `on_behalf_of` names the human when the chain sits at the top of a
        // gateway record rather than in token claims.
        ["sub", "client_id", "on_behalf_of"]
            .iter()
            .find_map(|key| level.get(key).and_then(|v| Val::Json(v).as_text()).map(Cow::into_owned))
    };
    let mut actors = Vec::new();
    let mut level = claims.get("act");
    while let Some(actor @ Json::Object(_)) = level {
        if actors.len() == MAX_DEPTH {
            break;
        }
        if let Some(name) = principal(actor) {
            actors.push(name);
        }
        level = actor.get("act");
    }
    let mut chain: Vec<String> = principal(claims).into_iter().collect();
    chain.extend(actors.into_iter().rev());
    chain
}

/// The trace id of a `traceparent` header (`00-<32 hex>-<16 hex>-<2 hex>`).
fn trace_id_of_traceparent(header: &str) -> Option<&str> {
    let mut parts = header.trim().split('-');
    let version = parts.next()?;
    let trace_id = parts.next()?;
    let parent = parts.next()?;
    let valid = version.len() == 2
        && trace_id.len() == 32
        && parent.len() == 16
        && trace_id.bytes().all(|b| b.is_ascii_hexdigit());
    valid.then_some(trace_id)
}

/// The stable, non-reversible id of a secret: `sha256:` and 32 hex digits.
pub fn secret_id(secret: &[u8]) -> String {
    let digest = Sha256::digest(secret);
    format!("sha256:{}", hex::encode(&digest[..16]))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn parsed(value: serde_json::Value) -> Json<'static> {
        Json::parse(value.to_string().as_bytes()).expect("valid JSON").into_owned()
    }

    #[test]
    fn act_chain_is_subject_then_earliest_to_current_actor() {
        let claims = parsed(json!({"sub": "alice", "act": {"sub": "sub-agent", "act": {"sub": "planner"}}}));
        assert_eq!(act_chain(&claims), vec!["alice", "planner", "sub-agent"]);
        assert_eq!(act_chain(&parsed(json!({"sub": "alice"}))), vec!["alice"]);
        assert_eq!(act_chain(&parsed(json!({"act": {"client_id": "svc"}}))), vec!["svc"]);
    }

    #[test]
    fn deep_act_chains_are_bounded() {
        let mut claims = json!({"sub": "x"});
        for i in 0..100 {
            claims = json!({"sub": "alice", "act": {"sub": format!("a{i}"), "act": claims["act"].clone()}});
        }
        assert!(act_chain(&parsed(claims)).len() <= 33);
    }

    #[test]
    fn traceparent_gives_the_trace_id() {
        assert_eq!(
            trace_id_of_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
            Some("4bf92f3577b34da6a3ce929d0e0e4736")
        );
        assert_eq!(trace_id_of_traceparent("00-xyz-00f067aa0ba902b7-01"), None);
    }

    #[test]
    fn times_in_every_form() {
        let ms = parsed(json!(1_621_305_118_553_i64));
        assert_eq!(Val::Json(&ms).as_time(TimeFormat::Auto).map(|t| t.as_micros()), Some(1_621_305_118_553_000));
        let ns = parsed(json!("1621305118553000000"));
        assert_eq!(Val::Json(&ns).as_time(TimeFormat::EpochNanos).map(|t| t.as_micros()), Some(1_621_305_118_553_000));
        let text = parsed(json!("2021-05-18T02:31:58.553Z"));
        assert_eq!(Val::Json(&text).as_time(TimeFormat::Auto).map(|t| t.as_micros()), Some(1_621_305_118_553_000));
        let float = parsed(json!(1_621_305_118.553));
        assert_eq!(Val::Json(&float).as_time(TimeFormat::Auto).map(|t| t.as_micros()), Some(1_621_305_118_553_000));
        assert_eq!(Val::Json(&parsed(json!({"a": 1}))).as_time(TimeFormat::Auto), None);
        assert_eq!(Val::Json(&text).as_time(TimeFormat::EpochSeconds), None);
    }
}
