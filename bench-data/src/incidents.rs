//! Planted incidents: a person asks an orchestrator for a task, it delegates
//! to a sub-agent, and together they act across systems, including
//! destructive actions (some without approval). The correlation id reaches
//! only the gateway and OTLP records; CloudTrail and GitHub are linked by the
//! credential, Kubernetes and GCP by (agent, task), inference logs by trace.
//!
//! Each incident also gets decoys that must stay out of its expansion: the
//! same sub-agent on another task with other credentials in the same window,
//! and a use of the incident's credential after it expired.

use crate::calls::{CallIds, CallSpec, Decision, Outcome, chat_log, delegate, invoke_log};
use crate::ground_truth::{ExpandedEvent, Incident, Link, Rule};
use crate::plant::{Planner, expanded};
use crate::time::{NANOS_PER_MIN, NANOS_PER_SEC, Nanos};
use crate::tools::{Class, K8sObject, System, Target, Tool};
use crate::world::Team;

struct Template {
    orchestrator: &'static str,
    sub: &'static str,
    request: &'static str,
    orchestrator_tools: &'static [Tool],
    sub_tools: &'static [Tool],
}

const TEMPLATES: [Template; 4] = [
    Template {
        orchestrator: "deploy-orch",
        sub: "cleanup-bot",
        request: "Clean up unused log groups and stale resources left by the old ingestion pipeline in prod",
        orchestrator_tools: &[Tool::GhGetRepo, Tool::K8sGetDeployment],
        sub_tools: &[
            Tool::AwsDescribeLogGroups,
            Tool::AwsDescribeLogStreams,
            Tool::AwsDeleteLogGroup,
            Tool::K8sListPods,
            Tool::K8sDeleteDeployment,
            Tool::GcpListSinks,
            Tool::GcpDeleteSink,
            Tool::GhClone,
        ],
    },
    Template {
        orchestrator: "triage-orch",
        sub: "review-bot",
        request: "Archive the legacy billing repository now that the migration is done",
        orchestrator_tools: &[Tool::AwsDescribeLogGroups, Tool::K8sListEvents, Tool::GhSearchCode, Tool::OktaGetUser],
        sub_tools: &[
            Tool::GhClone,
            Tool::GhListPulls,
            Tool::GhDeleteBranchProtection,
            Tool::GhPush,
            Tool::GhDeleteRepo,
        ],
    },
    Template {
        orchestrator: "deploy-orch",
        sub: "deploy-bot",
        request: "Tear down the preview environment of last week's release and free its images and VMs",
        orchestrator_tools: &[Tool::GhGetRepo, Tool::K8sGetDeployment],
        sub_tools: &[
            Tool::K8sListPods,
            Tool::K8sDeleteDeployment,
            Tool::K8sDeleteNamespace,
            Tool::AwsDescribeImages,
            Tool::AwsBatchDeleteImage,
            Tool::GcpListInstances,
            Tool::GcpDeleteInstance,
            Tool::GhPush,
        ],
    },
    Template {
        orchestrator: "triage-orch",
        sub: "logscan-bot",
        request: "Find out why checkout is throwing 5xx errors and stop the crash-looping pods",
        orchestrator_tools: &[Tool::AwsGetMetricData, Tool::GhSearchCode],
        sub_tools: &[
            Tool::AwsStartQuery,
            Tool::K8sGetPodLogs,
            Tool::K8sListEvents,
            Tool::K8sDeletePod,
            Tool::GcpRunQuery,
            Tool::AwsDescribeLogStreams,
        ],
    },
];

/// How many times a sub-agent step repeats (destructive steps run several times).
fn repeats(p: &mut Planner, tool: Tool) -> usize {
    match tool {
        Tool::AwsDeleteLogGroup => 3 + p.g.below(4),
        Tool::K8sDeleteDeployment | Tool::AwsBatchDeleteImage => 2,
        Tool::K8sDeletePod => 3,
        Tool::AwsDescribeLogStreams => 2,
        _ => 1,
    }
}

/// A coherent target for destructive steps (else a random one).
fn target(p: &mut Planner, tool: Tool, namespace: &str) -> Option<Target> {
    let g = &mut p.g;
    match tool {
        Tool::AwsDeleteLogGroup => {
            let service = *g.pick(&["ingest", "etl", "collector", "parser", "backfill"]);
            Some(Target::LogGroup {
                region: "us-east-1",
                name: format!("/prod/legacy-{service}-{}", g.range_i64(1, 40)),
            })
        }
        Tool::K8sDeleteDeployment => Some(Target::K8s(K8sObject {
            resource: "deployments",
            subresource: None,
            namespace: Some(namespace.to_owned()),
            name: Some(format!("{}-{}", g.pick(&["ingest-worker", "api", "web", "collector"]), g.lower_alnum(4))),
            api_group: "apps",
            api_version: "v1",
        })),
        Tool::K8sDeleteNamespace => Some(Target::K8s(K8sObject {
            resource: "namespaces",
            subresource: None,
            namespace: None,
            name: Some(namespace.to_owned()),
            api_group: "",
            api_version: "v1",
        })),
        Tool::K8sDeletePod => Some(Target::K8s(K8sObject {
            resource: "pods",
            subresource: None,
            namespace: Some("prod".to_owned()),
            name: Some(format!("checkout-{}-{}", g.hex(10), g.lower_alnum(5))),
            api_group: "",
            api_version: "v1",
        })),
        Tool::GhDeleteRepo | Tool::GhDeleteBranchProtection | Tool::GhClone | Tool::GhPush | Tool::GhListPulls
            if namespace == "legacy" =>
        {
            Some(Target::Repo { repo: "legacy-billing".to_owned() })
        }
        Tool::GcpDeleteSink => Some(Target::GcpSink { name: "legacy-export".to_owned() }),
        _ => None,
    }
}

fn reason(tool: Tool, target: &Target) -> String {
    let resource = target.resource();
    match tool {
        Tool::AwsDeleteLogGroup => {
            format!("{resource} has received no events for 120 days; the old pipeline is gone, so deleting it.")
        }
        Tool::GhDeleteRepo => format!("{resource} was migrated; deleting the repository as asked."),
        Tool::GhDeleteBranchProtection => "Branch protection blocks the archive push; removing it first.".to_owned(),
        Tool::K8sDeletePod => format!("{resource} is crash-looping; deleting it so the ReplicaSet recreates it."),
        _ => format!("{resource} belongs to the environment being removed; deleting it."),
    }
}

/// Sorts the ids of one call into direct and expanded lists.
fn classify(ids: &CallIds, direct: &mut Vec<String>, expanded_ids: &mut Vec<ExpandedEvent>) {
    direct.push(ids.gateway.clone());
    direct.extend(ids.otel.iter().cloned());
    expanded_ids.extend(expanded(&ids.downstream));
}

/// Plants incident number `index`.
pub fn plant(p: &mut Planner, index: usize) -> Incident {
    let world = p.env.world;
    let template = &TEMPLATES[index % TEMPLATES.len()];
    let orchestrator = world.agent_by_base(template.orchestrator);
    let sub = world.agent_by_base(template.sub);
    let owners = world.agents[orchestrator].owners.clone();
    let human = if owners.is_empty() { 0 } else { owners[p.g.below(owners.len())] };
    let approvers: Vec<usize> =
        world.team(Team::Sre).into_iter().chain(world.team(Team::Platform)).filter(|&h| h != human).collect();
    let approver_index = if approvers.is_empty() { human } else { approvers[p.g.below(approvers.len())] };
    let approver = world.humans[approver_index].email.clone();
    let start = p.slot();
    let lifetime = *p.g.pick(&[2700, 3000, 3300]);
    let mut orchestrator_plan =
        p.plan(orchestrator, vec![orchestrator], Some(human), lifetime, template.orchestrator_tools);
    orchestrator_plan.chat_has_correlation = false;
    let task_id = orchestrator_plan.task_id.clone();
    let correlation_id = orchestrator_plan.correlation_id.clone();
    let (orchestrator_ctx, _) = p.open(&orchestrator_plan, start);

    let mut direct = Vec::new();
    let mut expanded_ids = Vec::new();
    let mut decoys = Vec::new();
    let mut t = start + 900 * 1_000_000;
    let step = |p: &mut Planner, t: &mut Nanos| {
        *t += p.g.range_i64(4 * NANOS_PER_SEC, 45 * NANOS_PER_SEC);
        *t
    };

    let request = format!("{} asked: {}", world.humans[human].email, template.request);
    let emitted = invoke_log(&p.env, &mut p.g, &orchestrator_ctx, t, orchestrator, &request);
    direct.push(emitted.event_id.clone());
    p.out.push(emitted);
    let at = step(p, &mut t);
    let chat = chat_log(&p.env, &mut p.g, &orchestrator_ctx, at);
    expanded_ids.push(ExpandedEvent { event_id: chat.event_id.clone(), link: Link::TraceId });
    p.out.push(chat);
    for &tool in template.orchestrator_tools {
        let at = step(p, &mut t);
        let ids = p.call(&orchestrator_ctx, at, &CallSpec::new(tool));
        classify(&ids, &mut direct, &mut expanded_ids);
    }

    // Delegation: the sub-agent gets its own, exchanged credentials.
    let at = step(p, &mut t);
    let mut sub_tools = template.sub_tools.to_vec();
    sub_tools.extend(world.agents[sub].systems.iter().map(|&s| Tool::probe(s)));
    let mut sub_plan = orchestrator_plan.clone();
    sub_plan.agent = sub;
    sub_plan.actors = vec![orchestrator, sub];
    sub_plan.tools = sub_tools;
    let (sub_ctx, _) = p.open(&sub_plan, at + 50_000_000);
    let delegated = delegate(&p.env, &mut p.g, &orchestrator_ctx, at, sub, &mut p.out);
    direct.extend(delegated);

    let namespace =
        if template.sub == "review-bot" { "legacy".to_owned() } else { format!("preview-{}", p.g.lower_alnum(6)) };
    let mut destructive_seen = 0;
    for &tool in template.sub_tools {
        for _ in 0..repeats(p, tool) {
            if p.g.chance(0.3) {
                let at = step(p, &mut t);
                let chat = chat_log(&p.env, &mut p.g, &sub_ctx, at);
                expanded_ids.push(ExpandedEvent { event_id: chat.event_id.clone(), link: Link::TraceId });
                p.out.push(chat);
            }
            let mut spec = CallSpec::new(tool);
            spec.target = target(p, tool, &namespace)
                .or_else(|| (template.sub == "review-bot").then(|| Target::Repo { repo: "legacy-billing".to_owned() }));
            let destructive = tool.spec().class == Class::Delete;
            let approved = destructive && index % 2 == 1 && destructive_seen == 0;
            if destructive {
                destructive_seen += 1;
                if let Some(target) = &spec.target {
                    spec.reason = Some(reason(tool, target));
                }
                if approved {
                    spec.decision = Some(Decision::UserTemporary);
                    spec.approved_by = Some(approver.clone());
                } else {
                    spec.decision = Some(Decision::Config);
                }
            }
            let at = step(p, &mut t);
            let ids = p.call(&sub_ctx, at, &spec);
            classify(&ids, &mut direct, &mut expanded_ids);
            if destructive {
                let mut related = ids.downstream.clone();
                related.extend(ids.otel.iter().cloned());
                if approved {
                    p.look_alike(Rule::DestructiveWithoutApproval, &ids.all());
                } else {
                    p.flag(Rule::DestructiveWithoutApproval, std::slice::from_ref(&ids.gateway), &related);
                }
            }
        }
    }
    let at = step(p, &mut t);
    let chat = chat_log(&p.env, &mut p.g, &orchestrator_ctx, at);
    expanded_ids.push(ExpandedEvent { event_id: chat.event_id.clone(), link: Link::TraceId });
    p.out.push(chat);

    // Decoy 1: the same sub-agent on another task, other credentials, same window.
    let decoy_start = start + p.g.range_i64(2, 20) * NANOS_PER_MIN;
    let probes: Vec<Tool> = world.agents[sub].systems.iter().map(|&s| Tool::probe(s)).collect();
    let decoy_plan = p.plan(sub, vec![orchestrator, sub], Some(human), lifetime, &probes);
    let (decoy_ctx, issued) = p.open(&decoy_plan, decoy_start);
    decoys.extend(issued);
    let mut decoy_t = decoy_start + 500_000_000;
    for &tool in &probes {
        decoy_t += p.g.range_i64(5, 40) * NANOS_PER_SEC;
        let ids = p.call(&decoy_ctx, decoy_t, &CallSpec::new(tool));
        decoys.extend(ids.all());
    }

    // Decoy 2: the incident's credential used after it expired, on a later task.
    let (system, tool) = if sub_ctx.creds.aws.is_some() {
        (System::Aws, Tool::AwsDescribeLogGroups)
    } else {
        (System::GitHub, Tool::GhClone)
    };
    if let Some(cred) = sub_ctx.creds.for_system(system).cloned() {
        let late = (cred.exp + p.g.range_i64(4 * 60, 25 * 60)) * NANOS_PER_SEC + p.g.range_i64(0, 999) * 1_000_000;
        let mut stale = sub_ctx.clone();
        stale.task_id = format!("task-{}", p.g.lower_alnum(10));
        stale.correlation_id = format!("corr-{}", p.g.hex(16));
        stale.trace_id = p.g.trace_id();
        stale.session_id = format!("sess-{}", p.g.lower_alnum(12));
        let mut spec = CallSpec::new(tool);
        spec.outcome = Outcome::Expired;
        spec.credential = Some(cred);
        let ids = p.call(&stale, late, &spec);
        decoys.extend(ids.all());
        let mut related = ids.downstream.clone();
        related.extend(ids.otel.iter().cloned());
        p.flag(Rule::ExpiredCredentialUse, std::slice::from_ref(&ids.gateway), &related);
    }

    let times: std::collections::BTreeMap<&str, Nanos> = p.out.iter().map(|e| (e.event_id.as_str(), e.time)).collect();
    let by_time = |a: &String, b: &String| times.get(a.as_str()).cmp(&times.get(b.as_str())).then(a.cmp(b));
    direct.sort_by(by_time);
    decoys.sort_by(by_time);
    expanded_ids.sort_by(|a, b| by_time(&a.event_id, &b.event_id));
    Incident {
        correlation_id,
        agent_ids: vec![world.agents[orchestrator].id.clone(), world.agents[sub].id.clone()],
        task_id,
        on_behalf_of: world.humans[human].email.clone(),
        direct_event_ids: direct,
        expanded_event_ids: expanded_ids,
        decoy_event_ids: decoys,
        description: format!(
            "{} asked {} to: {}. It delegated to {}, which made {} destructive call(s){}.",
            world.humans[human].email,
            world.agents[orchestrator].id,
            template.request.to_lowercase(),
            world.agents[sub].id,
            destructive_seen,
            if index % 2 == 1 { ", the first one approved by a person" } else { ", none approved" }
        ),
    }
}
