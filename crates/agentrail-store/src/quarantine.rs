//! Rejected records, kept with their reason, origin and raw bytes, as
//! Parquet segments under `quarantine/dt=<day>/` (queryable like events).

use std::path::Path;
use std::sync::Arc;

use agentrail_event::{Timestamp, timestamp_type};
use arrow_array::builder::{BinaryBuilder, StringBuilder, TimestampMicrosecondBuilder};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use serde::{Deserialize, Serialize};

use crate::segment::{SegmentError, SegmentMeta, write_parquet_file};

/// One rejected record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Quarantined {
    pub received_at: Timestamp,
    /// Where it came from: `file:<path>:line 3`, `http:/v1/events#2`, …
    pub origin: String,
    /// The source it was taken for, when known.
    pub source: Option<String>,
    pub reason: String,
    /// The record's bytes as received, hex in JSON (they may not be UTF-8).
    #[serde(with = "hex_bytes")]
    pub raw: Vec<u8>,
}

mod hex_bytes {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&hex::encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<u8>, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        hex::decode(text.as_bytes()).map_err(serde::de::Error::custom)
    }
}

/// The schema of the `quarantine` table.
pub fn quarantine_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("received_at", timestamp_type(), false),
        Field::new("origin", DataType::Utf8, false),
        Field::new("source", DataType::Utf8, true),
        Field::new("reason", DataType::Utf8, false),
        Field::new("raw", DataType::Binary, false),
    ]))
}

/// Writes the rejected records as one segment per day of receipt.
pub fn write_quarantine(
    data_dir: &Path,
    name: &str,
    records: &[Quarantined],
) -> Result<Vec<SegmentMeta>, SegmentError> {
    let mut days: Vec<String> = records.iter().map(|r| r.received_at.date_string()).collect();
    days.sort();
    days.dedup();
    let mut written = Vec::new();
    for day in days {
        let rows: Vec<&Quarantined> = records.iter().filter(|r| r.received_at.date_string() == day).collect();
        let relative = format!("quarantine/dt={day}/{name}.parquet");
        let mut received_at = TimestampMicrosecondBuilder::new().with_timezone("UTC");
        let mut origin = StringBuilder::new();
        let mut source = StringBuilder::new();
        let mut reason = StringBuilder::new();
        let mut raw = BinaryBuilder::new();
        for row in &rows {
            received_at.append_value(row.received_at.as_micros());
            origin.append_value(&row.origin);
            source.append_option(row.source.as_deref());
            reason.append_value(&row.reason);
            raw.append_value(&row.raw);
        }
        let columns: Vec<ArrayRef> = vec![
            Arc::new(received_at.finish()),
            Arc::new(origin.finish()),
            Arc::new(source.finish()),
            Arc::new(reason.finish()),
            Arc::new(raw.finish()),
        ];
        let batch = RecordBatch::try_new(quarantine_schema(), columns)?;
        let properties = WriterProperties::builder().set_compression(Compression::ZSTD(ZstdLevel::default())).build();
        let (bytes, sha256) = write_parquet_file(data_dir, &relative, &batch, properties)?;
        written.push(SegmentMeta {
            path: relative,
            day: day.clone(),
            rows: rows.len() as u64,
            bytes,
            min_time_us: rows.iter().map(|r| r.received_at.as_micros()).min().unwrap_or_default(),
            max_time_us: rows.iter().map(|r| r.received_at.as_micros()).max().unwrap_or_default(),
            sha256,
        });
    }
    Ok(written)
}
