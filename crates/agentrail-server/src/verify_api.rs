//! `GET /api/v1/verify[?from=DATE][&to=DATE]`: the data directory checked
//! against its digest chain and signed checkpoints, as `agentrail verify
//! --format json` prints it (`verified`, `problems` each with `kind`, `path`
//! and `detail`, the newest checkpoint and its OCSF attestation).
//!
//! A store that does not verify is still an answer (200, `"verified":
//! false`); 400 is a bad parameter, 500 a verification that could not run.
//! One verification runs at a time: it reads every segment.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use agentrail_store::verify::{VerifyOptions, parse_day, verify_settled};
use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use crate::api::{ApiState, answered, parameters};
use crate::http::{Refusal, problem};

/// What the verify endpoint checks, and with which key.
#[derive(Debug)]
pub(crate) struct Verifier {
    pub(crate) data_dir: PathBuf,
    pub(crate) options: VerifyOptions,
    pub(crate) running: tokio::sync::Mutex<()>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct VerifyParams {
    from: Option<String>,
    to: Option<String>,
}

fn day(name: &str, text: Option<String>) -> Result<Option<String>, Refusal> {
    text.map(|text| {
        parse_day(&text).ok_or_else(|| {
            problem(StatusCode::BAD_REQUEST, format!("`{name}` must be a date (YYYY-MM-DD or RFC 3339), not {text:?}"))
        })
    })
    .transpose()
}

pub(crate) async fn verify(
    State(state): State<ApiState>,
    headers: HeaderMap,
    params: Result<Query<VerifyParams>, QueryRejection>,
) -> Response {
    answered(&state, &headers, || async {
        let params = parameters(params)?;
        let verifier = Arc::clone(&state.verifier);
        let options =
            VerifyOptions { from: day("from", params.from)?, to: day("to", params.to)?, ..verifier.options.clone() };
        let _one_at_a_time = verifier.running.lock().await;
        let data_dir = verifier.data_dir.clone();
        let report = tokio::task::spawn_blocking(move || {
            verify_settled(&data_dir, &options, Duration::from_secs(1), &mut |_, _| {})
        })
        .await
        .map_err(|e| problem(StatusCode::INTERNAL_SERVER_ERROR, format!("the verification stopped: {e}")))?
        .map_err(|e| problem(StatusCode::INTERNAL_SERVER_ERROR, format!("cannot verify: {e}")))?;
        if !report.verified {
            tracing::warn!(problems = report.problems.len(), "the data directory does not verify");
        }
        Ok(Json(report).into_response())
    })
    .await
}
