//! Opening a task context: minting an agent's credentials for a task and
//! logging how it got them (Okta token grant, STS AssumeRole).

use std::collections::BTreeSet;

use crate::calls::{Credential, Credentials, Env, TaskCtx, assume_role, mint, okta_token_grant};
use crate::ids::Gen;
use crate::record::Emitted;
use crate::time::Nanos;
use crate::tools::{System, Tool};
use crate::world::AgentKind;

/// What a new task context should look like.
#[derive(Debug, Clone)]
pub struct ContextPlan {
    pub agent: usize,
    pub actors: Vec<usize>,
    pub human: Option<usize>,
    pub task_id: String,
    pub correlation_id: String,
    pub trace_id: String,
    /// Lifetime of every credential minted for the context.
    pub lifetime_secs: i64,
    /// Tools the context may call; their permissions make up the scopes.
    pub tools: Vec<Tool>,
    pub stamps_correlation: bool,
    pub obo_field: bool,
    pub chat_has_correlation: bool,
    /// Systems the context gets credentials for beyond the agent's usual ones.
    pub extra_systems: Vec<System>,
}

/// The space-separated scope of the permissions `tools` need on `system`.
pub fn scope_for(tools: &[Tool], system: System) -> String {
    let permissions: BTreeSet<&str> =
        tools.iter().map(|t| t.spec()).filter(|s| s.system == system).map(|s| s.permission).collect();
    permissions.into_iter().collect::<Vec<_>>().join(" ")
}

/// The gateway (Okta) token's scope: Okta tool permissions plus delegation for orchestrators.
pub fn gateway_scope(tools: &[Tool], orchestrator: bool) -> String {
    let mut scope = scope_for(tools, System::Okta);
    if orchestrator {
        if !scope.is_empty() {
            scope.push(' ');
        }
        scope.push_str("agents:delegate");
    }
    if scope.is_empty() { "openid gateway:tools".to_owned() } else { format!("openid gateway:tools {scope}") }
}

/// Mints the context's credentials at `at` and writes the issuance records.
pub fn open(env: &Env, g: &mut Gen, plan: &ContextPlan, at: Nanos, out: &mut Vec<Emitted>) -> TaskCtx {
    let world = env.world;
    let agent = &world.agents[plan.agent];
    let uses = |system: System| {
        (agent.has(system) || plan.extra_systems.contains(&system))
            && plan.tools.iter().any(|t| t.spec().system == system)
    };
    let mut creds = Credentials::default();
    let lifetime = plan.lifetime_secs;
    let mut mint_for = |system: System| -> Option<Credential> {
        uses(system).then(|| mint(g, system, at, lifetime, scope_for(&plan.tools, system)))
    };
    creds.aws = mint_for(System::Aws);
    creds.k8s = mint_for(System::K8s);
    creds.github = mint_for(System::GitHub);
    creds.gcp = mint_for(System::Gcp);
    let orchestrator = agent.kind == AgentKind::Orchestrator;
    creds.gateway = Some(mint(g, System::Okta, at, lifetime, gateway_scope(&plan.tools, orchestrator)));
    let node_index = g.below(world.nodes.len());
    let ctx = TaskCtx {
        agent: plan.agent,
        actors: plan.actors.clone(),
        human: plan.human,
        task_id: plan.task_id.clone(),
        correlation_id: plan.correlation_id.clone(),
        trace_id: plan.trace_id.clone(),
        session_id: format!("sess-{}", g.lower_alnum(12)),
        pod_name: format!("{}-{}-{}", agent.id, g.hex(10), g.lower_alnum(5)),
        pod_uid: g.uuid(),
        node: world.nodes[node_index].clone(),
        node_uid: world.node_uids[node_index].clone(),
        creds,
        stamps_correlation: plan.stamps_correlation,
        obo_field: plan.obo_field,
        chat_has_correlation: plan.chat_has_correlation,
    };
    if let Some(gateway) = &ctx.creds.gateway {
        let granted_at = at - g.range_i64(300, 900) * 1_000_000;
        out.push(okta_token_grant(env, g, &ctx, granted_at, gateway));
    }
    if let Some(aws) = &ctx.creds.aws {
        let assumed_at = at - g.range_i64(100, 600) * 1_000_000;
        out.push(assume_role(env, g, &ctx, assumed_at, aws));
    }
    ctx
}
