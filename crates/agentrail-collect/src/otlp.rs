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

use serde_json::{Map, Value};

/// Looks a field up by its lowerCamelCase name, then its snake_case name.
fn field<'v>(object: &'v Value, camel: &str, snake: &str) -> Option<&'v Value> {
    object.get(camel).or_else(|| object.get(snake)).filter(|v| !v.is_null())
}

fn items<'v>(object: &'v Value, camel: &str, snake: &str) -> &'v [Value] {
    field(object, camel, snake).and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default()
}

/// Whether a JSON document is an OTLP logs request.
pub fn is_logs_request(document: &Value) -> bool {
    field(document, "resourceLogs", "resource_logs").is_some_and(Value::is_array)
}

/// An OTLP `AnyValue` as plain JSON. Bounded in depth by the JSON parser's
/// own recursion limit, since the input was parsed from text.
pub fn any_value(value: &Value) -> Value {
    let Some(object) = value.as_object() else { return value.clone() };
    if let Some(s) = object.get("stringValue").or_else(|| object.get("string_value")) {
        return s.clone();
    }
    if let Some(b) = object.get("boolValue").or_else(|| object.get("bool_value")) {
        return b.clone();
    }
    if let Some(i) = object.get("intValue").or_else(|| object.get("int_value")) {
        return match i {
            Value::String(text) => text.parse::<i64>().map(Value::from).unwrap_or_else(|_| i.clone()),
            other => other.clone(),
        };
    }
    if let Some(d) = object.get("doubleValue").or_else(|| object.get("double_value")) {
        return d.clone();
    }
    if let Some(bytes) = object.get("bytesValue").or_else(|| object.get("bytes_value")) {
        return bytes.clone();
    }
    if let Some(array) = object.get("arrayValue").or_else(|| object.get("array_value")) {
        return Value::Array(items(array, "values", "values").iter().map(any_value).collect());
    }
    if let Some(list) = object.get("kvlistValue").or_else(|| object.get("kvlist_value")) {
        return Value::Object(key_values(items(list, "values", "values")));
    }
    Value::Null
}

/// A list of OTLP `KeyValue`s as a JSON object.
pub fn key_values(list: &[Value]) -> Map<String, Value> {
    let mut map = Map::new();
    for kv in list {
        if let Some(key) = kv.get("key").and_then(Value::as_str) {
            map.insert(key.to_owned(), kv.get("value").map(any_value).unwrap_or(Value::Null));
        }
    }
    map
}

/// Calls `emit` with the flat record of every log record of the request.
pub fn flatten_logs_request(request: &Value, mut emit: impl FnMut(Value)) {
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

fn flat_scope(scope: &Value) -> Map<String, Value> {
    let mut flat = Map::new();
    for key in ["name", "version"] {
        if let Some(v) = scope.get(key).filter(|v| !v.is_null()) {
            flat.insert(key.to_owned(), v.clone());
        }
    }
    let attributes = key_values(items(scope, "attributes", "attributes"));
    if !attributes.is_empty() {
        flat.insert("attributes".to_owned(), Value::Object(attributes));
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

fn flat_record(resource: &Map<String, Value>, scope: &Map<String, Value>, log_record: &Value) -> Value {
    let mut flat = Map::new();
    if !resource.is_empty() {
        flat.insert("resource".to_owned(), Value::Object(resource.clone()));
    }
    if !scope.is_empty() {
        flat.insert("scope".to_owned(), Value::Object(scope.clone()));
    }
    for (camel, snake) in RECORD_FIELDS {
        if let Some(v) = field(log_record, camel, snake) {
            // Empty ids are how OTLP/JSON writes "no trace".
            if !matches!(v, Value::String(s) if s.is_empty()) {
                flat.insert((*camel).to_owned(), v.clone());
            }
        }
    }
    if let Some(body) = field(log_record, "body", "body") {
        flat.insert("body".to_owned(), any_value(body));
    }
    let attributes = key_values(items(log_record, "attributes", "attributes"));
    if !attributes.is_empty() {
        flat.insert("attributes".to_owned(), Value::Object(attributes));
    }
    Value::Object(flat)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn flattens_resource_scope_and_record() {
        let request = json!({"resourceLogs": [{
            "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "gw"}}]},
            "scopeLogs": [{"scope": {"name": "lib", "version": "1"}, "logRecords": [
                {"timeUnixNano": "1700000000000000000", "traceId": "", "body": {"stringValue": "hi"},
                 "attributes": [{"key": "n", "value": {"intValue": "42"}},
                                {"key": "l", "value": {"arrayValue": {"values": [{"boolValue": true}]}}},
                                {"key": "m", "value": {"kvlistValue": {"values": [{"key": "k", "value": {"doubleValue": 1.5}}]}}}]},
                {"time_unix_nano": 5}
            ]}]
        }]});
        let mut records = Vec::new();
        flatten_logs_request(&request, |r| records.push(r));
        assert_eq!(records.len(), 2);
        assert_eq!(
            records[0],
            json!({"resource": {"service.name": "gw"}, "scope": {"name": "lib", "version": "1"},
                   "timeUnixNano": "1700000000000000000", "body": "hi",
                   "attributes": {"n": 42, "l": [true], "m": {"k": 1.5}}})
        );
        assert_eq!(records[1]["timeUnixNano"], json!(5));
    }

    #[test]
    fn hostile_shapes_do_not_panic() {
        for request in [
            json!({"resourceLogs": 5}),
            json!({"resourceLogs": [5, {"scopeLogs": "x"}, {"scopeLogs": [{"logRecords": [1, null]}]}]}),
            json!({"resourceLogs": [{"resource": {"attributes": [{"key": 1}, {"value": {}}]}}]}),
        ] {
            flatten_logs_request(&request, |_| {});
        }
    }
}
