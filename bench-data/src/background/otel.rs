//! OpenTelemetry logs of ordinary services and of Claude-Code-style coding
//! assistants (their `user_prompt`, `api_request`, `tool_decision` and
//! `tool_result` events).

use std::rc::Rc;

use crate::ids::{Gen, derived_uuid};
use crate::record::Emitted;
use crate::sources::otel::{OtelLog, Severity, b, i, resource_prefix, s};
use crate::time::{Nanos, Precision, rfc3339};
use crate::world::World;

const SERVICES: [(&str, &str); 4] =
    [("checkout-api", "go"), ("payments-api", "java"), ("search-indexer", "python"), ("web-frontend", "nodejs")];

/// Resource prefixes of the ordinary services.
pub fn service_resources() -> Vec<Rc<str>> {
    SERVICES
        .iter()
        .map(|(name, language)| {
            resource_prefix(
                &[
                    s("service.name", *name),
                    s("service.version", "2026.11.3"),
                    s("deployment.environment.name", "prod"),
                    s("k8s.namespace.name", if *name == "payments-api" { "payments" } else { "prod" }),
                    s("telemetry.sdk.language", *language),
                ],
                &format!("{name}/http"),
                "1.0.0",
            )
        })
        .collect()
}

/// An HTTP request log of a service.
pub fn service_record(g: &mut Gen, at: Nanos, prefix: &Rc<str>) -> Emitted {
    let routes = ["/api/v1/orders", "/api/v1/cart", "/api/v1/payments", "/api/v1/search", "/healthz"];
    let route = *g.pick(&routes);
    let method = if route.ends_with("payments") || g.chance(0.2) { "POST" } else { "GET" };
    let roll = g.unit();
    let status = if roll < 0.93 {
        200
    } else if roll < 0.97 {
        404
    } else if roll < 0.99 {
        500
    } else {
        503
    };
    let severity = if status >= 500 {
        Severity::Error
    } else if status >= 400 {
        Severity::Warn
    } else {
        Severity::Info
    };
    let duration = g.range_i64(2, 900);
    OtelLog {
        uid: g.ulid(at),
        time: at,
        observed: at + g.range_i64(1, 400) * 1_000_000,
        severity,
        body: format!("{method} {route} {status} {duration}ms"),
        event_name: None,
        trace: Some((g.trace_id(), g.span_id())),
        attributes: vec![
            s("http.request.method", method),
            s("url.path", route),
            i("http.response.status_code", status),
            i("http.server.request.duration_ms", duration),
            s("client.address", format!("10.42.{}.{}", g.range_i64(0, 15), g.range_i64(2, 250))),
        ],
    }
    .render(prefix)
}

/// One Claude-Code-style event of the coding assistant `agent`.
pub fn assistant_record(world: &World, g: &mut Gen, seed: u64, at: Nanos, agent: usize, prefix: &Rc<str>) -> Emitted {
    let assistant = &world.agents[agent];
    let developer = assistant.developer.unwrap_or(0);
    let person = &world.humans[developer];
    let block = u64::try_from(at.max(0) / (3 * crate::time::NANOS_PER_HOUR)).unwrap_or(0);
    let session = derived_uuid(seed, &format!("claude-session/{}", person.email), block);
    let account = derived_uuid(seed, &format!("claude-account/{}", person.email), 0);
    let mut attributes = vec![
        s("user.id", derived_uuid(seed, "claude-user", developer as u64).replace('-', "")),
        s("session.id", session),
        s("organization.id", "6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b"),
        s("user.email", person.email.clone()),
        s("user.account_uuid", account),
        s("terminal.type", if developer.is_multiple_of(2) { "vscode" } else { "iTerm.app" }),
        s("event.timestamp", rfc3339(at, Precision::Millis)),
    ];
    let roll = g.unit();
    let tools = ["Read", "Edit", "Grep", "Glob", "Bash", "Write"];
    let tool = *g.pick(&tools);
    let (name, body) = if roll < 0.15 {
        attributes.push(s("event.name", "user_prompt"));
        attributes.push(i("prompt_length", g.range_i64(20, 1_400)));
        attributes.push(s("prompt", "<REDACTED>"));
        ("claude_code.user_prompt", "claude_code.user_prompt")
    } else if roll < 0.45 {
        attributes.push(s("event.name", "api_request"));
        attributes.push(s("model", "claude-sonnet-4-5-20250929"));
        attributes.push(s("cost_usd", format!("{:.4}", g.unit() * 0.08)));
        attributes.push(i("duration_ms", g.range_i64(900, 24_000)));
        attributes.push(i("input_tokens", g.range_i64(200, 9_000)));
        attributes.push(i("output_tokens", g.range_i64(20, 2_500)));
        attributes.push(i("cache_read_tokens", g.range_i64(0, 60_000)));
        ("claude_code.api_request", "claude_code.api_request")
    } else if roll < 0.70 {
        let (decision, source) = if tool == "Bash" && g.chance(0.15) {
            ("reject", "user_reject")
        } else if matches!(tool, "Read" | "Grep" | "Glob") {
            ("accept", "config")
        } else {
            ("accept", *g.pick(&["user_temporary", "user_permanent", "config"]))
        };
        attributes.push(s("event.name", "tool_decision"));
        attributes.push(s("tool_name", tool));
        attributes.push(s("decision", decision));
        attributes.push(s("source", source));
        ("claude_code.tool_decision", "claude_code.tool_decision")
    } else {
        attributes.push(s("event.name", "tool_result"));
        attributes.push(s("tool_name", tool));
        attributes.push(b("success", !g.chance(0.06)));
        attributes.push(i("duration_ms", g.range_i64(3, 8_000)));
        attributes.push(s("decision", "accept"));
        if tool == "Bash" {
            let command = *g.pick(&["cargo test", "git status", "npm run lint", "go test ./...", "ls -la"]);
            attributes.push(s("tool_parameters", format!("{{\"bash_command\":\"{command}\"}}")));
        }
        ("claude_code.tool_result", "claude_code.tool_result")
    };
    OtelLog {
        uid: g.ulid(at),
        time: at,
        observed: at + g.range_i64(5, 5_000) * 1_000_000,
        severity: Severity::Info,
        body: body.to_owned(),
        event_name: Some(name),
        trace: None,
        attributes,
    }
    .render(prefix)
}
