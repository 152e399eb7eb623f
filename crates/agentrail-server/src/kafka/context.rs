//! librdkafka's callbacks: rebalances move the watermarks, statistics give
//! the consumer lag, errors go to the log.

use std::sync::{Arc, Mutex};

use rdkafka::client::ClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::{BaseConsumer, ConsumerContext, Rebalance};
use rdkafka::statistics::Statistics;

use super::lock;
use super::watermark::Watermarks;
use crate::metrics::Metrics;

/// The consumer's context, shared with librdkafka's threads.
pub struct CollectorContext {
    watermarks: Arc<Mutex<Watermarks>>,
    metrics: Metrics,
}

impl CollectorContext {
    pub fn new(watermarks: Arc<Mutex<Watermarks>>, metrics: Metrics) -> Self {
        CollectorContext { watermarks, metrics }
    }
}

impl ClientContext for CollectorContext {
    fn log(&self, level: RDKafkaLogLevel, facility: &str, message: &str) {
        match level {
            RDKafkaLogLevel::Emerg | RDKafkaLogLevel::Alert | RDKafkaLogLevel::Critical | RDKafkaLogLevel::Error => {
                tracing::error!(target: "librdkafka", facility, "{message}");
            }
            RDKafkaLogLevel::Warning => tracing::warn!(target: "librdkafka", facility, "{message}"),
            RDKafkaLogLevel::Notice | RDKafkaLogLevel::Info => {
                tracing::info!(target: "librdkafka", facility, "{message}");
            }
            RDKafkaLogLevel::Debug => tracing::debug!(target: "librdkafka", facility, "{message}"),
        }
    }

    fn error(&self, error: rdkafka::error::KafkaError, reason: &str) {
        self.metrics.kafka_errors.add(1);
        tracing::warn!(%error, "kafka: {reason}");
    }

    /// Lag: messages in the assigned partitions not yet read, summed.
    fn stats(&self, statistics: Statistics) {
        let lag: i64 = statistics
            .topics
            .values()
            .flat_map(|topic| topic.partitions.values())
            // Partition -1 is librdkafka's internal "unassigned" bucket; -1 lag is unknown.
            .filter(|partition| partition.partition >= 0 && partition.consumer_lag >= 0)
            .map(|partition| partition.consumer_lag)
            .sum();
        self.metrics.kafka_lag.set(lag.max(0) as u64);
    }
}

impl ConsumerContext for CollectorContext {
    fn pre_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Assign(list) => {
                let mut watermarks = lock(&self.watermarks);
                for element in list.elements() {
                    watermarks.assign(element.topic(), element.partition());
                }
                tracing::info!(partitions = list.count(), "kafka: partitions assigned");
            }
            Rebalance::Revoke(list) => {
                // Positions stored so far are committed by librdkafka as the
                // partitions go; batches still in flight no longer count.
                let mut watermarks = lock(&self.watermarks);
                for element in list.elements() {
                    watermarks.revoke(element.topic(), element.partition());
                }
                tracing::info!(partitions = list.count(), "kafka: partitions revoked");
            }
            Rebalance::Error(error) => tracing::error!(%error, "kafka: rebalance failed"),
        }
    }
}
