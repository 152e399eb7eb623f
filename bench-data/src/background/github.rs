//! GitHub audit-log events of developers (git over HTTPS with personal or
//! OAuth tokens, pull requests in the browser) and of a CI machine user.

use serde_json::{Value, json};

use super::{browser_ua, pick_human};
use crate::calls::{github_hashed_token, github_repo_id};
use crate::ids::{Gen, derived};
use crate::record::Emitted;
use crate::sources::github::{GitHubEvent, GitHubToken};
use crate::time::Nanos;
use crate::tools::REPOS;
use crate::world::{GITHUB_ORG, Team, World};

const TOKEN_KINDS: [&str; 3] =
    ["OAuth access token", "Personal access token (classic)", "Fine-grained personal access token"];

fn person_token(seed: u64, login: &str, kind: &'static str) -> GitHubToken {
    let bytes = derived(seed, &format!("github-token/{login}/{kind}"), 0);
    let token_id = u64::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3], 0, 0, 0, 0]) % 900_000_000 + 100_000_000;
    GitHubToken {
        access_type: kind,
        token_id: Some(token_id),
        hashed_token: Some(github_hashed_token(&format!("{login}/{kind}"))),
        integration: None,
        scopes: (kind == "Personal access token (classic)").then(|| "repo, workflow, read:org".to_owned()),
    }
}

/// One background audit-log event.
pub fn record(world: &World, g: &mut Gen, seed: u64, at: Nanos, human: bool) -> Emitted {
    let repo = (*g.pick(&REPOS)).to_owned();
    let repo_id = github_repo_id(&repo);
    if !human {
        // The CI machine user fetching with a classic token from Actions runners.
        let action = *g.pick(&["git.clone", "git.fetch", "git.fetch"]);
        return GitHubEvent {
            document_id: g.base64url(22),
            time: at,
            action,
            actor: "acme-ci-machine".to_owned(),
            actor_id: 98_112_345,
            actor_is_bot: false,
            country: "US",
            user_agent: Some("git/2.47.1".to_owned()),
            request_id: Some(g.github_request_id()),
            repo: Some((repo, repo_id)),
            token: Some(person_token(seed, "acme-ci-machine", "Personal access token (classic)")),
            operation_type: "access",
            extra: vec![("transport_protocol_name", json!("http")), ("transport_protocol", json!(1))],
        }
        .render();
    }
    let h = pick_human(world, g, &[Team::Developer, Team::Platform, Team::Data, Team::Sre]);
    let person = &world.humans[h];
    let roll = g.unit();
    let (action, operation, via_git) = if roll < 0.28 {
        ("git.clone", "access", true)
    } else if roll < 0.50 {
        ("git.fetch", "access", true)
    } else if roll < 0.68 {
        ("git.push", "modify", true)
    } else if roll < 0.78 {
        ("pull_request.create", "create", false)
    } else if roll < 0.86 {
        ("pull_request.merge", "modify", false)
    } else if roll < 0.92 {
        ("pull_request_review.submit", "create", false)
    } else if roll < 0.95 {
        ("repo.download_zip", "access", false)
    } else if roll < 0.97 {
        ("protected_branch.policy_override", "modify", false)
    } else if roll < 0.985 {
        ("team.add_member", "modify", false)
    } else if roll < 0.995 {
        ("repo.create", "create", false)
    } else {
        ("repo.archived", "modify", false)
    };
    let (token, user_agent) = if via_git {
        let kind = *g.pick(&TOKEN_KINDS);
        let ua = if kind == "OAuth access token" { "git/2.47.1 (gh/2.63.2)" } else { "git/2.39.5 (Apple Git-154)" };
        (Some(person_token(seed, &person.github_login, kind)), ua.to_owned())
    } else if g.chance(0.2) {
        (Some(person_token(seed, &person.github_login, "OAuth access token")), "gh/2.63.2 (darwin/arm64)".to_owned())
    } else {
        (None, browser_ua(world, h).to_owned())
    };
    let mut extra: Vec<(&'static str, Value)> = Vec::new();
    match action {
        "git.push" => {
            extra.push(("branch", json!(format!("refs/heads/{}/{}", person.first, g.lower_alnum(6)))));
            extra.push(("transport_protocol_name", json!("http")));
            extra.push(("transport_protocol", json!(1)));
        }
        "git.clone" | "git.fetch" => {
            extra.push(("transport_protocol_name", json!("http")));
            extra.push(("transport_protocol", json!(1)));
        }
        "pull_request.create" | "pull_request.merge" | "pull_request_review.submit" => {
            let number = g.range_u64(1_200, 9_800);
            extra.push(("pull_request_id", json!(g.range_u64(1_900_000_000, 2_400_000_000))));
            extra.push(("pull_request_url", json!(format!("https://github.com/{GITHUB_ORG}/{repo}/pull/{number}"))));
        }
        "team.add_member" => {
            let member = &world.humans[g.below(world.humans.len())];
            extra.push(("team", json!(format!("{GITHUB_ORG}/{}", member.team.k8s_group()))));
            extra.push(("user", json!(member.github_login)));
            extra.push(("user_id", json!(member.github_id)));
        }
        _ => {}
    }
    GitHubEvent {
        document_id: g.base64url(22),
        time: at,
        action,
        actor: person.github_login.clone(),
        actor_id: person.github_id,
        actor_is_bot: false,
        country: if h.is_multiple_of(3) { "DE" } else { "US" },
        user_agent: Some(user_agent),
        request_id: Some(g.github_request_id()),
        repo: Some((repo, repo_id)),
        token,
        operation_type: operation,
        extra,
    }
    .render()
}
