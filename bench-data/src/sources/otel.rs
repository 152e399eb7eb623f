//! OTLP/JSON `ExportLogsServiceRequest` (logs signal), as the OpenTelemetry
//! protocol specifies its JSON encoding: 64-bit integers and nanosecond
//! timestamps as decimal strings, ids as lowercase hex.

use std::rc::Rc;

use super::json::{F, Obj};
use crate::record::{Body, Emitted, Source};
use crate::time::Nanos;

/// An attribute value (`AnyValue`).
#[derive(Debug, Clone, PartialEq)]
pub enum AttrValue {
    Str(String),
    Int(i64),
    Bool(bool),
}

/// The start of a `ResourceLogs` object up to its `logRecords` array, shared
/// by every record one process emits.
pub fn resource_prefix(resource: &[(String, AttrValue)], scope_name: &str, scope_version: &str) -> Rc<str> {
    let resource_json =
        Obj(vec![("attributes", F::Arr(resource.iter().map(|(key, value)| key_value(key, value)).collect()))]).line();
    let scope_json = Obj(vec![("name", F::Str(scope_name)), ("version", F::Str(scope_version))]).line();
    Rc::from(format!("{{\"resource\":{resource_json},\"scopeLogs\":[{{\"scope\":{scope_json},\"logRecords\":["))
}

/// OTLP severity.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Severity {
    Info,
    Warn,
    Error,
}

impl Severity {
    fn number(self) -> u8 {
        match self {
            Severity::Info => 9,
            Severity::Warn => 13,
            Severity::Error => 17,
        }
    }

    fn text(self) -> &'static str {
        match self {
            Severity::Info => "INFO",
            Severity::Warn => "WARN",
            Severity::Error => "ERROR",
        }
    }
}

/// One `LogRecord`. `uid` becomes the `log.record.uid` attribute.
#[derive(Debug, Clone)]
pub struct OtelLog {
    pub uid: String,
    pub time: Nanos,
    pub observed: Nanos,
    pub severity: Severity,
    pub body: String,
    pub event_name: Option<&'static str>,
    pub trace: Option<(String, String)>,
    pub attributes: Vec<(String, AttrValue)>,
}

impl OtelLog {
    pub fn event_id(&self) -> String {
        format!("otel:{}", self.uid)
    }

    pub fn render(&self, resource_prefix: &Rc<str>) -> Emitted {
        let mut attributes = Vec::with_capacity(self.attributes.len() + 1);
        let uid = AttrValue::Str(self.uid.clone());
        attributes.push(key_value("log.record.uid", &uid));
        attributes.extend(self.attributes.iter().map(|(key, value)| key_value(key, value)));
        let (trace_id, span_id, flags) = match &self.trace {
            Some((trace, span)) => (F::Str(trace), F::Str(span), F::Int(1)),
            None => (F::Skip, F::Skip, F::Skip),
        };
        let record = Obj(vec![
            ("timeUnixNano", F::Owned(self.time.to_string())),
            ("observedTimeUnixNano", F::Owned(self.observed.to_string())),
            ("severityNumber", F::Int(i64::from(self.severity.number()))),
            ("severityText", F::Str(self.severity.text())),
            ("body", F::Obj(Obj(vec![("stringValue", F::Str(&self.body))]))),
            ("attributes", F::Arr(attributes)),
            ("flags", flags),
            ("traceId", trace_id),
            ("spanId", span_id),
            ("eventName", F::opt(self.event_name)),
        ])
        .line();
        Emitted {
            time: self.time,
            source: Source::Otel,
            event_id: self.event_id(),
            body: Body::Otel { resource_prefix: Rc::clone(resource_prefix), record },
        }
    }
}

fn key_value<'a>(key: &'a str, value: &'a AttrValue) -> F<'a> {
    let value = match value {
        AttrValue::Str(text) => Obj(vec![("stringValue", F::Str(text))]),
        AttrValue::Int(number) => Obj(vec![("intValue", F::Owned(number.to_string()))]),
        AttrValue::Bool(flag) => Obj(vec![("boolValue", F::Bool(*flag))]),
    };
    F::Obj(Obj(vec![("key", F::Str(key)), ("value", F::Obj(value))]))
}

/// Shorthand for a string attribute.
pub fn s(key: &str, value: impl Into<String>) -> (String, AttrValue) {
    (key.to_owned(), AttrValue::Str(value.into()))
}

/// Shorthand for an integer attribute.
pub fn i(key: &str, value: i64) -> (String, AttrValue) {
    (key.to_owned(), AttrValue::Int(value))
}

/// Shorthand for a boolean attribute.
pub fn b(key: &str, value: bool) -> (String, AttrValue) {
    (key.to_owned(), AttrValue::Bool(value))
}
