//! An agent's tool call as every system sees it: the gateway record, the
//! downstream system's own audit record, and the agent's OpenTelemetry logs.
//! Background tasks and planted incidents both go through here, so their
//! records are shaped alike and differ only in their keys.

mod aws;
mod gcp;
mod github;
mod k8s;
mod telemetry;

use std::rc::Rc;

pub use aws::{assume_role, aws_sdk_user_agent};
pub use github::{github_hashed_token, github_repo_id};
pub use telemetry::{chat_log, invoke_log, okta_token_grant};

use crate::ids::Gen;
use crate::record::Emitted;
use crate::sources::agent::{Approval, GatewayRecord, GatewayToken};
use crate::sources::otel::{OtelLog, Severity, b, i, resource_prefix, s};
use crate::time::{NANOS_PER_SEC, Nanos, Precision, epoch_secs, rfc3339};
use crate::tools::{Class, System, Target, Tool, pick_target};
use crate::world::{AgentKind, World};

/// Public egress addresses of the gateway's NAT, as cloud providers see agent calls.
pub const GATEWAY_EGRESS_IPS: [&str; 2] = ["3.218.94.17", "52.5.113.201"];

/// A credential minted for one agent and one system.
#[derive(Debug, Clone, PartialEq)]
pub struct Credential {
    /// The id agentrail keeps: ASIA/AKIA key id, GitHub token id, SA token JTI, OAuth jti.
    pub jti: String,
    /// `oauth`, `api_key`, `session` or `workload`.
    pub kind: &'static str,
    pub iat: i64,
    pub exp: i64,
    pub scope: String,
}

impl Credential {
    pub fn is_valid_at(&self, at: Nanos) -> bool {
        let secs = epoch_secs(at);
        self.iat <= secs && secs <= self.exp
    }
}

/// Credentials of a task context, one per system plus the gateway/Okta token.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Credentials {
    pub aws: Option<Credential>,
    pub k8s: Option<Credential>,
    pub github: Option<Credential>,
    pub gcp: Option<Credential>,
    /// Issued by Okta; used for Okta tools and for delegation messages.
    pub gateway: Option<Credential>,
}

impl Credentials {
    pub fn for_system(&self, system: System) -> Option<&Credential> {
        match system {
            System::Aws => self.aws.as_ref(),
            System::K8s => self.k8s.as_ref(),
            System::GitHub => self.github.as_ref(),
            System::Gcp => self.gcp.as_ref(),
            System::Okta => self.gateway.as_ref(),
        }
    }
}

/// One agent working on one task (an orchestrator and its sub-agent each have one).
#[derive(Debug, Clone)]
pub struct TaskCtx {
    pub agent: usize,
    /// Agents that acted, earliest first; the last is `agent`.
    pub actors: Vec<usize>,
    pub human: Option<usize>,
    pub task_id: String,
    pub correlation_id: String,
    pub trace_id: String,
    pub session_id: String,
    pub pod_name: String,
    pub pod_uid: String,
    pub node: String,
    pub node_uid: String,
    pub creds: Credentials,
    /// Put `corr/<id> task/<id>` into cloud user agents and the k8s correlation annotation.
    pub stamps_correlation: bool,
    /// Whether the gateway record names the human in `on_behalf_of` (else only `token.sub`).
    pub obo_field: bool,
    /// Whether inference (`chat`) logs carry the correlation id (else only the trace id).
    pub chat_has_correlation: bool,
}

/// How a call ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Success,
    /// The target does not exist (a failure, not a denial).
    NotFound,
    Throttled,
    /// The gateway refuses: the permission is not in the token's scope.
    GatewayDenied,
    /// The downstream system refuses (AccessDenied / 403 / PERMISSION_DENIED).
    DownstreamDenied,
    /// The credential has expired.
    Expired,
}

/// Where a tool decision came from (Claude-Code-style `tool_decision` events).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Accepted automatically by a configured allow rule: no human looked at it.
    Config,
    /// Accepted by a person for this call: an approval.
    UserTemporary,
    /// Rejected by a person.
    UserReject,
}

/// What to call and how it should go.
#[derive(Debug, Clone)]
pub struct CallSpec {
    pub tool: Tool,
    pub target: Option<Target>,
    pub outcome: Outcome,
    /// The approver's email, when a human approved this call.
    pub approved_by: Option<String>,
    pub decision: Option<Decision>,
    pub reason: Option<String>,
    /// Use this credential instead of the context's.
    pub credential: Option<Credential>,
    /// Present a static IAM user key (`AKIA…`) instead of a role session.
    pub iam_user: Option<String>,
    /// GitHub: a server-to-server (installation) token instead of user-to-server.
    pub github_server_to_server: bool,
    /// AWS: the agent whose role session the access key belongs to (a leaked key).
    pub aws_identity_of: Option<usize>,
}

impl CallSpec {
    pub fn new(tool: Tool) -> Self {
        CallSpec {
            tool,
            target: None,
            outcome: Outcome::Success,
            approved_by: None,
            decision: None,
            reason: None,
            credential: None,
            iam_user: None,
            github_server_to_server: false,
            aws_identity_of: None,
        }
    }
}

/// The ids of the records one call produced.
#[derive(Debug, Clone, Default)]
pub struct CallIds {
    pub gateway: String,
    pub downstream: Vec<String>,
    /// OTLP records that carry the correlation id.
    pub otel: Vec<String>,
}

impl CallIds {
    pub fn all(&self) -> Vec<String> {
        let mut ids = vec![self.gateway.clone()];
        ids.extend(self.downstream.iter().cloned());
        ids.extend(self.otel.iter().cloned());
        ids
    }
}

/// OTLP resource prefixes of every agent, built once.
#[derive(Debug, Clone)]
pub struct OtelResources {
    pub agents: Vec<Rc<str>>,
}

impl OtelResources {
    pub fn new(world: &World) -> Self {
        let agents = world
            .agents
            .iter()
            .map(|agent| {
                if agent.kind == AgentKind::CodingAssistant {
                    resource_prefix(
                        &[
                            s("service.name", "claude-code"),
                            s("service.version", "2.0.37"),
                            s("gen_ai.agent.id", agent.id.clone()),
                            s("gen_ai.agent.name", agent.display_name),
                            s("os.type", "darwin"),
                            s("host.arch", "arm64"),
                        ],
                        "com.anthropic.claude_code.events",
                        "2.0.37",
                    )
                } else {
                    resource_prefix(
                        &[
                            s("service.name", agent.base),
                            s("service.version", "3.8.1"),
                            s("deployment.environment.name", "prod"),
                            s("gen_ai.agent.id", agent.id.clone()),
                            s("gen_ai.agent.name", agent.display_name),
                            s("k8s.namespace.name", "agents"),
                            s("telemetry.sdk.name", "opentelemetry"),
                            s("telemetry.sdk.language", "python"),
                            s("telemetry.sdk.version", "1.38.0"),
                        ],
                        "agentrail.agents",
                        "1.4.2",
                    )
                }
            })
            .collect();
        OtelResources { agents }
    }
}

/// Everything a call needs to render records.
#[derive(Debug)]
pub struct Env<'a> {
    pub world: &'a World,
    pub otel: &'a OtelResources,
}

pub(crate) fn human_email(env: &Env, ctx: &TaskCtx) -> Option<String> {
    ctx.human.map(|h| env.world.humans[h].email.clone())
}

pub(crate) fn cloud_suffix(ctx: &TaskCtx) -> String {
    if ctx.stamps_correlation { format!(" corr/{} task/{}", ctx.correlation_id, ctx.task_id) } else { String::new() }
}

/// The gateway token block for a credential used by this context.
fn gateway_token(env: &Env, ctx: &TaskCtx, cred: &Credential) -> GatewayToken {
    let agent = &env.world.agents[ctx.agent];
    let (sub, actors) = match human_email(env, ctx) {
        Some(email) => (email, ctx.actors.iter().map(|&a| env.world.agents[a].id.clone()).collect()),
        None => (agent.okta_client_id.clone(), Vec::new()),
    };
    GatewayToken {
        jti: cred.jti.clone(),
        kind: cred.kind,
        iat: cred.iat,
        exp: (cred.kind != "api_key").then_some(cred.exp),
        scope: cred.scope.clone(),
        sub,
        actors,
    }
}

fn default_reason(tool: Tool, target: &Target) -> String {
    let resource = target.resource();
    match tool.spec().class {
        Class::Read => format!("Collecting context: inspecting {resource} before deciding on the next step."),
        Class::Write => format!("Applying the change the task asks for on {resource}."),
        Class::Delete => format!("{resource} looks unused (no activity in 90 days); removing it as the task requests."),
    }
}

/// Renders one tool call into `out` and returns the ids of what it wrote.
pub fn call(env: &Env, g: &mut Gen, ctx: &TaskCtx, at: Nanos, spec: &CallSpec, out: &mut Vec<Emitted>) -> CallIds {
    let world = env.world;
    let agent = &world.agents[ctx.agent];
    let tool = spec.tool.spec();
    let target = spec.target.clone().unwrap_or_else(|| pick_target(spec.tool, world, g));
    let cred = spec.credential.clone().or_else(|| ctx.creds.for_system(tool.system).cloned());
    let span_id = g.span_id();
    let mut ids = CallIds::default();
    let email = human_email(env, ctx);

    // A Claude-Code-style decision precedes the call.
    if let Some(decision) = spec.decision
        && agent.emits_otel
    {
        let before = match decision {
            Decision::Config => g.range_i64(5, 60) * 1_000_000,
            Decision::UserTemporary | Decision::UserReject => g.range_i64(4, 90) * NANOS_PER_SEC,
        };
        let approver = spec.approved_by.clone().or_else(|| email.clone()).unwrap_or_default();
        let (decision_text, source) = match decision {
            Decision::Config => ("accept", "config"),
            Decision::UserTemporary => ("accept", "user_temporary"),
            Decision::UserReject => ("reject", "user_reject"),
        };
        let log = OtelLog {
            uid: g.ulid(at - before),
            time: at - before,
            observed: at - before + g.range_i64(1, 40) * 1_000_000,
            severity: Severity::Info,
            body: "claude_code.tool_decision".to_owned(),
            event_name: Some("claude_code.tool_decision"),
            trace: Some((ctx.trace_id.clone(), span_id.clone())),
            attributes: vec![
                s("event.name", "tool_decision"),
                s("event.timestamp", rfc3339(at - before, Precision::Millis)),
                s("tool_name", tool.name),
                s("decision", decision_text),
                s("source", source),
                s("user.email", approver),
                s("session.id", ctx.session_id.clone()),
                s("agentrail.task_id", ctx.task_id.clone()),
                s("agentrail.correlation_id", ctx.correlation_id.clone()),
            ],
        };
        let emitted = log.render(&env.otel.agents[ctx.agent]);
        ids.otel.push(emitted.event_id.clone());
        out.push(emitted);
    }

    let expired = spec.outcome == Outcome::Expired;
    let gateway_outcome = match spec.outcome {
        Outcome::Success => "success",
        Outcome::NotFound | Outcome::Throttled | Outcome::Expired => "error",
        Outcome::GatewayDenied | Outcome::DownstreamDenied => "denied",
    };
    let latency_ms = g.range_i64(60, 1800);
    let message = match spec.outcome {
        Outcome::Success => format!("{} {} -> success ({latency_ms} ms)", "tools/call", tool.name),
        Outcome::NotFound => format!("{} failed: resource not found", tool.name),
        Outcome::Throttled => format!("{} failed: rate exceeded, retry later", tool.name),
        Outcome::GatewayDenied => {
            format!("denied by policy: permission {} is not in the token scope", tool.permission)
        }
        Outcome::DownstreamDenied => format!("{} denied by {}: not authorized", tool.name, tool.system.name()),
        Outcome::Expired => format!("{} failed: credential expired", tool.name),
    };
    let record = GatewayRecord {
        id: format!("gw-{}", g.uuid()),
        time: at,
        agent_id: agent.id.clone(),
        agent_role: agent.role.to_owned(),
        on_behalf_of: if ctx.obo_field { email.clone() } else { None },
        task_id: Some(ctx.task_id.clone()),
        session_id: ctx.session_id.clone(),
        correlation_id: Some(ctx.correlation_id.clone()),
        trace_id: ctx.trace_id.clone(),
        span_id: span_id.clone(),
        request_id: format!("req-{}", g.hex(16)),
        method: "tools/call",
        tool: tool.name.to_owned(),
        system: tool.system.name(),
        resource: target.resource(),
        outcome: gateway_outcome,
        permission: tool.permission.to_owned(),
        token: cred.as_ref().map(|c| gateway_token(env, ctx, c)),
        approval: spec
            .approved_by
            .as_ref()
            .map(|by| Approval { id: format!("apr-{}", g.lower_alnum(10)), approved_by: by.clone() }),
        src_ip: agent.pod_ip.clone(),
        user_agent: agent.framework_ua.to_owned(),
        reason: Some(spec.reason.clone().unwrap_or_else(|| default_reason(spec.tool, &target))),
        message,
    };
    let emitted = record.render();
    ids.gateway = emitted.event_id.clone();
    out.push(emitted);

    // The downstream system sees the call unless the gateway stopped it.
    if spec.outcome != Outcome::GatewayDenied
        && let Some(cred) = &cred
    {
        let downstream_at = at + g.range_i64(30, 700) * 1_000_000;
        let rendered = match tool.system {
            System::Aws => Some(aws::cloudtrail_call(env, g, ctx, downstream_at, spec, &target, cred)),
            System::K8s => Some(k8s::k8s_call(env, g, ctx, downstream_at, spec, &target, cred)),
            System::GitHub => github::github_call(env, g, ctx, downstream_at, spec, &target, cred),
            System::Gcp => Some(gcp::gcp_call(env, g, ctx, downstream_at, spec, &target)),
            System::Okta => None,
        };
        if let Some(emitted) = rendered {
            ids.downstream.push(emitted.event_id.clone());
            out.push(emitted);
        }
    }

    if agent.emits_otel {
        let end = at + latency_ms * 1_000_000;
        let (severity, status) = match spec.outcome {
            Outcome::Success => (Severity::Info, "success"),
            Outcome::GatewayDenied | Outcome::DownstreamDenied => (Severity::Warn, "denied"),
            _ => (Severity::Error, "error"),
        };
        let mut attributes = Vec::with_capacity(12);
        if let Some(email) = &email {
            attributes.push(s("enduser.id", email.clone()));
        }
        attributes.extend([
            s("gen_ai.operation.name", "execute_tool"),
            s("gen_ai.tool.name", tool.name),
            s("gen_ai.tool.call.id", format!("call_{}", g.mixed_alnum(24))),
            s("agentrail.task_id", ctx.task_id.clone()),
            s("agentrail.correlation_id", ctx.correlation_id.clone()),
        ]);
        if let Some(cred) = &cred {
            attributes.push(s("agentrail.credential_id", cred.jti.clone()));
        }
        attributes.extend([
            s("session.id", ctx.session_id.clone()),
            s("agentrail.outcome", status),
            i("duration_ms", latency_ms),
            b("agentrail.expired_credential", expired),
        ]);
        let log = OtelLog {
            uid: g.ulid(end),
            time: end,
            observed: end + g.range_i64(1, 250) * 1_000_000,
            severity,
            body: format!("tool {} {status}", tool.name),
            event_name: Some("agentrail.tool.result"),
            trace: Some((ctx.trace_id.clone(), span_id)),
            attributes,
        };
        let emitted = log.render(&env.otel.agents[ctx.agent]);
        ids.otel.push(emitted.event_id.clone());
        out.push(emitted);
    }
    ids
}

/// The gateway record of an orchestrator delegating to a sub-agent (A2A `message/send`).
pub fn delegate(env: &Env, g: &mut Gen, ctx: &TaskCtx, at: Nanos, sub: usize, out: &mut Vec<Emitted>) -> Vec<String> {
    let world = env.world;
    let agent = &world.agents[ctx.agent];
    let sub_agent = &world.agents[sub];
    let email = human_email(env, ctx);
    let record = GatewayRecord {
        id: format!("gw-{}", g.uuid()),
        time: at,
        agent_id: agent.id.clone(),
        agent_role: agent.role.to_owned(),
        on_behalf_of: if ctx.obo_field { email } else { None },
        task_id: Some(ctx.task_id.clone()),
        session_id: ctx.session_id.clone(),
        correlation_id: Some(ctx.correlation_id.clone()),
        trace_id: ctx.trace_id.clone(),
        span_id: g.span_id(),
        request_id: format!("req-{}", g.hex(16)),
        method: "message/send",
        tool: "a2a.delegate".to_owned(),
        system: "a2a",
        resource: format!("agent:{}", sub_agent.id),
        outcome: "success",
        permission: "agents:delegate".to_owned(),
        token: ctx.creds.gateway.as_ref().map(|c| gateway_token(env, ctx, c)),
        approval: None,
        src_ip: agent.pod_ip.clone(),
        user_agent: agent.framework_ua.to_owned(),
        reason: Some(format!("Delegating the {} part of the task to {}.", sub_agent.role, sub_agent.id)),
        message: format!("delegated {} to {}", ctx.task_id, sub_agent.id),
    };
    let mut ids = Vec::new();
    let emitted = record.render();
    ids.push(emitted.event_id.clone());
    out.push(emitted);
    if agent.emits_otel {
        let summary = format!("delegating task {} to {}", ctx.task_id, sub_agent.id);
        let emitted = invoke_log(env, g, ctx, at + 2_000_000, sub, &summary);
        ids.push(emitted.event_id.clone());
        out.push(emitted);
    }
    ids
}

/// Mints a credential for `system` valid from `at` for `lifetime_secs`.
pub fn mint(g: &mut Gen, system: System, at: Nanos, lifetime_secs: i64, scope: String) -> Credential {
    let iat = epoch_secs(at);
    let (jti, kind) = match system {
        System::Aws => (g.aws_key("ASIA"), "session"),
        System::K8s => (g.uuid(), "workload"),
        System::GitHub => (g.range_u64(100_000_000, 999_999_999).to_string(), "oauth"),
        System::Gcp => (format!("gcp-{}", g.hex(20)), "oauth"),
        System::Okta => (format!("AT.{}", g.base64url(43)), "oauth"),
    };
    Credential { jti, kind, iat, exp: iat + lifetime_secs, scope }
}
