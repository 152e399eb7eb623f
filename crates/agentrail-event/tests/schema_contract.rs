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

/// The order in which `names` first appear as JSON keys (`"name":`) in `text`.
fn key_order<'a>(text: &str, names: impl Iterator<Item = &'a str>) -> Vec<&'a str> {
    let mut found: Vec<(usize, &str)> =
        names.filter_map(|name| text.find(&format!("\"{name}\":")).map(|at| (at, name))).collect();
    found.sort();
    found.into_iter().map(|(_, name)| name).collect()
}

fn json_schema() -> Value {
    serde_json::from_str(JSON_SCHEMA).expect("schemas/agent_event.schema.json is valid JSON")
}

#[test]
fn json_schema_lists_the_arrow_columns_in_order_with_their_types() {
    let schema = json_schema();
    let properties = schema["properties"].as_object().expect("properties");
    let arrow = event_schema();
    let arrow_names: Vec<&str> = arrow.fields().iter().map(|f| f.name().as_str()).collect();
    let mut json_names: Vec<&str> = properties.keys().map(String::as_str).collect();
    let mut sorted_arrow = arrow_names.clone();
    json_names.sort_unstable();
    sorted_arrow.sort_unstable();
    assert_eq!(json_names, sorted_arrow, "the same columns");
    // Parsed objects do not keep key order; the file's text does.
    let properties_text = &JSON_SCHEMA[JSON_SCHEMA.find("\"properties\"").expect("properties")..];
    assert_eq!(key_order(properties_text, arrow_names.iter().copied()), arrow_names, "the same order");
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
    let text = serde_json::to_string(&event).expect("serializes");
    let json: Value = serde_json::from_str(&text).expect("parses");
    let arrow = event_schema();
    let arrow_names: Vec<&str> = arrow.fields().iter().map(|f| f.name().as_str()).collect();
    assert_eq!(json.as_object().map(|o| o.len()), Some(arrow_names.len()), "one key per column");
    assert_eq!(key_order(&text, arrow_names.iter().copied()), arrow_names, "columns in table order");
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
