//! What webhooks are sent about a run's new findings.
//!
//! - [`slack_payload`]: `{"text": …}` in Slack's mrkdwn, which Slack's
//!   incoming webhooks take, and so do Mattermost's, Rocket.Chat's and
//!   Discord's `/slack` endpoint.
//! - [`generic_payload`]: the run and its new findings as JSON, the same
//!   finding objects as `agentrail report --format json`.

use serde_json::{Value, json};

use crate::history::RunRecord;
use crate::run::Finding;

/// Findings listed in one chat message; the rest are counted.
const FINDINGS_SHOWN: usize = 10;

/// The kind of payload a webhook takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PayloadFormat {
    Slack,
    Generic,
}

/// The payload telling of `findings` (the new ones of `run`).
pub fn payload(format: PayloadFormat, run: &RunRecord, findings: &[&Finding], replay_url: Option<&str>) -> Value {
    match format {
        PayloadFormat::Slack => slack_payload(run, findings, replay_url),
        PayloadFormat::Generic => generic_payload(run, findings),
    }
}

/// A chat message: one line for the rule, one per finding, with replay links.
pub fn slack_payload(run: &RunRecord, findings: &[&Finding], replay_url: Option<&str>) -> Value {
    let plural = if findings.len() == 1 { "finding" } else { "findings" };
    let mut text = format!(
        "*agentrail*: {} new {plural} from rule `{}` ({})",
        findings.len(),
        mrkdwn_escape(&run.head.rule),
        run.head.severity
    );
    for finding in findings.iter().take(FINDINGS_SHOWN) {
        text.push_str("\n• ");
        text.push_str(&mrkdwn_escape(&finding.title));
        let who = match (&finding.agent_id, &finding.on_behalf_of) {
            (Some(agent), Some(user)) => format!("agent `{}` for `{}`", mrkdwn_escape(agent), mrkdwn_escape(user)),
            (Some(agent), None) => format!("agent `{}`, no human principal", mrkdwn_escape(agent)),
            (None, Some(user)) => format!("for `{}`", mrkdwn_escape(user)),
            (None, None) => String::new(),
        };
        let events = if finding.count == 1 { "event" } else { "events" };
        text.push_str(&format!(" — {who} · {} {events} from {}", finding.count, mrkdwn_escape(&finding.first_seen)));
        if let Some(correlation) = &finding.correlation_id {
            match replay_url.and_then(|url| finding.replay_link(url)) {
                // Slack's link syntax: <url|label>; `|` and `>` cannot occur in a percent-encoded link.
                Some(link) => text.push_str(&format!(" · <{link}|replay {}>", mrkdwn_escape(correlation))),
                None => text.push_str(&format!(" · `agentrail replay {}`", mrkdwn_escape(correlation))),
            }
        }
    }
    if findings.len() > FINDINGS_SHOWN {
        text.push_str(&format!("\n…and {} more", findings.len() - FINDINGS_SHOWN));
    }
    json!({ "text": text })
}

/// The run and its new findings, for programs.
pub fn generic_payload(run: &RunRecord, findings: &[&Finding]) -> Value {
    json!({
        "source": "agentrail",
        "kind": "anomaly_findings",
        "run_id": run.head.id,
        "rule": run.head.rule,
        "severity": run.head.severity,
        "at": run.head.at,
        "window": run.head.window,
        "findings": findings,
    })
}

/// Slack's mrkdwn takes `&`, `<` and `>` as control characters; they are escaped as HTML entities.
fn mrkdwn_escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use agentrail_event::Timestamp;

    use super::*;
    use crate::rule::Severity;
    use crate::run::{RuleRun, Window};

    fn run_with(findings: Vec<Finding>) -> RunRecord {
        let at = Timestamp::parse("2026-11-24T10:00:00Z").expect("time");
        let window = Window::ending(at, Duration::from_secs(86_400));
        let run = RuleRun {
            rule: "scope_violation".into(),
            severity: Severity::High,
            window,
            findings: findings.len(),
            events: 1,
            seconds: 0.2,
        };
        let mut record = RunRecord::new("scope_violation", Severity::High, window, at, Ok((run, findings)));
        record.mark_new(None);
        record
    }

    fn finding(title: &str, correlation: &str) -> Finding {
        Finding {
            rule: "scope_violation".into(),
            severity: Severity::High,
            title: title.into(),
            key: title.into(),
            event_ids: vec!["e1".into()],
            agent_id: Some("bot <x>".into()),
            on_behalf_of: Some("ana@example.com".into()),
            correlation_id: Some(correlation.into()),
            first_seen: "2026-11-24T09:00:00Z".into(),
            last_seen: "2026-11-24T09:00:00Z".into(),
            count: 1,
        }
    }

    #[test]
    fn the_chat_message_escapes_and_links_each_finding() {
        let run = run_with(vec![finding("bot was denied <!channel> & more", "corr 1|x>y")]);
        let fresh: Vec<&Finding> = run.fresh_findings().collect();
        let payload = slack_payload(&run, &fresh, Some("https://ar.example/api/v1/replay/"));
        let text = payload["text"].as_str().expect("text");
        assert!(text.starts_with("*agentrail*: 1 new finding from rule `scope_violation` (high)"), "{text}");
        assert!(text.contains("denied &lt;!channel&gt; &amp; more"), "no mention smuggled in: {text}");
        assert!(text.contains("agent `bot &lt;x&gt;` for `ana@example.com`"), "{text}");
        assert!(text.contains("<https://ar.example/api/v1/replay/corr%201%7Cx%3Ey|replay corr 1|x&gt;y>"), "{text}");

        let many: Vec<Finding> = (0..12).map(|i| finding(&format!("f{i}"), "c")).collect();
        let run = run_with(many);
        let fresh: Vec<&Finding> = run.fresh_findings().collect();
        let text = slack_payload(&run, &fresh, None)["text"].as_str().expect("text").to_owned();
        assert_eq!(text.matches("\n• ").count(), FINDINGS_SHOWN);
        assert!(text.ends_with("…and 2 more") && text.contains("`agentrail replay c`"), "{text}");
    }

    #[test]
    fn the_generic_payload_carries_the_run_and_whole_findings() {
        let run = run_with(vec![finding("t", "c")]);
        let fresh: Vec<&Finding> = run.fresh_findings().collect();
        let payload = payload(PayloadFormat::Generic, &run, &fresh, None);
        assert_eq!(payload["rule"], "scope_violation");
        assert_eq!(payload["run_id"], run.head.id.as_str());
        assert_eq!(payload["window"]["to"], "2026-11-24T10:00:00.000000Z");
        assert_eq!(payload["findings"][0]["event_ids"][0], "e1");
        assert_eq!(payload["findings"][0]["severity"], "high");
    }
}
