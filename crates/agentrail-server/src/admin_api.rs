//! The admin routes (the `admin` role):
//!
//! - `POST /api/v1/admin/retention[?dry_run=true]`: applies the configured
//!   `[retention]` now, or says what it would delete. Answers the files
//!   deleted and rewritten and the rows removed; 409 when no retention is
//!   configured.
//! - `POST /api/v1/admin/compact[?dry_run=true]`: merges small segments now
//!   under the configured `[compaction]` (on or off), or says which it
//!   would merge. Answers each merge (day, new segment, old segments, rows).
//! - `POST /api/v1/admin/rotate-key`: a new checkpoint signing key. The old
//!   key signs a checkpoint handing over to it, so `verify` with the first
//!   key (the exported `<key>.pub`, or an auditor's copy) still passes.
//!   Answers the new public key.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use crate::api::{ApiState, answered_as, parameters};
use crate::http::{Refusal, Role, problem};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct DryRunParams {
    #[serde(default)]
    dry_run: bool,
}

/// `{"dry_run", "outcome"}`, or 503 with the writer's reason.
fn dry_run_answer(
    dry_run: bool,
    outcome: Result<impl serde::Serialize, crate::WriteError>,
) -> Result<Response, Refusal> {
    let outcome = outcome.map_err(|e| problem(StatusCode::SERVICE_UNAVAILABLE, e.to_string()))?;
    Ok(Json(serde_json::json!({ "dry_run": dry_run, "outcome": outcome })).into_response())
}

pub(crate) async fn retention(
    State(state): State<ApiState>,
    headers: HeaderMap,
    params: Result<Query<DryRunParams>, QueryRejection>,
) -> Response {
    answered_as(Role::Admin, &state, &headers, || async {
        let params = parameters(params)?;
        if state.retention.is_empty() {
            return Err(problem(
                StatusCode::CONFLICT,
                "no retention is configured: set [retention] keep (or sources) in the configuration file",
            ));
        }
        dry_run_answer(params.dry_run, state.writer.retention((*state.retention).clone(), params.dry_run).await)
    })
    .await
}

pub(crate) async fn compact(
    State(state): State<ApiState>,
    headers: HeaderMap,
    params: Result<Query<DryRunParams>, QueryRejection>,
) -> Response {
    answered_as(Role::Admin, &state, &headers, || async {
        let params = parameters(params)?;
        dry_run_answer(params.dry_run, state.writer.compact((*state.compaction).clone(), params.dry_run).await)
    })
    .await
}

pub(crate) async fn rotate_key(State(state): State<ApiState>, headers: HeaderMap) -> Response {
    answered_as(Role::Admin, &state, &headers, || async {
        let public_key = state
            .writer
            .rotate_key()
            .await
            .map_err(|e| problem(StatusCode::SERVICE_UNAVAILABLE, format!("cannot rotate the key: {e}")))?;
        Ok(Json(serde_json::json!({ "public_key": public_key })).into_response())
    })
    .await
}
