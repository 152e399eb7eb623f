//! Counters exposed at `GET /metrics` in the Prometheus text format.

use std::fmt::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// A monotonically increasing count.
#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }

    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// A value that goes up and down.
#[derive(Debug, Default)]
pub struct Gauge(AtomicU64);

impl Gauge {
    pub fn set(&self, n: u64) {
        self.0.store(n, Ordering::Relaxed);
    }

    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }

    pub fn sub(&self, n: u64) {
        self.0.fetch_sub(n, Ordering::Relaxed);
    }

    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// Sum and count of observations (enough for a mean latency).
#[derive(Debug, Default)]
pub struct Summary {
    micros: AtomicU64,
    count: AtomicU64,
}

impl Summary {
    pub fn observe(&self, seconds: f64) {
        self.micros.fetch_add((seconds * 1e6) as u64, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
    }
}

#[derive(Debug, Default)]
pub struct MetricsInner {
    pub requests: Counter,
    pub received: Counter,
    pub accepted: Counter,
    pub rejected: Counter,
    pub duplicates: Counter,
    pub overloaded: Counter,
    pub segments_sealed: Counter,
    pub seal_failures: Counter,
    pub last_group_size: Gauge,
    /// Requests queued for the writer.
    pub queue_depth: Gauge,
    /// Bytes appended to the write-ahead log since start (a counter the writer sets).
    pub wal_bytes: Gauge,
    pub fsync_seconds: Summary,
    pub kafka_messages: Counter,
    pub kafka_errors: Counter,
    /// Syslog messages stored (events or quarantine), and connections refused or cut.
    pub syslog_messages: Counter,
    pub syslog_errors: Counter,
    /// Messages in the assigned partitions not yet read (librdkafka's statistics).
    pub kafka_lag: Gauge,
    /// Query API requests answered (query, search, replay), and those refused or failed.
    pub api_requests: Counter,
    pub api_errors: Counter,
    pub api_seconds: Summary,
    /// Scheduled rule runs, those that failed, and the findings new in them.
    pub report_runs: Counter,
    pub report_failures: Counter,
    pub report_new_findings: Counter,
    pub report_seconds: Summary,
    /// Webhook payloads delivered, attempts that failed, and payloads given up on.
    pub webhook_delivered: Counter,
    pub webhook_failed_attempts: Counter,
    pub webhook_dropped: Counter,
    /// Audit events (of API requests and refusals) stored, and lost.
    pub audit_recorded: Counter,
    pub audit_dropped: Counter,
}

/// Shared metrics.
pub type Metrics = Arc<MetricsInner>;

impl MetricsInner {
    pub fn render(&self) -> String {
        let mut out = String::new();
        let counters = [
            ("agentrail_http_requests_total", "Ingest requests received.", &self.requests),
            ("agentrail_records_received_total", "Records received.", &self.received),
            ("agentrail_events_accepted_total", "Events made durable.", &self.accepted),
            ("agentrail_records_rejected_total", "Records rejected to quarantine.", &self.rejected),
            ("agentrail_events_duplicate_total", "Events already stored, not stored again.", &self.duplicates),
            (
                "agentrail_overload_refusals_total",
                "Requests refused with 503 because the writer queue was full.",
                &self.overloaded,
            ),
            ("agentrail_segments_sealed_total", "Parquet segments sealed.", &self.segments_sealed),
            (
                "agentrail_seal_failures_total",
                "Seals that failed; their rows stay pending and in the log, and are sealed again.",
                &self.seal_failures,
            ),
            ("agentrail_kafka_messages_total", "Kafka messages stored (events or quarantine).", &self.kafka_messages),
            ("agentrail_kafka_errors_total", "Errors reported by the Kafka client.", &self.kafka_errors),
            (
                "agentrail_syslog_messages_total",
                "Syslog messages stored (events or quarantine).",
                &self.syslog_messages,
            ),
            (
                "agentrail_syslog_errors_total",
                "Syslog connections refused or cut, and datagrams lost.",
                &self.syslog_errors,
            ),
            ("agentrail_api_requests_total", "Query, search and replay requests.", &self.api_requests),
            ("agentrail_api_errors_total", "Query, search and replay requests refused or failed.", &self.api_errors),
            ("agentrail_report_runs_total", "Scheduled anomaly rule runs.", &self.report_runs),
            ("agentrail_report_failures_total", "Scheduled anomaly rule runs that failed.", &self.report_failures),
            (
                "agentrail_report_new_findings_total",
                "Findings new since each rule's previous run.",
                &self.report_new_findings,
            ),
            ("agentrail_webhook_delivered_total", "Webhook payloads the receiver accepted.", &self.webhook_delivered),
            (
                "agentrail_webhook_failed_attempts_total",
                "Webhook posts that failed (and were retried or given up).",
                &self.webhook_failed_attempts,
            ),
            (
                "agentrail_audit_recorded_total",
                "Audit events of API requests and refusals stored.",
                &self.audit_recorded,
            ),
            (
                "agentrail_audit_dropped_total",
                "Audit events lost (too many waiting for the writer, or the writer failed).",
                &self.audit_dropped,
            ),
            (
                "agentrail_webhook_dropped_total",
                "Webhook payloads given up on (attempts exhausted, refused, or queue full).",
                &self.webhook_dropped,
            ),
        ];
        for (name, help, counter) in counters {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}", counter.get());
        }
        let gauges = [
            ("agentrail_writer_group_size", "gauge", "Requests in the last group commit.", &self.last_group_size),
            ("agentrail_writer_queue_depth", "gauge", "Requests waiting for the writer.", &self.queue_depth),
            ("agentrail_wal_bytes_written_total", "counter", "Bytes appended to the write-ahead log.", &self.wal_bytes),
            ("agentrail_kafka_lag", "gauge", "Kafka messages in assigned partitions not yet read.", &self.kafka_lag),
        ];
        for (name, kind, help, gauge) in gauges {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {}", gauge.get());
        }
        let summaries = [
            ("agentrail_fsync_seconds", "Time of a group commit (append and fsync).", &self.fsync_seconds),
            ("agentrail_api_seconds", "Time to answer a query, search or replay request.", &self.api_seconds),
            ("agentrail_report_seconds", "Time of a scheduled anomaly rule run.", &self.report_seconds),
        ];
        for (name, help, summary) in summaries {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} summary\n{name}_sum {}\n{name}_count {}",
                summary.micros.load(Ordering::Relaxed) as f64 / 1e6,
                summary.count.load(Ordering::Relaxed)
            );
        }
        out
    }
}
