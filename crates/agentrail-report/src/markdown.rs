//! The report as Markdown, for a chat channel or a ticket.

use std::fmt::Write;

use crate::rule::Severity;
use crate::run::Report;

/// Events listed per finding before "and N more".
const EVENTS_SHOWN: usize = 5;

/// Renders `report`; `replay_url` (e.g. `http://agentrail:7070/api/v1/replay/`)
/// turns correlation ids into links to their replay.
pub fn render_markdown(report: &Report, replay_url: Option<&str>) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# agentrail anomaly report, {}\n", report.generated_at);
    let counts: Vec<String> =
        Severity::ALL.iter().map(|severity| format!("{} {}", report.count(*severity), severity)).collect();
    let _ = writeln!(
        out,
        "{} findings: {}. {} rules ran.\n",
        report.findings.len(),
        counts.join(", "),
        report.rules_run.len()
    );
    for error in &report.errors {
        let _ = writeln!(out, "- **rule {} failed**: {}", error.rule, error.error);
    }
    if !report.errors.is_empty() {
        out.push('\n');
    }
    for finding in &report.findings {
        let _ = writeln!(out, "## [{}] {}: {}\n", finding.severity, finding.rule, finding.title);
        let who = finding.who(|name| format!("`{name}`"));
        let events = if finding.count == 1 { "event" } else { "events" };
        let _ =
            writeln!(out, "- {who}; {} {events} from {} to {}", finding.count, finding.first_seen, finding.last_seen);
        if let Some(correlation) = &finding.correlation_id {
            match replay_url.and_then(|url| finding.replay_link(url)) {
                Some(link) => {
                    let _ = writeln!(out, "- replay: [{correlation}]({link})");
                }
                None => {
                    let _ = writeln!(out, "- replay: `agentrail replay {correlation}`");
                }
            }
        }
        let shown: Vec<String> = finding.event_ids.iter().take(EVENTS_SHOWN).map(|id| format!("`{id}`")).collect();
        let more = finding.count.saturating_sub(EVENTS_SHOWN);
        let _ = write!(out, "- events: {}", shown.join(", "));
        if more > 0 {
            let _ = write!(out, " and {more} more");
        }
        out.push_str("\n\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use agentrail_event::Timestamp;

    use super::*;
    use crate::run::{Finding, RuleFailure};

    #[test]
    fn findings_read_as_headings_with_who_when_and_a_replay_link() {
        let finding = Finding {
            rule: "shared_credential".into(),
            severity: Severity::High,
            title: "credential K is used by more than one agent".into(),
            key: "credential K".into(),
            event_ids: (0..7).map(|i| format!("e{i}")).collect(),
            agent_id: Some("bot-a".into()),
            on_behalf_of: None,
            correlation_id: Some("corr-1".into()),
            first_seen: "2026-11-18T10:00:00Z".into(),
            last_seen: "2026-11-18T11:00:00Z".into(),
            count: 7,
        };
        let report = Report {
            generated_at: Timestamp::from_micros(0),
            findings: vec![finding],
            rules_run: Vec::new(),
            errors: vec![RuleFailure { rule: "broken".into(), error: "no severity".into() }],
        };
        let text = render_markdown(&report, Some("http://agentrail:7070/api/v1/replay/"));
        assert!(text.contains("1 findings: 0 critical, 1 high, 0 medium, 0 low"), "{text}");
        assert!(text.contains("**rule broken failed**: no severity"), "{text}");
        assert!(text.contains("## [high] shared_credential: credential K is used by more than one agent"), "{text}");
        assert!(text.contains("agent `bot-a`, no human principal; 7 events"), "{text}");
        assert!(text.contains("[corr-1](http://agentrail:7070/api/v1/replay/corr-1)"), "{text}");
        assert!(text.contains("`e4` and 2 more"), "{text}");
    }
}
