//! The history of scheduled runs: one JSON file per run of a rule under
//! `<data dir>/reports/runs/`, named `<UTC time>_<rule>.json` so that names
//! sort by time. Each file is replaced whole and fsynced
//! ([`agentrail_store::durable`]): after a crash a run is all there or not
//! there. Runs older than the retention are pruned after each write.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use agentrail_event::Timestamp;
use agentrail_store::durable::replace_file;
use serde::{Deserialize, Serialize};

use crate::rule::Severity;
use crate::run::{Finding, Report, RuleFailure, RuleRun, Window};

/// Where runs live, under the data directory.
pub const RUNS_DIR: &str = "reports/runs";

/// Why the history could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    #[error("report history I/O on {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("report history file {path} is not a run: {source}")]
    Invalid {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("{0:?} is not a run id (ids are like 20261124T101500000000Z_scope_violation)")]
    BadId(String),
}

/// What every run has, whether it found or failed: the head of a
/// [`RunRecord`] and of its [`RunSummary`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunHead {
    pub id: String,
    pub rule: String,
    pub severity: Severity,
    /// When the run started: the end of its window.
    pub at: Timestamp,
    pub window: Window,
    pub seconds: f64,
    pub events: usize,
    pub error: Option<String>,
}

/// One scheduled run of one rule: what it found, or why it failed.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunRecord {
    #[serde(flatten)]
    pub head: RunHead,
    pub findings: Vec<Finding>,
    /// The keys of the findings the rule's previous run did not have: what
    /// the webhooks were told about.
    pub new_findings: Vec<String>,
}

impl RunRecord {
    /// A record of `outcome`, the result of [`crate::run::run_one`].
    pub fn new(
        rule: &str,
        severity: Severity,
        window: Window,
        at: Timestamp,
        outcome: Result<(RuleRun, Vec<Finding>), RuleFailure>,
    ) -> RunRecord {
        let head = RunHead {
            id: format!("{}_{}", compact_time(at), file_safe(rule)),
            rule: rule.to_owned(),
            severity,
            at,
            window,
            seconds: 0.0,
            events: 0,
            error: None,
        };
        let mut record = RunRecord { head, findings: Vec::new(), new_findings: Vec::new() };
        match outcome {
            Ok((run, findings)) => {
                record.head.seconds = run.seconds;
                record.head.events = run.events;
                record.findings = findings;
            }
            Err(failure) => record.head.error = Some(failure.error),
        }
        record
    }

    /// The findings whose keys are not in `previous` (all of them when
    /// there is no previous run), remembered in `new_findings`.
    pub fn mark_new(&mut self, previous: Option<&RunRecord>) {
        let seen = |key: &str| previous.is_some_and(|p| p.findings.iter().any(|f| f.key == key));
        self.new_findings = self.findings.iter().filter(|f| !seen(&f.key)).map(|f| f.key.clone()).collect();
    }

    /// The findings the previous run did not have.
    pub fn fresh_findings(&self) -> impl Iterator<Item = &Finding> {
        self.findings.iter().filter(|f| self.new_findings.contains(&f.key))
    }

    /// Keeps at most `limit` event ids per finding (the first ones, in time
    /// order; `count` still says how many there were), so that one noisy
    /// rule cannot fill the disk with history.
    pub fn cap_event_ids(&mut self, limit: usize) {
        for finding in &mut self.findings {
            finding.event_ids.truncate(limit);
        }
    }

    /// The run as its one-line summary.
    pub fn summary(&self) -> RunSummary {
        RunSummary { head: self.head.clone(), findings: self.findings.len(), new_findings: self.new_findings.len() }
    }
}

/// A run without its findings, for listings.
#[derive(Debug, Clone, Serialize)]
pub struct RunSummary {
    #[serde(flatten)]
    pub head: RunHead,
    pub findings: usize,
    pub new_findings: usize,
}

/// `2026-11-24T10:15:00.5Z` as `20261124T101500500000Z`: fixed width, so
/// names sort by time.
fn compact_time(at: Timestamp) -> String {
    let text = at.to_string();
    let seconds: String = text.chars().take(19).filter(|c| *c != '-' && *c != ':').collect();
    format!("{seconds}{:06}Z", at.as_micros().rem_euclid(1_000_000))
}

/// A rule name as a file name: letters, digits, `-` and `_` kept, the rest `-`.
fn file_safe(rule: &str) -> String {
    rule.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '-' }).collect()
}

/// The runs on disk.
#[derive(Debug, Clone)]
pub struct History {
    dir: PathBuf,
    keep: Duration,
}

impl History {
    /// The history under `data_dir`, keeping runs for `keep`; creates the directory.
    pub fn open(data_dir: &Path, keep: Duration) -> Result<History, HistoryError> {
        let dir = data_dir.join(RUNS_DIR);
        std::fs::create_dir_all(&dir).map_err(|source| HistoryError::Io { path: dir.clone(), source })?;
        Ok(History { dir, keep })
    }

    /// Writes `record` durably, then prunes runs older than the retention.
    pub fn record(&self, record: &RunRecord) -> Result<(), HistoryError> {
        let path = self.dir.join(format!("{}.json", record.head.id));
        let bytes =
            serde_json::to_vec(record).map_err(|source| HistoryError::Invalid { path: path.clone(), source })?;
        replace_file(&path, &bytes).map_err(|(path, source)| HistoryError::Io { path, source })?;
        let keep = i64::try_from(self.keep.as_micros()).unwrap_or(i64::MAX);
        let oldest = compact_time(Timestamp::from_micros(record.head.at.as_micros().saturating_sub(keep)));
        for id in self.ids()? {
            if id.as_str() < oldest.as_str() {
                let path = self.path(&id);
                if let Err(error) = std::fs::remove_file(&path) {
                    tracing::warn!(path = %path.display(), %error, "cannot prune an old report run");
                }
            }
        }
        Ok(())
    }

    /// Up to `limit` runs, newest first, of `rule` or of every rule.
    pub fn runs(&self, rule: Option<&str>, limit: usize) -> Result<Vec<RunRecord>, HistoryError> {
        let wanted = rule.map(file_safe);
        let mut runs = Vec::new();
        for id in self.ids()?.into_iter().rev() {
            if runs.len() >= limit {
                break;
            }
            if wanted.as_deref().is_none_or(|wanted| rule_of(&id) == wanted) {
                // A file pruned between listing and reading is simply gone.
                if let Some(record) = self.read(&id)? {
                    runs.push(record);
                }
            }
        }
        Ok(runs)
    }

    /// The run `id`, if it is on disk.
    pub fn get(&self, id: &str) -> Result<Option<RunRecord>, HistoryError> {
        let valid = !id.is_empty() && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !valid || !id.contains('_') {
            return Err(HistoryError::BadId(id.to_owned()));
        }
        self.read(id)
    }

    /// Each rule's newest run.
    pub fn latest(&self) -> Result<BTreeMap<String, RunRecord>, HistoryError> {
        let mut seen = std::collections::BTreeSet::new();
        let mut latest = BTreeMap::new();
        for id in self.ids()?.into_iter().rev() {
            if seen.insert(rule_of(&id).to_owned())
                && let Some(record) = self.read(&id)?
            {
                latest.insert(record.head.rule.clone(), record);
            }
        }
        Ok(latest)
    }

    /// The current picture: the newest run of each rule that `runs` says
    /// is still run (a rule since removed no longer reports), as one report.
    pub fn current_report(&self, runs: impl Fn(&str) -> bool) -> Result<Report, HistoryError> {
        let mut latest = self.latest()?;
        latest.retain(|rule, _| runs(rule));
        let generated_at = latest.values().map(|r| r.head.at).max().unwrap_or_else(Timestamp::now);
        let mut report = Report { generated_at, findings: Vec::new(), rules_run: Vec::new(), errors: Vec::new() };
        for RunRecord { head, findings, .. } in latest.into_values() {
            match head.error {
                Some(error) => report.errors.push(RuleFailure { rule: head.rule, error }),
                None => {
                    report.rules_run.push(RuleRun {
                        rule: head.rule,
                        severity: head.severity,
                        window: head.window,
                        findings: findings.len(),
                        events: head.events,
                        seconds: head.seconds,
                    });
                    report.findings.extend(findings);
                }
            }
        }
        report.sort_findings();
        Ok(report)
    }

    fn path(&self, id: &str) -> PathBuf {
        self.dir.join(format!("{id}.json"))
    }

    fn read(&self, id: &str) -> Result<Option<RunRecord>, HistoryError> {
        let path = self.path(id);
        match std::fs::read(&path) {
            Ok(bytes) => {
                serde_json::from_slice(&bytes).map(Some).map_err(|source| HistoryError::Invalid { path, source })
            }
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(HistoryError::Io { path, source }),
        }
    }

    /// Every run id, oldest first.
    fn ids(&self) -> Result<Vec<String>, HistoryError> {
        let entries =
            std::fs::read_dir(&self.dir).map_err(|source| HistoryError::Io { path: self.dir.clone(), source })?;
        let mut ids: Vec<String> = entries
            .filter_map(|entry| entry.ok())
            .filter_map(|entry| entry.file_name().to_str()?.strip_suffix(".json").map(str::to_owned))
            .filter(|id| !id.starts_with('.') && id.contains('_'))
            .collect();
        ids.sort();
        Ok(ids)
    }
}

/// The (file-safe) rule name in a run id.
fn rule_of(id: &str) -> &str {
    id.split_once('_').map_or("", |(_, rule)| rule)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finding(key: &str) -> Finding {
        Finding {
            rule: "r".into(),
            severity: Severity::High,
            title: format!("title {key}"),
            key: key.into(),
            event_ids: vec!["e1".into(), "e2".into(), "e3".into()],
            agent_id: Some("agent".into()),
            on_behalf_of: None,
            correlation_id: Some("corr".into()),
            first_seen: "2026-11-24T10:00:00Z".into(),
            last_seen: "2026-11-24T10:01:00Z".into(),
            count: 3,
        }
    }

    fn record(rule: &str, at: &str, keys: &[&str]) -> RunRecord {
        let at = Timestamp::parse(at).expect("time");
        let window = Window::ending(at, Duration::from_secs(3600));
        let run = RuleRun {
            rule: rule.into(),
            severity: Severity::High,
            window,
            findings: keys.len(),
            events: 3,
            seconds: 0.1,
        };
        RunRecord::new(rule, Severity::High, window, at, Ok((run, keys.iter().map(|k| finding(k)).collect())))
    }

    #[test]
    fn runs_are_kept_in_time_order_and_pruned_after_the_retention() {
        let dir = tempfile::tempdir().expect("temp dir");
        let history = History::open(dir.path(), Duration::from_secs(2 * 86_400)).expect("opens");
        let old = record("scope_violation", "2026-11-20T09:00:00Z", &["a"]);
        let earlier = record("scope_violation", "2026-11-24T09:00:00.5Z", &["a"]);
        let later = record("scope_violation", "2026-11-24T09:15:00Z", &["a", "b"]);
        let other = record("rate_spike", "2026-11-24T09:10:00Z", &[]);
        for run in [&old, &earlier, &later, &other] {
            history.record(run).expect("written");
        }
        assert_eq!(earlier.head.id, "20261124T090000500000Z_scope_violation");
        let ids = |runs: Vec<RunRecord>| runs.into_iter().map(|r| r.head.id).collect::<Vec<_>>();
        assert_eq!(
            ids(history.runs(None, 10).expect("runs")),
            [later.head.id.clone(), other.head.id.clone(), earlier.head.id.clone()]
        );
        assert_eq!(ids(history.runs(Some("scope_violation"), 1).expect("runs")), std::slice::from_ref(&later.head.id));
        assert!(history.get(&old.head.id).expect("get").is_none(), "older than two days: pruned");

        let latest = history.latest().expect("latest");
        assert_eq!(latest.keys().collect::<Vec<_>>(), ["rate_spike", "scope_violation"]);
        let report = history.current_report(|_| true).expect("report");
        assert_eq!((report.findings.len(), report.rules_run.len()), (2, 2));
        let report = history.current_report(|rule| rule == "rate_spike").expect("report");
        assert_eq!((report.findings.len(), report.rules_run.len()), (0, 1), "a rule no longer run does not report");

        for bad in ["../manifest", "", "x/y_z", "nounderscore"] {
            assert!(matches!(history.get(bad), Err(HistoryError::BadId(_))), "{bad:?}");
        }
    }

    #[test]
    fn new_findings_are_those_the_previous_run_did_not_have() {
        let first = record("r", "2026-11-24T09:00:00Z", &["a"]);
        let mut second = record("r", "2026-11-24T09:15:00Z", &["a", "b"]);
        second.mark_new(Some(&first));
        assert_eq!(second.new_findings, ["b"]);
        assert_eq!(second.fresh_findings().map(|f| f.key.as_str()).collect::<Vec<_>>(), ["b"]);
        let mut fresh = record("r", "2026-11-24T09:00:00Z", &["a"]);
        fresh.mark_new(None);
        assert_eq!(fresh.new_findings, ["a"]);
        fresh.cap_event_ids(1);
        assert_eq!((fresh.findings[0].event_ids.len(), fresh.findings[0].count), (1, 3));
    }
}
