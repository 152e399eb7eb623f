//! The agent-aware event: one audited action, whatever system logged it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::kinds::{ActionClass, ActorType, CredentialType, Outcome};
use crate::timestamp::Timestamp;

/// One row per audited action. Field names are the public contract: the
/// JSON printed by the CLI, the HTTP API, the SQL columns and the reports all
/// use them. `schemas/agent_event.schema.json` describes the JSON form and a
/// test keeps it, this type and [`crate::event_schema`] in step.
///
/// Optional text is `None` rather than an empty string: a mapping never
/// produces an empty value, and storage writes `NULL` for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// Deterministic, source-qualified id (`aws.cloudtrail:<eventID>`, or a
    /// content hash when the source has no id of its own).
    pub event_id: String,
    pub time: Timestamp,
    #[serde(default)]
    pub ingest_time: Option<Timestamp>,
    pub source: String,
    pub action: String,
    pub action_class: ActionClass,
    #[serde(default)]
    pub resource: Option<String>,
    pub outcome: Outcome,
    pub actor_type: ActorType,
    #[serde(default)]
    pub actor_id: Option<String>,
    #[serde(default)]
    pub agent_id: Option<String>,
    #[serde(default)]
    pub agent_role: Option<String>,
    #[serde(default)]
    pub on_behalf_of: Option<String>,
    /// The human first, then each agent down to the one that acted.
    #[serde(default)]
    pub delegation_chain: Vec<String>,
    #[serde(default)]
    pub task_id: Option<String>,
    #[serde(default)]
    pub session_id: Option<String>,
    #[serde(default)]
    pub correlation_id: Option<String>,
    #[serde(default)]
    pub trace_id: Option<String>,
    #[serde(default)]
    pub request_id: Option<String>,
    #[serde(default)]
    pub scopes: Vec<String>,
    #[serde(default)]
    pub permission: Option<String>,
    pub credential_type: CredentialType,
    /// The credential's id (jti, access key id, token hash), never the secret.
    #[serde(default)]
    pub credential_id: Option<String>,
    #[serde(default)]
    pub credential_issued_at: Option<Timestamp>,
    #[serde(default)]
    pub credential_expires_at: Option<Timestamp>,
    #[serde(default)]
    pub approval_id: Option<String>,
    #[serde(default)]
    pub approved_by: Option<String>,
    #[serde(default)]
    pub src_ip: Option<String>,
    #[serde(default)]
    pub user_agent: Option<String>,
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
    /// Every field of the record not mapped to a column, flattened with
    /// dotted keys.
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
    /// The original record with its secrets redacted.
    pub raw: String,
    /// How many secrets were redacted from this event (an addition to the
    /// design's column table, so an analyst can find records that carried them).
    #[serde(default)]
    pub redactions: u32,
}

impl Event {
    /// An event with the required columns set and everything else empty.
    pub fn new(event_id: String, time: Timestamp, source: String, action: String, raw: String) -> Self {
        Event {
            event_id,
            time,
            ingest_time: None,
            source,
            action,
            action_class: ActionClass::default(),
            resource: None,
            outcome: Outcome::default(),
            actor_type: ActorType::default(),
            actor_id: None,
            agent_id: None,
            agent_role: None,
            on_behalf_of: None,
            delegation_chain: Vec::new(),
            task_id: None,
            session_id: None,
            correlation_id: None,
            trace_id: None,
            request_id: None,
            scopes: Vec::new(),
            permission: None,
            credential_type: CredentialType::default(),
            credential_id: None,
            credential_issued_at: None,
            credential_expires_at: None,
            approval_id: None,
            approved_by: None,
            src_ip: None,
            user_agent: None,
            reason: None,
            message: None,
            attributes: BTreeMap::new(),
            raw,
            redactions: 0,
        }
    }
}
