//! The answer key written next to the generated data (`ground_truth.json`):
//! which events make up each planted incident, how the ones without the
//! correlation id are linked to it, which look-alikes must stay out, and
//! which events each anomaly rule must (and must not) flag.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The whole answer key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroundTruth {
    pub seed: u64,
    /// First instant of the data (RFC 3339).
    pub start: String,
    pub days: u32,
    /// End of the baseline period ("the first days") used by
    /// `new_system_for_agent` and `rate_spike`.
    pub baseline_until: String,
    /// Records written per source (one CloudTrail or OTLP record each, not lines).
    pub events_per_source: BTreeMap<String, u64>,
    pub incidents: Vec<Incident>,
    pub anomalies: Vec<Anomaly>,
}

/// One planted incident: a human asks an orchestrator, which delegates to a sub-agent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Incident {
    pub correlation_id: String,
    /// Orchestrator first, then the sub-agent.
    pub agent_ids: Vec<String>,
    pub task_id: String,
    /// The human who asked for the task.
    #[serde(default)]
    pub on_behalf_of: String,
    /// Every record carrying the correlation id (gateway and OTLP), in time order.
    pub direct_event_ids: Vec<String>,
    /// Records without the correlation id linked to a direct one, in time order.
    pub expanded_event_ids: Vec<ExpandedEvent>,
    /// Records that share something with the incident but must stay out of it.
    pub decoy_event_ids: Vec<String>,
    #[serde(default)]
    pub description: String,
}

/// A record reached by incident expansion, and the key that reached it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExpandedEvent {
    pub event_id: String,
    pub link: Link,
}

/// The shared key through which an expanded record joins an incident.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Link {
    /// The same W3C trace id as a direct record.
    TraceId,
    /// The same credential id, used inside that credential's iat..exp window.
    CredentialId,
    /// The same (agent_id, task_id) as a direct record.
    AgentTask,
}

/// The anomaly rules the generator plants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    DestructiveWithoutApproval,
    ScopeViolation,
    LongLivedToken,
    StaticApiKey,
    SharedCredential,
    MissingOnBehalfOf,
    ExpiredCredentialUse,
    NewSystemForAgent,
    RateSpike,
}

impl Rule {
    pub const ALL: [Rule; 9] = [
        Rule::DestructiveWithoutApproval,
        Rule::ScopeViolation,
        Rule::LongLivedToken,
        Rule::StaticApiKey,
        Rule::SharedCredential,
        Rule::MissingOnBehalfOf,
        Rule::ExpiredCredentialUse,
        Rule::NewSystemForAgent,
        Rule::RateSpike,
    ];
}

/// Everything planted for one rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Anomaly {
    pub rule: Rule,
    /// Records that carry the anomaly themselves: the rule must flag each.
    pub event_ids: Vec<String>,
    /// Clean records that resemble it: the rule must flag none.
    pub look_alike_event_ids: Vec<String>,
    /// Other records of the same anomalous actions (the downstream system's
    /// copy, the agent's telemetry): a rule that joins sources may flag them,
    /// one that does not is not wrong to leave them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub related_event_ids: Vec<String>,
    /// How the anomaly was planted and how the rule is meant to read.
    #[serde(default)]
    pub description: String,
}
