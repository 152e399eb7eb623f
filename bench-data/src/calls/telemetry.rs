//! How an agent gets its gateway token (Okta) and what its own telemetry says (inference, invocation).

use serde_json::json;

use super::{Credential, Env, GATEWAY_EGRESS_IPS, TaskCtx};
use crate::ids::Gen;
use crate::record::Emitted;
use crate::sources::okta::{OktaActor, OktaClient, OktaEvent};
use crate::sources::otel::{OtelLog, Severity, i, s};
use crate::time::{NANOS_PER_SEC, Nanos, Precision, rfc3339};

/// The Okta token grant with which an agent obtains its gateway token.
pub fn okta_token_grant(env: &Env, g: &mut Gen, ctx: &TaskCtx, at: Nanos, cred: &Credential) -> Emitted {
    let world = env.world;
    let agent = &world.agents[ctx.agent];
    let mut targets = Vec::new();
    if let Some(h) = ctx.human {
        let human = &world.humans[h];
        targets.push(
            OktaActor {
                id: human.okta_id.clone(),
                kind: "User",
                alternate_id: human.email.clone(),
                display_name: human.display_name.clone(),
            }
            .to_json(),
        );
    }
    targets.push(json!({
        "id": "aus1agentrail0gw5d7",
        "type": "AuthorizationServer",
        "alternateId": "agentrail-gateway",
        "displayName": "agentrail-gateway",
        "detailEntry": null,
    }));
    let grant_type =
        if ctx.human.is_some() { "urn:ietf:params:oauth:grant-type:token-exchange" } else { "client_credentials" };
    OktaEvent {
        uuid: g.uuid(),
        time: at,
        event_type: "app.oauth2.as.token.grant.access_token",
        legacy_event_type: None,
        display_message: "OAuth2 access token is granted",
        severity: "INFO",
        actor: OktaActor {
            id: agent.okta_client_id.clone(),
            kind: "PublicClientApp",
            alternate_id: agent.okta_client_id.clone(),
            display_name: agent.id.clone(),
        },
        client: OktaClient {
            ip: (*g.pick(&GATEWAY_EGRESS_IPS)).to_owned(),
            raw_user_agent: agent.framework_ua.to_owned(),
            browser: "UNKNOWN",
            os: "Unknown",
            device: "Unknown",
            city: "Ashburn",
            state: "Virginia",
            country: "United States",
        },
        result: "SUCCESS",
        reason: None,
        targets,
        transaction_id: g.base64url(27),
        external_session_id: None,
        credential_type: None,
        debug_data: vec![
            ("requestId", g.base64url(27)),
            ("requestUri", "/oauth2/aus1agentrail0gw5d7/v1/token".to_owned()),
            ("url", "/oauth2/aus1agentrail0gw5d7/v1/token?".to_owned()),
            ("grantType", grant_type.to_owned()),
            ("grantedScopes", cred.scope.clone()),
            ("expiresAt", rfc3339(cred.exp * NANOS_PER_SEC, Precision::Millis)),
        ],
    }
    .render()
}

/// An inference (`chat`) log of an agent working on a task.
pub fn chat_log(env: &Env, g: &mut Gen, ctx: &TaskCtx, at: Nanos) -> Emitted {
    let agent = &env.world.agents[ctx.agent];
    let (provider, model) = if agent.framework_ua.starts_with("openai") {
        ("openai", "gpt-5-mini")
    } else {
        ("anthropic", "claude-sonnet-4-5")
    };
    let mut attributes = Vec::with_capacity(10);
    if let Some(h) = ctx.human {
        attributes.push(s("enduser.id", env.world.humans[h].email.clone()));
    }
    attributes.extend([
        s("gen_ai.operation.name", "chat"),
        s("gen_ai.provider.name", provider),
        s("gen_ai.request.model", model),
        i("gen_ai.usage.input_tokens", g.range_i64(800, 24_000)),
        i("gen_ai.usage.output_tokens", g.range_i64(40, 1_800)),
        s("agentrail.task_id", ctx.task_id.clone()),
    ]);
    if ctx.chat_has_correlation {
        attributes.push(s("agentrail.correlation_id", ctx.correlation_id.clone()));
    }
    attributes.push(s("session.id", ctx.session_id.clone()));
    let log = OtelLog {
        uid: g.ulid(at),
        time: at,
        observed: at + g.range_i64(1, 300) * 1_000_000,
        severity: Severity::Info,
        body: format!("chat {model}"),
        event_name: Some("gen_ai.client.inference.operation.details"),
        trace: Some((ctx.trace_id.clone(), g.span_id())),
        attributes,
    };
    log.render(&env.otel.agents[ctx.agent])
}

/// An `invoke_agent` log: a human hands a task to an agent, or an orchestrator to a sub-agent.
pub fn invoke_log(env: &Env, g: &mut Gen, ctx: &TaskCtx, at: Nanos, invoked: usize, summary: &str) -> Emitted {
    let world = env.world;
    let invoked_agent = &world.agents[invoked];
    let mut attributes = Vec::with_capacity(8);
    if let Some(h) = ctx.human {
        attributes.push(s("enduser.id", world.humans[h].email.clone()));
    }
    attributes.extend([
        s("gen_ai.operation.name", "invoke_agent"),
        s("gen_ai.agent.invoked.id", invoked_agent.id.clone()),
        s("agentrail.task_id", ctx.task_id.clone()),
        s("agentrail.correlation_id", ctx.correlation_id.clone()),
        s("session.id", ctx.session_id.clone()),
    ]);
    let log = OtelLog {
        uid: g.ulid(at),
        time: at,
        observed: at + g.range_i64(1, 200) * 1_000_000,
        severity: Severity::Info,
        body: summary.to_owned(),
        event_name: Some("agentrail.agent.invoke"),
        trace: Some((ctx.trace_id.clone(), g.span_id())),
        attributes,
    };
    log.render(&env.otel.agents[ctx.agent])
}
