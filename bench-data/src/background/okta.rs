//! Okta System Log events of people signing in, using SSO and MFA, and of
//! administrators managing users, groups and API tokens.

use serde_json::json;

use super::{browser_ua, human_ip, pick_human, shift_index};
use crate::ids::{Gen, derived_alnum};
use crate::record::Emitted;
use crate::sources::okta::{OktaActor, OktaClient, OktaEvent};
use crate::time::Nanos;
use crate::world::{Team, World};

const APPS: [(&str, &str); 6] = [
    ("0oa2aws1dentitycntr7", "AWS IAM Identity Center"),
    ("0oa2githubent3rprse7", "GitHub Enterprise Cloud"),
    ("0oa2g00gleworksp4ce7", "Google Workspace"),
    ("0oa2slack0000000app7", "Slack"),
    ("0oa2grafana000000ap7", "Grafana"),
    ("0oa2kubernetes0eks07", "Kubernetes (prod-eks)"),
];

struct Kind {
    event_type: &'static str,
    legacy: Option<&'static str>,
    message: &'static str,
    weight: f64,
    admin: bool,
}

const KINDS: [Kind; 11] = [
    Kind {
        event_type: "user.session.start",
        legacy: Some("core.user_auth.login_success"),
        message: "User login to Okta",
        weight: 0.18,
        admin: false,
    },
    Kind {
        event_type: "user.authentication.sso",
        legacy: Some("app.auth.sso"),
        message: "User single sign on to app",
        weight: 0.34,
        admin: false,
    },
    Kind {
        event_type: "user.authentication.auth_via_mfa",
        legacy: Some("core.user.factor.attempt_success"),
        message: "Authentication of user via MFA",
        weight: 0.14,
        admin: false,
    },
    Kind {
        event_type: "policy.evaluate_sign_on",
        legacy: None,
        message: "Evaluation of sign-on policy",
        weight: 0.16,
        admin: false,
    },
    Kind {
        event_type: "user.session.end",
        legacy: Some("core.user_auth.logout_success"),
        message: "User logout from Okta",
        weight: 0.08,
        admin: false,
    },
    Kind {
        event_type: "user.mfa.okta_verify.deny_push",
        legacy: Some("core.user.factor.attempt_fail"),
        message: "User rejected Okta push verify",
        weight: 0.01,
        admin: false,
    },
    Kind {
        event_type: "user.account.lock",
        legacy: Some("core.user_auth.account_locked"),
        message: "Max sign in attempts exceeded",
        weight: 0.004,
        admin: false,
    },
    Kind {
        event_type: "group.user_membership.add",
        legacy: Some("core.user_group_member.user_add"),
        message: "Add user to group membership",
        weight: 0.03,
        admin: true,
    },
    Kind {
        event_type: "app.user_membership.add",
        legacy: Some("app.generic.provision.assign_user_to_app"),
        message: "Add user to application membership",
        weight: 0.02,
        admin: true,
    },
    Kind {
        event_type: "system.api_token.create",
        legacy: Some("api.token.create"),
        message: "Create API token",
        weight: 0.003,
        admin: true,
    },
    Kind {
        event_type: "user.account.update_profile",
        legacy: Some("core.user.config.profile_update.success"),
        message: "Update user profile for Okta",
        weight: 0.02,
        admin: true,
    },
];

fn user_target(world: &World, h: usize) -> serde_json::Value {
    let p = &world.humans[h];
    OktaActor {
        id: p.okta_id.clone(),
        kind: "User",
        alternate_id: p.email.clone(),
        display_name: p.display_name.clone(),
    }
    .to_json()
}

/// One background System Log event.
pub fn record(world: &World, g: &mut Gen, seed: u64, at: Nanos) -> Emitted {
    let weights: Vec<f64> = KINDS.iter().map(|k| k.weight).collect();
    let kind = &KINDS[g.weighted(&weights)];
    let h = if kind.admin { pick_human(world, g, &[Team::ItAdmin]) } else { g.below(world.humans.len()) };
    let person = &world.humans[h];
    let session = format!("102{}", derived_alnum(seed, &format!("okta-session/{}", person.email), shift_index(at), 22));
    let (mut result, mut reason) = ("SUCCESS", None);
    let mut severity = "INFO";
    let mut targets = Vec::new();
    let mut debug = vec![("requestId", g.base64url(27)), ("requestUri", "/idp/idx/authenticators/poll".to_owned())];
    match kind.event_type {
        "user.session.start" => {
            debug[1].1 = "/idp/idx/identify".to_owned();
            if g.chance(0.04) {
                result = "FAILURE";
                reason = Some("INVALID_CREDENTIALS".to_owned());
            }
        }
        "user.authentication.sso" => {
            let (id, name) = *g.pick(&APPS);
            debug[1].1 = format!("/app/{}/sso/saml", name.to_lowercase().replace([' ', '(', ')'], ""));
            targets.push(json!({ "id": id, "type": "AppInstance", "alternateId": name, "displayName": name, "detailEntry": { "signOnModeType": "SAML_2_0" } }));
            targets.push(json!({ "id": format!("0ua{}", g.mixed_alnum(17)), "type": "AppUser", "alternateId": person.email, "displayName": person.display_name, "detailEntry": null }));
        }
        "policy.evaluate_sign_on" => {
            result = "ALLOW";
            reason = Some("Sign-on policy evaluation resulted in AUTHENTICATED".to_owned());
            targets.push(json!({ "id": "00p1signonpolicy0007", "type": "PolicyEntity", "alternateId": "unknown", "displayName": "Default Policy", "detailEntry": { "policyType": "OKTA_SIGN_ON" } }));
        }
        "user.mfa.okta_verify.deny_push" => {
            result = "DENY";
            reason = Some("Okta Verify push denied by user".to_owned());
            severity = "WARN";
        }
        "user.account.lock" => {
            result = "FAILURE";
            reason = Some("LOCKED_OUT".to_owned());
            severity = "WARN";
        }
        "group.user_membership.add" => {
            let member = g.below(world.humans.len());
            targets.push(user_target(world, member));
            let group = world.humans[member].team.k8s_group();
            targets.push(json!({ "id": format!("00g{}", g.mixed_alnum(17)), "type": "UserGroup", "alternateId": "unknown", "displayName": group, "detailEntry": null }));
            debug[1].1 = "/api/v1/groups/members".to_owned();
        }
        "app.user_membership.add" => {
            let member = g.below(world.humans.len());
            let (id, name) = *g.pick(&APPS);
            targets.push(json!({ "id": format!("0ua{}", g.mixed_alnum(17)), "type": "AppUser", "alternateId": world.humans[member].email, "displayName": world.humans[member].display_name, "detailEntry": null }));
            targets.push(json!({ "id": id, "type": "AppInstance", "alternateId": name, "displayName": name, "detailEntry": null }));
        }
        "system.api_token.create" => {
            targets.push(json!({ "id": format!("00T{}", g.mixed_alnum(17)), "type": "Token", "alternateId": "unknown", "displayName": "scim-sync", "detailEntry": null }));
            debug[1].1 = "/api/internal/tokens".to_owned();
        }
        "user.account.update_profile" => {
            targets.push(user_target(world, g.below(world.humans.len())));
        }
        _ => {}
    }
    if kind.event_type.starts_with("user.session") || kind.event_type == "user.authentication.sso" {
        debug.push(("dtHash", g.hex(64)));
    }
    OktaEvent {
        uuid: g.uuid(),
        time: at,
        event_type: kind.event_type,
        legacy_event_type: kind.legacy,
        display_message: kind.message,
        severity,
        actor: OktaActor {
            id: person.okta_id.clone(),
            kind: "User",
            alternate_id: person.email.clone(),
            display_name: person.display_name.clone(),
        },
        client: OktaClient {
            ip: human_ip(world, g, h),
            raw_user_agent: browser_ua(world, h).to_owned(),
            browser: person.browser,
            os: person.os,
            device: "Computer",
            city: if h.is_multiple_of(3) { "Berlin" } else { "New York" },
            state: if h.is_multiple_of(3) { "Land Berlin" } else { "New York" },
            country: if h.is_multiple_of(3) { "Germany" } else { "United States" },
        },
        result,
        reason,
        targets,
        transaction_id: g.base64url(27),
        external_session_id: Some(session),
        credential_type: if kind.event_type == "user.authentication.auth_via_mfa" { Some("OTP") } else { None },
        debug_data: debug,
    }
    .render()
}
