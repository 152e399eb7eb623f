//! The anomaly rules through the API:
//!
//! - `GET /api/v1/rules` (analyst): every rule the scheduler runs (name,
//!   description, severity, schedule, look-back, baseline, parameters,
//!   origin) and the rule files that cannot be used, with why.
//! - `GET /api/v1/rules/{name}` (analyst): one rule's file, as text.
//! - `PUT /api/v1/admin/rules/{name}` (admin): the body (a rule file, as
//!   `agentrail report --rules` reads them) becomes `<rules_dir>/<name>.sql`,
//!   adding a rule or replacing one (a built-in rule of that name is
//!   overridden). It is parsed and its SQL planned first: a rule that could
//!   not run is refused (400) with the reason. 201 when added, 200 when
//!   replaced.
//! - `DELETE /api/v1/admin/rules/{name}` (admin): removes the rule's file (a
//!   built-in rule it overrode runs again).
//!
//! Changes take effect at once ([`crate::rule_book`]); with no rules
//! directory configured they are refused (409).

use agentrail_report::Rule;
use agentrail_report::duration::format_duration;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::api::{ApiState, answered, answered_as, json_response};
use crate::http::{Refusal, Role, problem};
use crate::report_api::reports;
use crate::rule_book::RuleBookError;

/// Largest rule file accepted: a query and its header, not data.
const MAX_RULE_BYTES: usize = 64 * 1024;

pub(crate) async fn list(State(state): State<ApiState>, headers: HeaderMap) -> Response {
    answered(&state, &headers, || async {
        let book = &reports(&state)?.rules;
        let set = book.current();
        let rules: Vec<Value> = set.rules.iter().map(described).collect();
        Ok(json_response(&json!({
            "rules": rules,
            "unusable": set.unusable,
            "rules_dir": book.dir().map(|dir| dir.display().to_string()),
        })))
    })
    .await
}

pub(crate) async fn get_one(
    State(state): State<ApiState>,
    headers: HeaderMap,
    name: Result<Path<String>, PathRejection>,
) -> Response {
    answered(&state, &headers, || async {
        let name = rule_name(name)?;
        let set = reports(&state)?.rules.current();
        let rule = set.rules.get(&name).ok_or_else(|| {
            problem(StatusCode::NOT_FOUND, format!("no rule {name:?} (GET /api/v1/rules lists them)"))
        })?;
        let headers = [(header::CONTENT_TYPE, "text/plain; charset=utf-8"), (header::CACHE_CONTROL, "no-store")];
        Ok((headers, rule.query.sql.clone()).into_response())
    })
    .await
}

pub(crate) async fn put(
    State(state): State<ApiState>,
    headers: HeaderMap,
    name: Result<Path<String>, PathRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    answered_as(Role::Admin, &state, &headers, || async {
        let name = rule_name(name)?;
        let book = &reports(&state)?.rules;
        let too_large =
            || problem(StatusCode::PAYLOAD_TOO_LARGE, format!("a rule file may have at most {MAX_RULE_BYTES} bytes"));
        let body = body.map_err(|e| match e.status() {
            StatusCode::PAYLOAD_TOO_LARGE => too_large(),
            status => problem(status, e.body_text()),
        })?;
        if body.len() > MAX_RULE_BYTES {
            return Err(too_large());
        }
        let text = std::str::from_utf8(&body).map_err(|e| {
            problem(StatusCode::BAD_REQUEST, format!("the body must be the rule file's text, in UTF-8: {e}"))
        })?;
        let saved = book.put(&name, text, &state.engine).await.map_err(refusal)?;
        let set = book.current();
        let rule = set.rules.get(&name).map(described);
        let status = if saved.created { StatusCode::CREATED } else { StatusCode::OK };
        let body = json!({ "rule": rule, "created": saved.created, "overrides_builtin": saved.overrides_builtin });
        Ok((status, [(header::LOCATION, format!("/api/v1/rules/{name}"))], json_response(&body)).into_response())
    })
    .await
}

pub(crate) async fn delete(
    State(state): State<ApiState>,
    headers: HeaderMap,
    name: Result<Path<String>, PathRejection>,
) -> Response {
    answered_as(Role::Admin, &state, &headers, || async {
        let name = rule_name(name)?;
        let book = &reports(&state)?.rules;
        book.delete(&name).await.map_err(refusal)?;
        // A built-in rule of the same name runs again.
        let set = book.current();
        Ok(json_response(&json!({ "deleted": name, "builtin_restored": set.rules.get(&name).map(described) })))
    })
    .await
}

/// A rule as listed.
fn described(rule: &Rule) -> Value {
    let params: Vec<Value> = rule
        .query
        .params
        .iter()
        .map(|p| json!({ "name": p.name, "default": p.default, "description": p.description }))
        .collect();
    json!({
        "name": rule.name(),
        "description": rule.query.description,
        "severity": rule.severity,
        "schedule": format_duration(rule.schedule),
        "lookback": format_duration(rule.lookback),
        "baseline": rule.baseline.map(format_duration),
        "params": params,
        "origin": rule.query.origin,
    })
}

fn rule_name(name: Result<Path<String>, PathRejection>) -> Result<String, Refusal> {
    name.map(|Path(name)| name).map_err(|e| problem(StatusCode::BAD_REQUEST, e.body_text()))
}

fn refusal(error: RuleBookError) -> Refusal {
    let status = match &error {
        RuleBookError::BadName(_) | RuleBookError::Invalid(_) => StatusCode::BAD_REQUEST,
        RuleBookError::NoDirectory => StatusCode::CONFLICT,
        RuleBookError::NotFound { .. } => StatusCode::NOT_FOUND,
        RuleBookError::Write { .. } | RuleBookError::Reload(_) | RuleBookError::Interrupted(_) => {
            StatusCode::INTERNAL_SERVER_ERROR
        }
    };
    problem(status, error.to_string())
}
