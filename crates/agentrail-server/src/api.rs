//! The read API: what investigators and tools ask of the stored events.
//!
//! - `POST /api/v1/query`: `{"sql": "…"}` or `{"name": "…", "params": {…}}`,
//!   optional `"format"`: `json` (default: `{"columns", "rows", "row_count"}`),
//!   `csv`, or `arrow` (an Arrow IPC stream); an `Accept` header of
//!   `text/csv` or `application/vnd.apache.arrow.stream` does the same.
//! - `GET /api/v1/search?q=…[&from=…][&to=…][&limit=…]`: the newest matching events.
//! - `GET /api/v1/replay/{correlation_id}[?expand=true]`: the incident replay.
//! - `GET /api/v1/queries`: the named queries and their parameters.
//! - `GET /api/v1/reports…`: the anomaly reports ([`crate::report_api`]).
//! - `GET /api/v1/verify`: the store checked against its signed digest chain ([`crate::verify_api`]).
//!
//! - `GET /api/v1/rules[/{name}]`: the anomaly rules ([`crate::rules_api`]).
//!
//! - `POST /api/v1/admin/retention[?dry_run=true]`, `POST /api/v1/admin/compact[?dry_run=true]`,
//!   `POST /api/v1/admin/rotate-key`
//!   ([`crate::admin_api`]), `PUT` and `DELETE /api/v1/admin/rules/{name}`
//!   ([`crate::rules_api`]): the `admin` role.
//!
//! Every other route needs a token with the `analyst` role (or `admin`) when tokens are
//! configured. Queries are read-only and run within the configured limits;
//! the engine picks up newly sealed segments before each request.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use agentrail_event::Timestamp;
use agentrail_query::{
    Answer, DEFAULT_SEARCH_LIMIT, NamedQueries, NamedQueryError, OutputFormat, QueryEngine, QueryError, SearchRequest,
    render,
};
use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::admin_api;
use crate::http::{HttpConfig, Refusal, Role, authorize, problem};
use crate::metrics::Metrics;
use crate::report_api;
use crate::rules_api;
use crate::scheduler::ReportsView;
use crate::verify_api::{self, Verifier};
use crate::writer::Writer;
use agentrail_store::RetentionPolicy;

/// Largest query request body: SQL and parameters, not data.
const MAX_QUERY_BODY: usize = 1 << 20;
/// Longest correlation id or search string accepted.
const MAX_ID_BYTES: usize = 1024;
/// Most events one search may ask for.
const MAX_SEARCH_LIMIT: usize = 10_000;

const ARROW_STREAM: &str = "application/vnd.apache.arrow.stream";

#[derive(Clone)]
pub(crate) struct ApiState {
    pub(crate) engine: Arc<QueryEngine>,
    pub(crate) named: Arc<NamedQueries>,
    pub(crate) config: Arc<HttpConfig>,
    pub(crate) metrics: Metrics,
    /// The scheduler's history, when it runs.
    pub(crate) reports: Option<ReportsView>,
    pub(crate) verifier: Arc<Verifier>,
    /// For the admin routes: the writer applies retention.
    pub(crate) writer: Writer,
    pub(crate) retention: Arc<RetentionPolicy>,
    /// For the admin routes: what `POST /api/v1/admin/compact` merges.
    pub(crate) compaction: Arc<agentrail_store::CompactionPolicy>,
}

/// The read API's routes.
pub(crate) fn routes(state: ApiState) -> Router {
    Router::new()
        .route("/api/v1/query", post(query))
        .route("/api/v1/search", get(search))
        .route("/api/v1/replay/{correlation_id}", get(replay))
        .route("/api/v1/queries", get(list_queries))
        .route("/api/v1/reports", get(report_api::current))
        .route("/api/v1/reports/runs", get(report_api::runs))
        .route("/api/v1/reports/runs/{id}", get(report_api::run))
        .route("/api/v1/verify", get(verify_api::verify))
        .route("/api/v1/admin/retention", post(admin_api::retention))
        .route("/api/v1/admin/compact", post(admin_api::compact))
        .route("/api/v1/admin/rotate-key", post(admin_api::rotate_key))
        .route("/api/v1/rules", get(rules_api::list))
        .route("/api/v1/rules/{name}", get(rules_api::get_one))
        .route("/api/v1/admin/rules/{name}", put(rules_api::put).delete(rules_api::delete))
        // Bodies a little over the limit are read whole and refused by the
        // handler with a reason; far larger ones are cut off by axum.
        .layer(DefaultBodyLimit::max(8 * MAX_QUERY_BODY))
        .with_state(state)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct QueryRequest {
    sql: Option<String>,
    name: Option<String>,
    #[serde(default)]
    params: BTreeMap<String, String>,
    format: Option<Format>,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Format {
    Json,
    Csv,
    Arrow,
}

#[derive(Debug, Serialize)]
struct Column {
    name: String,
    #[serde(rename = "type")]
    data_type: String,
}

/// Runs `work` after the checks every route shares (the analyst role,
/// fresh segments) and counts it.
pub(crate) async fn answered<F, Fut>(state: &ApiState, headers: &HeaderMap, work: F) -> Response
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Result<Response, Refusal>>,
{
    answered_as(Role::Analyst, state, headers, work).await
}

/// [`answered`] for a route that needs `role`.
pub(crate) async fn answered_as<F, Fut>(role: Role, state: &ApiState, headers: &HeaderMap, work: F) -> Response
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Result<Response, Refusal>>,
{
    let started = Instant::now();
    state.metrics.api_requests.add(1);
    let result = async {
        authorize(&state.config, headers, role)?;
        state.engine.refresh().map_err(query_refusal)?;
        work().await
    }
    .await;
    state.metrics.api_seconds.observe(started.elapsed().as_secs_f64());
    result.unwrap_or_else(|refusal| {
        state.metrics.api_errors.add(1);
        refusal.into_response()
    })
}

async fn query(State(state): State<ApiState>, headers: HeaderMap, body: Result<Bytes, BytesRejection>) -> Response {
    answered(&state, &headers, || async {
        let too_large = || {
            problem(StatusCode::PAYLOAD_TOO_LARGE, format!("a query request may have at most {MAX_QUERY_BODY} bytes"))
        };
        let body = body.map_err(|e| match e.status() {
            StatusCode::PAYLOAD_TOO_LARGE => too_large(),
            status => problem(status, e.body_text()),
        })?;
        if body.len() > MAX_QUERY_BODY {
            return Err(too_large());
        }
        let request: QueryRequest = serde_json::from_slice(&body).map_err(|e| {
            problem(
                StatusCode::BAD_REQUEST,
                format!(
                    "the body must be a JSON object {{\"sql\": \"…\"}} or {{\"name\": \"…\", \"params\": {{…}}}}: {e}"
                ),
            )
        })?;
        let format = request.format.or_else(|| accepted_format(&headers)).unwrap_or(Format::Json);
        let answer = match (request.sql, request.name) {
            (Some(sql), None) if request.params.is_empty() => state.engine.query(&sql).await.map_err(query_refusal)?,
            (Some(_), None) => {
                return Err(problem(
                    StatusCode::BAD_REQUEST,
                    "`params` go with a named query (`name`), not with `sql`",
                ));
            }
            (None, Some(name)) => {
                let params: Vec<(String, String)> = request.params.into_iter().collect();
                state.named.run(&state.engine, &name, &params).await.map_err(named_refusal)?
            }
            (Some(_), Some(_)) => {
                return Err(problem(StatusCode::BAD_REQUEST, "give either `sql` or `name`, not both"));
            }
            (None, None) => return Err(problem(StatusCode::BAD_REQUEST, "give `sql` or `name`")),
        };
        respond(&answer, format)
    })
    .await
}

/// The format an `Accept` header asks for, if it names one of ours.
fn accepted_format(headers: &HeaderMap) -> Option<Format> {
    let accept = headers.get(header::ACCEPT)?.to_str().ok()?;
    if accept.contains(ARROW_STREAM) {
        Some(Format::Arrow)
    } else if accept.contains("text/csv") {
        Some(Format::Csv)
    } else {
        None
    }
}

fn respond(answer: &Answer, format: Format) -> Result<Response, Refusal> {
    let rendered = |format| {
        render(answer, format)
            .map_err(|e| problem(StatusCode::INTERNAL_SERVER_ERROR, format!("cannot encode the answer: {e}")))
    };
    Ok(match format {
        Format::Csv => {
            ([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], rendered(OutputFormat::Csv)?).into_response()
        }
        Format::Arrow => ([(header::CONTENT_TYPE, ARROW_STREAM)], rendered(OutputFormat::Arrow)?).into_response(),
        Format::Json => {
            let columns: Vec<Column> = answer
                .schema
                .fields()
                .iter()
                .map(|f| Column { name: f.name().clone(), data_type: f.data_type().to_string() })
                .collect();
            let columns = serde_json::to_string(&columns)
                .map_err(|e| problem(StatusCode::INTERNAL_SERVER_ERROR, format!("cannot encode the answer: {e}")))?;
            // The rows are already a JSON array: placed as they are, not parsed again.
            let rows = rendered(OutputFormat::Json)?;
            let mut body = format!("{{\"columns\":{columns},\"row_count\":{},\"rows\":", answer.rows()).into_bytes();
            body.extend_from_slice(rows.trim_ascii_end());
            body.push(b'}');
            json_bytes_response(body)
        }
    })
}

pub(crate) fn json_response(body: &Value) -> Response {
    json_bytes_response(body.to_string().into_bytes())
}

fn json_bytes_response(body: Vec<u8>) -> Response {
    let headers = [(header::CONTENT_TYPE, "application/json"), (header::CACHE_CONTROL, "no-store")];
    (headers, body).into_response()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SearchParams {
    q: Option<String>,
    from: Option<String>,
    to: Option<String>,
    limit: Option<String>,
}

async fn search(
    State(state): State<ApiState>,
    headers: HeaderMap,
    params: Result<Query<SearchParams>, QueryRejection>,
) -> Response {
    answered(&state, &headers, || async {
        let params = parameters(params)?;
        let query = params.q.filter(|q| !q.trim().is_empty()).ok_or_else(|| {
            problem(StatusCode::BAD_REQUEST, "`q` is required: a search such as `q=delete* AND source:github`")
        })?;
        if query.len() > MAX_ID_BYTES {
            return Err(problem(StatusCode::BAD_REQUEST, format!("`q` is longer than {MAX_ID_BYTES} bytes")));
        }
        let limit = match params.limit.as_deref() {
            None => DEFAULT_SEARCH_LIMIT,
            Some(text) => match text.parse::<usize>() {
                Ok(limit) if (1..=MAX_SEARCH_LIMIT).contains(&limit) => limit,
                _ => {
                    return Err(problem(
                        StatusCode::BAD_REQUEST,
                        format!("`limit` must be a whole number from 1 to {MAX_SEARCH_LIMIT}, not {text:?}"),
                    ));
                }
            },
        };
        let request =
            SearchRequest { query, from: time_param("from", &params.from)?, to: time_param("to", &params.to)?, limit };
        let answer = agentrail_query::search(&state.engine, &request).await.map_err(query_refusal)?;
        Ok(json_response(&answer.to_json()))
    })
    .await
}

/// Query-string parameters, or a refusal naming what is wrong with them
/// (unknown or repeated names, bad encoding).
pub(crate) fn parameters<T>(params: Result<Query<T>, QueryRejection>) -> Result<T, Refusal> {
    params.map(|Query(params)| params).map_err(|e| problem(StatusCode::BAD_REQUEST, e.body_text()))
}

fn time_param(name: &str, value: &Option<String>) -> Result<Option<Timestamp>, Refusal> {
    value
        .as_deref()
        .map(|text| {
            Timestamp::parse(text).map_err(|e| {
                problem(StatusCode::BAD_REQUEST, format!("`{name}` {text:?} is not a time (use RFC 3339): {e}"))
            })
        })
        .transpose()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReplayParams {
    expand: Option<String>,
}

async fn replay(
    State(state): State<ApiState>,
    headers: HeaderMap,
    correlation_id: Result<Path<String>, PathRejection>,
    params: Result<Query<ReplayParams>, QueryRejection>,
) -> Response {
    answered(&state, &headers, || async {
        let Path(correlation_id) = correlation_id.map_err(|e| problem(StatusCode::BAD_REQUEST, e.body_text()))?;
        if correlation_id.is_empty() || correlation_id.len() > MAX_ID_BYTES {
            return Err(problem(
                StatusCode::BAD_REQUEST,
                format!("a correlation id has 1 to {MAX_ID_BYTES} bytes, not {}", correlation_id.len()),
            ));
        }
        let params = parameters(params)?;
        let expand = match params.expand.as_deref() {
            None | Some("false") | Some("0") => false,
            Some("true") | Some("1") | Some("") => true,
            Some(other) => {
                return Err(problem(StatusCode::BAD_REQUEST, format!("`expand` is true or false, not {other:?}")));
            }
        };
        let replayed = agentrail_query::replay(&state.engine, &correlation_id, expand).await.map_err(query_refusal)?;
        if replayed.events.is_empty() {
            return Err(problem(
                StatusCode::NOT_FOUND,
                format!("no stored event carries correlation id {correlation_id:?} (events are visible once sealed)"),
            ));
        }
        Ok(json_response(&replayed.to_json()))
    })
    .await
}

async fn list_queries(State(state): State<ApiState>, headers: HeaderMap) -> Response {
    answered(&state, &headers, || async {
        let queries: Vec<Value> = state
            .named
            .iter()
            .map(|q| {
                let params: Vec<Value> = q
                    .params
                    .iter()
                    .map(|p| {
                        serde_json::json!({"name": p.name, "default": p.default, "description": p.description, "required": p.default.is_none()})
                    })
                    .collect();
                serde_json::json!({"name": q.name, "description": q.description, "params": params, "origin": q.origin})
            })
            .collect();
        Ok(json_response(&serde_json::json!({ "queries": queries })))
    })
    .await
}

/// The status that says what went wrong with a query.
fn query_refusal(error: QueryError) -> Refusal {
    let status = match &error {
        QueryError::Sql(_) => StatusCode::BAD_REQUEST,
        QueryError::NotReadOnly(_) => StatusCode::FORBIDDEN,
        QueryError::Timeout(_) => StatusCode::REQUEST_TIMEOUT,
        QueryError::TooManyRows(_) | QueryError::Memory { .. } => StatusCode::PAYLOAD_TOO_LARGE,
        QueryError::Manifest(_) | QueryError::DataDir { .. } => StatusCode::INTERNAL_SERVER_ERROR,
        QueryError::Shared(_) => StatusCode::SERVICE_UNAVAILABLE,
    };
    problem(status, error.to_string())
}

fn named_refusal(error: NamedQueryError) -> Refusal {
    match error {
        NamedQueryError::Query(error) => query_refusal(error),
        NamedQueryError::Unknown { .. } => problem(StatusCode::NOT_FOUND, error.to_string()),
        other => problem(StatusCode::BAD_REQUEST, other.to_string()),
    }
}
