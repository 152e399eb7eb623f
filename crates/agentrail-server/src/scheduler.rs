//! The report scheduler of `serve`: each anomaly rule runs on its own
//! schedule over its look-back window; each run is kept in the history
//! under the data directory; findings new since the rule's previous run go
//! to the configured webhooks.
//!
//! It runs on a thread of its own with its own query engine (and so its
//! own memory pool and query threads): ingestion never waits for a rule, and
//! a slow receiver only delays its own webhook queue. After a restart each
//! rule picks up its schedule from its newest run in the history, and a
//! finding already reported is not sent again. When the rules change while
//! it runs ([`RuleBook`]), a new or changed rule is scheduled as at start
//! (due now if it never ran), a removed one is dropped, and the others keep
//! their schedules.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use agentrail_event::Timestamp;
use agentrail_query::{QueryEngine, QueryLimits};
use agentrail_report::history::{History, HistoryError, RunRecord};
use agentrail_report::notify::payload;
use agentrail_report::{Finding, Report, Rule, RuleFailure, Window, run_one};
use serde::Deserialize;
use tokio::sync::watch;

use crate::metrics::Metrics;
use crate::rule_book::{RuleBook, RuleSet};
use crate::webhook::{Delivery, Webhook, WebhookConfig, WebhookError};

/// `[reports]` in the configuration file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportsConfig {
    /// Run the rules on their schedules (on by default).
    #[serde(default = "default_enabled")]
    pub enabled: bool,
    /// Extra or replacement rules (*.sql) besides the built-in ones; where
    /// `PUT /api/v1/admin/rules/{name}` saves rules (none can be changed
    /// through the API without it).
    #[serde(default)]
    pub rules_dir: Option<PathBuf>,
    /// Days of runs kept under `<data dir>/reports/runs`.
    #[serde(default = "default_history_days")]
    pub history_days: u64,
    /// Where replays are answered, e.g. `https://agentrail.example/api/v1/replay/`,
    /// for the links in webhooks and in the HTML report.
    #[serde(default)]
    pub replay_url: Option<String>,
    /// Seconds after start before rules that are due run (the server first
    /// opens its index; a restart loop does not rerun every rule).
    #[serde(default = "default_first_run_delay")]
    pub first_run_delay_seconds: u64,
    /// A rule run longer than this is stopped and reported as failed.
    #[serde(default = "default_rule_timeout")]
    pub rule_timeout_seconds: u64,
    /// Event ids kept per finding in the history (the count is always whole).
    #[serde(default = "default_max_event_ids")]
    pub max_event_ids: usize,
    #[serde(default)]
    pub webhooks: Vec<WebhookConfig>,
}

fn default_enabled() -> bool {
    true
}
fn default_history_days() -> u64 {
    30
}
fn default_first_run_delay() -> u64 {
    60
}
fn default_rule_timeout() -> u64 {
    300
}
fn default_max_event_ids() -> usize {
    1000
}

impl Default for ReportsConfig {
    fn default() -> Self {
        ReportsConfig {
            enabled: default_enabled(),
            rules_dir: None,
            history_days: default_history_days(),
            replay_url: None,
            first_run_delay_seconds: default_first_run_delay(),
            rule_timeout_seconds: default_rule_timeout(),
            max_event_ids: default_max_event_ids(),
            webhooks: Vec::new(),
        }
    }
}

impl ReportsConfig {
    /// The limits of the rules' queries: a rule may run `rule_timeout_seconds`.
    pub fn query_limits(&self) -> QueryLimits {
        QueryLimits { timeout: Duration::from_secs(self.rule_timeout_seconds), ..QueryLimits::default() }
    }
}

/// Why the scheduler could not start.
#[derive(Debug, thiserror::Error)]
pub enum SchedulerError {
    #[error(transparent)]
    History(#[from] HistoryError),
    #[error(transparent)]
    Webhook(#[from] WebhookError),
    #[error("cannot start the report scheduler: {0}")]
    Start(String),
}

/// What the read API shows of the reports, and changes of their rules:
/// the history, and the rules the scheduler runs.
#[derive(Debug, Clone)]
pub struct ReportsView {
    pub history: History,
    pub rules: RuleBook,
    pub replay_url: Option<String>,
}

impl ReportsView {
    /// Each rule's newest run as one report, with the unusable rule files
    /// among its errors.
    pub fn current(&self) -> Result<Report, HistoryError> {
        let set = self.rules.current();
        let mut report = self.history.current_report(|rule| set.rules.get(rule).is_some())?;
        report.errors.splice(0..0, set.unusable.iter().cloned());
        Ok(report)
    }
}

/// The running scheduler: its thread, joined on shutdown.
#[derive(Debug)]
pub struct Scheduler {
    thread: std::thread::JoinHandle<()>,
}

impl Scheduler {
    /// Starts the scheduler on its own thread; it stops when `stopping` turns true.
    pub fn start(
        config: ReportsConfig,
        rules: RuleBook,
        data_dir: &std::path::Path,
        engine: QueryEngine,
        metrics: Metrics,
        stopping: watch::Receiver<bool>,
    ) -> Result<(Scheduler, ReportsView), SchedulerError> {
        let history = History::open(data_dir, Duration::from_secs(config.history_days.saturating_mul(86_400)))?;
        let view =
            ReportsView { history: history.clone(), rules: rules.clone(), replay_url: config.replay_url.clone() };
        // Every check that can fail comes first, and no runtime is built
        // here: this runs inside the server's runtime, where one cannot be dropped.
        let (webhooks, deliveries): (Vec<Webhook>, Vec<Delivery>) = config
            .webhooks
            .iter()
            .map(|webhook| Webhook::new(webhook.clone(), Arc::clone(&metrics)))
            .collect::<Result<Vec<_>, _>>()?
            .into_iter()
            .unzip();
        let state = State { config, rules, engine, history, webhooks, metrics };
        let thread = std::thread::Builder::new()
            .name("agentrail-reports".to_owned())
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                    Ok(runtime) => runtime,
                    Err(error) => {
                        tracing::error!(%error, "cannot start the report scheduler's runtime; no reports will run");
                        return;
                    }
                };
                runtime.block_on(async move {
                    // Webhook deliveries live on the scheduler's runtime.
                    for delivery in deliveries {
                        tokio::spawn(delivery.run(stopping.clone()));
                    }
                    state.run(stopping).await;
                });
            })
            .map_err(|e| SchedulerError::Start(e.to_string()))?;
        Ok((Scheduler { thread }, view))
    }

    /// Waits for the thread to end (after `stopping` turned true).
    pub fn join(self) {
        if self.thread.join().is_err() {
            tracing::error!("the report scheduler panicked");
        }
    }
}

/// When each rule runs next, and its previous successful run (what "new"
/// findings are measured against).
#[derive(Default)]
struct Plan {
    due: BTreeMap<String, Instant>,
    previous: BTreeMap<String, RunRecord>,
}

struct State {
    config: ReportsConfig,
    rules: RuleBook,
    engine: QueryEngine,
    history: History,
    webhooks: Vec<Webhook>,
    metrics: Metrics,
}

impl State {
    async fn run(self, mut stopping: watch::Receiver<bool>) {
        let mut plan = Plan::default();
        let mut changes = self.rules.subscribe();
        let mut rules = changes.borrow_and_update().clone();
        let first_run = Instant::now() + Duration::from_secs(self.config.first_run_delay_seconds);
        self.reschedule(&mut plan, &RuleSet::default(), &rules, first_run);
        tracing::info!(rules = rules.rules.len(), webhooks = self.webhooks.len(), "report scheduler started");
        loop {
            let next = plan.due.iter().min_by_key(|(_, at)| **at).map(|(name, at)| (name.clone(), *at));
            // With no rule at all, wait for one to be added.
            let sleep = async {
                match next.as_ref() {
                    Some((_, at)) => tokio::time::sleep_until((*at).into()).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = sleep => {},
                Ok(()) = changes.changed() => {
                    let changed = changes.borrow_and_update().clone();
                    self.reschedule(&mut plan, &rules, &changed, first_run.max(Instant::now()));
                    tracing::info!(rules = changed.rules.len(), "report scheduler took the changed rules");
                    rules = changed;
                    continue;
                }
                _ = stopping.wait_for(|stop| *stop) => break,
            }
            let Some((name, at)) = next else { continue };
            let Some(rule) = rules.rules.get(&name).cloned() else {
                plan.due.remove(&name);
                continue;
            };
            let record = tokio::select! {
                record = self.run_rule(&rule, plan.previous.get(&name)) => record,
                _ = stopping.wait_for(|stop| *stop) => break,
            };
            if record.head.error.is_none() {
                plan.previous.insert(name.clone(), record);
            }
            // Missed runs are not made up: the next one covers their window.
            plan.due.insert(name, (at + rule.schedule).max(Instant::now()));
        }
        tracing::info!("report scheduler stopped");
    }

    /// Schedules the rules of `new` that are not in `old` as they are
    /// (new, or changed) from their last successful run, not before
    /// `earliest`; drops the rules `new` no longer has; leaves the rest.
    fn reschedule(&self, plan: &mut Plan, old: &RuleSet, new: &RuleSet, earliest: Instant) {
        plan.due.retain(|name, _| new.rules.get(name).is_some());
        plan.previous.retain(|name, _| new.rules.get(name).is_some());
        for rule in new.rules.iter() {
            if plan.due.contains_key(rule.name()) && old.rules.get(rule.name()) == Some(rule) {
                continue;
            }
            let last = match self.last_success(rule.name()) {
                Ok(last) => last,
                Err(error) => {
                    tracing::warn!(rule = rule.name(), %error, "cannot read the rule's last run; treating it as never run");
                    None
                }
            };
            let next = last.as_ref().map_or(earliest, |last| {
                let since = Timestamp::now().as_micros().saturating_sub(last.head.at.as_micros());
                let since = Duration::from_micros(u64::try_from(since).unwrap_or(0));
                (Instant::now() + rule.schedule.saturating_sub(since)).max(earliest)
            });
            plan.due.insert(rule.name().to_owned(), next);
            match last {
                Some(last) => plan.previous.insert(rule.name().to_owned(), last),
                None => plan.previous.remove(rule.name()),
            };
        }
    }

    fn last_success(&self, rule: &str) -> Result<Option<RunRecord>, HistoryError> {
        // A few failures in a row are looked past; more, and everything is new again.
        Ok(self.history.runs(Some(rule), 16)?.into_iter().find(|run| run.head.error.is_none()))
    }

    /// Runs `rule` once, keeps the run and sends its new findings.
    async fn run_rule(&self, rule: &Rule, previous: Option<&RunRecord>) -> RunRecord {
        let started = Instant::now();
        let now = Timestamp::now();
        let window = Window::ending(now, rule.lookback);
        let outcome = match self.engine.refresh() {
            Ok(_) => run_one(&self.engine, rule, window).await,
            Err(error) => Err(RuleFailure { rule: rule.name().to_owned(), error: error.to_string() }),
        };
        let mut record = RunRecord::new(rule.name(), rule.severity, window, now, outcome);
        record.mark_new(previous);
        record.cap_event_ids(self.config.max_event_ids);
        self.metrics.report_runs.add(1);
        self.metrics.report_seconds.observe(started.elapsed().as_secs_f64());
        match &record.head.error {
            Some(error) => {
                self.metrics.report_failures.add(1);
                tracing::warn!(rule = rule.name(), %error, "scheduled rule failed");
            }
            None => {
                self.metrics.report_new_findings.add(record.new_findings.len() as u64);
                tracing::info!(
                    rule = rule.name(),
                    findings = record.findings.len(),
                    new = record.new_findings.len(),
                    seconds = record.head.seconds,
                    "scheduled rule ran"
                );
            }
        }
        let history = self.history.clone();
        let kept = record.clone();
        match tokio::task::spawn_blocking(move || history.record(&kept)).await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => tracing::error!(rule = rule.name(), %error, "cannot keep the run in the history"),
            Err(error) => tracing::error!(rule = rule.name(), %error, "keeping the run in the history failed"),
        }
        self.notify(&record);
        record
    }

    /// Queues the run's new findings on each webhook that wants them.
    fn notify(&self, record: &RunRecord) {
        let fresh: Vec<&Finding> = record.fresh_findings().collect();
        if fresh.is_empty() {
            return;
        }
        for webhook in &self.webhooks {
            let config = webhook.config();
            if record.head.severity >= config.min_severity {
                webhook.send(payload(config.format, record, &fresh, self.config.replay_url.as_deref()));
            }
        }
    }
}
