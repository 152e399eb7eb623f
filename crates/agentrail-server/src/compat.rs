//! The shippers' own protocols, so Vector, Fluent Bit, Filebeat, Logstash and
//! the OpenTelemetry Collector can send to agentrail unchanged:
//!
//! - the Elasticsearch bulk API (`POST /_bulk`, `POST /{index}/_bulk`), with
//!   the `GET /` version and `GET /_cluster/health` checks clients make first,
//!   answered in Elasticsearch's shape (per-item status, `errors` flag);
//! - Splunk HEC (`POST /services/collector/event` and its aliases,
//!   `GET /services/collector/health`), answered with HEC's `text`/`code`.
//!
//! Each document or HEC event is one record, normalized on its own so each
//! gets its own answer; the accepted ones are made durable together (one
//! group commit) before anything is answered.

use std::time::Instant;

use agentrail_collect::SourceChoice;
use agentrail_event::{Event, Timestamp};
use agentrail_store::Quarantined;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::http::{AppState, Refusal, Role, authorize, decode_body, problem, write_durably};

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(es_info))
        .route("/_cluster/health", get(es_health))
        .route("/_bulk", post(es_bulk))
        .route("/{index}/_bulk", post(es_bulk_index))
        .route("/services/collector", post(hec))
        .route("/services/collector/event", post(hec))
        .route("/services/collector/event/1.0", post(hec))
        .route("/services/collector/health", get(hec_health))
}

#[derive(Debug, Deserialize)]
struct SourceParam {
    source: Option<String>,
}

/// The source for a record: the `?source=` parameter, else detection.
/// Index names and sourcetypes are not used: they say how data travelled
/// (`otel`, `vector-2026.11.20`), not what it is.
fn choice_for(param: Option<&str>) -> SourceChoice {
    param.map_or(SourceChoice::Auto, SourceChoice::parse)
}

/// One document's fate.
type DocResult = Result<Option<String>, String>;

/// Normalizes each document on its own (off the socket threads). Returns
/// the events, the rejects for quarantine, and per document either the
/// first event id or the reason it was rejected.
async fn normalize_documents(
    state: &AppState,
    documents: Vec<(Vec<u8>, SourceChoice)>,
    route: &'static str,
) -> Result<(Vec<Event>, Vec<Quarantined>, Vec<DocResult>), Refusal> {
    let normalizer = std::sync::Arc::clone(&state.normalizer);
    tokio::task::spawn_blocking(move || {
        let now = Timestamp::now();
        let mut events = Vec::new();
        let mut rejects = Vec::new();
        let mut results = Vec::with_capacity(documents.len());
        for (index, (bytes, choice)) in documents.into_iter().enumerate() {
            let mut first_id = None;
            let mut failure = None;
            normalizer.normalize(&bytes, &choice, &mut |result| match result {
                Ok(event) => {
                    first_id.get_or_insert_with(|| event.event_id.clone());
                    events.push(event);
                }
                Err(rejection) => {
                    failure.get_or_insert_with(|| rejection.reason.to_string());
                    rejects.push(Quarantined {
                        received_at: now,
                        origin: format!("http:{route}:document {}", index + 1),
                        source: rejection.source,
                        reason: rejection.reason.to_string(),
                        raw: rejection.raw,
                    });
                }
            });
            results.push(match failure {
                Some(reason) => Err(reason),
                None => Ok(first_id),
            });
        }
        (events, rejects, results)
    })
    .await
    .map_err(|_| problem(StatusCode::INTERNAL_SERVER_ERROR, "normalization failed unexpectedly"))
}

// ---------------------------------------------------------------- Elasticsearch

fn elastic(mut response: Response) -> Response {
    // Elasticsearch's own clients (8.x) check this header.
    response.headers_mut().insert("x-elastic-product", HeaderValue::from_static("Elasticsearch"));
    response
}

/// `GET /`: the incident web page for a browser (it asks for HTML first);
/// the cluster information for an Elasticsearch client, which checks it
/// before it sends (and never asks for HTML).
async fn es_info(headers: axum::http::HeaderMap) -> Response {
    if crate::ui::wants_html(&headers) {
        return crate::ui::page();
    }
    elastic(
        Json(json!({
            "name": "agentrail",
            "cluster_name": "agentrail",
            "cluster_uuid": "agentrail",
            "version": {
                "number": "8.11.0",
                "build_flavor": "default",
                "lucene_version": "9.8.0",
                "minimum_wire_compatibility_version": "7.17.0",
                "minimum_index_compatibility_version": "7.0.0"
            },
            "tagline": "You Know, for Search"
        }))
        .into_response(),
    )
}

async fn es_health() -> Response {
    elastic(
        Json(json!({"cluster_name": "agentrail", "status": "green", "number_of_nodes": 1, "number_of_data_nodes": 1}))
            .into_response(),
    )
}

async fn es_bulk(
    State(state): State<AppState>,
    Query(params): Query<SourceParam>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    elastic(bulk(state, None, params, headers, body).await.unwrap_or_else(es_refusal))
}

async fn es_bulk_index(
    State(state): State<AppState>,
    Path(index): Path<String>,
    Query(params): Query<SourceParam>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    elastic(bulk(state, Some(index), params, headers, body).await.unwrap_or_else(es_refusal))
}

/// A whole-request refusal in Elasticsearch's error shape; overload is 429,
/// which bulk clients retry.
fn es_refusal(refusal: Refusal) -> Response {
    let status =
        if refusal.status == StatusCode::SERVICE_UNAVAILABLE { StatusCode::TOO_MANY_REQUESTS } else { refusal.status };
    let kind =
        if status == StatusCode::TOO_MANY_REQUESTS { "es_rejected_execution_exception" } else { "agentrail_exception" };
    let body = json!({"error": {"type": kind, "reason": refusal.message}, "status": status.as_u16()});
    let mut response = (status, Json(body)).into_response();
    if let Some(seconds) = refusal.retry_after_seconds {
        response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    }
    response
}

/// One action of a bulk body.
enum BulkAction {
    /// `index` or `create`, with its document.
    Store { op: String, index: Option<String>, id: Option<String>, document: Vec<u8> },
    /// `update` or `delete`: an audit trail is append-only.
    Refuse { op: String, index: Option<String>, id: Option<String> },
}

fn parse_bulk(body: &[u8]) -> Result<Vec<BulkAction>, Refusal> {
    let mut actions = Vec::new();
    let mut lines = body.split(|&b| b == b'\n').enumerate().filter(|(_, l)| !l.trim_ascii().is_empty());
    while let Some((number, line)) = lines.next() {
        let malformed = || {
            problem(
                StatusCode::BAD_REQUEST,
                format!("Malformed action/metadata line [{}], expected a JSON object with one action", number + 1),
            )
        };
        let action: Value = serde_json::from_slice(line).map_err(|_| malformed())?;
        let Some((op, meta)) = action.as_object().filter(|o| o.len() == 1).and_then(|o| o.iter().next()) else {
            return Err(malformed());
        };
        let index = meta.get("_index").and_then(Value::as_str).map(str::to_owned);
        let id = meta.get("_id").and_then(Value::as_str).map(str::to_owned);
        match op.as_str() {
            "index" | "create" => {
                let Some((_, document)) = lines.next() else {
                    return Err(problem(
                        StatusCode::BAD_REQUEST,
                        format!("action [{op}] on line {} has no document", number + 1),
                    ));
                };
                actions.push(BulkAction::Store { op: op.clone(), index, id, document: document.to_vec() });
            }
            "update" => {
                lines.next();
                actions.push(BulkAction::Refuse { op: op.clone(), index, id });
            }
            "delete" => actions.push(BulkAction::Refuse { op: op.clone(), index, id }),
            other => {
                return Err(problem(
                    StatusCode::BAD_REQUEST,
                    format!("Malformed action/metadata line [{}], unknown action [{other}]", number + 1),
                ));
            }
        }
    }
    Ok(actions)
}

async fn bulk(
    state: AppState,
    path_index: Option<String>,
    params: SourceParam,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Refusal> {
    let started = Instant::now();
    state.metrics.requests.add(1);
    authorize(&state.config, &headers, Role::Ingest)?;
    let body = decode_body(&headers, &body, state.config.limits.max_body_bytes)?;
    let actions = parse_bulk(&body)?;
    if actions.len() > state.config.limits.max_records {
        return Err(problem(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("{} documents in one request; the limit is {}", actions.len(), state.config.limits.max_records),
        ));
    }
    let mut documents = Vec::new();
    for action in &actions {
        if let BulkAction::Store { document, .. } = action {
            documents.push((document.clone(), choice_for(params.source.as_deref())));
        }
    }
    let (events, rejects, results) = normalize_documents(&state, documents, "/_bulk").await?;
    state.metrics.received.add(actions.len() as u64);
    write_durably(&state, events, rejects).await?;
    let mut results = results.into_iter();
    let mut errors = false;
    let items: Vec<Value> = actions
        .iter()
        .map(|action| {
            let (op, index, id, result) = match action {
                BulkAction::Store { op, index, id, .. } => {
                    (op, index, id, results.next().unwrap_or_else(|| Err("lost".to_owned())))
                }
                BulkAction::Refuse { op, index, id } => {
                    (op, index, id, Err(format!("agentrail is an append-only audit trail: [{op}] is not supported")))
                }
            };
            let index = index.clone().or_else(|| path_index.clone()).unwrap_or_else(|| "agentrail".to_owned());
            let item = match result {
                Ok(first_id) => json!({
                    "_index": index,
                    "_id": id.clone().or(first_id).unwrap_or_default(),
                    "_version": 1,
                    "result": "created",
                    "_shards": {"total": 1, "successful": 1, "failed": 0},
                    "_seq_no": 0,
                    "_primary_term": 1,
                    "status": 201
                }),
                Err(reason) => {
                    errors = true;
                    json!({
                        "_index": index,
                        "_id": id.clone(),
                        "status": 400,
                        "error": {"type": "document_parsing_exception", "reason": reason}
                    })
                }
            };
            json!({ op.as_str(): item })
        })
        .collect();
    let took = started.elapsed().as_millis() as u64;
    Ok(Json(json!({"took": took, "errors": errors, "items": items})).into_response())
}

// ---------------------------------------------------------------- Splunk HEC

fn hec_answer(status: StatusCode, text: &str, code: u32, extra: Option<(&str, Value)>) -> Response {
    let mut body = json!({"text": text, "code": code});
    if let (Some((key, value)), Some(object)) = (extra, body.as_object_mut()) {
        object.insert(key.to_owned(), value);
    }
    (status, Json(body)).into_response()
}

async fn hec_health() -> Response {
    hec_answer(StatusCode::OK, "HEC is healthy", 17, None)
}

async fn hec(
    State(state): State<AppState>,
    Query(params): Query<SourceParam>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    state.metrics.requests.add(1);
    if !state.config.tokens.is_empty() && !headers.contains_key(header::AUTHORIZATION) {
        return hec_answer(StatusCode::UNAUTHORIZED, "Token is required", 2, None);
    }
    if authorize(&state.config, &headers, Role::Ingest).is_err() {
        return hec_answer(StatusCode::FORBIDDEN, "Invalid token", 4, None);
    }
    let body = match decode_body(&headers, &body, state.config.limits.max_body_bytes) {
        Ok(body) => body,
        Err(refusal) => return hec_answer(refusal.status, &refusal.message, 6, None),
    };
    // HEC bodies are JSON objects one after another, with or without newlines.
    let mut documents = Vec::new();
    let mut invalid_at = None;
    for (number, item) in serde_json::Deserializer::from_slice(&body).into_iter::<Value>().enumerate() {
        let Ok(item) = item else {
            invalid_at = Some(number);
            break;
        };
        let record = match item.get("event") {
            Some(Value::Object(_)) | Some(Value::Array(_)) => item["event"].to_string().into_bytes(),
            Some(Value::String(text)) => text.clone().into_bytes(),
            _ => {
                invalid_at = Some(number);
                break;
            }
        };
        documents.push((record, choice_for(params.source.as_deref())));
    }
    if documents.len() > state.config.limits.max_records {
        return hec_answer(StatusCode::PAYLOAD_TOO_LARGE, "Too many events in one request", 6, None);
    }
    let (events, rejects, results) = match normalize_documents(&state, documents, "/services/collector").await {
        Ok(normalized) => normalized,
        Err(refusal) => return hec_answer(refusal.status, &refusal.message, 8, None),
    };
    state.metrics.received.add(results.len() as u64);
    let rejected = rejects.len();
    let outcome = match write_durably(&state, events, rejects).await {
        Ok(outcome) => outcome,
        Err(refusal) => {
            let mut response = hec_answer(refusal.status, "Server is busy", 9, None);
            if let Some(seconds) = refusal.retry_after_seconds {
                response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(seconds));
            }
            return response;
        }
    };
    let errors: Vec<Value> = results
        .iter()
        .enumerate()
        .filter_map(|(i, r)| r.as_ref().err().map(|reason| json!({"event": i, "reason": reason})))
        .collect();
    let detail =
        json!({"accepted": outcome.accepted, "duplicates": outcome.duplicates, "rejected": rejected, "errors": errors});
    match invalid_at {
        // The events before the bad one are stored; HEC names the bad one.
        Some(number) => {
            hec_answer(StatusCode::BAD_REQUEST, "Invalid data format", 6, Some(("invalid-event-number", json!(number))))
        }
        None => hec_answer(StatusCode::OK, "Success", 0, Some(("agentrail", detail))),
    }
}
