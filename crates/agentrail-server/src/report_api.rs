//! The reports of the read API (analyst role), from the scheduler's history:
//!
//! - `GET /api/v1/reports[?format=json|md|html]`: the current report, each
//!   rule's newest run together (JSON as `agentrail report --format json`;
//!   `html` is the page with its charts, findings linking to their replay).
//! - `GET /api/v1/reports/runs[?rule=NAME][&limit=N]`: the runs, newest first,
//!   without their findings.
//! - `GET /api/v1/reports/runs/{id}`: one run with its findings.

use agentrail_report::history::{HistoryError, RunSummary};
use agentrail_report::markdown::render_markdown;
use agentrail_report::{Report, html_page};
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use crate::api::{ApiState, answered, json_response, parameters};
use crate::http::{Refusal, problem};
use crate::scheduler::ReportsView;

/// Runs listed by default, and at most.
const DEFAULT_RUNS: usize = 50;
const MAX_RUNS: usize = 1000;
/// The replay links of the HTML page when no `replay_url` is configured:
/// this server's own replay route.
const OWN_REPLAY: &str = "/api/v1/replay/";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ReportParams {
    format: Option<String>,
}

pub(crate) async fn current(
    State(state): State<ApiState>,
    headers: HeaderMap,
    params: Result<Query<ReportParams>, QueryRejection>,
) -> Response {
    answered(&state, &headers, || async {
        let view = reports(&state)?;
        let format = parameters(params)?.format.unwrap_or_else(|| "json".to_owned());
        if !["json", "md", "html"].contains(&format.as_str()) {
            return Err(problem(StatusCode::BAD_REQUEST, format!("`format` is json, md or html, not {format:?}")));
        }
        let report: Report = blocking(view.clone(), |view| view.current()).await?;
        let replay_url = view.replay_url.as_deref().unwrap_or(OWN_REPLAY);
        Ok(match format.as_str() {
            "md" => text_response("text/markdown; charset=utf-8", render_markdown(&report, Some(replay_url))),
            "html" => {
                text_response("text/html; charset=utf-8", html_page(&state.engine, &report, Some(replay_url)).await)
            }
            _ => json_response(&serde_json::to_value(&report).map_err(internal)?),
        })
    })
    .await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RunsParams {
    rule: Option<String>,
    limit: Option<String>,
}

pub(crate) async fn runs(
    State(state): State<ApiState>,
    headers: HeaderMap,
    params: Result<Query<RunsParams>, QueryRejection>,
) -> Response {
    answered(&state, &headers, || async {
        let view = reports(&state)?;
        let params = parameters(params)?;
        let limit = match params.limit.as_deref() {
            None => DEFAULT_RUNS,
            Some(text) => text.parse::<usize>().ok().filter(|n| (1..=MAX_RUNS).contains(n)).ok_or_else(|| {
                problem(
                    StatusCode::BAD_REQUEST,
                    format!("`limit` must be a whole number from 1 to {MAX_RUNS}, not {text:?}"),
                )
            })?,
        };
        let rule = params.rule;
        let runs: Vec<RunSummary> = blocking(view.clone(), move |view| {
            Ok(view.history.runs(rule.as_deref(), limit)?.iter().map(|run| run.summary()).collect())
        })
        .await?;
        Ok(json_response(&serde_json::json!({ "runs": runs })))
    })
    .await
}

pub(crate) async fn run(
    State(state): State<ApiState>,
    headers: HeaderMap,
    id: Result<Path<String>, PathRejection>,
) -> Response {
    answered(&state, &headers, || async {
        let view = reports(&state)?;
        let Path(id) = id.map_err(|e| problem(StatusCode::BAD_REQUEST, e.body_text()))?;
        let wanted = id.clone();
        let record = blocking(view.clone(), move |view| view.history.get(&wanted)).await?;
        let record = record.ok_or_else(|| {
            problem(
                StatusCode::NOT_FOUND,
                format!("no run {id:?} in the history (GET /api/v1/reports/runs lists them)"),
            )
        })?;
        Ok(json_response(&serde_json::to_value(&record).map_err(internal)?))
    })
    .await
}

pub(crate) fn reports(state: &ApiState) -> Result<&ReportsView, Refusal> {
    state.reports.as_ref().ok_or_else(|| {
        problem(StatusCode::NOT_FOUND, "the report scheduler is off in this server (`[reports] enabled = false`)")
    })
}

/// Reads the history off the async threads (it is files).
async fn blocking<T: Send + 'static>(
    view: ReportsView,
    read: impl FnOnce(&ReportsView) -> Result<T, HistoryError> + Send + 'static,
) -> Result<T, Refusal> {
    tokio::task::spawn_blocking(move || read(&view)).await.map_err(internal)?.map_err(|error| match error {
        HistoryError::BadId(_) => problem(StatusCode::BAD_REQUEST, error.to_string()),
        other => internal(other),
    })
}

fn internal(error: impl std::fmt::Display) -> Refusal {
    problem(StatusCode::INTERNAL_SERVER_ERROR, error.to_string())
}

fn text_response(content_type: &'static str, body: String) -> Response {
    ([(header::CONTENT_TYPE, content_type), (header::CACHE_CONTROL, "no-store")], body).into_response()
}
