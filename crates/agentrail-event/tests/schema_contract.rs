//! Keeps the three faces of the event in step: the Rust type's JSON form, the
//! Arrow schema and `schemas/agent_event.schema.json`.

use agentrail_event::{Event, JSON_SCHEMA, Timestamp, event_schema};
use arrow_schema::{DataType, TimeUnit};
use serde_json::Value;

fn arrow_type_name(data_type: &DataType) -> String {
    match data_type {
        DataType::Utf8 => "Utf8".into(),
        DataType::UInt32 => "UInt32".into(),
        DataType::Int32 => "Int32".into(),
        DataType::Timestamp(TimeUnit::Microsecond, Some(tz)) => format!("Timestamp(µs, {tz})"),
        DataType::Dictionary(key, value) => {
            format!("Dictionary({}, {})", arrow_type_name(key), arrow_type_name(value))
        }
        DataType::List(item) => format!("List<{}>", arrow_type_name(item.data_type())),
        DataType::Map(entries, _) => match entries.data_type() {
            DataType::Struct(fields) if fields.len() == 2 => {
                format!("Map<{}, {}>", arrow_type_name(fields[0].data_type()), arrow_type_name(fields[1].data_type()))
            }
            other => format!("unexpected map entries {other:?}"),
        },
        other => format!("unexpected {other:?}"),
    }
}

fn json_schema() -> Value {
    serde_json::from_str(JSON_SCHEMA).expect("schemas/agent_event.schema.json is valid JSON")
}

#[test]
fn json_schema_lists_the_arrow_columns_in_order_with_their_types() {
    let schema = json_schema();
    let properties = schema["properties"].as_object().expect("properties");
    let json_names: Vec<&str> = properties.keys().map(String::as_str).collect();
    let arrow = event_schema();
    let arrow_names: Vec<&str> = arrow.fields().iter().map(|f| f.name().as_str()).collect();
    assert_eq!(json_names, arrow_names);
    for field in arrow.fields() {
        let property = &properties[field.name()];
        assert_eq!(property["x-arrow-type"], arrow_type_name(field.data_type()), "type of {}", field.name());
        assert_eq!(property["x-nullable"], field.is_nullable(), "nullability of {}", field.name());
        let json_type = &property["type"];
        let allows_null = json_type.as_array().is_some_and(|types| types.contains(&Value::from("null")));
        assert_eq!(allows_null, field.is_nullable(), "JSON null allowed for {}", field.name());
    }
}

#[test]
fn rust_type_serializes_exactly_the_schema_columns() {
    let event =
        Event::new("agent:1".into(), Timestamp::from_micros(0), "agent".into(), "tools/call".into(), "{}".into());
    let json = serde_json::to_value(&event).expect("serializes");
    let keys: Vec<&str> = json.as_object().expect("object").keys().map(String::as_str).collect();
    let arrow = event_schema();
    let arrow_names: Vec<&str> = arrow.fields().iter().map(|f| f.name().as_str()).collect();
    assert_eq!(keys, arrow_names);
    let back: Event = serde_json::from_value(json).expect("deserializes");
    assert_eq!(back, event);
}

#[test]
fn enum_columns_list_every_vocabulary_value() {
    use agentrail_event::{ActionClass, ActorType, CredentialType, Outcome};
    let schema = json_schema();
    let listed = |column: &str| -> Vec<String> {
        schema["properties"][column]["enum"]
            .as_array()
            .map(|values| values.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect())
            .unwrap_or_default()
    };
    let names = |all: &[&str]| all.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert_eq!(listed("action_class"), names(&ActionClass::ALL.iter().map(|v| v.as_str()).collect::<Vec<_>>()));
    assert_eq!(listed("outcome"), names(&Outcome::ALL.iter().map(|v| v.as_str()).collect::<Vec<_>>()));
    assert_eq!(listed("actor_type"), names(&ActorType::ALL.iter().map(|v| v.as_str()).collect::<Vec<_>>()));
    assert_eq!(listed("credential_type"), names(&CredentialType::ALL.iter().map(|v| v.as_str()).collect::<Vec<_>>()));
}
