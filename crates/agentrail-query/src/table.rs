//! The `events` and `quarantine` tables: the segments a manifest lists, as
//! one DataFusion table each.
//!
//! Only listed segments are read (a file in the directory that no manifest
//! lists is not data). Time-range predicates prune whole segments with the
//! manifest's min/max times before any file is opened; within a file,
//! DataFusion's Parquet reader prunes row groups and pages with the same
//! predicates (statistics, page index, bloom filters on the id columns) and
//! caches footers in the session's metadata cache. On `events`, id
//! conditions and `search()` go to the index first ([`crate::lookup`]).

use std::path::Path;
use std::sync::{Arc, PoisonError, RwLock};

use agentrail_store::SegmentMeta;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::{DataFusionError, Result as DfResult, ScalarValue};
use datafusion::datasource::TableType;
use datafusion::datasource::file_format::FileFormat;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::PartitionedFile;
use datafusion::datasource::physical_plan::parquet::ParquetRowSelection;
use datafusion::datasource::physical_plan::{FileGroup, FileScanConfigBuilder, ParquetSource};
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::logical_expr::{Between, BinaryExpr, Expr, Operator, TableProviderFilterPushDown};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::empty::EmptyExec;

use crate::lookup::{
    IndexLookupExec, PartCache, SegmentRead, index_query, plan_newest, plan_reads, row_selection, search_argument,
};

/// Where segments' relative paths are: a data directory, or a shared
/// store's prefix in object storage.
#[derive(Debug, Clone)]
pub struct FileLocation {
    /// The object store DataFusion reads through (registered with the session).
    pub store: ObjectStoreUrl,
    /// What goes before a relative path: an absolute directory, or a prefix.
    pub prefix: String,
}

impl FileLocation {
    /// A data directory on the local file system (absolute).
    pub fn local(dir: &Path) -> FileLocation {
        FileLocation { store: ObjectStoreUrl::local_filesystem(), prefix: dir.display().to_string() }
    }

    fn of(&self, relative: &str) -> String {
        format!("{}/{relative}", self.prefix.trim_end_matches('/'))
    }
}

/// A table over a list of Parquet segments sharing one schema.
#[derive(Debug)]
pub struct SegmentTable {
    schema: SchemaRef,
    /// Where the segments' relative paths start from.
    location: FileLocation,
    /// Replaced whole when the manifest changes; a scan keeps the list it started with.
    segments: RwLock<Arc<Vec<SegmentMeta>>>,
    /// The column the segments' min/max times describe.
    time_column: &'static str,
    /// The segments' index parts, for a table that has them (`events`).
    index: Option<Arc<PartCache>>,
    /// A view for "the newest N matches of a search": see [`SegmentTable::newest`].
    newest: Option<usize>,
}

impl SegmentTable {
    pub fn new(
        schema: SchemaRef,
        location: FileLocation,
        segments: Vec<SegmentMeta>,
        time_column: &'static str,
    ) -> Self {
        SegmentTable {
            schema,
            location,
            segments: RwLock::new(Arc::new(segments)),
            time_column,
            index: None,
            newest: None,
        }
    }

    /// A view of the current segments whose scans, when the filters are a
    /// search with time bounds, read only the `limit` newest matches (and
    /// ties): for `ORDER BY time DESC LIMIT n` over a search, which
    /// DataFusion cannot push into a scan. A common word then reads `limit`
    /// rows, not every match. Other filters scan as the table does.
    pub fn newest(&self, limit: usize) -> SegmentTable {
        SegmentTable {
            schema: Arc::clone(&self.schema),
            location: self.location.clone(),
            segments: RwLock::new(self.segments()),
            time_column: self.time_column,
            index: self.index.clone(),
            newest: Some(limit),
        }
    }

    /// The segments of a newer manifest: later scans read these.
    pub fn set_segments(&self, segments: Vec<SegmentMeta>) {
        *self.segments.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(segments);
    }

    /// The segments scans read now.
    pub fn segments(&self) -> Arc<Vec<SegmentMeta>> {
        Arc::clone(&self.segments.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// Looks conditions up in the segments' index parts (see [`crate::lookup`]).
    pub fn with_index(mut self, parts: Arc<PartCache>) -> Self {
        self.index = Some(parts);
        self
    }

    /// Whether the index and the time bounds alone decide `filter`.
    fn search_or_time_bound(&self, filter: &Expr) -> bool {
        search_argument(filter).is_some()
            || TimeBounds::from_filters(self.time_column, std::slice::from_ref(filter)) != TimeBounds::default()
    }

    /// The segments whose time span meets `[lower, upper]` (microseconds).
    fn segments_in(segments: &[SegmentMeta], bounds: TimeBounds) -> impl Iterator<Item = &SegmentMeta> {
        segments.iter().filter(move |segment| {
            bounds.lower.is_none_or(|lower| segment.max_time_us >= lower)
                && bounds.upper.is_none_or(|upper| segment.min_time_us <= upper)
        })
    }
}

#[async_trait::async_trait]
impl TableProvider for SegmentTable {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    /// Every filter is applied again above the scan (`Inexact`): the scan
    /// uses them only to skip segments, row groups, pages and rows. Except
    /// `search()`, which only the index answers (`Exact`).
    fn supports_filters_pushdown(&self, filters: &[&Expr]) -> DfResult<Vec<TableProviderFilterPushDown>> {
        Ok(filters
            .iter()
            .map(|filter| match search_argument(filter) {
                Some(_) if self.index.is_some() => TableProviderFilterPushDown::Exact,
                _ => TableProviderFilterPushDown::Inexact,
            })
            .collect())
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let bounds = TimeBounds::from_filters(self.time_column, filters);
        let segments = self.segments();
        let candidates: Vec<&SegmentMeta> = SegmentTable::segments_in(&segments, bounds).collect();
        let file = |segment: &SegmentMeta| PartitionedFile::new(self.location.of(&segment.path), segment.bytes);
        let query = index_query(filters);
        let (files, lookup) = match &self.index {
            Some(parts) if !query.is_empty() => {
                let newest = self
                    .newest
                    .filter(|_| !query.searches.is_empty() && filters.iter().all(|f| self.search_or_time_bound(f)));
                let (reads, summary) = match newest {
                    Some(limit) => plan_newest(parts, &query, &candidates, (bounds.lower, bounds.upper), limit),
                    None => plan_reads(parts, &query, &candidates),
                }
                .map_err(|e| DataFusionError::Plan(e.to_string()))?;
                let files = candidates
                    .iter()
                    .zip(reads)
                    .filter_map(|(segment, read)| match read {
                        SegmentRead::Skip => None,
                        SegmentRead::Whole => Some(file(segment)),
                        SegmentRead::Rows(rows) => Some(
                            file(segment).with_extension(ParquetRowSelection::new(row_selection(&rows, segment.rows))),
                        ),
                    })
                    .collect();
                (files, Some(summary))
            }
            _ => (candidates.iter().map(|segment| file(segment)).collect::<Vec<_>>(), None),
        };
        tracing::debug!(segments = files.len(), of = segments.len(), ?bounds, ?lookup, "segments to scan");
        let scan: Arc<dyn ExecutionPlan> = if files.is_empty() {
            let schema = match projection {
                Some(indices) => Arc::new(self.schema.project(indices)?),
                None => Arc::clone(&self.schema),
            };
            Arc::new(EmptyExec::new(schema))
        } else {
            let partitions = state.config().target_partitions().max(1);
            let groups = spread(files, partitions);
            let source = Arc::new(ParquetSource::new(Arc::clone(&self.schema)));
            let config = FileScanConfigBuilder::new(self.location.store.clone(), source)
                .with_file_groups(groups)
                .with_projection_indices(projection.cloned())?
                .with_limit(limit)
                .build();
            // ParquetFormat reads through the session's footer cache.
            let format = ParquetFormat::default().with_options(state.table_options().parquet.clone());
            format.create_physical_plan(state, config).await?
        };
        Ok(match lookup {
            Some(summary) => Arc::new(IndexLookupExec::new(scan, summary)),
            None => scan,
        })
    }
}

/// Deals files into `partitions` groups of about equal bytes.
fn spread(mut files: Vec<PartitionedFile>, partitions: usize) -> Vec<FileGroup> {
    files.sort_by_key(|file| std::cmp::Reverse(file.object_meta.size));
    let mut groups: Vec<(u64, Vec<PartitionedFile>)> =
        (0..partitions.min(files.len())).map(|_| (0, Vec::new())).collect();
    for file in files {
        if let Some(lightest) = groups.iter_mut().min_by_key(|(bytes, _)| *bytes) {
            lightest.0 += file.object_meta.size;
            lightest.1.push(file);
        }
    }
    groups.into_iter().map(|(_, files)| FileGroup::new(files)).collect()
}

/// Inclusive bounds on the time column implied by a query's filters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TimeBounds {
    pub lower: Option<i64>,
    pub upper: Option<i64>,
}

impl TimeBounds {
    /// The bounds every row must meet, from the conjunction of `filters`.
    /// Filters it does not understand (OR, functions, other columns) bound
    /// nothing: they are still applied to every row above the scan.
    pub fn from_filters(column: &str, filters: &[Expr]) -> TimeBounds {
        let mut bounds = TimeBounds::default();
        for filter in filters {
            bounds.narrow(column, filter);
        }
        bounds
    }

    fn narrow(&mut self, column: &str, expr: &Expr) {
        match expr {
            Expr::BinaryExpr(BinaryExpr { left, op: Operator::And, right }) => {
                self.narrow(column, left);
                self.narrow(column, right);
            }
            Expr::BinaryExpr(BinaryExpr { left, op, right }) => {
                let (op, value) = match (is_column(left, column), is_column(right, column)) {
                    (true, false) => (*op, micros(right)),
                    (false, true) => match op.swap() {
                        Some(swapped) => (swapped, micros(left)),
                        None => return,
                    },
                    _ => return,
                };
                let Some(value) = value else { return };
                match op {
                    Operator::Eq => {
                        self.raise_lower(value);
                        self.lower_upper(value);
                    }
                    Operator::Gt | Operator::GtEq => self.raise_lower(value),
                    Operator::Lt | Operator::LtEq => self.lower_upper(value),
                    _ => {}
                }
            }
            Expr::Between(Between { expr, negated: false, low, high }) if is_column(expr, column) => {
                if let Some(low) = micros(low) {
                    self.raise_lower(low);
                }
                if let Some(high) = micros(high) {
                    self.lower_upper(high);
                }
            }
            _ => {}
        }
    }

    fn raise_lower(&mut self, value: i64) {
        self.lower = Some(self.lower.map_or(value, |lower| lower.max(value)));
    }

    fn lower_upper(&mut self, value: i64) {
        self.upper = Some(self.upper.map_or(value, |upper| upper.min(value)));
    }
}

/// A UTC timestamp literal of `micros` µs, as the time columns hold.
pub fn time_literal(micros: i64) -> Expr {
    Expr::Literal(ScalarValue::TimestampMicrosecond(Some(micros), Some("UTC".into())), None)
}

fn is_column(expr: &Expr, name: &str) -> bool {
    match expr {
        Expr::Column(column) => column.name == name,
        // The planner may leave a cast of the column to its own type.
        Expr::Cast(cast) => is_column(&cast.expr, name),
        _ => false,
    }
}

/// A timestamp literal in microseconds (any unit, any zone: the value is UTC).
fn micros(expr: &Expr) -> Option<i64> {
    let Expr::Literal(value, _) = expr else { return None };
    match value {
        ScalarValue::TimestampSecond(Some(v), _) => v.checked_mul(1_000_000),
        ScalarValue::TimestampMillisecond(Some(v), _) => v.checked_mul(1_000),
        ScalarValue::TimestampMicrosecond(Some(v), _) => Some(*v),
        ScalarValue::TimestampNanosecond(Some(v), _) => Some(v.div_euclid(1_000)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use datafusion::logical_expr::{col, lit};

    use super::*;

    fn at(micros: i64) -> Expr {
        lit(ScalarValue::TimestampMicrosecond(Some(micros), Some("UTC".into())))
    }

    #[test]
    fn comparisons_and_betweens_bound_the_time_column() {
        let filters = [col("time").gt_eq(at(100)).and(col("time").lt(at(500))), at(300).gt(col("time"))];
        assert_eq!(TimeBounds::from_filters("time", &filters), TimeBounds { lower: Some(100), upper: Some(300) });
        let between = [col("time").between(at(10), at(20))];
        assert_eq!(TimeBounds::from_filters("time", &between), TimeBounds { lower: Some(10), upper: Some(20) });
    }

    #[test]
    fn what_is_not_understood_bounds_nothing() {
        let filters = [
            col("time").gt(at(100)).or(col("time").lt(at(5))),
            col("ingest_time").gt(at(100)),
            col("time").not_between(at(10), at(20)),
            col("agent_id").eq(lit("deploy-bot")),
        ];
        assert_eq!(TimeBounds::from_filters("time", &filters), TimeBounds::default());
    }
}
