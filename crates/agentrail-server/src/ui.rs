//! The incident web page at `/` (for a browser; see [`wants_html`]): plain HTML, CSS and JavaScript embedded in
//! the binary (no network access at run time, no build step). The page
//! asks the read API for everything it shows, with the analyst's token
//! when tokens are configured; serving the page itself needs none.
//!
//! `AGENTRAIL_UI_DIR` serves the files from a directory instead, so the
//! page can be edited and reloaded without rebuilding.

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

/// Each asset: its name under `/ui/`, its media type and its embedded text.
const ASSETS: [(&str, &str, &str); 3] = [
    ("index.html", "text/html; charset=utf-8", include_str!("../ui/index.html")),
    ("app.js", "text/javascript; charset=utf-8", include_str!("../ui/app.js")),
    ("app.css", "text/css; charset=utf-8", include_str!("../ui/app.css")),
];

/// Scripts, styles and requests from this origin only: the page shows
/// attacker-influenced text (raw records), which must never run.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// `/ui/*`. The page itself is `GET /`, shared with the Elasticsearch
/// cluster check ([`wants_html`]).
pub(crate) fn routes() -> Router {
    Router::new().route("/ui/{name}", get(|Path(name): Path<String>| async move { asset(&name) }))
}

/// The page.
pub(crate) fn page() -> Response {
    asset("index.html")
}

/// Whether a request for `/` comes from a browser: it names HTML among
/// what it accepts.
pub(crate) fn wants_html(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .any(|value| value.split(',').any(|kind| kind.trim().starts_with("text/html")))
}

fn asset(name: &str) -> Response {
    let Some((name, media_type, embedded)) = ASSETS.iter().find(|(known, _, _)| *known == name) else {
        return (StatusCode::NOT_FOUND, "no such page asset\n").into_response();
    };
    let body = match std::env::var_os("AGENTRAIL_UI_DIR") {
        Some(dir) => match std::fs::read_to_string(std::path::Path::new(&dir).join(name)) {
            Ok(text) => text,
            Err(error) => {
                return (StatusCode::INTERNAL_SERVER_ERROR, format!("AGENTRAIL_UI_DIR: cannot read {name}: {error}\n"))
                    .into_response();
            }
        },
        None => (*embedded).to_owned(),
    };
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(media_type));
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CONTENT_SECURITY_POLICY));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}
