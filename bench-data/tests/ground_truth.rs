//! The answer key is exact: every id it names exists, incident expansion
//! recomputed from the records alone gives exactly its expanded set, and
//! the anomaly rules, evaluated on the records, fire on exactly the planted
//! events and on none of the look-alikes.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::PathBuf;
use std::sync::OnceLock;

use agentrail_bench_data::ground_truth::{GroundTruth, Link, Rule};
use agentrail_bench_data::tools::{Class, Tool};
use common::{Rec, by_id, generate_dir, ground_truth_ids, parse_time, read_all};

/// Runs shared by the tests: the checked-in sample's parameters and a larger one.
fn runs() -> &'static Vec<(PathBuf, GroundTruth, Vec<Rec>)> {
    static RUNS: OnceLock<Vec<(PathBuf, GroundTruth, Vec<Rec>)>> = OnceLock::new();
    RUNS.get_or_init(|| {
        // AGENTRAIL_BENCH_RUNS="seed:events:days,…" checks other runs (e.g. large ones in --release).
        let custom: Vec<(u64, usize, u32)> = std::env::var("AGENTRAIL_BENCH_RUNS")
            .unwrap_or_default()
            .split(',')
            .filter_map(|run| {
                let mut parts = run.split(':').map(str::trim);
                Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
            })
            .collect();
        let runs = if custom.is_empty() { vec![(7, 2_000, 2), (42, 30_000, 3), (1234, 12_000, 4)] } else { custom };
        runs.into_iter()
            .map(|(seed, events, days)| {
                let (dir, truth) = generate_dir("truth", seed, events, days);
                let records = read_all(&dir);
                let _ = fs::remove_dir_all(&dir);
                (dir, truth, records)
            })
            .collect()
    })
}

#[test]
fn every_ground_truth_id_exists_and_the_lists_are_consistent() {
    for (dir, truth, records) in runs() {
        let ids = by_id(records);
        for id in ground_truth_ids(truth) {
            assert!(ids.contains_key(&id), "{}: {id} not in the output", dir.display());
        }
        assert!(truth.incidents.len() >= 3);
        assert_eq!(truth.anomalies.len(), Rule::ALL.len());
        for incident in &truth.incidents {
            let direct: BTreeSet<_> = incident.direct_event_ids.iter().collect();
            let expanded: BTreeSet<_> = incident.expanded_event_ids.iter().map(|e| &e.event_id).collect();
            assert!(direct.is_disjoint(&expanded));
            for decoy in &incident.decoy_event_ids {
                assert!(!direct.contains(decoy) && !expanded.contains(decoy), "decoy {decoy} inside the incident");
            }
            for link in [Link::TraceId, Link::CredentialId, Link::AgentTask] {
                assert!(incident.expanded_event_ids.iter().any(|e| e.link == link), "no {link:?} link");
            }
            assert!(!incident.decoy_event_ids.is_empty());
        }
        for anomaly in &truth.anomalies {
            assert!(!anomaly.event_ids.is_empty(), "{:?} planted nothing", anomaly.rule);
            assert!(!anomaly.look_alike_event_ids.is_empty(), "{:?} has no look-alike", anomaly.rule);
            let flagged: BTreeSet<_> = anomaly.event_ids.iter().collect();
            assert!(anomaly.look_alike_event_ids.iter().all(|id| !flagged.contains(id)));
        }
    }
}

fn corr_of(rec: &Rec) -> Option<String> {
    match rec.source {
        "agent" => rec.value["correlation_id"].as_str().map(str::to_owned),
        "otel" => rec.otel_attr("agentrail.correlation_id"),
        _ => None,
    }
}

/// Incident expansion from the records alone, with the three documented links.
fn expand(records: &[Rec], correlation_id: &str) -> (BTreeSet<String>, BTreeMap<String, Link>) {
    let direct: Vec<&Rec> = records.iter().filter(|r| corr_of(r).as_deref() == Some(correlation_id)).collect();
    let mut traces = BTreeSet::new();
    let mut credentials: Vec<(String, i64, i64)> = Vec::new();
    let mut agent_tasks = BTreeSet::new();
    for rec in &direct {
        if rec.source == "agent" {
            let v = &rec.value;
            if let Some(tp) = v["traceparent"].as_str() {
                traces.insert(tp.split('-').nth(1).unwrap().to_owned());
            }
            let token = &v["token"];
            if let (Some(jti), Some(iat), Some(exp)) =
                (token["jti"].as_str(), token["iat"].as_i64(), token["exp"].as_i64())
            {
                credentials.push((jti.to_owned(), iat, exp));
            }
            agent_tasks
                .insert((v["agent_id"].as_str().unwrap().to_owned(), v["task_id"].as_str().unwrap_or("").to_owned()));
        }
        if rec.source == "otel"
            && let Some(trace) = rec.value["traceId"].as_str()
        {
            traces.insert(trace.to_owned());
        }
    }
    let in_window = |id: &str, at: i64| {
        let secs = at.div_euclid(1_000_000_000);
        credentials.iter().any(|(jti, iat, exp)| jti == id && *iat <= secs && secs <= *exp)
    };
    let direct_ids: BTreeSet<String> = direct.iter().map(|r| r.id.clone()).collect();
    let mut expanded = BTreeMap::new();
    for rec in records {
        if direct_ids.contains(&rec.id) {
            continue;
        }
        let v = &rec.value;
        let link = match rec.source {
            "otel" => {
                let by_trace = v["traceId"].as_str().is_some_and(|t| traces.contains(t));
                let by_cred = rec.otel_attr("agentrail.credential_id").is_some_and(|c| in_window(&c, rec.time));
                if by_trace {
                    Some(Link::TraceId)
                } else if by_cred {
                    Some(Link::CredentialId)
                } else {
                    None
                }
            }
            "agent" => {
                let key = (v["agent_id"].as_str().unwrap().to_owned(), v["task_id"].as_str().unwrap_or("").to_owned());
                let by_trace =
                    v["traceparent"].as_str().is_some_and(|tp| traces.contains(tp.split('-').nth(1).unwrap()));
                let by_cred = v["token"]["jti"].as_str().is_some_and(|c| in_window(c, rec.time));
                if by_trace {
                    Some(Link::TraceId)
                } else if by_cred {
                    Some(Link::CredentialId)
                } else if agent_tasks.contains(&key) {
                    Some(Link::AgentTask)
                } else {
                    None
                }
            }
            "aws.cloudtrail" => v["userIdentity"]["accessKeyId"]
                .as_str()
                .is_some_and(|k| in_window(k, rec.time))
                .then_some(Link::CredentialId),
            "github" => v["token_id"]
                .as_u64()
                .is_some_and(|t| in_window(&t.to_string(), rec.time))
                .then_some(Link::CredentialId),
            "k8s.audit" => {
                let user = v["user"]["username"].as_str().unwrap_or("");
                let task = v["annotations"]["agentrail.io/task-id"].as_str().unwrap_or("");
                let agent = user.strip_prefix("system:serviceaccount:agents:").unwrap_or("");
                let by_task = agent_tasks.contains(&(agent.to_owned(), task.to_owned()));
                let by_cred = v["user"]["extra"]["authentication.kubernetes.io/credential-id"][0]
                    .as_str()
                    .and_then(|c| c.strip_prefix("JTI="))
                    .is_some_and(|c| in_window(c, rec.time));
                if by_task {
                    Some(Link::AgentTask)
                } else if by_cred {
                    Some(Link::CredentialId)
                } else {
                    None
                }
            }
            "gcp.audit" => {
                let principal = v["protoPayload"]["authenticationInfo"]["principalEmail"].as_str().unwrap_or("");
                let agent = principal.strip_prefix("agent-").and_then(|p| p.split('@').next()).unwrap_or("");
                let ua = v["protoPayload"]["requestMetadata"]["callerSuppliedUserAgent"].as_str().unwrap_or("");
                let task = ua.split([' ', ',']).find_map(|w| w.strip_prefix("task/")).unwrap_or("");
                agent_tasks.contains(&(agent.to_owned(), task.to_owned())).then_some(Link::AgentTask)
            }
            _ => None,
        };
        if let Some(link) = link {
            expanded.insert(rec.id.clone(), link);
        }
    }
    (direct_ids, expanded)
}

#[test]
fn incident_expansion_recomputed_from_records_matches() {
    for (dir, truth, records) in runs() {
        for incident in &truth.incidents {
            let (direct, expanded) = expand(records, &incident.correlation_id);
            let want_direct: BTreeSet<String> = incident.direct_event_ids.iter().cloned().collect();
            assert_eq!(direct, want_direct, "{}: direct events of {}", dir.display(), incident.correlation_id);
            let want: BTreeMap<String, Link> =
                incident.expanded_event_ids.iter().map(|e| (e.event_id.clone(), e.link)).collect();
            assert_eq!(expanded, want, "{}: expansion of {}", dir.display(), incident.correlation_id);
            // The decoys share an agent, a credential or a time window, yet stay out.
            for decoy in &incident.decoy_event_ids {
                assert!(!expanded.contains_key(decoy) && !direct.contains(decoy));
            }
        }
    }
}

/// Gateway records a rule flags, by the rule's plain reading.
fn gateway_rule(rule: Rule, gateway: &[&Rec]) -> BTreeSet<String> {
    let mut agents_per_jti: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for r in gateway {
        if let Some(jti) = r.value["token"]["jti"].as_str() {
            agents_per_jti.entry(jti).or_default().insert(r.value["agent_id"].as_str().unwrap());
        }
    }
    gateway
        .iter()
        .filter(|r| {
            let v = &r.value;
            let token = &v["token"];
            let scope: Vec<&str> = token["scope"].as_str().unwrap_or("").split(' ').collect();
            let permission = v["permission"].as_str().unwrap_or("");
            match rule {
                Rule::DestructiveWithoutApproval => {
                    Tool::by_name(v["tool"].as_str().unwrap_or("")).is_some_and(|t| t.spec().class == Class::Delete)
                        && v["approval"].is_null()
                }
                Rule::ScopeViolation => !token.is_null() && !scope.contains(&permission),
                Rule::LongLivedToken => {
                    token["exp"].as_i64().is_some_and(|exp| exp - token["iat"].as_i64().unwrap() > 3600)
                }
                Rule::StaticApiKey => {
                    token["type"] == "api_key" || token["jti"].as_str().is_some_and(|j| j.starts_with("AKIA"))
                }
                Rule::SharedCredential => token["jti"].as_str().is_some_and(|j| agents_per_jti[j].len() > 1),
                Rule::MissingOnBehalfOf => {
                    v["on_behalf_of"].is_null()
                        && !(token["act"].is_object() && token["sub"].as_str().unwrap_or("").contains('@'))
                }
                Rule::ExpiredCredentialUse => {
                    token["exp"].as_i64().is_some_and(|exp| r.time.div_euclid(1_000_000_000) > exp)
                }
                Rule::NewSystemForAgent | Rule::RateSpike => false,
            }
        })
        .map(|r| r.id.clone())
        .collect()
}

/// The agent a record is attributed to, by the source conventions.
fn agent_of(rec: &Rec) -> Option<String> {
    let v = &rec.value;
    let agent = match rec.source {
        "agent" => v["agent_id"].as_str().map(str::to_owned),
        "otel" => rec.otel_attr("gen_ai.agent.id"),
        "aws.cloudtrail" => v["userIdentity"]["sessionContext"]["sourceIdentity"].as_str().map(str::to_owned),
        "k8s.audit" => v["user"]["username"]
            .as_str()
            .and_then(|u| u.strip_prefix("system:serviceaccount:agents:"))
            .map(str::to_owned),
        "gcp.audit" => v["protoPayload"]["authenticationInfo"]["principalEmail"]
            .as_str()
            .and_then(|p| p.strip_prefix("agent-"))
            .and_then(|p| p.split('@').next())
            .map(str::to_owned),
        "github" => v["integration"].as_str().map(str::to_owned),
        "okta" => (v["actor"]["type"] == "PublicClientApp")
            .then(|| v["actor"]["displayName"].as_str().unwrap_or("").to_owned()),
        _ => None,
    };
    agent.filter(|a| !a.is_empty())
}

#[test]
fn anomaly_rules_fire_exactly_on_the_planted_events() {
    for (dir, truth, records) in runs() {
        let gateway: Vec<&Rec> = records.iter().filter(|r| r.source == "agent").collect();
        let baseline_until = parse_time(&truth.baseline_until);
        let start = parse_time(&truth.start);
        for anomaly in &truth.anomalies {
            let want: BTreeSet<String> = anomaly.event_ids.iter().cloned().collect();
            let fired = match anomaly.rule {
                Rule::RateSpike => {
                    let hours = ((baseline_until - start) / 3_600_000_000_000) as f64;
                    let mut baseline: BTreeMap<&str, f64> = BTreeMap::new();
                    let mut per_hour: BTreeMap<(&str, i64), Vec<String>> = BTreeMap::new();
                    for r in &gateway {
                        let agent = r.value["agent_id"].as_str().unwrap();
                        if r.time < baseline_until {
                            *baseline.entry(agent).or_default() += 1.0 / hours;
                        }
                        per_hour.entry((agent, r.time.div_euclid(3_600_000_000_000))).or_default().push(r.id.clone());
                    }
                    per_hour
                        .into_iter()
                        .filter(|((agent, _), ids)| {
                            let n = ids.len() as f64;
                            n >= 30.0 && n >= 10.0 * baseline.get(agent).copied().unwrap_or(0.0)
                        })
                        .flat_map(|(_, ids)| ids)
                        .collect()
                }
                Rule::NewSystemForAgent => {
                    let mut seen: BTreeSet<(String, &str)> = BTreeSet::new();
                    for r in records.iter().filter(|r| r.time < baseline_until) {
                        if let Some(agent) = agent_of(r) {
                            seen.insert((agent, r.source));
                        }
                    }
                    records
                        .iter()
                        .filter(|r| r.time >= baseline_until)
                        .filter(|r| agent_of(r).is_some_and(|a| !seen.contains(&(a, r.source))))
                        .map(|r| r.id.clone())
                        .collect()
                }
                rule => {
                    // Gateway-evident rules: compare on gateway records; downstream evidence must exist too.
                    let downstream: BTreeSet<String> =
                        want.iter().filter(|id| !id.starts_with("agent:")).cloned().collect();
                    let mut fired = gateway_rule(rule, &gateway);
                    fired.extend(downstream);
                    fired
                }
            };
            assert_eq!(fired, want, "{}: {:?}", dir.display(), anomaly.rule);
            for look_alike in &anomaly.look_alike_event_ids {
                assert!(
                    !fired.contains(look_alike),
                    "{}: look-alike {look_alike} fires {:?}",
                    dir.display(),
                    anomaly.rule
                );
            }
        }
    }
}
