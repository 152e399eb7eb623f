//! Incident replay: every event of one correlation id in time order, what
//! an investigator asks of them (who delegated to whom, which systems,
//! which destructive actions had an approval, which scopes and credentials
//! were used), and on request the events linked to the incident without
//! carrying its correlation id.
//!
//! Expansion is transitive over three links, each narrow enough that the
//! same agent's unrelated work stays out:
//! - the same `trace_id` (one distributed trace);
//! - the same `credential_id`, used inside that credential's issued..expires
//!   window (a token's lifetime, not the key's whole history);
//! - the same (`agent_id`, `task_id`) pair (one agent's work on one task).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use agentrail_event::Timestamp;
use datafusion::logical_expr::{Expr, col, lit};
use serde_json::{Map, Value, json};

use crate::engine::{QueryEngine, QueryError};
use crate::table::time_literal;

/// How far an expansion may grow before it stops and says so.
const MAX_EXPANSION_ROUNDS: usize = 16;
const MAX_EVENTS: usize = 50_000;

/// Why an event joined an incident it does not carry the id of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Link {
    TraceId,
    CredentialId,
    AgentTask,
}

impl Link {
    pub fn as_str(self) -> &'static str {
        match self {
            Link::TraceId => "trace_id",
            Link::CredentialId => "credential_id",
            Link::AgentTask => "agent_task",
        }
    }
}

/// An event added by expansion, with the link and key that brought it in.
#[derive(Debug, Clone)]
pub struct Expansion {
    pub event_id: String,
    pub link: Link,
    /// The shared key: the trace id, the credential id, or `agent/task`.
    pub via: String,
}

/// One incident, replayed.
#[derive(Debug)]
pub struct Replay {
    pub correlation_id: String,
    /// Normalized events (direct and expanded), in time order.
    pub events: Vec<Value>,
    pub expanded: Vec<Expansion>,
    /// Whether expansion stopped at its limits before it was complete.
    pub truncated: bool,
}

/// The keys through which events join an incident.
#[derive(Debug, Default)]
struct Keys {
    traces: BTreeSet<String>,
    /// Credential id to the union of its known (issued, expires) windows, in µs.
    credentials: BTreeMap<String, (i64, i64)>,
    agent_tasks: BTreeSet<(String, String)>,
}

impl Keys {
    fn add(&mut self, event: &Value) {
        if let Some(trace) = text(event, "trace_id") {
            self.traces.insert(trace.to_owned());
        }
        if let (Some(id), Some(issued), Some(expires)) = (
            text(event, "credential_id"),
            micros(event, "credential_issued_at"),
            micros(event, "credential_expires_at"),
        ) {
            let window = self.credentials.entry(id.to_owned()).or_insert((issued, expires));
            *window = (window.0.min(issued), window.1.max(expires));
        }
        if let (Some(agent), Some(task)) = (text(event, "agent_id"), text(event, "task_id")) {
            self.agent_tasks.insert((agent.to_owned(), task.to_owned()));
        }
    }

    /// The first link through which `event` joins, and its key.
    fn link(&self, event: &Value) -> Option<(Link, String)> {
        if let Some(trace) = text(event, "trace_id")
            && self.traces.contains(trace)
        {
            return Some((Link::TraceId, trace.to_owned()));
        }
        if let (Some(id), Some(time)) = (text(event, "credential_id"), micros(event, "time"))
            && let Some((issued, expires)) = self.credentials.get(id)
            && (*issued..=*expires).contains(&time)
        {
            return Some((Link::CredentialId, id.to_owned()));
        }
        if let (Some(agent), Some(task)) = (text(event, "agent_id"), text(event, "task_id"))
            && self.agent_tasks.contains(&(agent.to_owned(), task.to_owned()))
        {
            return Some((Link::AgentTask, format!("{agent}/{task}")));
        }
        None
    }

    /// Filters for the events that may join, one per link so that each is
    /// an index lookup (the index answers conjunctions, not `OR`): together
    /// a superset, checked exactly by [`Keys::link`].
    fn candidates(&self) -> Vec<Expr> {
        let list = |values: Vec<&String>| values.into_iter().map(|v| lit(v.as_str())).collect::<Vec<_>>();
        let mut filters = Vec::new();
        if !self.traces.is_empty() {
            filters.push(col("trace_id").in_list(list(self.traces.iter().collect()), false));
        }
        if !self.credentials.is_empty() {
            // Only inside the credentials' windows: segments outside are not opened.
            let issued = self.credentials.values().map(|(issued, _)| *issued).min().unwrap_or(i64::MIN);
            let expires = self.credentials.values().map(|(_, expires)| *expires).max().unwrap_or(i64::MAX);
            filters.push(
                col("credential_id")
                    .in_list(list(self.credentials.keys().collect()), false)
                    .and(col("time").between(time_literal(issued), time_literal(expires))),
            );
        }
        if !self.agent_tasks.is_empty() {
            let agents: BTreeSet<&String> = self.agent_tasks.iter().map(|(a, _)| a).collect();
            let tasks: BTreeSet<&String> = self.agent_tasks.iter().map(|(_, t)| t).collect();
            filters.push(
                col("agent_id")
                    .in_list(list(agents.into_iter().collect()), false)
                    .and(col("task_id").in_list(list(tasks.into_iter().collect()), false)),
            );
        }
        filters
    }
}

fn text<'a>(event: &'a Value, key: &str) -> Option<&'a str> {
    event.get(key).and_then(Value::as_str).filter(|s| !s.is_empty())
}

fn micros(event: &Value, key: &str) -> Option<i64> {
    text(event, key).and_then(|t| Timestamp::parse(t).ok()).map(Timestamp::as_micros)
}

fn event_id(event: &Value) -> String {
    text(event, "event_id").unwrap_or_default().to_owned()
}

/// Replays `correlation_id`: its events, and with `expand` the events linked to them.
pub async fn replay(engine: &QueryEngine, correlation_id: &str, expand: bool) -> Result<Replay, QueryError> {
    let mut events = engine.select(col("correlation_id").eq(lit(correlation_id))).await?;
    let mut seen: HashSet<String> = events.iter().map(event_id).collect();
    let mut expanded = Vec::new();
    let mut truncated = false;
    if expand && !events.is_empty() {
        let mut keys = Keys::default();
        events.iter().for_each(|e| keys.add(e));
        for round in 0.. {
            if round == MAX_EXPANSION_ROUNDS || events.len() >= MAX_EVENTS {
                truncated = true;
                break;
            }
            let filters = keys.candidates();
            if filters.is_empty() {
                break;
            }
            let mut candidates = Vec::new();
            for filter in filters {
                candidates.extend(engine.select(filter).await?);
            }
            let mut added = Vec::new();
            for candidate in candidates {
                let id = event_id(&candidate);
                if seen.contains(&id) {
                    continue;
                }
                if let Some((link, via)) = keys.link(&candidate) {
                    seen.insert(id.clone());
                    expanded.push(Expansion { event_id: id, link, via });
                    added.push(candidate);
                }
            }
            if added.is_empty() {
                break;
            }
            added.iter().for_each(|e| keys.add(e));
            events.extend(added);
        }
    }
    events.sort_by_cached_key(|e| (micros(e, "time"), event_id(e)));
    Ok(Replay { correlation_id: correlation_id.to_owned(), events, expanded, truncated })
}

impl Replay {
    /// The answer of `replay --format json` and `GET /api/v1/replay/{id}`.
    pub fn to_json(&self) -> Value {
        let expansion: HashMap<&str, &Expansion> = self.expanded.iter().map(|x| (x.event_id.as_str(), x)).collect();
        json!({
            "correlation_id": self.correlation_id,
            "first_seen": self.events.first().and_then(|e| e.get("time")).cloned().unwrap_or(Value::Null),
            "last_seen": self.events.last().and_then(|e| e.get("time")).cloned().unwrap_or(Value::Null),
            "event_count": self.events.len(),
            "delegation": self.delegation_tree(),
            "systems": self.systems(),
            "destructive_actions": self.destructive_actions(),
            "scopes": self.scopes(),
            "credentials": self.credentials(),
            "expanded": self.expanded.iter().map(|x| json!({
                "event_id": x.event_id, "link": x.link.as_str(), "via": x.via,
            })).collect::<Vec<_>>(),
            "expansion_truncated": self.truncated,
            "events": self.events.iter().map(|e| {
                let mut event = e.clone();
                if let (Some(object), Some(x)) = (event.as_object_mut(), expansion.get(event_id(e).as_str())) {
                    object.insert("linked_by".into(), json!({"link": x.link.as_str(), "via": x.via}));
                }
                event
            }).collect::<Vec<_>>(),
        })
    }

    /// Human → agent → sub-agent, merged from every event's delegation chain.
    pub fn delegation_tree(&self) -> Value {
        #[derive(Default)]
        struct Node(BTreeMap<String, Node>);
        fn to_json(name: &str, node: &Node) -> Value {
            let children: Vec<Value> = node.0.iter().map(|(n, c)| to_json(n, c)).collect();
            json!({"name": name, "children": children})
        }
        let mut root = Node::default();
        for event in &self.events {
            let chain: Vec<&str> = event
                .get("delegation_chain")
                .and_then(Value::as_array)
                .map(|c| c.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            let mut node = &mut root;
            for link in chain {
                node = node.0.entry(link.to_owned()).or_default();
            }
        }
        Value::Array(root.0.iter().map(|(n, c)| to_json(n, c)).collect())
    }

    /// Each source system with its event count and the resources touched there.
    pub fn systems(&self) -> Value {
        let mut systems: BTreeMap<&str, (usize, BTreeSet<&str>)> = BTreeMap::new();
        for event in &self.events {
            let entry = systems.entry(text(event, "source").unwrap_or("unknown")).or_default();
            entry.0 += 1;
            if let Some(resource) = text(event, "resource") {
                entry.1.insert(resource);
            }
        }
        Value::Array(
            systems
                .into_iter()
                .map(
                    |(source, (events, resources))| json!({"source": source, "events": events, "resources": resources}),
                )
                .collect(),
        )
    }

    /// Every delete or admin action, with its approval or the lack of one.
    pub fn destructive_actions(&self) -> Value {
        let destructive =
            self.events.iter().filter(|e| matches!(text(e, "action_class"), Some("delete" | "admin"))).map(|e| {
                let approved = text(e, "approval_id").is_some() || text(e, "approved_by").is_some();
                json!({
                    "event_id": e.get("event_id"), "time": e.get("time"), "source": e.get("source"),
                    "action": e.get("action"), "resource": e.get("resource"), "outcome": e.get("outcome"),
                    "agent_id": e.get("agent_id"), "on_behalf_of": e.get("on_behalf_of"),
                    "approved": approved, "approval_id": e.get("approval_id"), "approved_by": e.get("approved_by"),
                })
            });
        Value::Array(destructive.collect())
    }

    /// Scopes the credentials granted, and permissions the actions used.
    pub fn scopes(&self) -> Value {
        let mut granted = BTreeSet::new();
        let mut used = BTreeSet::new();
        for event in &self.events {
            if let Some(scopes) = event.get("scopes").and_then(Value::as_array) {
                granted.extend(scopes.iter().filter_map(Value::as_str));
            }
            if let Some(permission) = text(event, "permission") {
                used.insert(permission);
            }
        }
        json!({"granted": granted, "used": used})
    }

    /// Each credential used: its type, lifetime, and who used it how often.
    pub fn credentials(&self) -> Value {
        let mut credentials: BTreeMap<&str, Map<String, Value>> = BTreeMap::new();
        let mut users: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
        for event in &self.events {
            let Some(id) = text(event, "credential_id") else { continue };
            let entry = credentials.entry(id).or_insert_with(|| {
                let mut m = Map::new();
                m.insert("credential_id".into(), json!(id));
                m.insert("credential_type".into(), event.get("credential_type").cloned().unwrap_or(Value::Null));
                m.insert("issued_at".into(), event.get("credential_issued_at").cloned().unwrap_or(Value::Null));
                m.insert("expires_at".into(), event.get("credential_expires_at").cloned().unwrap_or(Value::Null));
                let lifetime = micros(event, "credential_issued_at")
                    .zip(micros(event, "credential_expires_at"))
                    .map(|(issued, expires)| (expires - issued) / 1_000_000);
                m.insert("lifetime_seconds".into(), json!(lifetime));
                m.insert("events".into(), json!(0));
                m
            });
            let count = entry.get("events").and_then(Value::as_u64).unwrap_or(0);
            entry.insert("events".into(), json!(count + 1));
            if let Some(actor) = text(event, "agent_id").or_else(|| text(event, "actor_id")) {
                users.entry(id).or_default().insert(actor);
            }
        }
        Value::Array(
            credentials
                .into_iter()
                .map(|(id, mut m)| {
                    m.insert("used_by".into(), json!(users.get(id).cloned().unwrap_or_default()));
                    Value::Object(m)
                })
                .collect(),
        )
    }

    /// A readable timeline for a terminal.
    pub fn to_text(&self) -> String {
        use std::fmt::Write;
        let mut out = String::new();
        let delegation = self.delegation_tree();
        let systems = self.systems();
        let destructive = self.destructive_actions();
        let credentials = self.credentials();
        let _ = writeln!(out, "incident {}", self.correlation_id);
        if self.events.is_empty() {
            let _ = writeln!(out, "  no events carry this correlation id");
            return out;
        }
        let _ = writeln!(
            out,
            "  {} events, {} → {}{}",
            self.events.len(),
            self.events.first().and_then(|e| text(e, "time")).unwrap_or("?"),
            self.events.last().and_then(|e| text(e, "time")).unwrap_or("?"),
            if self.expanded.is_empty() {
                String::new()
            } else {
                format!(" ({} linked by expansion)", self.expanded.len())
            }
        );
        let _ = writeln!(out, "\ndelegation");
        fn tree(out: &mut String, nodes: &Value, depth: usize) {
            for node in nodes.as_array().into_iter().flatten() {
                let _ = writeln!(out, "  {}{}", "  ".repeat(depth), node["name"].as_str().unwrap_or("?"));
                tree(out, &node["children"], depth + 1);
            }
        }
        tree(&mut out, &delegation, 0);
        let _ = writeln!(out, "\nsystems");
        for system in systems.as_array().into_iter().flatten() {
            let _ = writeln!(out, "  {:<16} {} events", system["source"].as_str().unwrap_or("?"), system["events"]);
        }
        let destructive = destructive.as_array().cloned().unwrap_or_default();
        let unapproved = destructive.iter().filter(|d| d["approved"] == json!(false)).count();
        let _ = writeln!(out, "\ndestructive actions: {} ({} without approval)", destructive.len(), unapproved);
        let _ = writeln!(out, "\ncredentials");
        for credential in credentials.as_array().into_iter().flatten() {
            let lifetime = credential["lifetime_seconds"]
                .as_i64()
                .map_or("unknown lifetime".to_owned(), |s| format!("lives {s} s"));
            let _ = writeln!(
                out,
                "  {} ({}, {lifetime}) used {} times",
                credential["credential_id"].as_str().unwrap_or("?"),
                credential["credential_type"].as_str().unwrap_or("?"),
                credential["events"]
            );
        }
        let expansion: HashMap<&str, &Expansion> = self.expanded.iter().map(|x| (x.event_id.as_str(), x)).collect();
        let _ = writeln!(out, "\ntimeline");
        for event in &self.events {
            let id = event_id(event);
            let who = match (text(event, "agent_id"), text(event, "on_behalf_of")) {
                (Some(agent), Some(human)) => format!("{agent} for {human}"),
                (Some(agent), None) => format!("{agent} (no human principal)"),
                (None, _) => text(event, "actor_id").unwrap_or("?").to_owned(),
            };
            let mut line = format!(
                "  {}  {:<14} {:<40} {} {}",
                text(event, "time").unwrap_or("?"),
                text(event, "source").unwrap_or("?"),
                who,
                text(event, "action").unwrap_or("?"),
                text(event, "resource").unwrap_or(""),
            );
            let _ = write!(line, "  [{}]", text(event, "outcome").unwrap_or("?"));
            if matches!(text(event, "action_class"), Some("delete" | "admin")) {
                match text(event, "approved_by").or_else(|| text(event, "approval_id")) {
                    Some(approver) => {
                        let _ = write!(line, "  approved by {approver}");
                    }
                    None => line.push_str("  NO APPROVAL"),
                }
            }
            if let Some(x) = expansion.get(id.as_str()) {
                let _ = write!(line, "  (linked by {} {})", x.link.as_str(), x.via);
            }
            let _ = writeln!(out, "{line}");
        }
        if self.truncated {
            let _ = writeln!(out, "\nexpansion stopped at its limits; narrow the incident or query the links directly");
        }
        out
    }
}
