//! Search: the newest events matching a `search()` query, optionally within
//! a time range. What `agentrail search` and `GET /api/v1/search` answer.

use agentrail_event::Timestamp;
use datafusion::logical_expr::{col, lit};
use serde_json::{Value, json};

use crate::engine::{QueryEngine, QueryError};
use crate::lookup::search_udf;
use crate::table::time_literal;

/// Most events one search returns unless asked for fewer.
pub const DEFAULT_SEARCH_LIMIT: usize = 100;

/// One search.
#[derive(Debug, Clone)]
pub struct SearchRequest {
    /// Tantivy query syntax (see the README's "Finding events").
    pub query: String,
    /// Events at or after this time.
    pub from: Option<Timestamp>,
    /// Events before this time.
    pub to: Option<Timestamp>,
    /// Most events returned, newest first.
    pub limit: usize,
}

/// The newest matching events.
#[derive(Debug)]
pub struct SearchAnswer {
    pub query: String,
    pub events: Vec<Value>,
    /// More events matched than `limit`.
    pub truncated: bool,
}

impl SearchAnswer {
    pub fn to_json(&self) -> Value {
        json!({
            "query": self.query,
            "returned": self.events.len(),
            "truncated": self.truncated,
            "events": self.events,
        })
    }
}

/// Runs `request`: the index finds the matching rows, the newest `limit` are returned.
pub async fn search(engine: &QueryEngine, request: &SearchRequest) -> Result<SearchAnswer, QueryError> {
    if request.query.trim().is_empty() {
        return Err(QueryError::Sql("the search query is empty".into()));
    }
    let mut filter = search_udf().call(vec![lit(request.query.as_str())]);
    if let Some(from) = request.from {
        filter = filter.and(col("time").gt_eq(time_literal(from.as_micros())));
    }
    if let Some(to) = request.to {
        filter = filter.and(col("time").lt(time_literal(to.as_micros())));
    }
    // One more than asked says whether there were more.
    let mut events = engine.select_newest(filter, Some(request.limit.saturating_add(1))).await?;
    let truncated = events.len() > request.limit;
    events.truncate(request.limit);
    Ok(SearchAnswer { query: request.query.clone(), events, truncated })
}
