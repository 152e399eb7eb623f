//! The audit of the auditors: every read-API and admin request, and every
//! request refused for its token (401, 403) on any endpoint, becomes an
//! event of source `agentrail` in the same store, so who looked at what, and
//! who was turned away, is answered like any other audit question:
//!
//! ```sql
//! SELECT time, actor_id, action, resource, outcome, attributes['sql']
//! FROM events WHERE source = 'agentrail' ORDER BY time DESC
//! ```
//!
//! Recording never delays the answer: the event goes to the writer from a
//! task of its own. At most [`MAX_IN_FLIGHT`] wait for room in the writer's
//! queue; beyond that (a flood of refused requests) they are dropped and
//! counted (`agentrail_audit_dropped_total`).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use agentrail_event::{ActionClass, ActorType, Event, Outcome, Timestamp};
use axum::body::{Body, Bytes, to_bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tokio::sync::Semaphore;

use crate::http::{HttpConfig, token_name};
use crate::metrics::Metrics;
use crate::writer::Writer;

/// Audit events waiting for room in the writer's queue, at most.
pub const MAX_IN_FLIGHT: usize = 1024;
/// Longest request body or refusal kept in an audit event.
const MAX_KEPT_BYTES: usize = 4096;
/// Largest request body the middleware reads to keep (the query API's own
/// limit is 1 MiB; larger bodies pass unread and are refused by the route).
const MAX_READ_BYTES: usize = 1 << 20;

/// What the middleware needs.
#[derive(Clone)]
pub(crate) struct Auditor {
    writer: Writer,
    config: Arc<HttpConfig>,
    metrics: Metrics,
    in_flight: Arc<Semaphore>,
    /// This process's part of each event id, and a counter for the rest.
    nonce: Arc<(String, AtomicU64)>,
}

impl Auditor {
    pub(crate) fn new(writer: Writer, config: Arc<HttpConfig>, metrics: Metrics) -> Auditor {
        let nonce = format!("{:x}-{}", Timestamp::now().as_micros(), std::process::id());
        Auditor {
            writer,
            config,
            metrics,
            in_flight: Arc::new(Semaphore::new(MAX_IN_FLIGHT)),
            nonce: Arc::new((nonce, AtomicU64::new(0))),
        }
    }

    fn record(&self, event: Event) {
        let Ok(permit) = Arc::clone(&self.in_flight).try_acquire_owned() else {
            self.metrics.audit_dropped.add(1);
            return;
        };
        let writer = self.writer.clone();
        let metrics = Arc::clone(&self.metrics);
        tokio::spawn(async move {
            match writer.write_waiting(vec![event], Vec::new()).await {
                Ok(_) => metrics.audit_recorded.add(1),
                Err(error) => {
                    metrics.audit_dropped.add(1);
                    tracing::error!(%error, "cannot record an audit event");
                }
            }
            drop(permit);
        });
    }

    /// Waits (at most `limit`) until every audit event under way is written.
    pub(crate) async fn drain(&self, limit: std::time::Duration) {
        let all = u32::try_from(MAX_IN_FLIGHT).unwrap_or(u32::MAX);
        if tokio::time::timeout(limit, self.in_flight.acquire_many(all)).await.is_err() {
            tracing::warn!("audit events were still waiting for the writer at shutdown");
        }
    }

    fn next_id(&self) -> String {
        let (nonce, counter) = &*self.nonce;
        format!("agentrail:{nonce}-{}", counter.fetch_add(1, Ordering::Relaxed))
    }
}

/// One login or statement over the PostgreSQL wire protocol ([`crate::pg`]).
pub(crate) struct WireRequest<'a> {
    /// `pg.login` or `pg.query`.
    pub action: &'static str,
    pub token: Option<&'a str>,
    /// The user and application names the client gave.
    pub user: Option<&'a str>,
    pub application: Option<&'a str>,
    pub peer: std::net::SocketAddr,
    pub sql: Option<&'a str>,
    pub rows: Option<usize>,
    pub outcome: Outcome,
    pub reason: Option<String>,
}

impl Auditor {
    /// Records a login refused, or a statement run or refused, over the
    /// PostgreSQL wire protocol: the same kind of event as the read API's.
    pub(crate) fn record_wire(&self, request: WireRequest<'_>) {
        let mut attributes = BTreeMap::new();
        if let Some(sql) = request.sql {
            attributes.insert("sql".to_owned(), kept(sql.as_bytes()));
        }
        if let Some(user) = request.user {
            attributes.insert("pg.user".to_owned(), kept(user.as_bytes()));
        }
        if let Some(rows) = request.rows {
            attributes.insert("pg.rows".to_owned(), rows.to_string());
        }
        let raw = serde_json::json!({
            "protocol": "postgresql",
            "action": request.action,
            "user": request.user,
            "application_name": request.application,
            "peer": request.peer.to_string(),
            "token": request.token,
            "sql": request.sql.map(|sql| kept(sql.as_bytes())),
            "reason": request.reason,
        })
        .to_string();
        let mut event =
            Event::new(self.next_id(), Timestamp::now(), "agentrail".to_owned(), request.action.to_owned(), raw);
        event.action_class = ActionClass::Read;
        event.resource = Some(format!("postgresql:{}", agentrail_query::engine::CATALOG));
        event.outcome = request.outcome;
        event.actor_type = ActorType::Unknown;
        event.actor_id = request.token.map(|name| format!("token:{name}"));
        event.src_ip = Some(request.peer.ip().to_string());
        event.user_agent = request.application.map(str::to_owned);
        event.message = Some(match request.action {
            "pg.login" => "PostgreSQL login refused".to_owned(),
            _ => format!("PostgreSQL statement {}", outcome_word(request.outcome)),
        });
        event.reason = request.reason;
        event.attributes = attributes;
        self.record(event);
    }
}

fn outcome_word(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Success => "answered",
        Outcome::Denied => "refused",
        _ => "failed",
    }
}

/// The action of a request: `api.<route>` (`api.query`, `api.replay`,
/// `api.admin.retention`, `api.admin.rules.put`, …), or `http.<path>` for
/// another endpoint.
fn action_of(method: &str, path: &str) -> String {
    match path.strip_prefix("/api/v1/") {
        Some(rest) => {
            let route: Vec<&str> = rest.split('/').take_while(|part| !part.is_empty()).collect();
            let named = match route.as_slice() {
                ["replay", ..] => "replay".to_owned(),
                ["reports", "runs", _] => "reports.run".to_owned(),
                ["rules", _] => "rule".to_owned(),
                ["admin", "rules", ..] => format!("admin.rules.{}", method.to_ascii_lowercase()),
                parts => parts.join("."),
            };
            format!("api.{named}")
        }
        None => format!("http.{}", path.trim_start_matches('/').replace('/', ".")),
    }
}

fn kept(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(MAX_KEPT_BYTES)]).into_owned();
    if bytes.len() > MAX_KEPT_BYTES { format!("{text}…") } else { text }
}

/// The middleware: answers the request, then records it when it is a read
/// or admin request, or a refusal for its token.
pub(crate) async fn audit(State(auditor): State<Auditor>, request: Request, next: Next) -> Response {
    let path = request.uri().path().to_owned();
    let api = path.starts_with("/api/");
    let query = request.uri().query().map(str::to_owned);
    let method = request.method().to_string();
    let headers = request.headers().clone();
    // The query API's body (the SQL), or a rule's text, is part of what an
    // auditor wants kept.
    let writes = [axum::http::Method::POST, axum::http::Method::PUT].contains(request.method());
    let (request, body) = if api && writes {
        let (parts, body) = request.into_parts();
        match to_bytes(body, MAX_READ_BYTES).await {
            Ok(bytes) => (Request::from_parts(parts, Body::from(bytes.clone())), Some(bytes)),
            Err(_) => {
                let refusal = crate::http::problem(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    format!("a request to {path} may have at most {MAX_READ_BYTES} bytes"),
                );
                return refusal.into_response();
            }
        }
    } else {
        (request, None)
    };
    let response = next.run(request).await;
    let status = response.status();
    let refused = matches!(status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN);
    if !(api || refused) {
        return response;
    }
    // A refusal's reason is in its (small) body: keep it, and answer it unchanged.
    let (response, reason) = if status.is_success() {
        (response, None)
    } else {
        let (parts, body) = response.into_parts();
        let bytes = to_bytes(body, MAX_READ_BYTES).await.unwrap_or_default();
        let reason = serde_json::from_slice::<serde_json::Value>(&bytes)
            .ok()
            // Our refusals say `error`; Splunk HEC's own shape says `text`.
            .and_then(|v| v["error"].as_str().or_else(|| v["text"].as_str()).map(str::to_owned))
            .unwrap_or_else(|| kept(&bytes));
        (Response::from_parts(parts, Body::from(bytes)), Some(reason))
    };
    auditor.record(event(&auditor, &headers, AuditedRequest { method, path, query, body, status, reason }));
    response
}

struct AuditedRequest {
    method: String,
    path: String,
    query: Option<String>,
    body: Option<Bytes>,
    status: StatusCode,
    reason: Option<String>,
}

fn event(auditor: &Auditor, headers: &HeaderMap, request: AuditedRequest) -> Event {
    let token = token_name(&auditor.config, headers);
    let action = action_of(&request.method, &request.path);
    let mut attributes = BTreeMap::new();
    attributes.insert("http.method".to_owned(), request.method.clone());
    attributes.insert("http.status".to_owned(), request.status.as_u16().to_string());
    if let Some(query) = &request.query {
        attributes.insert("http.query".to_owned(), kept(query.as_bytes()));
    }
    if let Some(body) = request.body.as_ref().filter(|b| !b.is_empty()) {
        // The SQL or named query and its parameters, as asked.
        let text = kept(body);
        match serde_json::from_slice::<serde_json::Value>(body) {
            Ok(serde_json::Value::Object(fields)) => {
                for (key, value) in fields {
                    let value = value.as_str().map(str::to_owned).unwrap_or_else(|| value.to_string());
                    attributes.insert(key, kept(value.as_bytes()));
                }
            }
            _ => {
                attributes.insert("http.body".to_owned(), text);
            }
        }
    }
    let outcome = match request.status {
        status if status.is_success() => Outcome::Success,
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => Outcome::Denied,
        _ => Outcome::Failure,
    };
    let resource = match &request.query {
        Some(query) => format!("{}?{}", request.path, kept(query.as_bytes())),
        None => request.path.clone(),
    };
    let raw = serde_json::json!({
        "method": request.method,
        "path": request.path,
        "query": request.query,
        "status": request.status.as_u16(),
        "token": token,
        "reason": request.reason,
    })
    .to_string();
    let action_class = if action.starts_with("api.admin.") { ActionClass::Admin } else { ActionClass::Read };
    let mut event = Event::new(auditor.next_id(), Timestamp::now(), "agentrail".to_owned(), action, raw);
    event.action_class = action_class;
    event.resource = Some(resource);
    event.outcome = outcome;
    // Who holds a token is not known: a person, a tool or an agent.
    event.actor_type = ActorType::Unknown;
    event.actor_id = token.map(|name| format!("token:{name}"));
    event.user_agent = headers.get(header::USER_AGENT).and_then(|v| v.to_str().ok()).map(str::to_owned);
    event.message = Some(format!("{} {} answered {}", request.method, request.path, request.status.as_u16()));
    event.reason = request.reason;
    event.attributes = attributes;
    event
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_name_the_route() {
        assert_eq!(action_of("POST", "/api/v1/query"), "api.query");
        assert_eq!(action_of("GET", "/api/v1/replay/inc-7f3a"), "api.replay");
        assert_eq!(action_of("GET", "/api/v1/reports/runs/abc"), "api.reports.run");
        assert_eq!(action_of("GET", "/api/v1/reports/runs"), "api.reports.runs");
        assert_eq!(action_of("POST", "/api/v1/admin/retention"), "api.admin.retention");
        assert_eq!(action_of("GET", "/api/v1/rules/rate_spike"), "api.rule");
        assert_eq!(action_of("PUT", "/api/v1/admin/rules/rate_spike"), "api.admin.rules.put");
        assert_eq!(action_of("DELETE", "/api/v1/admin/rules/x"), "api.admin.rules.delete");
        assert_eq!(action_of("POST", "/v1/events"), "http.v1.events");
    }
}
