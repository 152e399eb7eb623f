//! Answers as text: an aligned table for a terminal, JSON (an array of row
//! objects keyed by column name), CSV with a header (nested values such as
//! lists written as their display text), or an Arrow IPC stream.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, RecordBatch, StringArray};
use datafusion::arrow::csv::WriterBuilder;
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::arrow::error::ArrowError;
use datafusion::arrow::ipc::writer::StreamWriter;
use datafusion::arrow::json::WriterBuilder as JsonWriterBuilder;
use datafusion::arrow::json::writer::JsonArray;
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::arrow::util::pretty::pretty_format_batches;

use crate::engine::Answer;

/// How an answer is printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    Table,
    Json,
    Csv,
    /// The Arrow IPC stream format (`application/vnd.apache.arrow.stream`).
    Arrow,
}

/// `batch` with its nested columns (lists such as `delegation_chain` and
/// `scopes`, maps, structs) as their display text (`[a, b]`), which CSV
/// can hold.
fn nested_as_text(batch: &RecordBatch) -> Result<RecordBatch, ArrowError> {
    if !batch.schema().fields().iter().any(|f| f.data_type().is_nested()) {
        return Ok(batch.clone());
    }
    let options = FormatOptions::default();
    let mut fields = Vec::with_capacity(batch.num_columns());
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(batch.num_columns());
    for (field, column) in batch.schema().fields().iter().zip(batch.columns()) {
        if !field.data_type().is_nested() {
            fields.push(Arc::clone(field));
            columns.push(Arc::clone(column));
            continue;
        }
        let formatter = ArrayFormatter::try_new(column.as_ref(), &options)?;
        let text: StringArray =
            (0..column.len()).map(|row| column.is_valid(row).then(|| formatter.value(row).to_string())).collect();
        fields.push(Arc::new(Field::new(field.name(), DataType::Utf8, true)));
        columns.push(Arc::new(text));
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)
}

/// Writes `answer` in `format`.
pub fn render(answer: &Answer, format: OutputFormat) -> Result<Vec<u8>, ArrowError> {
    match format {
        OutputFormat::Table => {
            if answer.batches.is_empty() {
                let names: Vec<&str> = answer.schema.fields().iter().map(|f| f.name().as_str()).collect();
                return Ok(format!("(no rows; columns: {})\n", names.join(", ")).into_bytes());
            }
            let mut text = pretty_format_batches(&answer.batches)?.to_string();
            text.push('\n');
            Ok(text.into_bytes())
        }
        OutputFormat::Json => {
            // Every row carries every column, null or not.
            let mut writer = JsonWriterBuilder::new().with_explicit_nulls(true).build::<_, JsonArray>(Vec::new());
            for batch in &answer.batches {
                writer.write(batch)?;
            }
            writer.finish()?;
            let mut bytes = writer.into_inner();
            // An empty answer is an empty array, not nothing.
            if bytes.is_empty() {
                bytes.extend_from_slice(b"[]");
            }
            bytes.push(b'\n');
            Ok(bytes)
        }
        OutputFormat::Arrow => {
            let mut writer = StreamWriter::try_new(Vec::new(), &answer.schema)?;
            for batch in &answer.batches {
                writer.write(batch)?;
            }
            writer.finish()?;
            writer.into_inner()
        }
        OutputFormat::Csv => {
            let mut writer = WriterBuilder::new().with_header(true).build(Vec::new());
            for batch in &answer.batches {
                writer.write(&nested_as_text(batch)?)?;
            }
            let mut bytes = writer.into_inner();
            if answer.batches.is_empty() {
                let names: Vec<&str> = answer.schema.fields().iter().map(|f| f.name().as_str()).collect();
                bytes = format!("{}\n", names.join(",")).into_bytes();
            }
            Ok(bytes)
        }
    }
}
