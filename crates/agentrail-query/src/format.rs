//! Answers as text: an aligned table for a terminal, JSON (an array of row
//! objects keyed by column name), or CSV with a header.

use datafusion::arrow::csv::WriterBuilder;
use datafusion::arrow::error::ArrowError;
use datafusion::arrow::json::WriterBuilder as JsonWriterBuilder;
use datafusion::arrow::json::writer::JsonArray;
use datafusion::arrow::util::pretty::pretty_format_batches;

use crate::engine::Answer;

/// How an answer is printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    Table,
    Json,
    Csv,
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
        OutputFormat::Csv => {
            let mut writer = WriterBuilder::new().with_header(true).build(Vec::new());
            for batch in &answer.batches {
                writer.write(batch)?;
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
