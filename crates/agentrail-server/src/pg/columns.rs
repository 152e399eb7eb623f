//! Columns as PostgreSQL clients can take them.
//!
//! PostgreSQL has no type for Arrow's `Map` (the events' `attributes`), so
//! an answer's map columns are sent as JSON text, keyed as they are stored.
//! Inside a statement the column is still a map (`attributes['http.status']`
//! works as over HTTP); only the answer is converted.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, StringBuilder};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Column, Result, exec_err};
use datafusion::logical_expr::{
    ColumnarValue, Expr, LogicalPlan, LogicalPlanBuilder, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
    Volatility,
};

/// `plan`, with every map column of its answer turned into JSON text under
/// the same name (the plan itself when it has none).
pub(crate) fn with_text_maps(plan: LogicalPlan) -> Result<LogicalPlan> {
    let schema = Arc::clone(plan.schema());
    if !schema.fields().iter().any(|field| matches!(field.data_type(), DataType::Map(..))) {
        return Ok(plan);
    }
    let to_text = ScalarUDF::from(MapAsJson::new());
    let columns = schema.iter().map(|(qualifier, field)| {
        let column = Expr::Column(Column::from((qualifier, field)));
        if matches!(field.data_type(), DataType::Map(..)) {
            to_text.call(vec![column]).alias_qualified(qualifier.cloned(), field.name())
        } else {
            column
        }
    });
    LogicalPlanBuilder::from(plan).project(columns)?.build()
}

/// `map_as_json(map)`: a `Map<Utf8, Utf8>` as one JSON object per row.
#[derive(Debug, PartialEq, Eq, Hash)]
struct MapAsJson {
    signature: Signature,
}

impl MapAsJson {
    fn new() -> MapAsJson {
        MapAsJson { signature: Signature::any(1, Volatility::Immutable) }
    }
}

impl ScalarUDFImpl for MapAsJson {
    fn name(&self) -> &str {
        "map_as_json"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let [arg] = args.args.as_slice() else {
            return exec_err!("map_as_json takes one argument");
        };
        let rows = args.number_rows;
        let array = arg.to_array(rows)?;
        Ok(ColumnarValue::Array(maps_as_json(&array)?))
    }
}

fn maps_as_json(array: &ArrayRef) -> Result<ArrayRef> {
    let Some(maps) = array.as_map_opt() else {
        return exec_err!("map_as_json takes a map, not {}", array.data_type());
    };
    let (Some(keys), Some(values)) = (maps.keys().as_string_opt::<i32>(), maps.values().as_string_opt::<i32>()) else {
        return exec_err!("map_as_json takes a map of text to text, not {}", array.data_type());
    };
    let mut out = StringBuilder::with_capacity(maps.len(), maps.entries().len() * 32);
    for row in 0..maps.len() {
        if maps.is_null(row) {
            out.append_null();
            continue;
        }
        let range = maps.value_offsets()[row] as usize..maps.value_offsets()[row + 1] as usize;
        let object: serde_json::Map<String, serde_json::Value> = range
            .map(|entry| {
                let value = if values.is_null(entry) {
                    serde_json::Value::Null
                } else {
                    serde_json::Value::String(values.value(entry).to_owned())
                };
                (keys.value(entry).to_owned(), value)
            })
            .collect();
        out.append_value(serde_json::Value::Object(object).to_string());
    }
    Ok(Arc::new(out.finish()))
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::array::{MapBuilder, StringArray};

    use super::*;

    #[test]
    fn maps_become_json_objects_and_null_maps_stay_null() {
        let mut builder = MapBuilder::new(None, StringBuilder::new(), StringBuilder::new());
        builder.keys().append_value("http.status");
        builder.values().append_value("403");
        builder.keys().append_value("note");
        builder.values().append_null();
        builder.append(true).expect("row");
        builder.append(false).expect("null row");
        builder.append(true).expect("empty row");
        let array: ArrayRef = Arc::new(builder.finish());
        let json = maps_as_json(&array).expect("json");
        let json = json.as_any().downcast_ref::<StringArray>().expect("text");
        assert_eq!(json.value(0), r#"{"http.status":"403","note":null}"#);
        assert!(json.is_null(1));
        assert_eq!(json.value(2), "{}");
    }

    #[test]
    fn other_types_are_refused_with_their_name() {
        let array: ArrayRef = Arc::new(StringArray::from(vec!["x"]));
        let error = maps_as_json(&array).expect_err("not a map").to_string();
        assert!(error.contains("takes a map"), "{error}");
    }
}
