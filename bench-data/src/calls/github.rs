//! The GitHub audit-log side of an agent's repository calls.

use serde_json::{Value, json};

use super::{CallSpec, Credential, Env, Outcome, TaskCtx, cloud_suffix};
use crate::ids::Gen;
use crate::record::Emitted;
use crate::sources::github::{GitHubEvent, GitHubToken};
use crate::time::Nanos;
use crate::tools::{Target, Tool};
use crate::world::GATEWAY_VERSION;

/// The `hashed_token` GitHub logs for a token id (base64 of a SHA-256).
pub fn github_hashed_token(token_id: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(format!("ghu-token-{token_id}").as_bytes());
    base64_standard(&digest)
}

fn base64_standard(bytes: &[u8]) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = (u32::from(chunk[0]) << 16)
            | (u32::from(*chunk.get(1).unwrap_or(&0)) << 8)
            | u32::from(*chunk.get(2).unwrap_or(&0));
        for k in 0..4 {
            if k <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * k)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// A stable repository id for a repository name.
pub fn github_repo_id(name: &str) -> u64 {
    name.bytes().fold(581_223_907_u64, |acc, byte| acc.wrapping_mul(31).wrapping_add(u64::from(byte)) % 900_000_000)
        + 100_000_000
}

pub(super) fn github_call(
    env: &Env,
    g: &mut Gen,
    ctx: &TaskCtx,
    at: Nanos,
    spec: &CallSpec,
    target: &Target,
    cred: &Credential,
) -> Option<Emitted> {
    // GitHub's audit log records neither reads through the REST API nor failed requests.
    if spec.outcome != Outcome::Success {
        return None;
    }
    let repo = match target {
        Target::Repo { repo } if !repo.is_empty() => Some(repo.clone()),
        _ => None,
    };
    let (action, operation_type, git) = match spec.tool {
        Tool::GhClone => ("git.clone", "access", true),
        Tool::GhPush => ("git.push", "modify", true),
        Tool::GhCreatePull => ("pull_request.create", "create", false),
        Tool::GhMergePull => ("pull_request.merge", "modify", false),
        Tool::GhDeleteRepo => ("repo.destroy", "remove", false),
        Tool::GhDeleteBranchProtection => ("protected_branch.destroy", "remove", false),
        Tool::GhUpdateMember => ("org.update_member", "modify", false),
        _ => return None,
    };
    let world = env.world;
    let agent = &world.agents[ctx.agent];
    let server_to_server = spec.github_server_to_server || ctx.human.is_none();
    let (actor, actor_id, is_bot) = match (server_to_server, ctx.human) {
        (false, Some(h)) => (world.humans[h].github_login.clone(), world.humans[h].github_id, false),
        _ => (format!("{}[bot]", agent.id), agent.github_app_id + 41_000_000, true),
    };
    let token_id = cred.jti.parse::<u64>().ok();
    let token = GitHubToken {
        access_type: if server_to_server {
            "GitHub App server-to-server token"
        } else {
            "GitHub App user-to-server token"
        },
        token_id,
        hashed_token: Some(github_hashed_token(&cred.jti)),
        integration: Some(agent.id.clone()),
        scopes: None,
    };
    let user_agent = if git {
        format!("git/2.47.1 {GATEWAY_VERSION}{}", cloud_suffix(ctx))
    } else {
        format!("{GATEWAY_VERSION} octokit-rest.js/21.0.2{}", cloud_suffix(ctx))
    };
    let mut extra: Vec<(&'static str, Value)> = Vec::new();
    match spec.tool {
        Tool::GhPush => {
            extra.push(("branch", json!(format!("refs/heads/agent/{}", ctx.task_id))));
            extra.push(("transport_protocol_name", json!("http")));
            extra.push(("transport_protocol", json!(1)));
        }
        Tool::GhClone => {
            extra.push(("transport_protocol_name", json!("http")));
            extra.push(("transport_protocol", json!(1)));
        }
        Tool::GhCreatePull | Tool::GhMergePull => {
            let number = g.range_u64(1_200, 9_800);
            let repo_name = repo.clone().unwrap_or_default();
            extra.push(("pull_request_id", json!(g.range_u64(1_900_000_000, 2_400_000_000))));
            extra.push(("pull_request_title", json!(format!("chore: {} ({})", "automated update", ctx.task_id))));
            extra.push((
                "pull_request_url",
                json!(format!("https://github.com/{}/{repo_name}/pull/{number}", crate::world::GITHUB_ORG)),
            ));
        }
        Tool::GhDeleteBranchProtection => extra.push(("name", json!("main"))),
        Tool::GhUpdateMember => {
            let member = &world.humans[g.below(world.humans.len())];
            extra.push(("user", json!(member.github_login)));
            extra.push(("user_id", json!(member.github_id)));
            extra.push(("permission", json!("read")));
            extra.push(("old_permission", json!("admin")));
        }
        _ => {}
    }
    Some(
        GitHubEvent {
            document_id: g.base64url(22),
            time: at,
            action,
            actor,
            actor_id,
            actor_is_bot: is_bot,
            country: "US",
            user_agent: Some(user_agent),
            request_id: Some(g.github_request_id()),
            repo: repo.map(|name| {
                let id = github_repo_id(&name);
                (name, id)
            }),
            token: Some(token),
            operation_type,
            extra,
        }
        .render(),
    )
}
