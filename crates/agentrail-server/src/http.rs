//! The HTTP ingest API.
//!
//! - `POST /v1/events`: NDJSON, a JSON array, CloudTrail `Records`, OTLP/JSON
//!   (`?source=NAME` or detection); gzip or zstd bodies.
//! - `POST /v1/logs`: OTLP/HTTP logs in the JSON encoding.
//! - `GET /healthz`, `GET /metrics`.
//!
//! The answer to an ingest is `200` only once the accepted events are in the
//! write-ahead log and fsynced: `{"accepted", "duplicates", "rejected",
//! "errors": [{"index", "reason"}]}`. Bad records are rejected one by one
//! (and quarantined) while the good ones of the same request are stored.
//! Overload is `503` with `Retry-After`, never a `400`.

use std::io::Read;
use std::net::SocketAddr;
use std::sync::Arc;

use agentrail_collect::{Normalizer, SourceChoice};
use agentrail_event::{Event, Timestamp};
use agentrail_store::Quarantined;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use crate::metrics::Metrics;
use crate::writer::{WriteError, Writer};

/// A bearer token and what it may do. Only the token's SHA-256 is kept,
/// and a presented token is compared by its digest in constant time.
#[derive(Clone, Deserialize)]
#[serde(try_from = "TokenEntry")]
pub struct IngestToken {
    pub name: String,
    digest: [u8; 32],
    /// Sources it may send; empty means any.
    pub sources: Vec<String>,
    /// What it may do.
    pub roles: Vec<Role>,
}

impl std::fmt::Debug for IngestToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IngestToken")
            .field("name", &self.name)
            .field("sources", &self.sources)
            .field("roles", &self.roles)
            .finish_non_exhaustive()
    }
}

/// Shortest token accepted in clear in the configuration.
const MIN_TOKEN_CHARS: usize = 16;

/// `[[tokens]]` as written in the configuration file.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenEntry {
    name: String,
    /// The token itself (hashed on load), or:
    token: Option<String>,
    /// its SHA-256, hex, as `agentrail token` prints it (the token is then
    /// nowhere on the server).
    token_sha256: Option<String>,
    #[serde(default)]
    sources: Vec<String>,
    /// `["ingest"]` when absent.
    #[serde(default = "ingest_only")]
    roles: Vec<Role>,
}

impl TryFrom<TokenEntry> for IngestToken {
    type Error = String;

    fn try_from(entry: TokenEntry) -> Result<Self, String> {
        let name = &entry.name;
        let digest = match (entry.token, entry.token_sha256) {
            (Some(token), None) if token.chars().count() < MIN_TOKEN_CHARS => {
                return Err(format!("token {name:?} is shorter than {MIN_TOKEN_CHARS} characters"));
            }
            (Some(token), None) => token_digest(&token),
            (None, Some(hex_digest)) => hex::decode(hex_digest.trim())
                .ok()
                .and_then(|bytes| <[u8; 32]>::try_from(bytes).ok())
                .ok_or_else(|| format!("token {name:?}: token_sha256 must be 64 hex digits (see `agentrail token`)"))?,
            (Some(_), Some(_)) => return Err(format!("token {name:?}: give token or token_sha256, not both")),
            (None, None) => return Err(format!("token {name:?} needs token_sha256 (or token)")),
        };
        if entry.roles.is_empty() {
            return Err(format!("token {name:?} has no roles"));
        }
        Ok(IngestToken { name: entry.name, digest, sources: entry.sources, roles: entry.roles })
    }
}

impl IngestToken {
    /// Whether one of its roles grants `role`.
    pub(crate) fn may(&self, role: Role) -> bool {
        self.roles.iter().any(|held| held.grants(role))
    }

    /// A token from its clear text (tests, programs embedding the server).
    pub fn new(name: &str, token: &str, sources: Vec<String>, roles: Vec<Role>) -> IngestToken {
        IngestToken { name: name.to_owned(), digest: token_digest(token), sources, roles }
    }
}

/// The SHA-256 of a token: what the server keeps and compares.
pub fn token_digest(token: &str) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    Sha256::digest(token.as_bytes()).into()
}

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Post events (every ingest endpoint).
    Ingest,
    /// Read: query, search, replay, the named queries, reports, verify.
    Analyst,
    /// What an analyst may do, and run retention.
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Ingest => "ingest",
            Role::Analyst => "analyst",
            Role::Admin => "admin",
        }
    }

    /// Whether a token with this role may act as `needed`.
    fn grants(self, needed: Role) -> bool {
        self == needed || (self == Role::Admin && needed == Role::Analyst)
    }
}

fn ingest_only() -> Vec<Role> {
    vec![Role::Ingest]
}

/// Request limits.
#[derive(Debug, Clone, Copy)]
pub struct HttpLimits {
    /// Largest body, after decompression.
    pub max_body_bytes: usize,
    /// Most records in one request.
    pub max_records: usize,
}

impl Default for HttpLimits {
    fn default() -> Self {
        HttpLimits { max_body_bytes: 64 * 1024 * 1024, max_records: 100_000 }
    }
}

/// What the HTTP server needs.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    pub listen: SocketAddr,
    pub tokens: Vec<IngestToken>,
    pub limits: HttpLimits,
    /// Serve over TLS only, with this certificate and key.
    pub tls: Option<crate::tls::TlsConfig>,
}

#[derive(Clone)]
pub(crate) struct AppState {
    pub(crate) normalizer: Arc<Normalizer>,
    pub(crate) writer: Writer,
    pub(crate) config: Arc<HttpConfig>,
    pub(crate) metrics: Metrics,
}

/// The router of the ingest API.
pub fn router(normalizer: Arc<Normalizer>, writer: Writer, config: HttpConfig, metrics: Metrics) -> Router {
    // The compressed body may not exceed the decompressed limit either.
    let body_limit = config.limits.max_body_bytes;
    let state = AppState { normalizer, writer, config: Arc::new(config), metrics };
    Router::new()
        .route("/v1/events", post(ingest_events))
        .route("/v1/logs", post(ingest_otlp_logs))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/metrics", get(metrics_text))
        .merge(crate::compat::routes())
        .layer(DefaultBodyLimit::max(body_limit))
        .with_state(state)
}

/// A request turned away: the status, a message that names the problem,
/// and for overload how long to wait.
#[derive(Debug)]
pub(crate) struct Refusal {
    pub(crate) status: StatusCode,
    pub(crate) message: String,
    pub(crate) retry_after_seconds: Option<u32>,
}

#[derive(Debug, Serialize)]
struct Problem<'a> {
    error: &'a str,
}

pub(crate) fn problem(status: StatusCode, message: impl Into<String>) -> Refusal {
    Refusal { status, message: message.into(), retry_after_seconds: None }
}

pub(crate) fn overloaded(seconds: u32, message: String) -> Refusal {
    Refusal { status: StatusCode::SERVICE_UNAVAILABLE, message, retry_after_seconds: Some(seconds) }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let mut response = (self.status, Json(Problem { error: &self.message })).into_response();
        if let Some(seconds) = self.retry_after_seconds {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

/// Compares without an early exit, so timing does not reveal a token.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0_u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The token of the request, if it may act as `role`; or the refusal to send
/// (401 no or unknown token, 403 a token without the role). Without
/// configured tokens (loopback only) every request may do everything.
pub(crate) fn authorize<'c>(
    config: &'c HttpConfig,
    headers: &HeaderMap,
    role: Role,
) -> Result<Option<&'c IngestToken>, Refusal> {
    if config.tokens.is_empty() {
        return Ok(None);
    }
    let Some(presented) = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(presented_token)
    else {
        return Err(problem(StatusCode::UNAUTHORIZED, "an `Authorization: Bearer <token>` header is required"));
    };
    let token =
        find_token(config, &presented).ok_or_else(|| problem(StatusCode::UNAUTHORIZED, "unknown bearer token"))?;
    if !token.may(role) {
        return Err(problem(
            StatusCode::FORBIDDEN,
            format!("token {:?} does not have the {} role this endpoint needs", token.name, role.as_str()),
        ));
    }
    Ok(Some(token))
}

/// The configured token `presented` is. Every token is compared, so the
/// time taken does not say which matched.
pub(crate) fn find_token<'c>(config: &'c HttpConfig, presented: &str) -> Option<&'c IngestToken> {
    let presented = token_digest(presented);
    let mut found = None;
    for token in &config.tokens {
        if constant_time_eq(&token.digest, &presented) {
            found = Some(token);
        }
    }
    found
}

/// The name of the configured token a request presents, if any (for the
/// audit events; no role is checked).
pub(crate) fn token_name(config: &HttpConfig, headers: &HeaderMap) -> Option<String> {
    let presented = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(presented_token)?;
    find_token(config, &presented).map(|token| token.name.clone())
}

/// The token in an `Authorization` header, in the schemes shippers use:
/// `Bearer <token>`; `Splunk <token>` (HEC clients); `ApiKey <token>` and
/// `Basic <base64 of user:token>` (Elasticsearch clients, any user name).
fn presented_token(value: &str) -> Option<String> {
    let (scheme, credentials) = value.trim().split_once(' ')?;
    let credentials = credentials.trim();
    match scheme.to_ascii_lowercase().as_str() {
        "bearer" | "splunk" | "apikey" => Some(credentials.to_owned()),
        "basic" => {
            use base64::Engine;
            let decoded = base64::engine::general_purpose::STANDARD.decode(credentials).ok()?;
            let text = String::from_utf8(decoded).ok()?;
            text.split_once(':').map(|(_, password)| password.to_owned())
        }
        _ => None,
    }
}

/// The body, decompressed, refused as soon as it passes the limit.
pub(crate) fn decode_body(headers: &HeaderMap, body: &[u8], limit: usize) -> Result<Vec<u8>, Refusal> {
    let encoding = headers.get(header::CONTENT_ENCODING).and_then(|v| v.to_str().ok()).unwrap_or("identity");
    let mut reader: Box<dyn Read + '_> = match encoding.trim().to_ascii_lowercase().as_str() {
        "" | "identity" => return Ok(body.to_vec()),
        "gzip" | "x-gzip" => Box::new(flate2::read::MultiGzDecoder::new(body)),
        "zstd" => match zstd::stream::read::Decoder::new(body) {
            Ok(decoder) => Box::new(decoder),
            Err(e) => return Err(problem(StatusCode::BAD_REQUEST, format!("zstd body cannot be read: {e}"))),
        },
        "deflate" => Box::new(flate2::read::ZlibDecoder::new(body)),
        other => {
            return Err(problem(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                format!("Content-Encoding `{other}` is not supported (use gzip, zstd, deflate or none)"),
            ));
        }
    };
    let mut out = Vec::new();
    let read = reader.by_ref().take(limit as u64 + 1).read_to_end(&mut out);
    match read {
        Err(e) => Err(problem(StatusCode::BAD_REQUEST, format!("{encoding} body cannot be decompressed: {e}"))),
        Ok(_) if out.len() > limit => Err(problem(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the decompressed body is over the limit of {limit} bytes"),
        )),
        Ok(_) => Ok(out),
    }
}

#[derive(Debug, Deserialize)]
struct IngestParams {
    source: Option<String>,
}

#[derive(Debug, Serialize)]
struct RecordError {
    /// Where the record was: `line 3`, `line 1, record 5`.
    index: String,
    reason: String,
}

#[derive(Debug, Serialize)]
struct IngestAnswer {
    accepted: usize,
    duplicates: usize,
    rejected: usize,
    errors: Vec<RecordError>,
}

/// At most this many rejections are itemised in an answer.
const MAX_ERRORS_LISTED: usize = 100;

async fn ingest_events(
    State(state): State<AppState>,
    Query(params): Query<IngestParams>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let choice = params.source.as_deref().map_or(SourceChoice::Auto, SourceChoice::parse);
    match ingest(state, choice, headers, body, "/v1/events", BodyFormat::Json).await {
        Ok(answer) => Json(answer).into_response(),
        Err(refusal) => refusal.into_response(),
    }
}

/// How a body is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BodyFormat {
    Json,
    /// An OTLP `ExportLogsServiceRequest` in protobuf.
    OtlpProtobuf,
}

/// OTLP/HTTP logs, JSON or protobuf, answered with an
/// `ExportLogsServiceResponse` in the request's encoding: empty when every
/// record was stored, `partialSuccess` naming how many were rejected.
async fn ingest_otlp_logs(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let format =
        if content_type.starts_with("application/x-protobuf") { BodyFormat::OtlpProtobuf } else { BodyFormat::Json };
    let answer = match ingest(state, SourceChoice::Named("otel".into()), headers, body, "/v1/logs", format).await {
        Ok(answer) => answer,
        Err(refusal) => return refusal.into_response(),
    };
    let error_message = answer.errors.first().map(|e| format!("{}: {}", e.index, e.reason)).unwrap_or_default();
    match format {
        BodyFormat::OtlpProtobuf => {
            let response =
                agentrail_collect::otlp_proto::ExportLogsServiceResponse::partial(answer.rejected, error_message);
            ([(header::CONTENT_TYPE, "application/x-protobuf")], response).into_response()
        }
        BodyFormat::Json if answer.rejected == 0 => Json(serde_json::json!({})).into_response(),
        BodyFormat::Json => Json(serde_json::json!({
            "partialSuccess": {"rejectedLogRecords": answer.rejected.to_string(), "errorMessage": error_message}
        }))
        .into_response(),
    }
}

async fn ingest(
    state: AppState,
    choice: SourceChoice,
    headers: HeaderMap,
    body: Bytes,
    route: &'static str,
    format: BodyFormat,
) -> Result<IngestAnswer, Refusal> {
    state.metrics.requests.add(1);
    let token = authorize(&state.config, &headers, Role::Ingest)?.cloned();
    state.normalizer.check_choice(&choice).map_err(|reason| problem(StatusCode::BAD_REQUEST, reason.to_string()))?;
    let limits = state.config.limits;
    let mut body = decode_body(&headers, &body, limits.max_body_bytes)?;
    if format == BodyFormat::OtlpProtobuf {
        body = agentrail_collect::otlp_proto::logs_request_to_json(&body)
            .map_err(|e| problem(StatusCode::BAD_REQUEST, e.to_string()))?;
    }
    // A body declared as NDJSON is read line by line even if its first line
    // is cut short; other bodies may be pretty-printed documents.
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let mut decode_limits = state.normalizer.limits().decode;
    decode_limits.multi_line_documents = !(content_type.contains("ndjson") || content_type.contains("jsonl"));
    let normalizer = Arc::clone(&state.normalizer);
    // Normalizing is CPU work: keep it off the threads that serve sockets.
    let normalized = tokio::task::spawn_blocking(move || {
        let mut events: Vec<Event> = Vec::new();
        let mut rejects = Vec::new();
        let mut errors = Vec::new();
        let now = Timestamp::now();
        normalizer.normalize_with(&body, decode_limits, &choice, &mut |result| match result {
            Ok(event) => events.push(event),
            Err(rejection) => {
                if errors.len() < MAX_ERRORS_LISTED {
                    errors.push(RecordError {
                        index: rejection.position.to_string(),
                        reason: rejection.reason.to_string(),
                    });
                }
                rejects.push(Quarantined {
                    received_at: now,
                    origin: format!("http:{route}:{}", rejection.position),
                    source: rejection.source,
                    reason: rejection.reason.to_string(),
                    raw: rejection.raw,
                });
            }
        });
        (events, rejects, errors)
    })
    .await;
    let Ok((events, rejects, errors)) = normalized else {
        return Err(problem(StatusCode::INTERNAL_SERVER_ERROR, "normalization failed unexpectedly"));
    };
    let records = events.len() + rejects.len();
    state.metrics.received.add(records as u64);
    if records > limits.max_records {
        return Err(problem(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("{records} records in one request; the limit is {} (split the batch)", limits.max_records),
        ));
    }
    if let Some(token) = &token
        && !token.sources.is_empty()
        && let Some(outside) = events.iter().find(|e| !token.sources.contains(&e.source))
    {
        return Err(problem(
            StatusCode::FORBIDDEN,
            format!(
                "token `{}` may not send source `{}` (allowed: {})",
                token.name,
                outside.source,
                token.sources.join(", ")
            ),
        ));
    }
    let rejected = rejects.len();
    let outcome = write_durably(&state, events, rejects).await?;
    Ok(IngestAnswer { accepted: outcome.accepted, duplicates: outcome.duplicates, rejected, errors })
}

/// Makes a batch durable, or says why it cannot be now: a full writer queue
/// or a failing store is a 503 with `Retry-After`, never a client error.
pub(crate) async fn write_durably(
    state: &AppState,
    events: Vec<Event>,
    rejects: Vec<Quarantined>,
) -> Result<agentrail_store::AppendOutcome, Refusal> {
    let rejected = rejects.len() as u64;
    match state.writer.write(events, rejects).await {
        Ok(outcome) => {
            state.metrics.rejected.add(rejected);
            Ok(outcome)
        }
        Err(WriteError::Overloaded) => {
            state.metrics.overloaded.add(1);
            Err(overloaded(1, WriteError::Overloaded.to_string()))
        }
        Err(error @ WriteError::Unavailable(_)) => Err(overloaded(5, error.to_string())),
        Err(error @ WriteError::Refused(_)) => {
            Err(problem(StatusCode::PAYLOAD_TOO_LARGE, format!("{error}; split the batch")))
        }
    }
}

async fn metrics_text(State(state): State<AppState>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], state.metrics.render())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_in_every_scheme_shippers_use() {
        assert_eq!(presented_token("Bearer abc").as_deref(), Some("abc"));
        assert_eq!(presented_token("Splunk abc").as_deref(), Some("abc"));
        assert_eq!(presented_token("ApiKey abc").as_deref(), Some("abc"));
        // base64("elastic:abc")
        assert_eq!(presented_token("Basic ZWxhc3RpYzphYmM=").as_deref(), Some("abc"));
        assert_eq!(presented_token("Basic !!!"), None);
        assert_eq!(presented_token("Digest x"), None);
    }

    #[test]
    fn tokens_compare_in_constant_time_and_exactly() {
        assert!(constant_time_eq(b"secret-token", b"secret-token"));
        assert!(!constant_time_eq(b"secret-token", b"secret-tokeN"));
        assert!(!constant_time_eq(b"secret", b"secret-token"));
    }

    #[test]
    fn tokens_are_kept_hashed_and_each_entry_is_checked() {
        let parse = |text: &str| toml::from_str::<HttpTokens>(text).map(|t| t.tokens).map_err(|e| e.to_string());
        let digest = hex::encode(token_digest("a-token-of-enough-length"));
        let tokens = parse(&format!(
            "[[tokens]]\nname = \"a\"\ntoken = \"a-token-of-enough-length\"\n\
             [[tokens]]\nname = \"b\"\ntoken_sha256 = \"{digest}\"\nroles = [\"admin\"]\n"
        ))
        .expect("both forms");
        assert_eq!(tokens[0].digest, tokens[1].digest);
        assert!(!format!("{tokens:?}").contains("a-token-of-enough-length"), "never printed");
        for (entry, wanted) in [
            ("name = \"x\"\ntoken = \"short\"", "shorter than 16"),
            ("name = \"x\"\ntoken_sha256 = \"abc\"", "64 hex digits"),
            ("name = \"x\"", "needs token_sha256"),
            (&format!("name = \"x\"\ntoken = \"a-token-of-enough-length\"\ntoken_sha256 = \"{digest}\""), "not both"),
            ("name = \"x\"\ntoken = \"a-token-of-enough-length\"\nroles = []", "no roles"),
            ("name = \"x\"\ntoken = \"a-token-of-enough-length\"\nrole = \"admin\"", "unknown field"),
        ] {
            let error = parse(&format!("[[tokens]]\n{entry}\n")).expect_err(entry);
            assert!(error.contains(wanted), "{entry}: {error}");
        }
        let config = HttpConfig {
            listen: ([127, 0, 0, 1], 0).into(),
            tokens: vec![IngestToken::new("reader", "reader-token-0123456789", Vec::new(), vec![Role::Admin])],
            limits: HttpLimits::default(),
            tls: None,
        };
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer reader-token-0123456789"));
        assert!(authorize(&config, &headers, Role::Analyst).is_ok(), "an admin may read");
        assert_eq!(authorize(&config, &headers, Role::Ingest).err().map(|r| r.status), Some(StatusCode::FORBIDDEN));
    }

    #[derive(Deserialize)]
    struct HttpTokens {
        tokens: Vec<IngestToken>,
    }

    #[test]
    fn a_gzip_bomb_is_refused_while_reading() {
        use std::io::Write;
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        encoder.write_all(&vec![b'a'; 10 << 20]).expect("compress");
        let bomb = encoder.finish().expect("finish");
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        let refused = decode_body(&headers, &bomb, 1 << 20).err().map(|r| r.status);
        assert_eq!(refused, Some(StatusCode::PAYLOAD_TOO_LARGE));
        let garbage = decode_body(&headers, b"not gzip at all", 1 << 20).err().map(|r| r.status);
        assert_eq!(garbage, Some(StatusCode::BAD_REQUEST));
    }
}
