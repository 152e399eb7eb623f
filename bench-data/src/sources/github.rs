//! GitHub organization / enterprise audit-log events, as the REST API and
//! audit-log streaming return them (keys in alphabetical order, `@timestamp`
//! and `created_at` in epoch milliseconds).

use serde_json::Value;

use super::json::{F, Obj};

use crate::record::{Body, Emitted, Source};
use crate::time::{Nanos, epoch_millis};
use crate::world::{GITHUB_BUSINESS, GITHUB_ORG, GITHUB_ORG_ID};

/// The programmatic credential of a request, when it used one.
#[derive(Debug, Clone, PartialEq)]
pub struct GitHubToken {
    /// e.g. `GitHub App user-to-server token`, `Personal access token (classic)`.
    pub access_type: &'static str,
    pub token_id: Option<u64>,
    pub hashed_token: Option<String>,
    pub integration: Option<String>,
    pub scopes: Option<String>,
}

/// One audit-log event.
#[derive(Debug, Clone)]
pub struct GitHubEvent {
    pub document_id: String,
    pub time: Nanos,
    pub action: &'static str,
    pub actor: String,
    pub actor_id: u64,
    pub actor_is_bot: bool,
    pub country: &'static str,
    pub user_agent: Option<String>,
    pub request_id: Option<String>,
    pub repo: Option<(String, u64)>,
    pub token: Option<GitHubToken>,
    pub operation_type: &'static str,
    pub extra: Vec<(&'static str, Value)>,
}

impl GitHubEvent {
    pub fn event_id(&self) -> String {
        format!("github:{}", self.document_id)
    }

    pub fn render(&self) -> Emitted {
        let millis = epoch_millis(self.time);
        let mut fields: Vec<(&str, F)> = vec![
            ("@timestamp", F::Int(millis)),
            ("_document_id", F::Str(&self.document_id)),
            ("action", F::Str(self.action)),
            ("actor", F::Str(&self.actor)),
            ("actor_id", F::Uint(self.actor_id)),
            ("actor_is_bot", F::Bool(self.actor_is_bot)),
            ("actor_location", F::Obj(Obj(vec![("country_code", F::Str(self.country))]))),
            ("business", F::Str(GITHUB_BUSINESS)),
            ("business_id", F::Uint(7_244)),
            ("created_at", F::Int(millis)),
            ("operation_type", F::Str(self.operation_type)),
            ("org", F::Str(GITHUB_ORG)),
            ("org_id", F::Uint(GITHUB_ORG_ID)),
            ("user_agent", F::opt(self.user_agent.as_deref())),
            ("request_id", F::opt(self.request_id.as_deref())),
        ];
        if let Some((name, id)) = &self.repo {
            let full = format!("{GITHUB_ORG}/{name}");
            fields.push(("repo", F::Owned(full.clone())));
            fields.push(("repo_id", F::Uint(*id)));
            fields.push(("repository", F::Owned(full)));
            fields.push(("repository_public", F::Bool(false)));
            fields.push(("visibility", F::Str("private")));
        }
        if let Some(token) = &self.token {
            fields.push(("programmatic_access_type", F::Str(token.access_type)));
            fields.push(("token_id", token.token_id.map_or(F::Skip, F::Uint)));
            fields.push(("hashed_token", F::opt(token.hashed_token.as_deref())));
            fields.push(("integration", F::opt(token.integration.as_deref())));
            fields.push(("token_scopes", F::opt(token.scopes.as_deref())));
        }
        fields.extend(self.extra.iter().map(|(key, value)| (*key, F::Value(value))));
        fields.sort_by(|a, b| a.0.cmp(b.0));
        let line = Obj(fields).line();
        Emitted { time: self.time, source: Source::GitHub, event_id: self.event_id(), body: Body::Line(line) }
    }
}
