//! The Tantivy index: one part per sealed segment, pointing to its rows.
//!
//! A part lives at `index/dt=DAY/NAME/` beside `segments/dt=DAY/NAME.parquet`
//! and holds one document per row: the id columns as exact terms, `action`,
//! `resource`, `message` and `raw` as text, `time` as a fast field, and
//! `row`, the row's position in the segment. A lookup answers with row
//! numbers, which a reader turns into a Parquet row selection.
//!
//! A part is written by the seal, after its segment and before the manifest
//! that lists both, under a temporary name renamed into place: after a crash
//! a listed segment has its whole part or none, and opening the store
//! rebuilds a missing part from the segment itself ([`rebuild_part`]). One
//! part per segment keeps the index and the segments in step without a
//! second commit protocol, and lets a segment and its part be verified,
//! moved or deleted together.

use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};

use agentrail_event::columns;
use arrow_array::cast::AsArray;
use arrow_array::types::{Int32Type, TimestampMicrosecondType};
use arrow_array::{Array, ArrayAccessor, RecordBatch};
use arrow_array::{StringArray, TypedDictionaryArray};
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use tantivy::collector::{Collector, SegmentCollector};
use tantivy::columnar::Column;
use tantivy::query::{BooleanQuery, Occur, Query, QueryParser, TermQuery, TermSetQuery};
use tantivy::schema::{
    DateOptions, DateTimePrecision, FAST, Field, IndexRecordOption, Schema, TextFieldIndexing, TextOptions,
};
use tantivy::tokenizer::TokenizerManager;
use tantivy::{DateTime, Index, IndexReader, IndexWriter, ReloadPolicy, Score, SegmentReader, TantivyDocument, Term};

use crate::segment::SegmentMeta;

/// Columns indexed as exact terms: what replay, expansion and `WHERE id = …`
/// look up. A query's equality or `IN` on one of these goes to the index.
pub const ID_COLUMNS: &[&str] = &[
    columns::EVENT_ID,
    columns::CORRELATION_ID,
    columns::TRACE_ID,
    columns::AGENT_ID,
    columns::TASK_ID,
    columns::CREDENTIAL_ID,
    columns::ON_BEHALF_OF,
    columns::SESSION_ID,
    columns::REQUEST_ID,
];

/// Low-cardinality columns also kept as exact terms, for `search()` only
/// (`source:github AND outcome:denied`): too unselective to route a plain
/// equality through the index.
const KEYWORD_COLUMNS: &[&str] = &[columns::SOURCE, columns::ACTION_CLASS, columns::OUTCOME];

/// Columns indexed as words: the default fields of a `search()` query.
pub const TEXT_COLUMNS: &[&str] = &[columns::ACTION, columns::RESOURCE, columns::MESSAGE, columns::RAW];

const ROW: &str = "row";

/// Memory the indexer may use before it flushes a Tantivy segment.
const WRITER_MEMORY: usize = 64 << 20;

/// Why a part could not be written, opened or searched.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error("index part {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("index part {path}: {source}")]
    Tantivy {
        path: PathBuf,
        #[source]
        source: tantivy::TantivyError,
    },
    #[error("rebuilding the index part of {path}: {source}")]
    Parquet {
        path: PathBuf,
        #[source]
        source: parquet::errors::ParquetError,
    },
    #[error("rebuilding the index part of {path}: {source}")]
    Arrow {
        path: PathBuf,
        #[source]
        source: arrow_schema::ArrowError,
    },
    #[error("column {column} of {path} is not of the type the index expects")]
    ColumnType { path: PathBuf, column: &'static str },
    #[error("search query {query:?}: {reason}")]
    BadSearch { query: String, reason: String },
}

/// The part of a segment, relative to the data directory:
/// `segments/dt=D/N.parquet` → `index/dt=D/N`.
pub fn part_path(segment_path: &str) -> String {
    let stem = segment_path.strip_suffix(".parquet").unwrap_or(segment_path);
    match stem.strip_prefix("segments/") {
        Some(rest) => format!("index/{rest}"),
        None => format!("index/{stem}"),
    }
}

/// The index's fields, by role.
#[derive(Debug, Clone)]
struct Fields {
    schema: Schema,
    /// `(column, field)` for every column indexed as one exact term.
    exact: Vec<(&'static str, Field)>,
    text: Vec<(&'static str, Field)>,
    time: Field,
    row: Field,
}

impl Fields {
    fn new() -> Fields {
        let mut builder = Schema::builder();
        // Matches are ordered by time, never scored: no field norms (a byte
        // per document and field) and, on exact terms, no frequencies.
        let exact_terms = TextOptions::default().set_indexing_options(
            TextFieldIndexing::default()
                .set_tokenizer("raw")
                .set_index_option(IndexRecordOption::Basic)
                .set_fieldnorms(false),
        );
        let exact = ID_COLUMNS
            .iter()
            .chain(KEYWORD_COLUMNS)
            .map(|c| (*c, builder.add_text_field(c, exact_terms.clone())))
            .collect();
        // Positions make phrase queries work (`message:"access denied"`), and
        // with them a search for a value the tokenizer splits (`i-0a7f34c3`).
        let words = TextOptions::default().set_indexing_options(
            TextFieldIndexing::default()
                .set_tokenizer("default")
                .set_index_option(IndexRecordOption::WithFreqsAndPositions)
                .set_fieldnorms(false),
        );
        let text = TEXT_COLUMNS.iter().map(|c| (*c, builder.add_text_field(c, words.clone()))).collect();
        let time = builder.add_date_field(
            columns::TIME,
            DateOptions::default().set_indexed().set_fast().set_precision(DateTimePrecision::Microseconds),
        );
        let row = builder.add_u64_field(ROW, FAST);
        Fields { schema: builder.build(), exact, text, time, row }
    }

    fn exact(&self, column: &str) -> Option<Field> {
        self.exact.iter().find(|(name, _)| *name == column).map(|(_, field)| *field)
    }
}

fn tantivy_error(path: &Path) -> impl FnOnce(tantivy::TantivyError) -> IndexError + '_ {
    move |source| IndexError::Tantivy { path: path.to_owned(), source }
}

fn io_error(path: &Path) -> impl FnOnce(io::Error) -> IndexError + '_ {
    move |source| IndexError::Io { path: path.to_owned(), source }
}

/// Builds one part from batches of a segment's rows, in the segment's order.
struct PartWriter {
    fields: Fields,
    writer: IndexWriter,
    temporary: PathBuf,
    target: PathBuf,
    /// The segment's path, kept as the commit's payload: a part names the
    /// segment it indexes, so a part in the wrong place is caught.
    segment_path: String,
    next_row: u64,
}

impl PartWriter {
    fn create(data_dir: &Path, segment_path: &str) -> Result<PartWriter, IndexError> {
        let target = data_dir.join(part_path(segment_path));
        let parent = target.parent().unwrap_or(data_dir).to_owned();
        let name = target.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let temporary = parent.join(format!(".{name}.tmp"));
        if temporary.exists() {
            fs::remove_dir_all(&temporary).map_err(io_error(&temporary))?;
        }
        fs::create_dir_all(&temporary).map_err(io_error(&temporary))?;
        let fields = Fields::new();
        let index = Index::create_in_dir(&temporary, fields.schema.clone()).map_err(tantivy_error(&temporary))?;
        // One indexing thread: the seal runs beside ingestion on few cores.
        let writer = index.writer_with_num_threads(1, WRITER_MEMORY).map_err(tantivy_error(&temporary))?;
        Ok(PartWriter { fields, writer, temporary, target, segment_path: segment_path.to_owned(), next_row: 0 })
    }

    fn add_batch(&mut self, batch: &RecordBatch) -> Result<(), IndexError> {
        let text_column = |column: &'static str| {
            batch
                .column_by_name(column)
                .and_then(|array| TextColumn::of(array.as_ref()))
                .ok_or_else(|| IndexError::ColumnType { path: self.target.clone(), column })
        };
        let columns_of = |fields: &[(&'static str, Field)]| {
            fields
                .iter()
                .map(|(column, field)| Ok((*field, text_column(column)?)))
                .collect::<Result<Vec<_>, IndexError>>()
        };
        let exact = columns_of(&self.fields.exact)?;
        let text = columns_of(&self.fields.text)?;
        let times = batch
            .column_by_name(columns::TIME)
            .and_then(|array| array.as_primitive_opt::<TimestampMicrosecondType>())
            .ok_or_else(|| IndexError::ColumnType { path: self.target.clone(), column: columns::TIME })?;
        for row in 0..batch.num_rows() {
            let mut document = TantivyDocument::new();
            for (field, values) in exact.iter().chain(&text) {
                if let Some(value) = values.get(row) {
                    document.add_text(*field, value);
                }
            }
            if times.is_valid(row) {
                document.add_date(self.fields.time, DateTime::from_timestamp_micros(times.value(row)));
            }
            document.add_u64(self.fields.row, self.next_row);
            self.next_row += 1;
            self.writer.add_document(document).map_err(tantivy_error(&self.temporary))?;
        }
        Ok(())
    }

    /// Commits (Tantivy fsyncs its files), then renames the part into place.
    fn finish(mut self) -> Result<(), IndexError> {
        let mut commit = self.writer.prepare_commit().map_err(tantivy_error(&self.temporary))?;
        commit.set_payload(&self.segment_path);
        commit.commit().map_err(tantivy_error(&self.temporary))?;
        self.writer.wait_merging_threads().map_err(tantivy_error(&self.temporary))?;
        if self.target.exists() {
            fs::remove_dir_all(&self.target).map_err(io_error(&self.target))?;
        }
        fs::rename(&self.temporary, &self.target).map_err(io_error(&self.target))?;
        let parent = self.target.parent().map(Path::to_owned).unwrap_or_default();
        File::open(&parent).and_then(|d| d.sync_all()).map_err(io_error(&parent))?;
        Ok(())
    }
}

/// A text column as segments store it: plain, or dictionary-encoded (`source`).
enum TextColumn<'a> {
    Plain(&'a StringArray),
    Dictionary(TypedDictionaryArray<'a, Int32Type, StringArray>),
}

impl<'a> TextColumn<'a> {
    fn of(array: &'a dyn Array) -> Option<TextColumn<'a>> {
        if let Some(plain) = array.as_string_opt::<i32>() {
            return Some(TextColumn::Plain(plain));
        }
        array.as_dictionary_opt::<Int32Type>()?.downcast_dict::<StringArray>().map(TextColumn::Dictionary)
    }

    fn get(&self, row: usize) -> Option<&'a str> {
        match self {
            TextColumn::Plain(values) => values.is_valid(row).then(|| values.value(row)),
            TextColumn::Dictionary(values) => values.is_valid(row).then(|| values.value(row)),
        }
    }
}

/// Writes the part of the segment `segment_path` whose rows, in order, are `batch`.
pub fn write_part(data_dir: &Path, segment_path: &str, batch: &RecordBatch) -> Result<(), IndexError> {
    let mut writer = PartWriter::create(data_dir, segment_path)?;
    writer.add_batch(batch)?;
    writer.finish()
}

/// Whether a segment's part is in place (its Tantivy metadata exists).
pub fn has_part(data_dir: &Path, segment: &SegmentMeta) -> bool {
    data_dir.join(part_path(&segment.path)).join("meta.json").is_file()
}

/// Writes a segment's part again from the segment's own rows.
pub fn rebuild_part(data_dir: &Path, segment: &SegmentMeta) -> Result<(), IndexError> {
    let path = data_dir.join(&segment.path);
    let parquet_error = |source| IndexError::Parquet { path: path.clone(), source };
    let file = File::open(&path).map_err(io_error(&path))?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(parquet_error)?;
    let wanted = ID_COLUMNS.iter().chain(KEYWORD_COLUMNS).chain(TEXT_COLUMNS).chain([&columns::TIME]).copied();
    let mask = ProjectionMask::columns(builder.parquet_schema(), wanted);
    let reader = builder.with_projection(mask).with_batch_size(8192).build().map_err(parquet_error)?;
    let mut writer = PartWriter::create(data_dir, &segment.path)?;
    for batch in reader {
        let batch = batch.map_err(|source| IndexError::Arrow { path: path.clone(), source })?;
        writer.add_batch(&batch)?;
    }
    writer.finish()
}

/// What to look up in every part: all conditions must hold.
#[derive(Debug, Clone, Default)]
pub struct IndexQuery {
    /// `(column, values)`: the column equals one of the values.
    pub terms: Vec<(String, Vec<String>)>,
    /// Tantivy query strings (`search('…')`).
    pub searches: Vec<String>,
}

impl IndexQuery {
    pub fn is_empty(&self) -> bool {
        self.terms.is_empty() && self.searches.is_empty()
    }

    /// Compiles the query once for every part (they share one schema).
    /// A search string that does not parse is refused here, with the reason.
    pub fn compile(&self) -> Result<CompiledQuery, IndexError> {
        let fields = Fields::new();
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        for (column, values) in &self.terms {
            let field = fields.exact(column).ok_or_else(|| IndexError::BadSearch {
                query: column.clone(),
                reason: format!("{column} is not an indexed id column"),
            })?;
            let terms = values.iter().map(|value| Term::from_field_text(field, value));
            clauses.push((Occur::Must, any_of(terms)));
        }
        if !self.searches.is_empty() {
            let defaults = fields.text.iter().map(|(_, field)| *field).collect();
            let mut parser = QueryParser::new(fields.schema.clone(), defaults, TokenizerManager::default());
            // `delete prod` means both words, as in every log search box.
            parser.set_conjunction_by_default();
            for search in &self.searches {
                let parsed = parser
                    .parse_query(search)
                    .map_err(|e| IndexError::BadSearch { query: search.clone(), reason: e.to_string() })?;
                clauses.push((Occur::Must, parsed));
            }
        }
        Ok(CompiledQuery { query: BooleanQuery::new(clauses) })
    }
}

/// Lists up to this long become one term query per value: a
/// `TermSetQuery` builds an FST of its terms, whose builder alone costs more
/// than a millisecond, paid on every lookup.
const MAX_TERM_QUERIES: usize = 64;

/// A query matching documents with any of `terms`.
fn any_of(terms: impl ExactSizeIterator<Item = Term>) -> Box<dyn Query> {
    if terms.len() > MAX_TERM_QUERIES {
        return Box::new(TermSetQuery::new(terms));
    }
    let mut queries: Vec<Box<dyn Query>> =
        terms.map(|term| Box::new(TermQuery::new(term, IndexRecordOption::Basic)) as Box<dyn Query>).collect();
    match queries.len() {
        1 => queries.remove(0),
        _ => Box::new(BooleanQuery::union(queries)),
    }
}

/// An [`IndexQuery`] ready to run against any part.
#[derive(Debug)]
pub struct CompiledQuery {
    query: BooleanQuery,
}

/// Why a segment's part cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum PartProblem {
    #[error("it has no index part")]
    Missing,
    #[error("its index part cannot be read: {0}")]
    Damaged(IndexError),
    #[error("its index part has {documents} documents for {rows} rows")]
    Disagrees { documents: u64, rows: u64 },
    #[error("its index part was written for {0:?}")]
    Misplaced(String),
}

/// An open index part.
pub struct IndexPart {
    path: PathBuf,
    reader: IndexReader,
    /// The segment the part was written for.
    segment_path: String,
}

impl std::fmt::Debug for IndexPart {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IndexPart").field("path", &self.path).finish()
    }
}

impl IndexPart {
    /// Opens a segment's part; `None` when it has none (not yet rebuilt).
    pub fn open(data_dir: &Path, segment: &SegmentMeta) -> Result<Option<IndexPart>, IndexError> {
        if !has_part(data_dir, segment) {
            return Ok(None);
        }
        let path = data_dir.join(part_path(&segment.path));
        let index = Index::open_in_dir(&path).map_err(tantivy_error(&path))?;
        let payload = index.load_metas().map_err(tantivy_error(&path))?.payload;
        let reader =
            index.reader_builder().reload_policy(ReloadPolicy::Manual).try_into().map_err(tantivy_error(&path))?;
        Ok(Some(IndexPart { path, reader, segment_path: payload.unwrap_or_default() }))
    }

    /// Opens a segment's part and checks that it has one document per row
    /// of the segment: the only part a lookup may trust.
    pub fn open_checked(data_dir: &Path, segment: &SegmentMeta) -> Result<IndexPart, PartProblem> {
        let part = IndexPart::open(data_dir, segment).map_err(PartProblem::Damaged)?.ok_or(PartProblem::Missing)?;
        if part.segment_path != segment.path {
            return Err(PartProblem::Misplaced(part.segment_path));
        }
        match part.documents() {
            documents if documents == segment.rows => Ok(part),
            documents => Err(PartProblem::Disagrees { documents, rows: segment.rows }),
        }
    }

    /// The rows of the segment that match, in ascending order.
    pub fn rows(&self, query: &CompiledQuery) -> Result<Vec<u32>, IndexError> {
        let collector = TimedRowCollector { with_time: false };
        let mut rows: Vec<u32> = self.search(query, &collector)?.into_iter().map(|m| m.row).collect();
        rows.sort_unstable();
        Ok(rows)
    }

    /// The rows that match with their event time (µs), in no order: what a
    /// "newest first" lookup ranks.
    pub fn timed_rows(&self, query: &CompiledQuery) -> Result<Vec<TimedRow>, IndexError> {
        self.search(query, &TimedRowCollector { with_time: true })
    }

    fn search(&self, query: &CompiledQuery, collector: &TimedRowCollector) -> Result<Vec<TimedRow>, IndexError> {
        self.reader.searcher().search(&query.query, collector).map_err(tantivy_error(&self.path))
    }

    /// Documents in the part: the segment's row count when they agree.
    pub fn documents(&self) -> u64 {
        self.reader.searcher().num_docs()
    }
}

/// A matching row of a segment and its event time in µs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct TimedRow {
    pub time_us: i64,
    pub row: u32,
}

/// Collects the `row` fast field of every matching document, and its
/// `time` when asked (an id lookup does not need it: it is a second column
/// read per match on the replay path).
struct TimedRowCollector {
    with_time: bool,
}

struct TimedRowSegmentCollector {
    rows: Column<u64>,
    times: Option<Column<DateTime>>,
    found: Vec<TimedRow>,
}

impl Collector for TimedRowCollector {
    type Fruit = Vec<TimedRow>;
    type Child = TimedRowSegmentCollector;

    fn for_segment(&self, _segment: u32, reader: &SegmentReader) -> tantivy::Result<TimedRowSegmentCollector> {
        let fast = reader.fast_fields();
        let times = if self.with_time { Some(fast.date(columns::TIME)?) } else { None };
        Ok(TimedRowSegmentCollector { rows: fast.u64(ROW)?, times, found: Vec::new() })
    }

    fn requires_scoring(&self) -> bool {
        false
    }

    fn merge_fruits(&self, fruits: Vec<Vec<TimedRow>>) -> tantivy::Result<Vec<TimedRow>> {
        Ok(fruits.concat())
    }
}

impl SegmentCollector for TimedRowSegmentCollector {
    type Fruit = Vec<TimedRow>;

    fn collect(&mut self, doc: u32, _score: Score) {
        if let Some(row) = self.rows.first(doc) {
            // Every event has a time; a document without one would sort oldest.
            let time = self.times.as_ref().and_then(|times| times.first(doc));
            let time_us = time.map_or(i64::MIN, DateTime::into_timestamp_micros);
            // Segments hold far fewer than 2^32 rows.
            self.found.push(TimedRow { time_us, row: row as u32 });
        }
    }

    fn harvest(self) -> Vec<TimedRow> {
        self.found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_sit_beside_their_segments() {
        assert_eq!(part_path("segments/dt=2026-11-22/0001-0002.parquet"), "index/dt=2026-11-22/0001-0002");
    }

    #[test]
    fn a_search_that_does_not_parse_says_why() {
        let query = IndexQuery { searches: vec!["message:(unclosed".into()], ..IndexQuery::default() };
        let error = query.compile().expect_err("refused");
        assert!(error.to_string().contains("message:(unclosed"), "{error}");
        let query = IndexQuery { terms: vec![("raw".into(), vec!["x".into()])], ..IndexQuery::default() };
        assert!(query.compile().is_err(), "raw is not an exact-term column");
    }
}
