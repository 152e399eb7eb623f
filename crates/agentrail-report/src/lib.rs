//! Anomaly reports: what the security team must look at, from rules.
//!
//! A rule is a SQL file (`queries/anomalies/*.sql`, built in, or a
//! directory of a user's own) whose header names its severity, how often it
//! runs, how far back it looks and, for rules that compare with the past,
//! its baseline. Its query returns the offending events, one row each, with
//! a `finding` column that groups them (one credential, one agent's hour)
//! and a `title` for the group.
//!
//! - [`duration`]: `15m`, `24h`, `7d`.
//! - [`rule`]: parsing a rule file and the set of rules a process knows; a
//!   broken file is reported by name and the others still load.
//! - [`run`]: running rules over a window on a [`QueryEngine`](agentrail_query::QueryEngine),
//!   each rule on its own (one failing does not stop the others), rows
//!   grouped into [`Finding`](run::Finding)s.
//! - [`history`]: the scheduled runs kept under the data directory.
//! - [`markdown`]: the report for a chat channel.
//! - [`html`]: the report as one self-contained page with charts.
//! - [`notify`]: the webhook payloads (Slack-compatible and generic) for a run's new findings.

pub mod duration;
pub mod history;
pub mod html;
pub mod markdown;
pub mod notify;
pub mod rule;
pub mod run;
pub mod tables;

pub use rule::{Rule, RuleError, Rules, Severity};
pub use run::{Finding, Report, RuleFailure, RuleRun, Window, activity, check_rule, html_page, run_one, run_rules};
pub use tables::register_report_tables;
