//! OTLP logs in the protobuf encoding (`application/x-protobuf`, the
//! OpenTelemetry Collector's default), turned into the OTLP/JSON shape so
//! one code path ([`crate::otlp`]) gives OTLP its meaning.
//!
//! The messages are written out with `prost` derives from
//! `opentelemetry/proto/logs/v1/logs.proto` and `common/v1/common.proto`
//! (field numbers as there); unknown fields are skipped, as protobuf
//! requires, so newer senders still decode.

use base64::Engine;
use serde_json::{Map, Value, json};

#[derive(Clone, PartialEq, prost::Message)]
pub struct ExportLogsServiceRequest {
    #[prost(message, repeated, tag = "1")]
    pub resource_logs: Vec<ResourceLogs>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ResourceLogs {
    #[prost(message, optional, tag = "1")]
    pub resource: Option<Resource>,
    #[prost(message, repeated, tag = "2")]
    pub scope_logs: Vec<ScopeLogs>,
    #[prost(string, tag = "3")]
    pub schema_url: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Resource {
    #[prost(message, repeated, tag = "1")]
    pub attributes: Vec<KeyValue>,
    #[prost(uint32, tag = "2")]
    pub dropped_attributes_count: u32,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ScopeLogs {
    #[prost(message, optional, tag = "1")]
    pub scope: Option<InstrumentationScope>,
    #[prost(message, repeated, tag = "2")]
    pub log_records: Vec<LogRecord>,
    #[prost(string, tag = "3")]
    pub schema_url: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct InstrumentationScope {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(string, tag = "2")]
    pub version: String,
    #[prost(message, repeated, tag = "3")]
    pub attributes: Vec<KeyValue>,
    #[prost(uint32, tag = "4")]
    pub dropped_attributes_count: u32,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct LogRecord {
    #[prost(fixed64, tag = "1")]
    pub time_unix_nano: u64,
    #[prost(fixed64, tag = "11")]
    pub observed_time_unix_nano: u64,
    #[prost(int32, tag = "2")]
    pub severity_number: i32,
    #[prost(string, tag = "3")]
    pub severity_text: String,
    #[prost(message, optional, tag = "5")]
    pub body: Option<AnyValue>,
    #[prost(message, repeated, tag = "6")]
    pub attributes: Vec<KeyValue>,
    #[prost(uint32, tag = "7")]
    pub dropped_attributes_count: u32,
    #[prost(fixed32, tag = "8")]
    pub flags: u32,
    #[prost(bytes = "vec", tag = "9")]
    pub trace_id: Vec<u8>,
    #[prost(bytes = "vec", tag = "10")]
    pub span_id: Vec<u8>,
    #[prost(string, tag = "12")]
    pub event_name: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct KeyValue {
    #[prost(string, tag = "1")]
    pub key: String,
    #[prost(message, optional, tag = "2")]
    pub value: Option<AnyValue>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct AnyValue {
    #[prost(oneof = "any_value::Value", tags = "1, 2, 3, 4, 5, 6, 7")]
    pub value: Option<any_value::Value>,
}

pub mod any_value {
    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum Value {
        #[prost(string, tag = "1")]
        StringValue(String),
        #[prost(bool, tag = "2")]
        BoolValue(bool),
        #[prost(int64, tag = "3")]
        IntValue(i64),
        #[prost(double, tag = "4")]
        DoubleValue(f64),
        #[prost(message, tag = "5")]
        ArrayValue(super::ArrayValue),
        #[prost(message, tag = "6")]
        KvlistValue(super::KeyValueList),
        #[prost(bytes = "vec", tag = "7")]
        BytesValue(Vec<u8>),
    }
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ArrayValue {
    #[prost(message, repeated, tag = "1")]
    pub values: Vec<AnyValue>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct KeyValueList {
    #[prost(message, repeated, tag = "1")]
    pub values: Vec<KeyValue>,
}

/// The answer to an export: empty when everything was accepted.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ExportLogsServiceResponse {
    #[prost(message, optional, tag = "1")]
    pub partial_success: Option<ExportLogsPartialSuccess>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ExportLogsPartialSuccess {
    #[prost(int64, tag = "1")]
    pub rejected_log_records: i64,
    #[prost(string, tag = "2")]
    pub error_message: String,
}

impl ExportLogsServiceResponse {
    /// The encoded answer for `rejected` records (none: an empty message).
    pub fn partial(rejected: usize, error_message: String) -> Vec<u8> {
        let response = ExportLogsServiceResponse {
            partial_success: (rejected > 0).then(|| ExportLogsPartialSuccess {
                rejected_log_records: i64::try_from(rejected).unwrap_or(i64::MAX),
                error_message,
            }),
        };
        prost::Message::encode_to_vec(&response)
    }
}

/// A protobuf body that does not decode.
#[derive(Debug, thiserror::Error)]
#[error("not an OTLP ExportLogsServiceRequest in protobuf: {0}")]
pub struct ProtobufError(#[from] prost::DecodeError);

/// Decodes a protobuf `ExportLogsServiceRequest` into OTLP/JSON text.
pub fn logs_request_to_json(bytes: &[u8]) -> Result<Vec<u8>, ProtobufError> {
    let request = <ExportLogsServiceRequest as prost::Message>::decode(bytes)?;
    let resource_logs: Vec<Value> = request.resource_logs.iter().map(resource_logs_json).collect();
    Ok(json!({ "resourceLogs": resource_logs }).to_string().into_bytes())
}

fn resource_logs_json(resource_logs: &ResourceLogs) -> Value {
    let mut out = Map::new();
    if let Some(resource) = &resource_logs.resource {
        out.insert("resource".into(), json!({ "attributes": key_values_json(&resource.attributes) }));
    }
    let scope_logs: Vec<Value> = resource_logs
        .scope_logs
        .iter()
        .map(|scope_logs| {
            let mut scope_out = Map::new();
            if let Some(scope) = &scope_logs.scope {
                scope_out.insert(
                    "scope".into(),
                    json!({"name": scope.name, "version": scope.version, "attributes": key_values_json(&scope.attributes)}),
                );
            }
            scope_out.insert("logRecords".into(), scope_logs.log_records.iter().map(log_record_json).collect());
            Value::Object(scope_out)
        })
        .collect();
    out.insert("scopeLogs".into(), Value::Array(scope_logs));
    Value::Object(out)
}

/// Proto3 leaves defaults unset; so does OTLP/JSON.
fn log_record_json(record: &LogRecord) -> Value {
    let mut out = Map::new();
    if record.time_unix_nano != 0 {
        out.insert("timeUnixNano".into(), Value::String(record.time_unix_nano.to_string()));
    }
    if record.observed_time_unix_nano != 0 {
        out.insert("observedTimeUnixNano".into(), Value::String(record.observed_time_unix_nano.to_string()));
    }
    if record.severity_number != 0 {
        out.insert("severityNumber".into(), Value::from(record.severity_number));
    }
    if !record.severity_text.is_empty() {
        out.insert("severityText".into(), Value::String(record.severity_text.clone()));
    }
    if let Some(body) = &record.body {
        out.insert("body".into(), any_value_json(body));
    }
    if !record.attributes.is_empty() {
        out.insert("attributes".into(), key_values_json(&record.attributes));
    }
    if record.flags != 0 {
        out.insert("flags".into(), Value::from(record.flags));
    }
    // OTLP/JSON writes trace and span ids as hex, not base64.
    if !record.trace_id.is_empty() {
        out.insert("traceId".into(), Value::String(hex::encode(&record.trace_id)));
    }
    if !record.span_id.is_empty() {
        out.insert("spanId".into(), Value::String(hex::encode(&record.span_id)));
    }
    if !record.event_name.is_empty() {
        out.insert("eventName".into(), Value::String(record.event_name.clone()));
    }
    Value::Object(out)
}

fn key_values_json(list: &[KeyValue]) -> Value {
    Value::Array(
        list.iter()
            .map(|kv| json!({"key": kv.key, "value": kv.value.as_ref().map_or(json!({}), any_value_json)}))
            .collect(),
    )
}

fn any_value_json(value: &AnyValue) -> Value {
    use any_value::Value as V;
    match &value.value {
        None => json!({}),
        Some(V::StringValue(s)) => json!({ "stringValue": s }),
        Some(V::BoolValue(b)) => json!({ "boolValue": b }),
        Some(V::IntValue(i)) => json!({ "intValue": i.to_string() }),
        Some(V::DoubleValue(d)) => json!({ "doubleValue": d }),
        Some(V::ArrayValue(a)) => {
            json!({ "arrayValue": { "values": a.values.iter().map(any_value_json).collect::<Vec<_>>() } })
        }
        Some(V::KvlistValue(list)) => json!({ "kvlistValue": { "values": key_values_json(&list.values) } }),
        Some(V::BytesValue(bytes)) => {
            json!({ "bytesValue": base64::engine::general_purpose::STANDARD.encode(bytes) })
        }
    }
}

#[cfg(test)]
mod tests {
    use prost::Message;

    use super::*;
    use crate::{SourceChoice, builtin_normalizer};

    fn string(key: &str, value: &str) -> KeyValue {
        KeyValue { key: key.into(), value: Some(AnyValue { value: Some(any_value::Value::StringValue(value.into())) }) }
    }

    #[test]
    fn protobuf_logs_normalize_like_their_json_form() {
        let request = ExportLogsServiceRequest {
            resource_logs: vec![ResourceLogs {
                resource: Some(Resource {
                    attributes: vec![string("gen_ai.agent.id", "deployer-7")],
                    dropped_attributes_count: 0,
                }),
                scope_logs: vec![ScopeLogs {
                    scope: Some(InstrumentationScope { name: "gw".into(), ..Default::default() }),
                    log_records: vec![LogRecord {
                        time_unix_nano: 1_763_632_800_123_456_789,
                        trace_id: vec![
                            0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47,
                            0x36,
                        ],
                        body: Some(AnyValue { value: Some(any_value::Value::StringValue("tool call".into())) }),
                        attributes: vec![
                            string("gen_ai.tool.name", "aws.logs.delete_log_group"),
                            string("enduser.id", "alice@example.com"),
                            KeyValue {
                                key: "attempt".into(),
                                value: Some(AnyValue { value: Some(any_value::Value::IntValue(3)) }),
                            },
                        ],
                        ..Default::default()
                    }],
                    schema_url: String::new(),
                }],
                schema_url: String::new(),
            }],
        };
        let json = logs_request_to_json(&request.encode_to_vec()).expect("decodes");
        let normalizer = builtin_normalizer().expect("built-ins load");
        let events = normalizer.normalize_all(&json, &SourceChoice::Named("otel".into())).expect("normalizes");
        let event = &events[0];
        assert_eq!(event.time.to_string(), "2025-11-20T10:00:00.123456Z");
        assert_eq!(event.agent_id.as_deref(), Some("deployer-7"));
        assert_eq!(event.on_behalf_of.as_deref(), Some("alice@example.com"));
        assert_eq!(event.action_class.as_str(), "delete");
        assert_eq!(event.trace_id.as_deref(), Some("4bf92f3577b34da6a3ce929d0e0e4736"));
        assert_eq!(event.attributes.get("attributes.attempt").map(String::as_str), Some("3"));
    }

    #[test]
    fn garbage_is_a_clear_error() {
        let error = logs_request_to_json(b"\x0a\xff\xff\xff\xff\x0f").err().map(|e| e.to_string()).unwrap_or_default();
        assert!(error.starts_with("not an OTLP ExportLogsServiceRequest in protobuf"), "{error}");
    }
}
