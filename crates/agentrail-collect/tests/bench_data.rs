//! The generator's answer key against the mappings: after normalization,
//! every planted incident's records carry the keys that link them (the
//! correlation id, or the same trace id, credential inside its lifetime, or
//! agent and task), decoys carry none of them, and the planted anomalies
//! show in the columns the anomaly rules will read. This is what incident
//! replay and the reports stand on.

use std::collections::{HashMap, HashSet};

use agentrail_bench_data::{Config, GroundTruth, Link, MixedSink, Rule, generate};
use agentrail_collect::{SourceChoice, builtin_normalizer};
use agentrail_event::{ActionClass, ActorType, CredentialType, Event};

fn normalized_run(seed: u64, events: usize) -> (GroundTruth, HashMap<String, Event>) {
    let mut sink = MixedSink::default();
    let truth = generate(&Config::new(seed, events), &mut sink, &mut |_| {}).expect("generates");
    let normalizer = builtin_normalizer().expect("built-ins load");
    let mut by_id = HashMap::new();
    let mut rejected = Vec::new();
    normalizer.normalize(&sink.bytes, &SourceChoice::Auto, &mut |result| match result {
        Ok(event) => {
            by_id.insert(event.event_id.clone(), event);
        }
        Err(rejection) => rejected.push(format!("{}: {}", rejection.position, rejection.reason)),
    });
    assert!(rejected.is_empty(), "bench-data records rejected: {:?}", &rejected[..rejected.len().min(5)]);
    (truth, by_id)
}

fn get<'a>(events: &'a HashMap<String, Event>, id: &str) -> &'a Event {
    events.get(id).unwrap_or_else(|| panic!("ground-truth event {id} not produced by normalization"))
}

/// The keys through which events link to a set of incident events.
#[derive(Default)]
struct Keys {
    traces: HashSet<String>,
    /// Credential id to its (issued, expires) window, in µs.
    credentials: HashMap<String, (i64, i64)>,
    agent_tasks: HashSet<(String, String)>,
}

impl Keys {
    fn add(&mut self, event: &Event) {
        if let Some(trace) = &event.trace_id {
            self.traces.insert(trace.clone());
        }
        if let (Some(id), Some(issued), Some(expires)) =
            (&event.credential_id, event.credential_issued_at, event.credential_expires_at)
        {
            self.credentials.insert(id.clone(), (issued.as_micros(), expires.as_micros()));
        }
        if let (Some(agent), Some(task)) = (&event.agent_id, &event.task_id) {
            self.agent_tasks.insert((agent.clone(), task.clone()));
        }
    }

    fn links(&self, event: &Event) -> Vec<Link> {
        let mut links = Vec::new();
        if event.trace_id.as_ref().is_some_and(|t| self.traces.contains(t)) {
            links.push(Link::TraceId);
        }
        if let Some((issued, expires)) = event.credential_id.as_ref().and_then(|c| self.credentials.get(c))
            && (*issued..=*expires).contains(&event.time.as_micros())
        {
            links.push(Link::CredentialId);
        }
        if let (Some(agent), Some(task)) = (&event.agent_id, &event.task_id)
            && self.agent_tasks.contains(&(agent.clone(), task.clone()))
        {
            links.push(Link::AgentTask);
        }
        links
    }
}

#[test]
fn incidents_link_through_the_normalized_columns_and_decoys_do_not() {
    let (truth, events) = normalized_run(11, 30_000);
    assert!(truth.incidents.len() >= 3);
    for incident in &truth.incidents {
        let mut keys = Keys::default();
        for id in &incident.direct_event_ids {
            let event = get(&events, id);
            assert_eq!(event.correlation_id.as_deref(), Some(incident.correlation_id.as_str()), "{id}");
            keys.add(event);
        }
        // Expansion is transitive: grow the keys until every expanded event is reached.
        let mut pending: Vec<_> = incident.expanded_event_ids.iter().collect();
        while !pending.is_empty() {
            let before = pending.len();
            pending.retain(|expanded| {
                let event = get(&events, &expanded.event_id);
                if keys.links(event).contains(&expanded.link) {
                    keys.add(event);
                    false
                } else {
                    true
                }
            });
            if pending.len() == before {
                let stuck: Vec<String> = pending
                    .iter()
                    .map(|x| {
                        let e = get(&events, &x.event_id);
                        format!(
                            "{} via {:?} (agent {:?}, task {:?}, trace {:?}, credential {:?})",
                            x.event_id, x.link, e.agent_id, e.task_id, e.trace_id, e.credential_id
                        )
                    })
                    .collect();
                panic!("{}: unreachable expanded events: {stuck:#?}", incident.correlation_id);
            }
        }
        for id in &incident.decoy_event_ids {
            let event = get(&events, id);
            assert_ne!(event.correlation_id.as_deref(), Some(incident.correlation_id.as_str()), "decoy {id}");
            assert!(keys.links(event).is_empty(), "decoy {id} links through {:?}", keys.links(event));
        }
    }
}

#[test]
fn planted_anomalies_show_in_the_columns_rules_read() {
    let (truth, events) = normalized_run(11, 30_000);
    let hour = 3_600_000_000_i64;
    for anomaly in &truth.anomalies {
        for id in &anomaly.event_ids {
            let e = get(&events, id);
            let lifetime =
                e.credential_issued_at.zip(e.credential_expires_at).map(|(i, x)| x.as_micros() - i.as_micros());
            let ok = match anomaly.rule {
                Rule::DestructiveWithoutApproval => {
                    matches!(e.action_class, ActionClass::Delete | ActionClass::Admin)
                        && e.approval_id.is_none()
                        && e.actor_type == ActorType::Agent
                }
                Rule::LongLivedToken => lifetime.is_some_and(|l| l > hour),
                Rule::StaticApiKey => e.credential_type == CredentialType::ApiKey && e.actor_type == ActorType::Agent,
                Rule::MissingOnBehalfOf => e.on_behalf_of.is_none() && e.actor_type == ActorType::Agent,
                Rule::ExpiredCredentialUse => e.credential_expires_at.is_some_and(|x| e.time > x),
                Rule::SharedCredential | Rule::ScopeViolation | Rule::NewSystemForAgent | Rule::RateSpike => {
                    e.agent_id.is_some()
                }
            };
            assert!(ok, "{:?}: {id} does not show it: {e:?}", anomaly.rule);
        }
        for id in &anomaly.look_alike_event_ids {
            let e = get(&events, id);
            let lifetime =
                e.credential_issued_at.zip(e.credential_expires_at).map(|(i, x)| x.as_micros() - i.as_micros());
            let clean = match anomaly.rule {
                // Only the gateway records approvals; downstream copies are
                // cleared by joining them to it, which is the rule's work.
                Rule::DestructiveWithoutApproval if e.source != "agent" => true,
                Rule::DestructiveWithoutApproval => {
                    e.approval_id.is_some() || !matches!(e.action_class, ActionClass::Delete | ActionClass::Admin)
                }
                Rule::LongLivedToken => lifetime.is_none_or(|l| l <= hour),
                Rule::ExpiredCredentialUse => e.credential_expires_at.is_none_or(|x| e.time <= x),
                Rule::MissingOnBehalfOf => e.on_behalf_of.is_some() || e.actor_type != ActorType::Agent,
                _ => true,
            };
            assert!(clean, "{:?}: look-alike {id} looks anomalous: {e:?}", anomaly.rule);
        }
    }
    // One credential, two agents: visible as two agent ids on one credential id.
    let shared = truth.anomalies.iter().find(|a| a.rule == Rule::SharedCredential).expect("planted");
    let mut agents_by_credential: HashMap<&str, HashSet<&str>> = HashMap::new();
    for id in &shared.event_ids {
        let e = get(&events, id);
        if let (Some(c), Some(a)) = (&e.credential_id, &e.agent_id) {
            agents_by_credential.entry(c).or_default().insert(a);
        }
    }
    assert!(agents_by_credential.values().any(|agents| agents.len() > 1), "{agents_by_credential:?}");
}
