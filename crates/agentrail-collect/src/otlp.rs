//! OTLP/JSON logs: an `ExportLogsServiceRequest` becomes one flat record per
//! log record, carrying its resource and scope, ready for the `otel` mapping.
//!
//! The flat record is what the `otel` mapping file reads:
//!
//! ```json
//! {"resource": {"service.name": "...", "gen_ai.agent.id": "..."},
//!  "scope": {"name": "...", "version": "...", "attributes": {...}},
//!  "timeUnixNano": "...", "observedTimeUnixNano": "...", "severityText": "...",
//!  "severityNumber": 9, "body": ..., "attributes": {"enduser.id": "..."},
//!  "traceId": "...", "spanId": "...", "eventName": "..."}
//! ```
//!
//! `KeyValue` lists become objects and `AnyValue`s plain JSON values
//! (`intValue` as a number, as OTLP/JSON sends int64 as a string). Field
//! names are accepted in lowerCamelCase, as the OTLP/JSON spec requires, and
//! in the proto's snake_case, which protobuf JSON parsers also accept.
//! Strings stay borrowed from the request: a flat record costs its vectors.

use std::borrow::Cow;

use crate::json::{Json, Number};

type Pairs<'a> = Vec<(Cow<'a, str>, Json<'a>)>;

/// Looks a field up by its lowerCamelCase name, then its snake_case name.
fn field<'v, 'a>(object: &'v Json<'a>, camel: &str, snake: &str) -> Option<&'v Json<'a>> {
    object.get(camel).or_else(|| object.get(snake)).filter(|v| !v.is_null())
}

fn items<'v, 'a>(object: &'v Json<'a>, camel: &str, snake: &str) -> &'v [Json<'a>] {
    field(object, camel, snake).and_then(Json::as_array).unwrap_or_default()
}

/// Whether a JSON document is an OTLP logs request.
pub fn is_logs_request(document: &Json<'_>) -> bool {
    field(document, "resourceLogs", "resource_logs").is_some_and(Json::is_array)
}

/// An OTLP `AnyValue` as plain JSON. Bounded in depth by the JSON parser's
/// own recursion limit, since the input was parsed from text.
pub fn any_value<'a>(value: &Json<'a>) -> Json<'a> {
    let Json::Object(_) = value else { return value.clone() };
    let get = |camel: &str, snake: &str| value.get(camel).or_else(|| value.get(snake));
    if let Some(s) = get("stringValue", "string_value") {
        return s.clone();
    }
    if let Some(b) = get("boolValue", "bool_value") {
        return b.clone();
    }
    if let Some(i) = get("intValue", "int_value") {
        return match i {
            Json::String(text) => text.parse::<i64>().map_or_else(|_| i.clone(), |n| Json::Number(Number::Int(n))),
            other => other.clone(),
        };
    }
    if let Some(d) = get("doubleValue", "double_value") {
        return d.clone();
    }
    if let Some(bytes) = get("bytesValue", "bytes_value") {
        return bytes.clone();
    }
    if let Some(array) = get("arrayValue", "array_value") {
        return Json::Array(items(array, "values", "values").iter().map(any_value).collect());
    }
    if let Some(list) = get("kvlistValue", "kvlist_value") {
        return Json::Object(key_values(items(list, "values", "values")));
    }
    Json::Null
}

/// A list of OTLP `KeyValue`s as the pairs of a JSON object.
pub fn key_values<'a>(list: &[Json<'a>]) -> Pairs<'a> {
    let mut pairs = Vec::with_capacity(list.len());
    for kv in list {
        if let Some(Json::String(key)) = kv.get("key") {
            pairs.push((key.clone(), kv.get("value").map(any_value).unwrap_or_default()));
        }
    }
    pairs
}

/// Calls `emit` with the flat record of every log record of the request.
pub fn flatten_logs_request<'a>(request: &Json<'a>, mut emit: impl FnMut(Json<'a>)) {
    for resource_logs in items(request, "resourceLogs", "resource_logs") {
        let resource = field(resource_logs, "resource", "resource")
            .map(|r| key_values(items(r, "attributes", "attributes")))
            .unwrap_or_default();
        let scope_logs = {
            let current = items(resource_logs, "scopeLogs", "scope_logs");
            // OTLP before 0.15 called them instrumentation library logs.
            if current.is_empty() {
                items(resource_logs, "instrumentationLibraryLogs", "instrumentation_library_logs")
            } else {
                current
            }
        };
        for scope_log in scope_logs {
            let scope = field(scope_log, "scope", "scope")
                .or_else(|| field(scope_log, "instrumentationLibrary", "instrumentation_library"))
                .map(flat_scope)
                .unwrap_or_default();
            for log_record in items(scope_log, "logRecords", "log_records") {
                emit(flat_record(&resource, &scope, log_record));
            }
        }
    }
}

fn flat_scope<'a>(scope: &Json<'a>) -> Pairs<'a> {
    let mut flat = Vec::new();
    for key in ["name", "version"] {
        if let Some(v) = scope.get(key).filter(|v| !v.is_null()) {
            flat.push((Cow::Borrowed(key), v.clone()));
        }
    }
    let attributes = key_values(items(scope, "attributes", "attributes"));
    if !attributes.is_empty() {
        flat.push((Cow::Borrowed("attributes"), Json::Object(attributes)));
    }
    flat
}

const RECORD_FIELDS: &[(&str, &str)] = &[
    ("timeUnixNano", "time_unix_nano"),
    ("observedTimeUnixNano", "observed_time_unix_nano"),
    ("severityNumber", "severity_number"),
    ("severityText", "severity_text"),
    ("traceId", "trace_id"),
    ("spanId", "span_id"),
    ("flags", "flags"),
    ("eventName", "event_name"),
    ("droppedAttributesCount", "dropped_attributes_count"),
];

fn flat_record<'a>(resource: &Pairs<'a>, scope: &Pairs<'a>, log_record: &Json<'a>) -> Json<'a> {
    let mut flat: Pairs<'a> = Vec::with_capacity(RECORD_FIELDS.len() + 4);
    if !resource.is_empty() {
        flat.push((Cow::Borrowed("resource"), Json::Object(resource.clone())));
    }
    if !scope.is_empty() {
        flat.push((Cow::Borrowed("scope"), Json::Object(scope.clone())));
    }
    for (camel, snake) in RECORD_FIELDS {
        if let Some(v) = field(log_record, camel, snake) {
            // Empty ids are how OTLP/JSON writes "no trace".
            if !matches!(v, Json::String(s) if s.is_empty()) {
                flat.push((Cow::Borrowed(camel), v.clone()));
            }
        }
    }
    if let Some(body) = field(log_record, "body", "body") {
        flat.push((Cow::Borrowed("body"), any_value(body)));
    }
    let attributes = key_values(items(log_record, "attributes", "attributes"));
    if !attributes.is_empty() {
        flat.push((Cow::Borrowed("attributes"), Json::Object(attributes)));
    }
    Json::Object(flat)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flatten(text: &str) -> Vec<String> {
        let request = Json::parse(text.as_bytes()).expect("valid JSON");
        let mut records = Vec::new();
        flatten_logs_request(&request, |r| records.push(r.to_json_string()));
        records
    }

    #[test]
    fn flattens_resource_scope_and_record() {
        let records = flatten(
            r#"{"resourceLogs": [{
            "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "gw"}}]},
            "scopeLogs": [{"scope": {"name": "lib", "version": "1"}, "logRecords": [
                {"timeUnixNano": "1700000000000000000", "traceId": "", "body": {"stringValue": "hi"},
                 "attributes": [{"key": "n", "value": {"intValue": "42"}},
                                {"key": "l", "value": {"arrayValue": {"values": [{"boolValue": true}]}}},
                                {"key": "m", "value": {"kvlistValue": {"values": [{"key": "k", "value": {"doubleValue": 1.5}}]}}}]},
                {"time_unix_nano": 5}
            ]}]
        }]}"#,
        );
        assert_eq!(
            records,
            vec![
                r#"{"resource":{"service.name":"gw"},"scope":{"name":"lib","version":"1"},"timeUnixNano":"1700000000000000000","body":"hi","attributes":{"n":42,"l":[true],"m":{"k":1.5}}}"#,
                r#"{"resource":{"service.name":"gw"},"scope":{"name":"lib","version":"1"},"timeUnixNano":5}"#,
            ]
        );
    }

    #[test]
    fn hostile_shapes_do_not_panic() {
        for request in [
            r#"{"resourceLogs": 5}"#,
            r#"{"resourceLogs": [5, {"scopeLogs": "x"}, {"scopeLogs": [{"logRecords": [1, null]}]}]}"#,
            r#"{"resourceLogs": [{"resource": {"attributes": [{"key": 1}, {"value": {}}]}}]}"#,
        ] {
            flatten(request);
        }
    }
}
