//! The report history as SQL tables, beside `events`:
//!
//! - `report_runs`: one row per scheduled run of a rule (its window, how long
//!   it took, how many events it read, its error);
//! - `findings`: one row per finding of each run, with `new` when the rule's
//!   previous run did not have it (what the webhooks were told).
//!
//! ```sql
//! SELECT rule, severity, title, correlation_id FROM findings
//! WHERE new AND run_at > now() - INTERVAL '1 day' ORDER BY run_at DESC;
//! ```
//!
//! Each scan reads the history files as they are then, so a dashboard sees
//! the scheduler's newest runs. The history is small (runs are kept 30 days
//! by default); a missing history is two empty tables.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use agentrail_event::Timestamp;
use agentrail_query::QueryEngine;
use datafusion::arrow::array::{
    ArrayRef, BooleanBuilder, Float64Builder, ListBuilder, StringBuilder, TimestampMicrosecondBuilder, UInt64Builder,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::{DataFusionError, Result};
use datafusion::datasource::{MemTable, TableType};
use datafusion::logical_expr::Expr;
use datafusion::physical_plan::ExecutionPlan;

use crate::history::{History, RUNS_DIR, RunRecord};

/// Registers `report_runs` and `findings` over `data_dir`'s report history
/// in `engine`'s context.
pub fn register_report_tables(engine: &QueryEngine, data_dir: &Path) -> Result<()> {
    for kind in [Kind::Runs, Kind::Findings] {
        let table = HistoryTable { kind, data_dir: data_dir.to_owned(), schema: kind.schema() };
        engine.context().register_table(kind.name(), Arc::new(table))?;
    }
    Ok(())
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    Runs,
    Findings,
}

fn time_field(name: &str, nullable: bool) -> Field {
    Field::new(name, DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())), nullable)
}

fn text_field(name: &str, nullable: bool) -> Field {
    Field::new(name, DataType::Utf8, nullable)
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Runs => "report_runs",
            Kind::Findings => "findings",
        }
    }

    fn schema(self) -> SchemaRef {
        let fields = match self {
            Kind::Runs => vec![
                text_field("run_id", false),
                text_field("rule", false),
                text_field("severity", false),
                time_field("run_at", false),
                time_field("window_from", false),
                time_field("window_to", false),
                Field::new("seconds", DataType::Float64, false),
                Field::new("events", DataType::UInt64, false),
                Field::new("findings", DataType::UInt64, false),
                Field::new("new_findings", DataType::UInt64, false),
                text_field("error", true),
            ],
            Kind::Findings => vec![
                text_field("run_id", false),
                time_field("run_at", false),
                text_field("rule", false),
                text_field("severity", false),
                text_field("title", false),
                text_field("key", false),
                Field::new("new", DataType::Boolean, false),
                text_field("agent_id", true),
                text_field("on_behalf_of", true),
                text_field("correlation_id", true),
                time_field("first_seen", true),
                time_field("last_seen", true),
                Field::new("count", DataType::UInt64, false),
                Field::new("event_ids", DataType::List(Arc::new(Field::new("item", DataType::Utf8, true))), false),
            ],
        };
        Arc::new(Schema::new(fields))
    }

    fn batch(self, schema: &SchemaRef, runs: &[RunRecord]) -> Result<RecordBatch> {
        let columns = match self {
            Kind::Runs => run_columns(runs),
            Kind::Findings => finding_columns(runs),
        };
        Ok(RecordBatch::try_new(Arc::clone(schema), columns)?)
    }
}

fn utc(builder: TimestampMicrosecondBuilder) -> TimestampMicrosecondBuilder {
    builder.with_timezone("UTC")
}

fn run_columns(runs: &[RunRecord]) -> Vec<ArrayRef> {
    let (mut id, mut rule, mut severity) = (StringBuilder::new(), StringBuilder::new(), StringBuilder::new());
    let mut at = utc(TimestampMicrosecondBuilder::new());
    let mut from = utc(TimestampMicrosecondBuilder::new());
    let mut to = utc(TimestampMicrosecondBuilder::new());
    let mut seconds = Float64Builder::new();
    let (mut events, mut findings, mut new) = (UInt64Builder::new(), UInt64Builder::new(), UInt64Builder::new());
    let mut error = StringBuilder::new();
    for run in runs {
        let head = &run.head;
        id.append_value(&head.id);
        rule.append_value(&head.rule);
        severity.append_value(head.severity.as_str());
        at.append_value(head.at.as_micros());
        from.append_value(head.window.from.as_micros());
        to.append_value(head.window.to.as_micros());
        seconds.append_value(head.seconds);
        events.append_value(head.events as u64);
        findings.append_value(run.findings.len() as u64);
        new.append_value(run.new_findings.len() as u64);
        error.append_option(head.error.as_deref());
    }
    vec![
        Arc::new(id.finish()),
        Arc::new(rule.finish()),
        Arc::new(severity.finish()),
        Arc::new(at.finish()),
        Arc::new(from.finish()),
        Arc::new(to.finish()),
        Arc::new(seconds.finish()),
        Arc::new(events.finish()),
        Arc::new(findings.finish()),
        Arc::new(new.finish()),
        Arc::new(error.finish()),
    ]
}

fn finding_columns(runs: &[RunRecord]) -> Vec<ArrayRef> {
    let mut run_id = StringBuilder::new();
    let mut run_at = utc(TimestampMicrosecondBuilder::new());
    let [mut rule, mut severity, mut title, mut key] = std::array::from_fn(|_| StringBuilder::new());
    let mut new = BooleanBuilder::new();
    let [mut agent, mut principal, mut correlation] = std::array::from_fn(|_| StringBuilder::new());
    let mut first = utc(TimestampMicrosecondBuilder::new());
    let mut last = utc(TimestampMicrosecondBuilder::new());
    let mut count = UInt64Builder::new();
    let mut event_ids = ListBuilder::new(StringBuilder::new());
    for run in runs {
        for finding in &run.findings {
            run_id.append_value(&run.head.id);
            run_at.append_value(run.head.at.as_micros());
            rule.append_value(&finding.rule);
            severity.append_value(finding.severity.as_str());
            title.append_value(&finding.title);
            key.append_value(&finding.key);
            new.append_value(run.new_findings.contains(&finding.key));
            agent.append_option(finding.agent_id.as_deref());
            principal.append_option(finding.on_behalf_of.as_deref());
            correlation.append_option(finding.correlation_id.as_deref());
            first.append_option(Timestamp::parse(&finding.first_seen).ok().map(Timestamp::as_micros));
            last.append_option(Timestamp::parse(&finding.last_seen).ok().map(Timestamp::as_micros));
            count.append_value(finding.count as u64);
            for id in &finding.event_ids {
                event_ids.values().append_value(id);
            }
            event_ids.append(true);
        }
    }
    vec![
        Arc::new(run_id.finish()),
        Arc::new(run_at.finish()),
        Arc::new(rule.finish()),
        Arc::new(severity.finish()),
        Arc::new(title.finish()),
        Arc::new(key.finish()),
        Arc::new(new.finish()),
        Arc::new(agent.finish()),
        Arc::new(principal.finish()),
        Arc::new(correlation.finish()),
        Arc::new(first.finish()),
        Arc::new(last.finish()),
        Arc::new(count.finish()),
        Arc::new(event_ids.finish()),
    ]
}

#[derive(Debug)]
struct HistoryTable {
    kind: Kind,
    data_dir: PathBuf,
    schema: SchemaRef,
}

impl HistoryTable {
    /// Every run on disk now, oldest first.
    fn runs(&self) -> Result<Vec<RunRecord>> {
        if !self.data_dir.join(RUNS_DIR).is_dir() {
            return Ok(Vec::new());
        }
        // Opened to read only: nothing is pruned or written here.
        let history = History::open(&self.data_dir, Duration::MAX).map_err(|e| DataFusionError::External(e.into()))?;
        let mut runs = history.runs(None, usize::MAX).map_err(|e| DataFusionError::External(e.into()))?;
        runs.reverse();
        Ok(runs)
    }
}

#[async_trait::async_trait]
impl TableProvider for HistoryTable {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let batch = self.kind.batch(&self.schema, &self.runs()?)?;
        let table = MemTable::try_new(Arc::clone(&self.schema), vec![vec![batch]])?;
        table.scan(state, projection, filters, limit).await
    }
}

#[cfg(test)]
mod tests {
    use agentrail_query::QueryLimits;

    use super::*;
    use crate::Severity;
    use crate::run::{Finding, RuleRun, Window};

    fn run(at: &str, keys: &[&str]) -> RunRecord {
        let at = Timestamp::parse(at).expect("time");
        let window = Window::ending(at, Duration::from_secs(3600));
        let findings: Vec<Finding> = keys
            .iter()
            .map(|key| Finding {
                rule: "shared_credential".into(),
                severity: Severity::High,
                title: format!("credential {key} shared"),
                key: (*key).into(),
                event_ids: vec![format!("{key}-1"), format!("{key}-2")],
                agent_id: Some("deploy-bot".into()),
                on_behalf_of: None,
                correlation_id: Some("inc-1".into()),
                first_seen: "2026-11-24T10:00:00Z".into(),
                last_seen: "2026-11-24T10:01:00Z".into(),
                count: 2,
            })
            .collect();
        let rule_run = RuleRun {
            rule: "shared_credential".into(),
            severity: Severity::High,
            window,
            findings: findings.len(),
            events: 40,
            seconds: 0.2,
        };
        RunRecord::new("shared_credential", Severity::High, window, at, Ok((rule_run, findings)))
    }

    async fn rows(engine: &QueryEngine, sql: &str) -> Vec<serde_json::Map<String, serde_json::Value>> {
        engine.query(sql).await.expect("answers").json_rows().expect("rows")
    }

    #[tokio::test]
    async fn runs_and_findings_are_tables_that_follow_the_history() {
        let dir = tempfile::tempdir().expect("temp dir");
        let engine = QueryEngine::open(dir.path(), QueryLimits::default()).expect("engine");
        register_report_tables(&engine, dir.path()).expect("registered");
        // No history yet: two empty tables, and nothing created by reading.
        assert_eq!(rows(&engine, "SELECT count(*) AS n FROM findings").await[0]["n"], 0);
        assert!(!dir.path().join(RUNS_DIR).exists());

        let history = History::open(dir.path(), Duration::from_secs(30 * 86_400)).expect("history");
        let first = run("2026-11-24T10:00:00Z", &["a"]);
        history.record(&first).expect("recorded");
        let mut second = run("2026-11-24T10:15:00Z", &["a", "b"]);
        second.mark_new(Some(&first));
        history.record(&second).expect("recorded");

        let runs = rows(&engine, "SELECT rule, findings, new_findings, events FROM report_runs ORDER BY run_at").await;
        assert_eq!(runs.len(), 2);
        assert_eq!(
            (&runs[1]["findings"], &runs[1]["new_findings"], &runs[1]["events"]),
            (&2.into(), &1.into(), &40.into())
        );
        let found = rows(
            &engine,
            "SELECT key, new, cardinality(event_ids) AS ids, correlation_id FROM findings \
             WHERE run_at = TIMESTAMP '2026-11-24T10:15:00Z' ORDER BY key",
        )
        .await;
        let seen: Vec<(String, bool)> =
            found.iter().map(|row| (row["key"].as_str().unwrap_or_default().to_owned(), row["new"] == true)).collect();
        assert_eq!(seen, [("a".to_owned(), false), ("b".to_owned(), true)]);
        assert_eq!(found[0]["ids"], 2);
        assert_eq!(found[0]["correlation_id"], "inc-1");
    }
}
