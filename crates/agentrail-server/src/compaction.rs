//! `[compaction]`: a day's small segments merged into fewer large ones, in
//! the background (see `agentrail_store::compaction`).
//!
//! The writer runs it ([`crate::writer::Writer::compact`]) every `interval`;
//! an admin can run it at once with `POST /api/v1/admin/compact[?dry_run=true]`.
//! Merged-away files are deleted once their `grace` has passed, which must
//! outlast the longest query (`[query] timeout`).

use std::time::Duration;

use agentrail_report::duration::parse_duration;
use agentrail_store::CompactionPolicy;
use serde::Deserialize;
use tokio::sync::watch;

use crate::writer::Writer;

/// `[compaction]` in the configuration file. On by default.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CompactionConfig {
    /// Whether it runs on its own (`true` by default); an admin can always
    /// run it through the API.
    pub enabled: Option<bool>,
    /// How often it looks for small segments; `"5m"` by default.
    pub interval: Option<String>,
    /// Rows of a merged segment, at most (65536 by default); segments under
    /// half of it are small.
    pub target_rows: Option<u64>,
    /// A day's small segments are merged once there are this many (8).
    pub min_segments: Option<usize>,
    /// How long merged-away files stay for queries already planned; `"5m"`.
    pub grace: Option<String>,
}

/// Why `[compaction]` cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("[compaction] {key}: {problem}")]
pub struct CompactionConfigError {
    key: &'static str,
    problem: String,
}

/// What `[compaction]` says: the policy, and how often it runs on its own (never when off).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Compaction {
    pub policy: CompactionPolicy,
    pub interval: Option<Duration>,
}

impl CompactionConfig {
    /// The policy and schedule, every value checked.
    pub fn compaction(&self) -> Result<Compaction, CompactionConfigError> {
        let defaults = CompactionPolicy::default();
        let parse = |key: &'static str, text: Option<&str>, default: Duration| match text {
            None => Ok(default),
            Some(text) => parse_duration(text).map_err(|problem| CompactionConfigError { key, problem }),
        };
        let interval = parse("interval", self.interval.as_deref(), Duration::from_secs(300))?;
        if interval.is_zero() {
            return Err(CompactionConfigError { key: "interval", problem: "must be longer than zero".into() });
        }
        let grace = parse("grace", self.grace.as_deref(), defaults.grace)?;
        let target_rows = self.target_rows.unwrap_or(defaults.target_rows);
        if target_rows < 2 {
            return Err(CompactionConfigError { key: "target_rows", problem: "must be at least 2".into() });
        }
        let min_segments = self.min_segments.unwrap_or(defaults.min_segments);
        if min_segments < 2 {
            return Err(CompactionConfigError { key: "min_segments", problem: "must be at least 2".into() });
        }
        Ok(Compaction {
            policy: CompactionPolicy { target_rows, min_segments, grace, ..defaults },
            interval: self.enabled.unwrap_or(true).then_some(interval),
        })
    }
}

/// Compacts under `policy` every `interval` until stopped.
pub(crate) async fn run(writer: Writer, policy: CompactionPolicy, interval: Duration, stopping: watch::Receiver<bool>) {
    crate::periodic::every(interval, interval, stopping, || async {
        match writer.compact(policy.clone(), false).await {
            Ok(outcome) if outcome.merges.is_empty() => tracing::debug!("compaction: nothing to merge"),
            Ok(outcome) => tracing::info!(
                merges = outcome.merges.len(),
                segments_before = outcome.segments_before,
                segments_after = outcome.segments_after,
                "compaction applied"
            ),
            Err(error) => tracing::error!(%error, "compaction failed; it is tried again at the next interval"),
        }
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_on_and_bad_values_are_named() {
        let on = CompactionConfig::default().compaction().expect("defaults");
        assert_eq!(on.interval, Some(Duration::from_secs(300)));
        assert_eq!(on.policy, CompactionPolicy::default());
        let off = CompactionConfig { enabled: Some(false), ..Default::default() }.compaction().expect("off");
        assert_eq!(off.interval, None);
        let bad = CompactionConfig { grace: Some("soon".into()), ..Default::default() }.compaction();
        assert!(bad.expect_err("refused").to_string().starts_with("[compaction] grace:"));
        let bad = CompactionConfig { min_segments: Some(1), ..Default::default() }.compaction();
        assert!(bad.expect_err("refused").to_string().contains("min_segments"));
    }
}
