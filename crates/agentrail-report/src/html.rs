//! The report as one self-contained HTML page: a summary by severity, a
//! chart of findings per rule, a chart of each agent's activity over the
//! window with its findings marked, and every finding with a link to its
//! replay. No script, no external resource: it opens from a file, a mail
//! attachment or a ticket the same way.

use std::collections::BTreeMap;
use std::fmt::Write;

use crate::rule::Severity;
use crate::run::{Finding, Report};

/// Agents drawn in the activity chart, the busiest first.
const AGENTS_CHARTED: usize = 12;
/// Events listed per finding before the rest are folded away.
const EVENTS_SHOWN: usize = 20;

/// How many events one agent had in one hour (µs since the epoch, at the hour).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Activity {
    pub agent_id: String,
    pub hour_us: i64,
    pub events: u64,
}

/// Escapes text for HTML content and attribute values.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn colour(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical => "#7b1fa2",
        Severity::High => "#c62828",
        Severity::Medium => "#ef6c00",
        Severity::Low => "#546e7a",
    }
}

const STYLE: &str = "body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;color:#1d2329;background:#f6f7f9}\
main{max-width:1100px;margin:0 auto;padding:24px}h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 10px}\
.muted{color:#5f6b76}.cards{display:flex;gap:12px;margin:16px 0}.card{flex:1;background:#fff;border-radius:8px;padding:12px 16px;border-top:4px solid}\
.card b{display:block;font-size:26px}.panel{background:#fff;border-radius:8px;padding:16px;margin:12px 0}\
.finding{background:#fff;border-radius:8px;padding:12px 16px;margin:10px 0;border-left:5px solid}\
.badge{display:inline-block;color:#fff;border-radius:4px;padding:1px 8px;font-size:12px;text-transform:uppercase;margin-right:8px}\
code{font:12px ui-monospace,Menlo,Consolas,monospace;background:#eef1f4;padding:1px 4px;border-radius:3px}\
.error{background:#fdecea;border-radius:8px;padding:10px 16px;margin:8px 0}svg text{font:11px system-ui,sans-serif;fill:#1d2329}";

/// Renders `report` with the agents' `activity` (may be empty); `replay_url`
/// (e.g. `http://agentrail:7070/api/v1/replay/`) makes correlation ids links.
pub fn render_html(report: &Report, activity: &[Activity], replay_url: Option<&str>) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>agentrail anomaly report {}</title><style>{STYLE}</style></head><body><main>",
        escape(&report.generated_at.to_string())
    );
    let _ = write!(
        out,
        "<h1>agentrail anomaly report</h1><div class=\"muted\">generated {} · {} rules ran · {} findings</div>",
        escape(&report.generated_at.to_string()),
        report.rules_run.len(),
        report.findings.len()
    );
    summary(&mut out, report);
    for error in &report.errors {
        let _ = write!(
            out,
            "<div class=\"error\" id=\"rule-error-{0}\"><b>rule {0} failed:</b> {1}</div>",
            escape(&error.rule),
            escape(&error.error)
        );
    }
    findings_per_rule(&mut out, report);
    activity_chart(&mut out, report, activity);
    out.push_str("<h2>Findings</h2>");
    if report.findings.is_empty() {
        out.push_str("<div class=\"panel\">Nothing to look at in these windows.</div>");
    }
    for (i, finding) in report.findings.iter().enumerate() {
        finding_card(&mut out, i, finding, replay_url);
    }
    out.push_str("</main></body></html>\n");
    out
}

fn summary(out: &mut String, report: &Report) {
    out.push_str("<div class=\"cards\">");
    for severity in Severity::ALL {
        let _ = write!(
            out,
            "<div class=\"card\" style=\"border-color:{}\" id=\"count-{severity}\"><b>{}</b>{severity}</div>",
            colour(severity),
            report.count(severity)
        );
    }
    out.push_str("</div>");
}

/// Horizontal bars: findings per rule, coloured by the rule's severity.
fn findings_per_rule(out: &mut String, report: &Report) {
    let mut per_rule: BTreeMap<&str, (Severity, usize)> = BTreeMap::new();
    for run in &report.rules_run {
        per_rule.insert(&run.rule, (run.severity, run.findings));
    }
    if per_rule.is_empty() {
        return;
    }
    let widest = per_rule.values().map(|(_, n)| *n).max().unwrap_or(0).max(1);
    let (label, bar, row) = (230.0, 560.0, 22.0);
    let height = row * per_rule.len() as f64 + 8.0;
    let _ = write!(
        out,
        "<h2>Findings per rule</h2><div class=\"panel\"><svg id=\"chart-rules\" role=\"img\" \
         aria-label=\"findings per rule\" width=\"100%\" viewBox=\"0 0 {} {height}\">",
        label + bar + 60.0
    );
    for (i, (rule, (severity, count))) in per_rule.iter().enumerate() {
        let y = i as f64 * row + 4.0;
        let width = bar * *count as f64 / widest as f64;
        let _ = write!(
            out,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>\
             <rect x=\"{label}\" y=\"{y}\" width=\"{width:.1}\" height=\"{}\" fill=\"{}\" rx=\"2\"/>\
             <text x=\"{:.1}\" y=\"{}\">{count}</text>",
            label - 8.0,
            y + 14.0,
            escape(rule),
            row - 6.0,
            colour(*severity),
            label + width + 6.0,
            y + 14.0
        );
    }
    out.push_str("</svg></div>");
}

/// One row per agent (the busiest), one cell per hour shaded by its events;
/// a dot marks each hour in which a finding about the agent began.
fn activity_chart(out: &mut String, report: &Report, activity: &[Activity]) {
    if activity.is_empty() {
        return;
    }
    let mut totals: BTreeMap<&str, u64> = BTreeMap::new();
    for cell in activity {
        *totals.entry(&cell.agent_id).or_default() += cell.events;
    }
    let mut agents: Vec<(&str, u64)> = totals.into_iter().collect();
    agents.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
    agents.truncate(AGENTS_CHARTED);
    let first = activity.iter().map(|c| c.hour_us).min().unwrap_or(0);
    let last = activity.iter().map(|c| c.hour_us).max().unwrap_or(0);
    const HOUR: i64 = 3_600_000_000;
    let hours = ((last - first) / HOUR + 1).clamp(1, 24 * 31) as usize;
    let busiest = activity.iter().map(|c| c.events).max().unwrap_or(1).max(1) as f64;
    let (label, width, row) = (200.0, 840.0, 20.0);
    let cell = width / hours as f64;
    let height = row * agents.len() as f64 + 24.0;
    let _ = write!(
        out,
        "<h2>Activity per agent</h2><div class=\"panel\"><div class=\"muted\">events per hour, darker is busier; \
         a dot marks an hour in which a finding about the agent begins, in its severity's colour</div>\
         <svg id=\"chart-activity\" role=\"img\" aria-label=\"activity per agent\" width=\"100%\" viewBox=\"0 0 {} {height}\">",
        label + width + 10.0
    );
    for (i, (agent, _)) in agents.iter().enumerate() {
        let y = i as f64 * row;
        let _ =
            write!(out, "<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>", label - 8.0, y + 14.0, escape(agent));
        for c in activity.iter().filter(|c| c.agent_id == *agent) {
            let x = label + ((c.hour_us - first) / HOUR) as f64 * cell;
            let shade = 0.12 + 0.88 * (c.events as f64 / busiest).sqrt();
            let _ = write!(
                out,
                "<rect x=\"{x:.1}\" y=\"{y}\" width=\"{:.1}\" height=\"{}\" fill=\"#1565c0\" fill-opacity=\"{shade:.2}\">\
                 <title>{} events</title></rect>",
                (cell - 1.0).max(0.5),
                row - 4.0,
                c.events
            );
        }
        for finding in report.findings.iter().filter(|f| f.agent_id.as_deref() == Some(*agent)) {
            let Ok(start) = agentrail_event::Timestamp::parse(&finding.first_seen) else { continue };
            let hour = start.as_micros().div_euclid(HOUR) * HOUR;
            let x = label + ((hour - first) / HOUR) as f64 * cell + cell / 2.0;
            let _ = write!(
                out,
                "<circle cx=\"{x:.1}\" cy=\"{}\" r=\"4\" fill=\"{}\"><title>{}</title></circle>",
                y + row / 2.0 - 2.0,
                colour(finding.severity),
                escape(&finding.title)
            );
        }
    }
    out.push_str("</svg></div>");
}

fn finding_card(out: &mut String, index: usize, finding: &Finding, replay_url: Option<&str>) {
    let who = finding.who(|name| format!("<code>{}</code>", escape(name)));
    let _ = write!(
        out,
        "<div class=\"finding\" id=\"finding-{index}\" style=\"border-color:{0}\"><span class=\"badge\" style=\"background:{0}\">{1}</span>\
         <b>{2}</b> <span class=\"muted\">{3}</span><div>{who} · {4} {5} from {6} to {7}</div>",
        colour(finding.severity),
        finding.severity,
        escape(&finding.title),
        escape(&finding.rule),
        finding.count,
        if finding.count == 1 { "event" } else { "events" },
        escape(&finding.first_seen),
        escape(&finding.last_seen)
    );
    if let Some(correlation) = &finding.correlation_id {
        match replay_url.and_then(|url| finding.replay_link(url)) {
            Some(link) => {
                let _ = write!(
                    out,
                    "<div>replay: <a class=\"replay\" href=\"{}\">{}</a></div>",
                    escape(&link),
                    escape(correlation)
                );
            }
            None => {
                let _ = write!(out, "<div>replay: <code>agentrail replay {}</code></div>", escape(correlation));
            }
        }
    }
    let ids: Vec<String> =
        finding.event_ids.iter().take(EVENTS_SHOWN).map(|id| format!("<code>{}</code>", escape(id))).collect();
    let more = finding.count.saturating_sub(EVENTS_SHOWN);
    let _ = write!(out, "<details><summary>events</summary>{}", ids.join(" "));
    if more > 0 {
        let _ = write!(out, " and {more} more (<code>agentrail report --format json</code> lists them all)");
    }
    out.push_str("</details></div>");
}

#[cfg(test)]
mod tests {
    use agentrail_event::Timestamp;

    use super::*;
    use crate::run::RuleFailure;

    #[test]
    fn the_page_escapes_what_it_shows_and_links_replays() {
        let finding = Finding {
            rule: "scope_violation".into(),
            severity: Severity::High,
            title: "<script>alert(1)</script> was denied".into(),
            key: "k".into(),
            event_ids: vec!["e\"1".into()],
            agent_id: Some("bot<a>".into()),
            on_behalf_of: Some("alice@example.com".into()),
            correlation_id: Some("corr-1".into()),
            first_seen: "2026-11-18T10:00:00Z".into(),
            last_seen: "2026-11-18T10:00:00Z".into(),
            count: 1,
        };
        let report = Report {
            generated_at: Timestamp::from_micros(0),
            findings: vec![finding],
            rules_run: Vec::new(),
            errors: vec![RuleFailure { rule: "r&d".into(), error: "x < y".into() }],
        };
        let activity = [Activity { agent_id: "bot<a>".into(), hour_us: 0, events: 3 }];
        let page = render_html(&report, &activity, Some("http://agentrail:7070/api/v1/replay/"));
        assert!(!page.contains("<script>"), "escaped");
        assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(page.contains("href=\"http://agentrail:7070/api/v1/replay/corr-1\""));
        assert!(page.contains("rule r&amp;d failed:</b> x &lt; y"));
        assert!(page.contains("id=\"chart-activity\"") && page.contains("bot&lt;a&gt;"));
        assert!(page.contains("e&quot;1"));
    }
}
