//! Planted anomalies, each next to clean look-alikes that a rule must not
//! flag. Incidents add more evidence (their unapproved deletes and expired
//! credential uses); the rate spike comes from the agent simulation.

use crate::calls::{CallIds, CallSpec, Credential, Decision, Outcome};
use crate::ground_truth::Rule;
use crate::plant::Planner;
use crate::time::{NANOS_PER_DAY, NANOS_PER_SEC, Nanos, epoch_secs};
use crate::tools::{System, Tool};
use crate::world::Team;

fn related(ids: &CallIds) -> Vec<String> {
    let mut related = ids.downstream.clone();
    related.extend(ids.otel.iter().cloned());
    related
}

fn owner(p: &mut Planner, agent: usize) -> usize {
    let owners = p.env.world.agents[agent].owners.clone();
    if owners.is_empty() { 0 } else { owners[p.g.below(owners.len())] }
}

fn actors(p: &Planner, agent: usize) -> Vec<usize> {
    match p.env.world.agents[agent].parent {
        Some(parent) => vec![parent, agent],
        None => vec![agent],
    }
}

/// Plants one instance of every rule (the rate spike excepted).
pub fn plant_all(p: &mut Planner) {
    destructive_without_approval(p);
    scope_violation(p);
    long_lived_token(p);
    static_api_key(p);
    shared_credential(p);
    missing_on_behalf_of(p);
    expired_credential_use(p);
}

fn agent(p: &Planner, base: &str) -> usize {
    p.env.world.agent_by_base(base)
}

fn destructive_without_approval(p: &mut Planner) {
    let cleanup = agent(p, "cleanup-bot");
    let human = owner(p, cleanup);
    let at = p.slot();
    let plan = p.plan(
        cleanup,
        actors(p, cleanup),
        Some(human),
        1800,
        &[Tool::AwsDescribeInstances, Tool::AwsTerminateInstances],
    );
    let (ctx, _) = p.open(&plan, at);
    p.call(&ctx, at + 2 * NANOS_PER_SEC, &CallSpec::new(Tool::AwsDescribeInstances));
    let mut spec = CallSpec::new(Tool::AwsTerminateInstances);
    spec.decision = Some(Decision::Config);
    spec.reason = Some("The instance has had 0% CPU for two weeks; terminating it to save cost.".to_owned());
    let ids = p.call(&ctx, at + 40 * NANOS_PER_SEC, &spec);
    p.flag(Rule::DestructiveWithoutApproval, std::slice::from_ref(&ids.gateway), &related(&ids));

    // Look-alike: an approved delete by another agent.
    let deploy = agent(p, "deploy-bot");
    let human = owner(p, deploy);
    let approver = p.env.world.team(Team::Sre).first().copied().unwrap_or(0);
    let at = p.slot();
    let plan = p.plan(deploy, actors(p, deploy), Some(human), 1800, &[Tool::K8sListPods, Tool::K8sDeletePod]);
    let (ctx, _) = p.open(&plan, at);
    p.call(&ctx, at + 3 * NANOS_PER_SEC, &CallSpec::new(Tool::K8sListPods));
    let mut spec = CallSpec::new(Tool::K8sDeletePod);
    spec.decision = Some(Decision::UserTemporary);
    spec.approved_by = Some(p.env.world.humans[approver].email.clone());
    let ids = p.call(&ctx, at + 95 * NANOS_PER_SEC, &spec);
    p.look_alike(Rule::DestructiveWithoutApproval, &ids.all());
}

fn scope_violation(p: &mut Planner) {
    let logscan = agent(p, "logscan-bot");
    let human = owner(p, logscan);
    let at = p.slot();
    // The token covers reads only; the agent tries what it was not granted.
    let granted = [Tool::AwsDescribeLogStreams, Tool::K8sListPods, Tool::K8sGetDeployment];
    let plan = p.plan(logscan, actors(p, logscan), Some(human), 2700, &granted);
    let (ctx, _) = p.open(&plan, at);
    let ok = p.call(&ctx, at + 2 * NANOS_PER_SEC, &CallSpec::new(Tool::AwsDescribeLogStreams));
    p.look_alike(Rule::ScopeViolation, &ok.all());
    // Refused by the gateway itself.
    let mut spec = CallSpec::new(Tool::AwsGetRole);
    spec.outcome = Outcome::GatewayDenied;
    let ids = p.call(&ctx, at + 30 * NANOS_PER_SEC, &spec);
    p.flag(Rule::ScopeViolation, std::slice::from_ref(&ids.gateway), &related(&ids));
    // Passed on, refused by Kubernetes (403).
    let mut spec = CallSpec::new(Tool::K8sScaleDeployment);
    spec.outcome = Outcome::DownstreamDenied;
    let ids = p.call(&ctx, at + 75 * NANOS_PER_SEC, &spec);
    let mut evident = vec![ids.gateway.clone()];
    evident.extend(ids.downstream.iter().cloned());
    p.flag(Rule::ScopeViolation, &evident, &ids.otel);
    // A failure that is not a denial: 404.
    let mut spec = CallSpec::new(Tool::K8sGetDeployment);
    spec.outcome = Outcome::NotFound;
    let ids = p.call(&ctx, at + 110 * NANOS_PER_SEC, &spec);
    p.look_alike(Rule::ScopeViolation, &ids.all());

    // CloudTrail AccessDenied for a permission outside the session's scope.
    let finops = agent(p, "finops-bot");
    let human = owner(p, finops);
    let at = p.slot();
    let plan =
        p.plan(finops, actors(p, finops), Some(human), 2700, &[Tool::AwsGetCostAndUsage, Tool::AwsDescribeInstances]);
    let (ctx, _) = p.open(&plan, at);
    let ok = p.call(&ctx, at + 2 * NANOS_PER_SEC, &CallSpec::new(Tool::AwsGetCostAndUsage));
    p.look_alike(Rule::ScopeViolation, &ok.all());
    let mut spec = CallSpec::new(Tool::AwsPutRetentionPolicy);
    spec.outcome = Outcome::DownstreamDenied;
    let ids = p.call(&ctx, at + 50 * NANOS_PER_SEC, &spec);
    let mut evident = vec![ids.gateway.clone()];
    evident.extend(ids.downstream.iter().cloned());
    p.flag(Rule::ScopeViolation, &evident, &ids.otel);
    // Throttled: an error, not a denial.
    let mut spec = CallSpec::new(Tool::AwsDescribeInstances);
    spec.outcome = Outcome::Throttled;
    let ids = p.call(&ctx, at + 80 * NANOS_PER_SEC, &spec);
    p.look_alike(Rule::ScopeViolation, &ids.all());
}

fn long_lived_token(p: &mut Planner) {
    let access = agent(p, "access-bot");
    let human = owner(p, access);
    let at = p.slot();
    let tools = [Tool::OktaListUsers, Tool::OktaGetUser, Tool::GhUpdateMember];
    let plan = p.plan(access, actors(p, access), Some(human), 8 * 3600, &tools);
    let (ctx, _) = p.open(&plan, at);
    for (k, tool) in tools.iter().enumerate() {
        let ids = p.call(&ctx, at + (k as i64 + 1) * 25 * NANOS_PER_SEC, &CallSpec::new(*tool));
        p.flag(Rule::LongLivedToken, std::slice::from_ref(&ids.gateway), &related(&ids));
    }
    // Look-alike: 55 minutes.
    let finops = agent(p, "finops-bot");
    let human = owner(p, finops);
    let at = p.slot();
    let plan = p.plan(finops, actors(p, finops), Some(human), 55 * 60, &[Tool::AwsGetCostAndUsage, Tool::GcpRunQuery]);
    let (ctx, _) = p.open(&plan, at);
    for (k, tool) in [Tool::AwsGetCostAndUsage, Tool::GcpRunQuery].iter().enumerate() {
        let ids = p.call(&ctx, at + (k as i64 + 1) * 30 * NANOS_PER_SEC, &CallSpec::new(*tool));
        p.look_alike(Rule::LongLivedToken, &ids.all());
    }
}

fn static_api_key(p: &mut Planner) {
    let finops = agent(p, "finops-bot");
    let human = owner(p, finops);
    let at = p.slot();
    let tools = [Tool::AwsGetCostAndUsage, Tool::AwsListBuckets];
    let plan = p.plan(finops, actors(p, finops), Some(human), 1800, &tools);
    let (ctx, _) = p.open(&plan, at);
    // An access key of an IAM user, created months ago, pasted into the agent's config.
    let key = Credential {
        jti: p.g.aws_key("AKIA"),
        kind: "api_key",
        iat: epoch_secs(at - 143 * NANOS_PER_DAY),
        exp: 0,
        scope: "ce:GetCostAndUsage s3:ListAllMyBuckets".to_owned(),
    };
    let mut ids_all = Vec::new();
    for (k, tool) in tools.iter().enumerate() {
        let mut spec = CallSpec::new(*tool);
        spec.credential = Some(key.clone());
        spec.iam_user = Some("svc-finops-reports".to_owned());
        let ids = p.call(&ctx, at + (k as i64 + 1) * 20 * NANOS_PER_SEC, &spec);
        p.flag(Rule::StaticApiKey, std::slice::from_ref(&ids.gateway), &related(&ids));
        ids_all.extend(ids.all());
    }
    // A static key has no expiry: a lifetime rule may count it as long-lived too.
    if let Some(entry) = p.anomalies.get_mut(&Rule::LongLivedToken) {
        entry.related_event_ids.extend(ids_all);
    }
    // Look-alike: the same agent with a temporary (ASIA) session key.
    let ids = p.call(&ctx, at + 90 * NANOS_PER_SEC, &CallSpec::new(Tool::AwsGetCostAndUsage));
    p.look_alike(Rule::StaticApiKey, &ids.all());
}

fn shared_credential(p: &mut Planner) {
    let logscan = agent(p, "logscan-bot");
    let finops = agent(p, "finops-bot");
    let at = p.slot();
    let human = owner(p, logscan);
    let tools = [Tool::AwsDescribeLogGroups, Tool::AwsDescribeLogStreams];
    let plan = p.plan(logscan, actors(p, logscan), Some(human), 2700, &tools);
    let (owner_ctx, _) = p.open(&plan, at);
    let first = p.call(&owner_ctx, at + 5 * NANOS_PER_SEC, &CallSpec::new(Tool::AwsDescribeLogGroups));
    p.flag(Rule::SharedCredential, std::slice::from_ref(&first.gateway), &related(&first));
    // Another agent presents the same session key (copied from a shared config).
    let human2 = owner(p, finops);
    let plan = p.plan(finops, actors(p, finops), Some(human2), 2700, &tools);
    let (other_ctx, _) = p.open(&plan, at + 6 * 60 * NANOS_PER_SEC);
    if let Some(key) = owner_ctx.creds.aws.clone() {
        let mut spec = CallSpec::new(Tool::AwsDescribeLogStreams);
        spec.credential = Some(key);
        spec.aws_identity_of = Some(logscan);
        let ids = p.call(&other_ctx, at + 7 * 60 * NANOS_PER_SEC, &spec);
        p.flag(Rule::SharedCredential, std::slice::from_ref(&ids.gateway), &related(&ids));
    }
    // Look-alike: one agent restarting (new session ids) with the same credential.
    let deploy = agent(p, "deploy-bot");
    let human = owner(p, deploy);
    let at = p.slot();
    let plan = p.plan(deploy, actors(p, deploy), Some(human), 2700, &[Tool::K8sListPods, Tool::K8sGetDeployment]);
    let (ctx, _) = p.open(&plan, at);
    let ids = p.call(&ctx, at + 5 * NANOS_PER_SEC, &CallSpec::new(Tool::K8sListPods));
    p.look_alike(Rule::SharedCredential, &ids.all());
    let mut restarted = ctx.clone();
    restarted.session_id = format!("sess-{}", p.g.lower_alnum(12));
    restarted.pod_name = format!("{}-{}-{}", p.env.world.agents[deploy].id, p.g.hex(10), p.g.lower_alnum(5));
    restarted.pod_uid = p.g.uuid();
    let ids = p.call(&restarted, at + 4 * 60 * NANOS_PER_SEC, &CallSpec::new(Tool::K8sGetDeployment));
    p.look_alike(Rule::SharedCredential, &ids.all());
}

fn missing_on_behalf_of(p: &mut Planner) {
    // An agent running on its own: client-credentials token, no person anywhere.
    let review = agent(p, "review-bot");
    let at = p.slot();
    let tools = [Tool::GhClone, Tool::GhCreatePull];
    let plan = p.plan(review, vec![review], None, 1800, &tools);
    let (ctx, issued) = p.open(&plan, at);
    p.flag(Rule::MissingOnBehalfOf, &[], &issued);
    for (k, tool) in tools.iter().enumerate() {
        let ids = p.call(&ctx, at + (k as i64 + 1) * 30 * NANOS_PER_SEC, &CallSpec::new(*tool));
        p.flag(Rule::MissingOnBehalfOf, std::slice::from_ref(&ids.gateway), &related(&ids));
    }
    let deploy = agent(p, "deploy-bot");
    let at = p.slot();
    let tools = [Tool::K8sListPods, Tool::AwsDescribeImages];
    let plan = p.plan(deploy, vec![deploy], None, 1800, &tools);
    let (ctx, issued) = p.open(&plan, at);
    p.flag(Rule::MissingOnBehalfOf, &[], &issued);
    for (k, tool) in tools.iter().enumerate() {
        let ids = p.call(&ctx, at + (k as i64 + 1) * 30 * NANOS_PER_SEC, &CallSpec::new(*tool));
        p.flag(Rule::MissingOnBehalfOf, std::slice::from_ref(&ids.gateway), &related(&ids));
    }
    // Look-alike: no `on_behalf_of` field, but the token's subject is the person (RFC 8693 chain).
    let human = owner(p, deploy);
    let at = p.slot();
    let mut plan = p.plan(deploy, actors(p, deploy), Some(human), 1800, &tools);
    plan.obo_field = false;
    let (ctx, _) = p.open(&plan, at);
    for (k, tool) in tools.iter().enumerate() {
        let ids = p.call(&ctx, at + (k as i64 + 1) * 30 * NANOS_PER_SEC, &CallSpec::new(*tool));
        p.look_alike(Rule::MissingOnBehalfOf, &ids.all());
    }
}

fn expired_credential_use(p: &mut Planner) {
    // Look-alike: a call 20–50 s before the token expires.
    let finops = agent(p, "finops-bot");
    let human = owner(p, finops);
    let at = p.slot();
    let plan = p.plan(finops, actors(p, finops), Some(human), 900, &[Tool::AwsDescribeInstances]);
    let (ctx, _) = p.open(&plan, at);
    if let Some(cred) = ctx.creds.aws.clone() {
        let late: Nanos = (cred.exp - p.g.range_i64(20, 50)) * NANOS_PER_SEC;
        let ids = p.call(&ctx, late, &CallSpec::new(Tool::AwsDescribeInstances));
        p.look_alike(Rule::ExpiredCredentialUse, &ids.all());
    }
}

/// An agent touching a source it never touched in the baseline period, plus look-alikes.
pub fn new_system_for_agent(p: &mut Planner, at: Nanos) {
    let review = agent(p, "review-bot");
    let human = owner(p, review);
    let mut plan = p.plan(review, actors(p, review), Some(human), 1800, &[Tool::AwsDescribeLogGroups, Tool::GhClone]);
    plan.extra_systems = vec![System::Aws];
    let (ctx, _) = p.open(&plan, at);
    let ids = p.call(&ctx, at + 20 * NANOS_PER_SEC, &CallSpec::new(Tool::AwsDescribeLogGroups));
    let mut related = vec![ids.gateway.clone()];
    related.extend(ids.otel.iter().cloned());
    p.flag(Rule::NewSystemForAgent, &ids.downstream, &related);
    // Look-alikes: the same agent on its usual system, another agent on one it already used.
    let ids = p.call(&ctx, at + 60 * NANOS_PER_SEC, &CallSpec::new(Tool::GhClone));
    p.look_alike(Rule::NewSystemForAgent, &ids.all());
    let finops = agent(p, "finops-bot");
    let human = owner(p, finops);
    let plan = p.plan(finops, actors(p, finops), Some(human), 1800, &[Tool::GcpListInstances]);
    let (ctx, _) = p.open(&plan, at + 5 * 60 * NANOS_PER_SEC);
    let ids = p.call(&ctx, at + 6 * 60 * NANOS_PER_SEC, &CallSpec::new(Tool::GcpListInstances));
    p.look_alike(Rule::NewSystemForAgent, &ids.all());
}
