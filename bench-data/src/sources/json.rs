//! A small ordered JSON object model that serializes straight to text:
//! keys are borrowed, nothing is hashed, absent fields are skipped. The
//! record writers use it for their top-level shapes (it is several times
//! cheaper than building `serde_json::Value` maps for every record).
//! Embedded `serde_json::Value`s (request parameters and the like) are
//! written with sorted keys, whatever serde_json's features.

use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};
use serde_json::Value;

/// A field value.
#[derive(Debug)]
pub enum F<'a> {
    Str(&'a str),
    Owned(String),
    Int(i64),
    Uint(u64),
    Bool(bool),
    /// An explicit JSON `null`.
    Null,
    /// Left out of the object.
    Skip,
    Value(&'a Value),
    Obj(Obj<'a>),
    Arr(Vec<F<'a>>),
}

impl<'a> F<'a> {
    /// A string, or absent.
    pub fn opt(text: Option<&'a str>) -> F<'a> {
        text.map_or(F::Skip, F::Str)
    }

    /// A string, or an explicit null.
    pub fn or_null(text: Option<&'a str>) -> F<'a> {
        text.map_or(F::Null, F::Str)
    }

    /// A value, absent when it is null.
    pub fn value(value: &'a Value) -> F<'a> {
        if value.is_null() { F::Skip } else { F::Value(value) }
    }

    fn skipped(&self) -> bool {
        matches!(self, F::Skip)
    }

    /// Whether this field would be left out.
    pub fn skipped_field(&self) -> bool {
        self.skipped()
    }
}

/// An object whose keys keep their order.
#[derive(Debug, Default)]
pub struct Obj<'a>(pub Vec<(&'a str, F<'a>)>);

impl Serialize for F<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            F::Str(text) => serializer.serialize_str(text),
            F::Owned(text) => serializer.serialize_str(text),
            F::Int(number) => serializer.serialize_i64(*number),
            F::Uint(number) => serializer.serialize_u64(*number),
            F::Bool(flag) => serializer.serialize_bool(*flag),
            F::Null | F::Skip => serializer.serialize_unit(),
            F::Value(value) => Sorted(value).serialize(serializer),
            F::Obj(object) => object.serialize(serializer),
            F::Arr(items) => {
                let mut seq = serializer.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(item)?;
                }
                seq.end()
            }
        }
    }
}

/// A `serde_json::Value` written with its object keys in sorted order, so
/// the bytes do not depend on whether serde_json's `preserve_order` feature
/// is enabled somewhere in the build.
struct Sorted<'a>(&'a Value);

impl Serialize for Sorted<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Value::Object(map) => {
                let mut entries: Vec<(&String, &Value)> = map.iter().collect();
                entries.sort_by(|a, b| a.0.cmp(b.0));
                let mut out = serializer.serialize_map(Some(entries.len()))?;
                for (key, value) in entries {
                    out.serialize_entry(key, &Sorted(value))?;
                }
                out.end()
            }
            Value::Array(items) => {
                let mut seq = serializer.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(&Sorted(item))?;
                }
                seq.end()
            }
            other => other.serialize(serializer),
        }
    }
}

impl Serialize for Obj<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        for (key, value) in &self.0 {
            if !value.skipped() {
                map.serialize_entry(key, value)?;
            }
        }
        map.end()
    }
}

impl Obj<'_> {
    /// The compact JSON text.
    pub fn line(&self) -> String {
        let mut buffer = Vec::with_capacity(2048);
        match serde_json::to_writer(&mut buffer, self) {
            Ok(()) => String::from_utf8(buffer).unwrap_or_default(),
            Err(_) => String::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_order_and_skips() {
        let v = serde_json::json!({"x": 1, "b": [{"z": 1, "a": 2}]});
        let o = Obj(vec![
            ("b", F::Str("q\"")),
            ("a", F::Skip),
            ("n", F::Null),
            ("v", F::Value(&v)),
            ("o", F::Obj(Obj(vec![("i", F::Int(-2))]))),
            ("l", F::Arr(vec![F::Bool(true), F::Uint(3)])),
        ]);
        assert_eq!(o.line(), r#"{"b":"q\"","n":null,"v":{"b":[{"a":2,"z":1}],"x":1},"o":{"i":-2},"l":[true,3]}"#);
    }
}
