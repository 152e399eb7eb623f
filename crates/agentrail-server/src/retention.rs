//! `[retention]`: how long events are kept, and the task that applies it.
//!
//! The writer applies it ([`crate::writer::Writer::retention`]) shortly
//! after start and then every `interval`; an admin can run it at once with
//! `POST /api/v1/admin/retention[?dry_run=true]`.

use std::collections::BTreeMap;
use std::time::Duration;

use agentrail_report::duration::parse_duration;
use agentrail_store::RetentionPolicy;
use serde::Deserialize;
use tokio::sync::watch;

use crate::writer::Writer;

/// `[retention]` in the configuration file. Nothing is deleted unless set.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionConfig {
    /// How long every source's events are kept, e.g. `"400d"`.
    pub keep: Option<String>,
    /// Per source, e.g. `{ "openai.audit" = "90d" }`: longer or shorter.
    #[serde(default)]
    pub sources: BTreeMap<String, String>,
    /// How often it is applied; `"1h"` by default.
    pub interval: Option<String>,
}

/// Why `[retention]` cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("[retention] {key}: {problem}")]
pub struct RetentionConfigError {
    key: String,
    problem: String,
}

impl RetentionConfig {
    /// The policy and the interval, every duration checked.
    pub fn policy(&self) -> Result<(RetentionPolicy, Duration), RetentionConfigError> {
        let parse = |key: &str, text: &str| {
            parse_duration(text).map_err(|problem| RetentionConfigError { key: key.to_owned(), problem })
        };
        let keep = self.keep.as_deref().map(|text| parse("keep", text)).transpose()?;
        let mut sources = BTreeMap::new();
        for (source, text) in &self.sources {
            sources.insert(source.clone(), parse(&format!("sources.{source}"), text)?);
        }
        let interval = parse("interval", self.interval.as_deref().unwrap_or("1h"))?;
        if interval.is_zero() {
            return Err(RetentionConfigError { key: "interval".into(), problem: "must be longer than zero".into() });
        }
        Ok((RetentionPolicy { keep, sources }, interval))
    }
}

/// Applies `policy` every `interval` (the first time after `first`) until stopped.
pub(crate) async fn run(
    writer: Writer,
    policy: RetentionPolicy,
    first: Duration,
    interval: Duration,
    stopping: watch::Receiver<bool>,
) {
    crate::periodic::every(first, interval, stopping, || async {
        match writer.retention(policy.clone(), false).await {
            Ok(outcome) if outcome == Default::default() => tracing::debug!("retention: nothing expired"),
            Ok(outcome) => tracing::info!(
                segments_deleted = outcome.segments_deleted.len(),
                segments_rewritten = outcome.segments_rewritten.len(),
                quarantine_deleted = outcome.quarantine_deleted.len(),
                rows = outcome.rows_deleted,
                "retention applied"
            ),
            Err(error) => tracing::error!(%error, "retention failed; it is tried again at the next interval"),
        }
    })
    .await
}
