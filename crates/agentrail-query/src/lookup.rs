//! Index lookups inside a scan of `events`.
//!
//! The conditions of a query's `WHERE` that the index answers (equality or
//! `IN` on an id column, `search('…')`) are looked up in each candidate
//! segment's part. A segment with no match is not opened at all; a segment
//! with few matches is read through a Parquet row selection of just those
//! rows (pages without them are skipped through the page index). When a
//! lookup matches a large share of a segment, reading the selected rows costs
//! as much as a scan, so that segment is scanned whole and filtered.
//!
//! Id conditions stay `Inexact` (DataFusion filters the rows again);
//! `search()` is `Exact`: only the index can answer it, so the rows it
//! selects are the answer.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use agentrail_store::index::ID_COLUMNS;
use agentrail_store::index::TimedRow;
use agentrail_store::{IndexError, IndexPart, IndexQuery, PartProblem, SegmentMeta};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::{Result as DfResult, ScalarValue, plan_err};
use datafusion::config::ConfigOptions;
use datafusion::execution::TaskContext;
use datafusion::logical_expr::expr::{InList, ScalarFunction};
use datafusion::logical_expr::{
    BinaryExpr, ColumnarValue, Expr, Operator, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use datafusion::parquet::arrow::arrow_reader::{RowSelection, RowSelector};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_plan::filter_pushdown::{FilterDescription, FilterPushdownPhase};
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, PlanProperties, SendableRecordBatchStream,
};

/// The name of the search function.
pub const SEARCH: &str = "search";

/// A segment is read through a row selection only while the index selects at
/// most this share of its rows; beyond it, whole pages hold matches anyway.
const MAX_SELECTED_SHARE: f64 = 0.2;

/// `search('tantivy query')`: true for the events the index matches. It
/// exists only as a condition on `events`, answered by the scan; evaluated
/// anywhere else, it says so.
#[derive(Debug, PartialEq, Eq, Hash)]
struct Search {
    signature: Signature,
}

impl ScalarUDFImpl for Search {
    fn name(&self) -> &str {
        SEARCH
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> DfResult<DataType> {
        Ok(DataType::Boolean)
    }

    fn invoke_with_args(&self, _args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        plan_err!(
            "search('…') is answered by the index of the events table: use it as a condition of its own \
             in the WHERE clause of a query on events, e.g. SELECT * FROM events WHERE search('message:denied') \
             AND agent_id = 'x' (not inside OR, NOT or a SELECT list)"
        )
    }
}

/// The `search` function, to register in a session.
pub fn search_udf() -> ScalarUDF {
    // Stable, not Volatile: volatile filters are never pushed into a scan.
    ScalarUDF::from(Search { signature: Signature::string(1, Volatility::Stable) })
}

/// The search string of a `search('…')` condition.
pub fn search_argument(expr: &Expr) -> Option<&str> {
    let Expr::ScalarFunction(ScalarFunction { func, args }) = expr else { return None };
    if func.name() != SEARCH {
        return None;
    }
    match args.as_slice() {
        [argument] => literal(argument),
        _ => None,
    }
}

/// What of `filters` (AND-ed) the index can answer.
pub fn index_query(filters: &[Expr]) -> IndexQuery {
    let mut query = IndexQuery::default();
    for filter in filters {
        gather(filter, &mut query);
    }
    query
}

fn gather(expr: &Expr, query: &mut IndexQuery) {
    match expr {
        Expr::BinaryExpr(BinaryExpr { left, op: Operator::And, right }) => {
            gather(left, query);
            gather(right, query);
        }
        Expr::BinaryExpr(BinaryExpr { left, op: Operator::Eq, right }) => {
            let pair = match (id_column(left), literal(right)) {
                (Some(column), Some(value)) => Some((column, value)),
                _ => id_column(right).zip(literal(left)),
            };
            if let Some((column, value)) = pair {
                query.terms.push((column.to_owned(), vec![value.to_owned()]));
            }
        }
        Expr::InList(InList { expr, list, negated: false }) => {
            let Some(column) = id_column(expr) else { return };
            let values: Option<Vec<String>> = list.iter().map(|v| literal(v).map(str::to_owned)).collect();
            if let Some(values) = values {
                query.terms.push((column.to_owned(), values));
            }
        }
        _ => {
            if let Some(search) = search_argument(expr) {
                query.searches.push(search.to_owned());
            }
        }
    }
}

fn id_column(expr: &Expr) -> Option<&str> {
    match expr {
        Expr::Column(column) if ID_COLUMNS.contains(&column.name.as_str()) => Some(&column.name),
        _ => None,
    }
}

fn literal(expr: &Expr) -> Option<&str> {
    match expr {
        Expr::Literal(value, _) => string_literal(value),
        _ => None,
    }
}

fn string_literal(value: &ScalarValue) -> Option<&str> {
    match value {
        ScalarValue::Utf8(Some(s)) | ScalarValue::LargeUtf8(Some(s)) | ScalarValue::Utf8View(Some(s)) => Some(s),
        _ => None,
    }
}

/// Open parts, kept for the engine's life: a part never changes once written.
#[derive(Debug)]
pub struct PartCache {
    root: PathBuf,
    parts: Mutex<HashMap<String, Arc<IndexPart>>>,
}

impl PartCache {
    pub fn new(root: &Path) -> PartCache {
        PartCache { root: root.to_owned(), parts: Mutex::new(HashMap::new()) }
    }

    /// Forgets the parts of segments no longer listed.
    pub fn retain(&self, segments: &[SegmentMeta]) {
        let listed: std::collections::HashSet<&str> = segments.iter().map(|s| s.path.as_str()).collect();
        if let Ok(mut parts) = self.parts.lock() {
            parts.retain(|path, _| listed.contains(path.as_str()));
        }
    }

    /// Opens `segment`'s part ahead of its first lookup; false when it has
    /// none that can be used (lookups then scan, as they would anyway).
    pub fn warm(&self, segment: &SegmentMeta) -> bool {
        self.part(segment).is_ok()
    }

    /// A segment's part, if it has one that agrees with the segment. A
    /// missing part is not remembered: a server may be rebuilding it.
    fn part(&self, segment: &SegmentMeta) -> Result<Arc<IndexPart>, PartProblem> {
        if let Some(part) = self.parts.lock().ok().and_then(|parts| parts.get(&segment.path).cloned()) {
            return Ok(part);
        }
        let part = Arc::new(IndexPart::open_checked(&self.root, segment).inspect_err(|problem| {
            if !matches!(problem, PartProblem::Missing) {
                tracing::warn!(segment = %segment.path, %problem, "scanning the segment instead of using its index part");
            }
        })?);
        if let Ok(mut parts) = self.parts.lock() {
            parts.insert(segment.path.clone(), Arc::clone(&part));
        }
        Ok(part)
    }
}

/// How one segment is to be read.
#[derive(Debug)]
pub enum SegmentRead {
    /// No row matches: the file is not opened.
    Skip,
    /// Only these rows (ascending).
    Rows(Vec<u32>),
    /// The whole segment, filtered: no part, or too many matches.
    Whole,
}

/// What the index decided for one scan, shown in `EXPLAIN`.
#[derive(Debug, Clone, Default)]
pub struct LookupSummary {
    pub conditions: String,
    pub segments: usize,
    pub skipped: usize,
    pub selected: usize,
    pub whole: usize,
    pub rows_selected: u64,
    /// Only the newest this many matches were selected.
    pub newest: Option<usize>,
}

/// Decides how to read each segment for `query`: every matching row.
pub fn plan_reads(
    cache: &PartCache,
    query: &IndexQuery,
    segments: &[&SegmentMeta],
) -> Result<(Vec<SegmentRead>, LookupSummary), IndexError> {
    let compiled = query.compile()?;
    let mut reads = Vec::with_capacity(segments.len());
    for segment in segments {
        let read = match cache.part(segment) {
            Err(problem) if !query.searches.is_empty() => return Err(search_refused(query, segment, &problem)),
            Err(_) => SegmentRead::Whole,
            Ok(part) => {
                let rows = part.rows(&compiled)?;
                let share = rows.len() as f64 / segment.rows.max(1) as f64;
                if query.searches.is_empty() && share > MAX_SELECTED_SHARE {
                    SegmentRead::Whole
                } else {
                    SegmentRead::rows(rows)
                }
            }
        };
        reads.push(read);
    }
    let summary = LookupSummary::of(query, &reads, None);
    Ok((reads, summary))
}

/// Decides how to read each segment for the newest `limit` matches of
/// `query` (which holds a search) with a time in `[lower, upper]` (µs):
/// those rows, and any others sharing the oldest of their times, so that
/// the final sort by time breaks ties as it would over every match. Parts
/// are asked newest segment first, and a segment that ends before the
/// `limit`-th newest match found so far is not asked at all.
///
/// The bounds may be wider than the query's (`time < t` gives `upper = t`):
/// matches at exactly `upper` are read but not counted toward `limit`, so
/// however the exact filter above the scan treats them, `limit` rows remain.
pub fn plan_newest(
    cache: &PartCache,
    query: &IndexQuery,
    segments: &[&SegmentMeta],
    (lower, upper): (Option<i64>, Option<i64>),
    limit: usize,
) -> Result<(Vec<SegmentRead>, LookupSummary), IndexError> {
    let compiled = query.compile()?;
    let mut order: Vec<usize> = (0..segments.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(segments[i].max_time_us));
    // The `limit` newest counted times so far; its minimum is the threshold.
    let mut newest: BinaryHeap<Reverse<i64>> = BinaryHeap::with_capacity(limit + 1);
    let threshold = |newest: &BinaryHeap<Reverse<i64>>| match newest.peek() {
        Some(Reverse(time)) if newest.len() >= limit => *time,
        _ => i64::MIN,
    };
    let mut found: Vec<Vec<TimedRow>> = vec![Vec::new(); segments.len()];
    for i in order {
        let segment = segments[i];
        if limit == 0 || segment.max_time_us < threshold(&newest) {
            continue;
        }
        let part = cache.part(segment).map_err(|problem| search_refused(query, segment, &problem))?;
        let mut matches = part.timed_rows(&compiled)?;
        matches.retain(|m| lower.is_none_or(|l| m.time_us >= l) && upper.is_none_or(|u| m.time_us <= u));
        for m in &matches {
            if upper.is_none_or(|u| m.time_us < u) {
                newest.push(Reverse(m.time_us));
                if newest.len() > limit {
                    newest.pop();
                }
            }
        }
        found[i] = matches;
    }
    let threshold = threshold(&newest);
    let reads: Vec<SegmentRead> = found
        .into_iter()
        .map(|matches| {
            let mut rows: Vec<u32> = matches.iter().filter(|m| m.time_us >= threshold).map(|m| m.row).collect();
            rows.sort_unstable();
            SegmentRead::rows(rows)
        })
        .collect();
    let summary = LookupSummary::of(query, &reads, Some(limit));
    Ok((reads, summary))
}

fn search_refused(query: &IndexQuery, segment: &SegmentMeta, problem: &PartProblem) -> IndexError {
    IndexError::BadSearch {
        query: query.searches.join(" AND "),
        reason: format!(
            "search() cannot answer for segment {}: {problem}; \
             the store rebuilds index parts when it opens (`agentrail serve` or `agentrail ingest`)",
            segment.path
        ),
    }
}

impl SegmentRead {
    /// The rows to read, or nothing to read when there are none.
    fn rows(rows: Vec<u32>) -> SegmentRead {
        if rows.is_empty() { SegmentRead::Skip } else { SegmentRead::Rows(rows) }
    }
}

impl LookupSummary {
    fn of(query: &IndexQuery, reads: &[SegmentRead], newest: Option<usize>) -> LookupSummary {
        let mut summary =
            LookupSummary { conditions: describe(query), segments: reads.len(), newest, ..LookupSummary::default() };
        for read in reads {
            match read {
                SegmentRead::Skip => summary.skipped += 1,
                SegmentRead::Rows(rows) => {
                    summary.selected += 1;
                    summary.rows_selected += rows.len() as u64;
                }
                SegmentRead::Whole => summary.whole += 1,
            }
        }
        summary
    }
}

fn describe(query: &IndexQuery) -> String {
    let terms = query.terms.iter().map(|(column, values)| match values.as_slice() {
        [one] => format!("{column} = {one:?}"),
        many => format!("{column} IN ({} values)", many.len()),
    });
    let searches = query.searches.iter().map(|s| format!("search({s:?})"));
    terms.chain(searches).collect::<Vec<_>>().join(" AND ")
}

/// The rows `rows` (ascending, distinct) of a file of `total` rows.
pub fn row_selection(rows: &[u32], total: u64) -> RowSelection {
    let mut selectors = Vec::new();
    let mut next: u64 = 0;
    let mut run_start: Option<u64> = None;
    for &row in rows {
        let row = u64::from(row);
        match run_start {
            Some(_) if row == next => {}
            _ => {
                if let Some(start) = run_start {
                    selectors.push(RowSelector::select((next - start) as usize));
                }
                // `next` is where the previous run ended (or 0).
                selectors.push(RowSelector::skip((row - next) as usize));
                run_start = Some(row);
            }
        }
        next = row + 1;
    }
    if let Some(start) = run_start {
        selectors.push(RowSelector::select((next - start) as usize));
    }
    if total > next {
        selectors.push(RowSelector::skip((total - next) as usize));
    }
    selectors.retain(|s| s.row_count > 0);
    RowSelection::from(selectors)
}

/// A transparent node above the Parquet scan that shows in `EXPLAIN` what
/// the index decided: how many segments it skipped, read by row selection
/// or left whole, and how many rows it selected.
#[derive(Debug)]
pub struct IndexLookupExec {
    input: Arc<dyn ExecutionPlan>,
    summary: LookupSummary,
}

impl IndexLookupExec {
    pub fn new(input: Arc<dyn ExecutionPlan>, summary: LookupSummary) -> IndexLookupExec {
        IndexLookupExec { input, summary }
    }

    pub fn summary(&self) -> &LookupSummary {
        &self.summary
    }
}

impl DisplayAs for IndexLookupExec {
    fn fmt_as(&self, _format: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        let s = &self.summary;
        write!(
            f,
            "IndexLookupExec: {}, segments={}, skipped={}, by_rows={}, whole={}, rows_selected={}",
            s.conditions, s.segments, s.skipped, s.selected, s.whole, s.rows_selected
        )?;
        match s.newest {
            Some(limit) => write!(f, ", newest={limit}"),
            None => Ok(()),
        }
    }
}

impl ExecutionPlan for IndexLookupExec {
    fn name(&self) -> &str {
        "IndexLookupExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        self.input.properties()
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> DfResult<TreeNodeRecursion>,
    ) -> DfResult<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn with_new_children(self: Arc<Self>, children: Vec<Arc<dyn ExecutionPlan>>) -> DfResult<Arc<dyn ExecutionPlan>> {
        match <[_; 1]>::try_from(children) {
            Ok([input]) => Ok(Arc::new(IndexLookupExec { input, summary: self.summary.clone() })),
            Err(children) => plan_err!("IndexLookupExec takes one input, not {}", children.len()),
        }
    }

    /// Filters above pass through to the Parquet scan, which prunes with them.
    fn gather_filters_for_pushdown(
        &self,
        _phase: FilterPushdownPhase,
        parent_filters: Vec<Arc<dyn PhysicalExpr>>,
        _config: &ConfigOptions,
    ) -> DfResult<FilterDescription> {
        FilterDescription::from_children(parent_filters, &self.children())
    }

    fn execute(&self, partition: usize, context: Arc<TaskContext>) -> DfResult<SendableRecordBatchStream> {
        self.input.execute(partition, context)
    }
}

#[cfg(test)]
mod tests {
    use datafusion::logical_expr::{col, lit};

    use super::*;

    fn selected(selection: &RowSelection) -> Vec<(bool, usize)> {
        selection.iter().map(|s| (s.skip, s.row_count)).collect()
    }

    #[test]
    fn rows_become_runs_of_skips_and_selects_covering_the_file() {
        let selection = row_selection(&[0, 1, 2, 7, 9, 10], 12);
        assert_eq!(selected(&selection), vec![(false, 3), (true, 4), (false, 1), (true, 1), (false, 2), (true, 1)]);
        let total: usize = selection.iter().map(|s| s.row_count).sum();
        assert_eq!(total, 12);
        assert_eq!(selected(&row_selection(&[11], 12)), vec![(true, 11), (false, 1)]);
    }

    #[test]
    fn ids_and_searches_go_to_the_index_other_conditions_do_not() {
        let filters = [
            col("correlation_id").eq(lit("inc-1")).and(lit("bot").eq(col("agent_id"))),
            col("trace_id").in_list(vec![lit("a"), lit("b")], false),
            search_udf().call(vec![lit("message:denied")]),
            col("action").eq(lit("DeleteLogGroup")),
            col("task_id").in_list(vec![lit("t")], true),
            col("credential_id").eq(lit("k")).or(col("agent_id").eq(lit("bot"))),
        ];
        let query = index_query(&filters);
        let columns: Vec<&str> = query.terms.iter().map(|(c, _)| c.as_str()).collect();
        assert_eq!(columns, ["correlation_id", "agent_id", "trace_id"]);
        assert_eq!(query.terms[2].1, ["a", "b"]);
        assert_eq!(query.searches, ["message:denied"]);
    }
}
