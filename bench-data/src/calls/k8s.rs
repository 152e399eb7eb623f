//! The Kubernetes audit side of an agent's cluster calls.

use super::{CallSpec, Credential, Env, Outcome, TaskCtx};
use crate::ids::Gen;
use crate::record::Emitted;
use crate::sources::k8s::{K8sEvent, K8sUser, Stage};
use crate::time::Nanos;
use crate::tools::{Target, Tool};
use crate::world::GATEWAY_VERSION;

fn k8s_verb(tool: Tool) -> &'static str {
    match tool {
        Tool::K8sListPods | Tool::K8sListEvents => "list",
        Tool::K8sGetDeployment | Tool::K8sGetPodLogs => "get",
        Tool::K8sPatchDeployment | Tool::K8sScaleDeployment => "patch",
        _ => "delete",
    }
}

pub(super) fn k8s_call(
    env: &Env,
    g: &mut Gen,
    ctx: &TaskCtx,
    at: Nanos,
    spec: &CallSpec,
    target: &Target,
    cred: &Credential,
) -> Emitted {
    let world = env.world;
    let agent = &world.agents[ctx.agent];
    let verb = k8s_verb(spec.tool);
    let object = match target {
        Target::K8s(object) => Some(object.clone()),
        _ => None,
    };
    let path = object.as_ref().map_or_else(|| "/api/v1".to_owned(), |o| o.uri_path());
    let request_uri = match verb {
        "list" => format!("{path}?limit=500"),
        "patch" => format!("{path}?fieldManager=agentrail-gateway"),
        _ => path,
    };
    let user = K8sUser {
        username: agent.k8s_username(),
        uid: Some(agent.k8s_sa_uid.clone()),
        groups: vec![
            "system:serviceaccounts".to_owned(),
            "system:serviceaccounts:agents".to_owned(),
            "system:authenticated".to_owned(),
        ],
        extra: vec![
            ("authentication.kubernetes.io/credential-id", vec![format!("JTI={}", cred.jti)]),
            ("authentication.kubernetes.io/node-name", vec![ctx.node.clone()]),
            ("authentication.kubernetes.io/node-uid", vec![ctx.node_uid.clone()]),
            ("authentication.kubernetes.io/pod-name", vec![ctx.pod_name.clone()]),
            ("authentication.kubernetes.io/pod-uid", vec![ctx.pod_uid.clone()]),
        ],
    };
    let impersonated = ctx.human.map(|h| {
        let human = &world.humans[h];
        K8sUser {
            username: human.email.clone(),
            uid: None,
            groups: vec![format!("oidc:{}", human.team.k8s_group()), "system:authenticated".to_owned()],
            extra: Vec::new(),
        }
    });
    let status_code = match spec.outcome {
        Outcome::Success | Outcome::GatewayDenied => 200,
        Outcome::NotFound => 404,
        Outcome::Throttled => 429,
        Outcome::DownstreamDenied | Outcome::Expired => 403,
    };
    let mut annotations = Vec::with_capacity(4);
    if status_code == 403 {
        annotations.push(("authorization.k8s.io/decision", "forbid".to_owned()));
        annotations.push(("authorization.k8s.io/reason", String::new()));
    } else {
        let group = ctx.human.map_or("agents-readonly", |h| world.humans[h].team.k8s_group());
        annotations.push(("authorization.k8s.io/decision", "allow".to_owned()));
        annotations.push((
            "authorization.k8s.io/reason",
            format!("RBAC: allowed by ClusterRoleBinding \"agents-{group}\" of ClusterRole \"agent-operator\" to Group \"oidc:{group}\""),
        ));
    }
    annotations.push(("agentrail.io/task-id", ctx.task_id.clone()));
    if ctx.stamps_correlation {
        annotations.push(("agentrail.io/correlation-id", ctx.correlation_id.clone()));
    }
    let suffix = if ctx.stamps_correlation { format!(" corr/{}", ctx.correlation_id) } else { String::new() };
    K8sEvent {
        audit_id: g.uuid(),
        stage: Stage::ResponseComplete,
        level: if verb == "delete" { "RequestResponse" } else { "Metadata" },
        verb,
        request_uri,
        user,
        impersonated_user: impersonated,
        source_ip: agent.pod_ip.clone(),
        user_agent: format!("{GATEWAY_VERSION} client-go/v0.31.2 (linux/amd64){suffix}"),
        object_ref: object,
        status_code,
        received: at,
        completed: at + g.range_i64(2, 90) * 1_000_000,
        annotations,
    }
    .render()
}
