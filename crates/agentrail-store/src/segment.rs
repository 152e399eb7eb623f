//! Sealed Parquet segments: the events' home once the log has them.
//!
//! A segment is a standard Parquet file any engine reads (DuckDB, Spark,
//! Trino): Hive-partitioned by day (`segments/dt=2026-11-22/…`), zstd,
//! page-level statistics and page index for pruning by time, bloom filters on
//! the id columns a replay looks up, and rows sorted by (correlation id,
//! time) so one incident's rows sit together in few pages. A file is written
//! under a temporary name, fsynced, renamed and its directory fsynced, so a
//! crash leaves either nothing or a whole file.

use std::fs::{self, File};
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use agentrail_event::{Event, EventBatchBuilder, columns};
use arrow_array::RecordBatch;
use arrow_array::cast::AsArray;
use parquet::arrow::ArrowWriter;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::index::{IndexError, write_part};

/// The columns with bloom filters: what replay and expansion look up by value.
pub const BLOOM_COLUMNS: &[&str] = &[
    columns::EVENT_ID,
    columns::CORRELATION_ID,
    columns::TRACE_ID,
    columns::CREDENTIAL_ID,
    columns::AGENT_ID,
    columns::TASK_ID,
];

/// Columns written without a dictionary: those (nearly) unique per row and
/// those whose dictionary outgrows what a lookup returns. A column chunk's
/// dictionary page is read and decoded whole before any of its data pages,
/// so with one 64k-row group per segment these dictionaries (~2.5 MB
/// together) were most of what an index lookup of 46 rows read. Without
/// them, zstd over 1,024-row pages still finds the repeats.
const NO_DICTIONARY_COLUMNS: &[&[&str]] = &[
    &[columns::EVENT_ID],
    &[columns::REQUEST_ID],
    &[columns::RAW],
    &[columns::MESSAGE],
    &[columns::TIME],
    &[columns::RESOURCE],
    &[columns::CREDENTIAL_ID],
    &[columns::TRACE_ID],
    &[columns::USER_AGENT],
    &[columns::ATTRIBUTES, "entries", "values"],
];

/// The bulk of a segment (the raw record, then attribute values) is
/// compressed harder: zstd level 6 stores a 1,024-row page of raw JSON in
/// ~20% fewer bytes than level 1, and decompresses as fast.
const DENSE_COLUMNS: &[&[&str]] = &[&[columns::RAW], &[columns::ATTRIBUTES, "entries", "values"]];
const DENSE_ZSTD_LEVEL: i32 = 6;

/// Rows per row group of a seal: large enough for good compression, small
/// enough that statistics prune well.
pub const ROW_GROUP_ROWS: usize = 64 * 1024;

/// Rows per row group of a merged segment. A lookup decodes the dictionary
/// pages of every row group it reads rows from; a merged segment sorted by
/// time in groups this size keeps that to the groups of the rows wanted (a
/// merge of 100 small seals in 64k-row groups made replays 1.3x and
/// newest-first searches 3x slower than the small seals; in these, even).
pub const MERGED_ROW_GROUP_ROWS: usize = 8 * 1024;

/// Rows per data page. An index lookup decodes whole pages: with the
/// default page size (1 MiB before compression) a page held ~20k rows, and
/// replaying 46 events decoded 3 MB. Pages of 1,024 rows make a lookup read
/// about what it returns; the writer checks the limit between batches of
/// this size.
const PAGE_ROWS: usize = 1024;

/// Why a segment could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum SegmentError {
    #[error("segment I/O on {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("segment {path}: {source}")]
    Parquet {
        path: PathBuf,
        #[source]
        source: parquet::errors::ParquetError,
    },
    #[error("building the Arrow batch: {0}")]
    Arrow(#[from] arrow_schema::ArrowError),
    #[error(transparent)]
    Index(#[from] IndexError),
}

/// What the manifest records of a sealed segment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SegmentMeta {
    /// Path relative to the data directory.
    pub path: String,
    /// The day partition, `YYYY-MM-DD`.
    pub day: String,
    pub rows: u64,
    pub bytes: u64,
    /// First and last event time, in µs since the epoch.
    pub min_time_us: i64,
    pub max_time_us: i64,
    /// SHA-256 of the file, for tamper evidence.
    pub sha256: String,
}

fn io_error(path: &Path) -> impl FnOnce(io::Error) -> SegmentError + '_ {
    move |source| SegmentError::Io { path: path.to_owned(), source }
}

fn parquet_error(path: &Path) -> impl FnOnce(parquet::errors::ParquetError) -> SegmentError + '_ {
    move |source| SegmentError::Parquet { path: path.to_owned(), source }
}

fn writer_properties(row_group_rows: usize) -> WriterProperties {
    let mut builder = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::default()))
        .set_statistics_enabled(EnabledStatistics::Page)
        .set_max_row_group_row_count(Some(row_group_rows))
        .set_data_page_row_count_limit(PAGE_ROWS)
        .set_write_batch_size(PAGE_ROWS)
        .set_created_by("agentrail".to_owned());
    for column in BLOOM_COLUMNS {
        builder = builder.set_column_bloom_filter_enabled(ColumnPath::from(*column), true);
    }
    for column in NO_DICTIONARY_COLUMNS {
        builder = builder.set_column_dictionary_enabled(column_path(column), false);
    }
    // Level 6 is in zstd's range (1..=22): the fallback is never taken.
    let dense = ZstdLevel::try_new(DENSE_ZSTD_LEVEL).unwrap_or_default();
    for column in DENSE_COLUMNS {
        builder = builder.set_column_compression(column_path(column), Compression::ZSTD(dense));
    }
    builder.build()
}

fn column_path(parts: &[&str]) -> ColumnPath {
    ColumnPath::new(parts.iter().map(|part| (*part).to_owned()).collect())
}

/// Writes `events` as one segment per day under `data_dir/segments/`, each
/// with its index part, naming each file after `name` (unique per seal). Within a segment, the
/// events of one correlation id sit together in time order, then the events
/// without one. Returns their metadata.
pub fn write_segments(data_dir: &Path, name: &str, events: &[Event]) -> Result<Vec<SegmentMeta>, SegmentError> {
    let mut order: Vec<(String, &Event)> = events.iter().map(|e| (e.time.date_string(), e)).collect();
    order.sort_by(|(day_a, a), (day_b, b)| {
        (day_a, a.correlation_id.is_none(), &a.correlation_id, a.time).cmp(&(
            day_b,
            b.correlation_id.is_none(),
            &b.correlation_id,
            b.time,
        ))
    });
    let mut written = Vec::new();
    for day_rows in order.chunk_by(|(day_a, _), (day_b, _)| day_a == day_b) {
        let day = &day_rows[0].0;
        let rows: Vec<&Event> = day_rows.iter().map(|(_, e)| *e).collect();
        written.push(write_one(data_dir, day, name, &rows)?);
    }
    Ok(written)
}

fn write_one(data_dir: &Path, day: &str, name: &str, events: &[&Event]) -> Result<SegmentMeta, SegmentError> {
    let mut builder = EventBatchBuilder::new();
    for event in events {
        builder.append(event)?;
    }
    let relative = format!("segments/dt={day}/{name}.parquet");
    write_segment_batch(data_dir, day, &relative, &builder.finish()?, ROW_GROUP_ROWS)
}

/// Writes the rows of `batch` (the events schema, one day's rows in segment
/// order) as the segment `relative` with its index part, in row groups of
/// `row_group_rows`.
pub fn write_segment_batch(
    data_dir: &Path,
    day: &str,
    relative: &str,
    batch: &RecordBatch,
    row_group_rows: usize,
) -> Result<SegmentMeta, SegmentError> {
    let (bytes, sha256) = write_parquet_file(data_dir, relative, batch, writer_properties(row_group_rows))?;
    write_part(data_dir, relative, batch)?;
    let times = batch
        .column_by_name(columns::TIME)
        .map(|c| c.as_primitive::<arrow_array::types::TimestampMicrosecondType>().values().to_vec())
        .unwrap_or_default();
    Ok(SegmentMeta {
        path: relative.to_owned(),
        day: day.to_owned(),
        rows: batch.num_rows() as u64,
        bytes,
        min_time_us: times.iter().copied().min().unwrap_or_default(),
        max_time_us: times.iter().copied().max().unwrap_or_default(),
        sha256,
    })
}

/// Writes `batch` to `data_dir/relative` so that a crash leaves either
/// nothing or the whole file: a temporary name, fsync, rename, fsync of the
/// directory. Returns the file's size and SHA-256.
pub fn write_parquet_file(
    data_dir: &Path,
    relative: &str,
    batch: &RecordBatch,
    properties: WriterProperties,
) -> Result<(u64, String), SegmentError> {
    let path = data_dir.join(relative);
    let dir = path.parent().unwrap_or(data_dir).to_owned();
    fs::create_dir_all(&dir).map_err(io_error(&dir))?;
    let file_name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let temporary = dir.join(format!(".{file_name}.tmp"));

    let file = File::create(&temporary).map_err(io_error(&temporary))?;
    let mut writer = ArrowWriter::try_new(BufWriter::new(file), batch.schema(), Some(properties))
        .map_err(parquet_error(&temporary))?;
    writer.write(batch).map_err(parquet_error(&temporary))?;
    let mut buffered = writer.into_inner().map_err(parquet_error(&temporary))?;
    buffered.flush().map_err(io_error(&temporary))?;
    let file =
        buffered.into_inner().map_err(|e| SegmentError::Io { path: temporary.clone(), source: e.into_error() })?;
    file.sync_all().map_err(io_error(&temporary))?;
    drop(file);
    fs::rename(&temporary, &path).map_err(io_error(&path))?;
    File::open(&dir).and_then(|d| d.sync_all()).map_err(io_error(&dir))?;
    let bytes = fs::metadata(&path).map_err(io_error(&path))?.len();
    Ok((bytes, file_sha256(&path)?))
}

/// SHA-256 of a file, hex.
pub fn file_sha256(path: &Path) -> Result<String, SegmentError> {
    let mut file = File::open(path).map_err(io_error(path))?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0_u8; 1 << 20];
    loop {
        let read = file.read(&mut buffer).map_err(io_error(path))?;
        if read == 0 {
            break;
        }
        hasher.update(&buffer[..read]);
    }
    Ok(hex::encode(hasher.finalize()))
}

/// Every row of a segment, in file order, as the reader's batches.
pub fn read_segment(path: &Path) -> Result<(arrow_schema::SchemaRef, Vec<RecordBatch>), SegmentError> {
    let file = File::open(path).map_err(io_error(path))?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(parquet_error(path))?;
    let schema = builder.schema().clone();
    let reader = builder.build().map_err(parquet_error(path))?;
    let batches = reader.collect::<Result<Vec<_>, _>>().map_err(SegmentError::Arrow)?;
    Ok((schema, batches))
}

/// Calls `each` with every `event_id` stored in a segment (reads that column only).
pub fn for_each_event_id(path: &Path, mut each: impl FnMut(&str)) -> Result<(), SegmentError> {
    let file = File::open(path).map_err(io_error(path))?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(parquet_error(path))?;
    let mask = ProjectionMask::columns(builder.parquet_schema(), [columns::EVENT_ID]);
    let reader = builder.with_projection(mask).build().map_err(parquet_error(path))?;
    for batch in reader {
        let batch = batch.map_err(SegmentError::Arrow)?;
        for id in batch.column(0).as_string::<i32>().iter().flatten() {
            each(id);
        }
    }
    Ok(())
}
