//! Running rules over a window and grouping their rows into findings.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use agentrail_event::Timestamp;
use agentrail_query::QueryEngine;
use arrow_schema::SchemaRef;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::html::Activity;
use crate::rule::{BASELINE_PARAM, Rule, Rules, Severity};

/// The columns a rule's query must return.
const REQUIRED_COLUMNS: [&str; 3] = ["event_id", "time", "finding"];

/// The time span one run of a rule covers: `[from, to)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Window {
    pub from: Timestamp,
    pub to: Timestamp,
}

impl Window {
    /// The `length` before `to`.
    pub fn ending(to: Timestamp, length: Duration) -> Window {
        let micros = i64::try_from(length.as_micros()).unwrap_or(i64::MAX);
        Window { from: Timestamp::from_micros(to.as_micros().saturating_sub(micros)), to }
    }
}

/// What deserves a look: the events one rule found, grouped by its `finding` column.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Finding {
    pub rule: String,
    pub severity: Severity,
    pub title: String,
    /// The rule's `finding` value: what makes this finding the same one
    /// from run to run (a credential, an agent's hour).
    pub key: String,
    /// In time order.
    pub event_ids: Vec<String>,
    pub agent_id: Option<String>,
    pub on_behalf_of: Option<String>,
    pub correlation_id: Option<String>,
    pub first_seen: String,
    pub last_seen: String,
    pub count: usize,
}

/// One rule's run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RuleRun {
    pub rule: String,
    pub severity: Severity,
    pub window: Window,
    pub findings: usize,
    pub events: usize,
    pub seconds: f64,
}

/// A rule that could not run, or whose file could not be used.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RuleFailure {
    pub rule: String,
    pub error: String,
}

/// Every rule's findings, most severe first.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    pub generated_at: Timestamp,
    pub findings: Vec<Finding>,
    pub rules_run: Vec<RuleRun>,
    pub errors: Vec<RuleFailure>,
}

impl Report {
    /// The number of findings of `severity`.
    pub fn count(&self, severity: Severity) -> usize {
        self.findings.iter().filter(|f| f.severity == severity).count()
    }
}

/// Runs every rule on `engine`, each over the window ending at `now` that
/// its look-back gives (or `since`, for all of them). A rule that fails is
/// reported in `errors`; the others still run.
pub async fn run_rules(engine: &QueryEngine, rules: &Rules, now: Timestamp, since: Option<Duration>) -> Report {
    let mut report = Report { generated_at: now, findings: Vec::new(), rules_run: Vec::new(), errors: Vec::new() };
    for rule in rules.iter() {
        match run_one(engine, rule, Window::ending(now, since.unwrap_or(rule.lookback))).await {
            Ok((run, findings)) => {
                report.rules_run.push(run);
                report.findings.extend(findings);
            }
            Err(failure) => report.errors.push(failure),
        }
    }
    report.sort_findings();
    report
}

/// Runs one rule over `window`.
pub async fn run_one(
    engine: &QueryEngine,
    rule: &Rule,
    window: Window,
) -> Result<(RuleRun, Vec<Finding>), RuleFailure> {
    let started = Instant::now();
    match run_rule(engine, rule, window).await {
        Ok((findings, events)) => {
            let run = RuleRun {
                rule: rule.name().to_owned(),
                severity: rule.severity,
                window,
                findings: findings.len(),
                events,
                seconds: started.elapsed().as_secs_f64(),
            };
            Ok((run, findings))
        }
        Err(error) => Err(RuleFailure { rule: rule.name().to_owned(), error }),
    }
}

impl Finding {
    /// Who acted, each name wrapped by `code`: "agent X on behalf of Y",
    /// "agent X, no human principal", "on behalf of Y" or "no agent named".
    pub fn who(&self, code: impl Fn(&str) -> String) -> String {
        match (&self.agent_id, &self.on_behalf_of) {
            (Some(agent), Some(user)) => format!("agent {} on behalf of {}", code(agent), code(user)),
            (Some(agent), None) => format!("agent {}, no human principal", code(agent)),
            (None, Some(user)) => format!("on behalf of {}", code(user)),
            (None, None) => "no agent named".to_owned(),
        }
    }

    /// The link to this finding's replay under `replay_url` (which ends in
    /// `/replay/`), the correlation id percent-encoded as a path segment.
    pub fn replay_link(&self, replay_url: &str) -> Option<String> {
        let correlation = self.correlation_id.as_deref()?;
        let mut link = String::with_capacity(replay_url.len() + correlation.len());
        link.push_str(replay_url);
        for byte in correlation.bytes() {
            if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
                link.push(char::from(byte));
            } else {
                link.push_str(&format!("%{byte:02X}"));
            }
        }
        Some(link)
    }
}

impl Report {
    /// Most severe first, then by rule, then the most recent first.
    pub fn sort_findings(&mut self) {
        self.findings.sort_by(|a, b| {
            b.severity.cmp(&a.severity).then_with(|| a.rule.cmp(&b.rule)).then_with(|| b.last_seen.cmp(&a.last_seen))
        });
    }
}

/// One rule's findings and the number of events in them.
async fn run_rule(engine: &QueryEngine, rule: &Rule, window: Window) -> Result<(Vec<Finding>, usize), String> {
    let answer = engine.query_with_params(&rule.query.sql, bound(rule, window)?).await.map_err(|e| e.to_string())?;
    required_columns(&answer.schema)?;
    let rows = answer.json_rows().map_err(|e| e.to_string())?;
    let events = rows.len();
    Ok((group(rule, rows), events))
}

/// Checks that `rule` would run on `engine` (its SQL plans over the
/// store's tables and returns the columns a rule must), without running it:
/// what is asked of a rule before it is saved.
pub async fn check_rule(engine: &QueryEngine, rule: &Rule, now: Timestamp) -> Result<(), RuleFailure> {
    let checked = async {
        let window = Window::ending(now, rule.lookback);
        let schema = engine.plan_with_params(&rule.query.sql, bound(rule, window)?).await.map_err(|e| e.to_string())?;
        required_columns(&schema)
    };
    checked.await.map_err(|error| RuleFailure { rule: rule.name().to_owned(), error })
}

/// The rule's parameters for a run over `window`: the window, the
/// baseline's start, and the defaults of the others.
fn bound(rule: &Rule, window: Window) -> Result<Vec<(String, String)>, String> {
    let mut given = vec![("from".to_owned(), window.from.to_string()), ("to".to_owned(), window.to.to_string())];
    if let Some(baseline) = rule.baseline {
        let start = Window::ending(window.from, baseline).from;
        given.push((BASELINE_PARAM.to_owned(), start.to_string()));
    }
    rule.query.bind(&given).map_err(|e| e.to_string())
}

fn required_columns(schema: &SchemaRef) -> Result<(), String> {
    let columns: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    match REQUIRED_COLUMNS.iter().find(|c| !columns.contains(c)) {
        Some(missing) => Err(format!(
            "its query returns no `{missing}` column (a rule returns event_id, time and finding, \
             and may return title, agent_id, on_behalf_of, correlation_id)"
        )),
        None => Ok(()),
    }
}

fn text(row: &Map<String, Value>, column: &str) -> Option<String> {
    match row.get(column)? {
        Value::Null => None,
        Value::String(s) if s.is_empty() => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

/// Rows grouped by `finding`, each group's events in time order.
fn group(rule: &Rule, rows: Vec<Map<String, Value>>) -> Vec<Finding> {
    let mut groups: BTreeMap<String, Vec<Map<String, Value>>> = BTreeMap::new();
    for row in rows {
        let key = text(&row, "finding").unwrap_or_else(|| "(no finding key)".to_owned());
        groups.entry(key).or_default().push(row);
    }
    groups
        .into_iter()
        .map(|(key, mut rows)| {
            rows.sort_by_cached_key(|row| (text(row, "time"), text(row, "event_id")));
            let first = |column: &str| rows.iter().find_map(|row| text(row, column));
            let mut event_ids: Vec<String> = rows.iter().filter_map(|row| text(row, "event_id")).collect();
            event_ids.dedup();
            Finding {
                rule: rule.name().to_owned(),
                severity: rule.severity,
                title: first("title").unwrap_or_else(|| key.clone()),
                key,
                count: event_ids.len(),
                agent_id: first("agent_id"),
                on_behalf_of: first("on_behalf_of"),
                correlation_id: first("correlation_id"),
                first_seen: rows.first().and_then(|row| text(row, "time")).unwrap_or_default(),
                last_seen: rows.last().and_then(|row| text(row, "time")).unwrap_or_default(),
                event_ids,
            }
        })
        .collect()
}

/// The report as one HTML page with its activity chart. The chart is a
/// nicety: when its query fails the page still lists every finding.
pub async fn html_page(engine: &QueryEngine, report: &Report, replay_url: Option<&str>) -> String {
    let activity = activity(engine, report).await.unwrap_or_else(|error| {
        tracing::warn!(%error, "no activity chart in the report page");
        Vec::new()
    });
    crate::html::render_html(report, &activity, replay_url)
}

/// Events per agent and hour over the span of the report's windows, for the
/// HTML page's chart.
pub async fn activity(engine: &QueryEngine, report: &Report) -> Result<Vec<Activity>, String> {
    let (Some(from), Some(to)) = (
        report.rules_run.iter().map(|run| run.window.from).min(),
        report.rules_run.iter().map(|run| run.window.to).max(),
    ) else {
        return Ok(Vec::new());
    };
    let sql = "SELECT agent_id, CAST(date_trunc('hour', time) AS BIGINT) AS hour_us, count(*) AS events \
               FROM events WHERE actor_type = 'agent' AND agent_id IS NOT NULL \
               AND time >= to_timestamp_micros($from) AND time < to_timestamp_micros($to) GROUP BY 1, 2";
    let params = vec![("from".to_owned(), from.to_string()), ("to".to_owned(), to.to_string())];
    let answer = engine.query_with_params(sql, params).await.map_err(|e| e.to_string())?;
    let rows = answer.json_rows().map_err(|e| e.to_string())?;
    Ok(rows
        .iter()
        .filter_map(|row| {
            Some(Activity {
                agent_id: row.get("agent_id")?.as_str()?.to_owned(),
                hour_us: row.get("hour_us")?.as_i64()?,
                events: row.get("events")?.as_u64()?,
            })
        })
        .collect())
}
