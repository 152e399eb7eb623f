//! The Kafka collector: consumer-group members that read audit records from
//! topics into the same durable writer as HTTP.
//!
//! ```text
//!  recv ─► batch (count, bytes, linger) ─► dispatch offsets ─► normalize (blocking pool)
//!       ─► writer (group commit, fsync) ─► complete offsets ─► store the contiguous watermark
//!                                                            └► auto-commit (interval, revoke, close)
//! ```
//!
//! Offsets are stored (`enable.auto.offset.store=false`) only once the
//! events of every earlier message of the partition are in the log and
//! fsynced ([`watermark`]); librdkafka commits what is stored on its timer,
//! when partitions are revoked and when the consumer closes. A crash loses
//! at most the commit interval's worth of *positions*, never events: those
//! messages are read again and their event ids make the re-read a no-op.
//! A message that does not normalize is quarantined with its topic,
//! partition and offset, and the partition goes on.

mod context;
pub mod watermark;

use std::collections::BTreeMap;
use std::ops::Range;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use agentrail_collect::{Normalizer, SourceChoice};
use agentrail_event::{Event, Timestamp};
use agentrail_store::Quarantined;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::message::{BorrowedMessage, Message, OwnedMessage};
use rdkafka::{Offset, TopicPartitionList};
use serde::Deserialize;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;

use self::context::CollectorContext;
use self::watermark::{Ticket, Watermarks};
use crate::metrics::Metrics;
use crate::writer::{WriteError, Writer};

/// The `[kafka]` section of the configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaConfig {
    /// `host:port[,host:port…]` of the bootstrap brokers.
    pub brokers: String,
    /// The consumer group; every `serve` process in it shares the partitions.
    #[serde(default = "default_group")]
    pub group_id: String,
    pub topics: Vec<TopicConfig>,
    /// Further librdkafka properties (`security.protocol`, `sasl.*`, …).
    #[serde(default)]
    pub options: BTreeMap<String, String>,
    /// A batch closes at this many messages, …
    #[serde(default = "default_batch_messages")]
    pub batch_max_messages: usize,
    /// … this many payload bytes, …
    #[serde(default = "default_batch_bytes")]
    pub batch_max_bytes: usize,
    /// … or this long after its first message.
    #[serde(default = "default_linger_ms")]
    pub batch_linger_ms: u64,
    /// Batches being normalized or written at once.
    #[serde(default = "default_in_flight")]
    pub max_in_flight_batches: usize,
    /// How often stored positions are committed to the group.
    #[serde(default = "default_commit_ms")]
    pub commit_interval_ms: u64,
}

/// One topic (or `^regex` pattern) and the mapping of its records.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TopicConfig {
    pub name: String,
    /// `auto` (detect each record) or a mapping name.
    #[serde(default = "default_source")]
    pub source: String,
}

fn default_group() -> String {
    "agentrail".into()
}
fn default_source() -> String {
    "auto".into()
}
fn default_batch_messages() -> usize {
    1000
}
fn default_batch_bytes() -> usize {
    8 * 1024 * 1024
}
fn default_linger_ms() -> u64 {
    20
}
fn default_in_flight() -> usize {
    4
}
fn default_commit_ms() -> u64 {
    1000
}

/// librdkafka properties agentrail sets itself: changing them would break
/// the guarantee that no offset is committed before its events are durable.
const MANAGED_PROPERTIES: [&str; 3] = ["enable.auto.offset.store", "enable.auto.commit", "group.id"];

/// Why the collector could not start.
#[derive(Debug, thiserror::Error)]
pub enum KafkaError {
    #[error("kafka: {0}")]
    Config(String),
    #[error("kafka: cannot create the consumer: {0}")]
    Client(#[source] rdkafka::error::KafkaError),
    #[error("kafka: cannot subscribe to {topics}: {source}")]
    Subscribe {
        topics: String,
        #[source]
        source: rdkafka::error::KafkaError,
    },
}

/// A subscribed consumer, ready to run.
pub struct KafkaCollector {
    consumer: Arc<StreamConsumer<CollectorContext>>,
    watermarks: Arc<Mutex<Watermarks>>,
    routes: Arc<TopicRoutes>,
    config: KafkaConfig,
}

impl std::fmt::Debug for KafkaCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaCollector").field("config", &self.config).finish_non_exhaustive()
    }
}

/// Which mapping each topic's records take.
#[derive(Debug)]
struct TopicRoutes {
    exact: Vec<(String, SourceChoice)>,
    patterns: Vec<(regex::Regex, SourceChoice)>,
}

impl TopicRoutes {
    fn choice(&self, topic: &str) -> SourceChoice {
        self.exact
            .iter()
            .find(|(name, _)| name == topic)
            .map(|(_, choice)| choice)
            .or_else(|| self.patterns.iter().find(|(pattern, _)| pattern.is_match(topic)).map(|(_, c)| c))
            .cloned()
            .unwrap_or(SourceChoice::Auto)
    }
}

impl KafkaCollector {
    /// Checks the configuration, creates the consumer and subscribes. The
    /// brokers need not be reachable yet: librdkafka keeps trying.
    pub fn start(config: KafkaConfig, normalizer: &Normalizer, metrics: Metrics) -> Result<Self, KafkaError> {
        if config.topics.is_empty() {
            return Err(KafkaError::Config("no topics configured: add [[kafka.topics]] with a name".into()));
        }
        if config.batch_max_messages == 0 || config.max_in_flight_batches == 0 {
            return Err(KafkaError::Config("batch_max_messages and max_in_flight_batches must be at least 1".into()));
        }
        if let Some(key) = config.options.keys().find(|k| MANAGED_PROPERTIES.contains(&k.as_str())) {
            return Err(KafkaError::Config(format!(
                "option `{key}` is managed by agentrail (offsets are committed only after events are durable)"
            )));
        }
        let mut exact = Vec::new();
        let mut patterns = Vec::new();
        for topic in &config.topics {
            let choice = SourceChoice::parse(&topic.source);
            normalizer
                .check_choice(&choice)
                .map_err(|reason| KafkaError::Config(format!("topic `{}`: {reason}", topic.name)))?;
            if topic.name.starts_with('^') {
                let pattern = regex::Regex::new(&topic.name)
                    .map_err(|e| KafkaError::Config(format!("topic pattern `{}`: {e}", topic.name)))?;
                patterns.push((pattern, choice));
            } else {
                exact.push((topic.name.clone(), choice));
            }
        }

        let mut client = ClientConfig::new();
        client
            .set("bootstrap.servers", &config.brokers)
            .set("group.id", &config.group_id)
            .set("enable.auto.offset.store", "false")
            .set("enable.auto.commit", "true")
            .set("auto.commit.interval.ms", config.commit_interval_ms.to_string())
            // An audit trail starts from the oldest record a topic still holds.
            .set("auto.offset.reset", "earliest")
            .set("statistics.interval.ms", "5000")
            .set("client.id", "agentrail");
        for (key, value) in &config.options {
            client.set(key, value);
        }
        let watermarks = Arc::new(Mutex::new(Watermarks::default()));
        let context = CollectorContext::new(Arc::clone(&watermarks), metrics);
        let consumer: StreamConsumer<CollectorContext> =
            client.create_with_context(context).map_err(KafkaError::Client)?;
        let names: Vec<&str> = config.topics.iter().map(|t| t.name.as_str()).collect();
        consumer.subscribe(&names).map_err(|source| KafkaError::Subscribe { topics: names.join(", "), source })?;
        tracing::info!(brokers = %config.brokers, group = %config.group_id, topics = %names.join(","), "kafka collector subscribed");
        Ok(KafkaCollector {
            consumer: Arc::new(consumer),
            watermarks,
            routes: Arc::new(TopicRoutes { exact, patterns }),
            config,
        })
    }

    /// Reads, stores and commits until `stop` turns true; then finishes the
    /// batches in flight, commits their positions and leaves the group.
    pub async fn run(self, normalizer: Arc<Normalizer>, writer: Writer, metrics: Metrics, stop: watch::Receiver<bool>) {
        let shared = Arc::new(Shared {
            consumer: Arc::clone(&self.consumer),
            watermarks: Arc::clone(&self.watermarks),
            routes: Arc::clone(&self.routes),
            normalizer,
            writer,
            metrics,
            stop: stop.clone(),
        });
        let slots = Arc::new(Semaphore::new(self.config.max_in_flight_batches));
        let mut in_flight = JoinSet::new();
        let mut stopping = stop;
        loop {
            // A free slot first: a consumer that cannot write stops reading
            // (Kafka keeps the backlog), instead of buffering without bound.
            let slot = tokio::select! {
                _ = stopping.wait_for(|stop| *stop) => break,
                slot = Arc::clone(&slots).acquire_owned() => match slot { Ok(slot) => slot, Err(_) => break },
            };
            let Some((messages, ticket)) = self.next_batch(&mut stopping).await else { break };
            while in_flight.try_join_next().is_some() {}
            let shared = Arc::clone(&shared);
            in_flight.spawn(async move {
                shared.store(messages, ticket).await;
                drop(slot);
            });
        }
        // Batches in flight finish (or give up, if the store is failing).
        while in_flight.join_next().await.is_some() {}
        drop(shared);
        let consumer = self.consumer;
        // Committing and leaving the group block on the network: off the runtime's threads.
        let closed = tokio::task::spawn_blocking(move || {
            match consumer.commit_consumer_state(CommitMode::Sync) {
                Ok(()) => tracing::info!("kafka: positions committed on shutdown"),
                Err(error) => tracing::debug!(%error, "kafka: nothing to commit on shutdown"),
            }
            consumer.unsubscribe();
            drop(consumer);
        })
        .await;
        if let Err(error) = closed {
            tracing::error!(%error, "kafka: closing the consumer failed");
        }
    }

    /// The next batch: the first message waited for, then more until the
    /// batch is full or the linger time has passed. Each message is
    /// recorded in the batch's ticket as it arrives. `None` on stop.
    async fn next_batch(&self, stop: &mut watch::Receiver<bool>) -> Option<(Vec<OwnedMessage>, Ticket)> {
        let mut batch = Batch::default();
        while batch.messages.is_empty() {
            let received = tokio::select! {
                _ = stop.wait_for(|stop| *stop) => return None,
                received = self.consumer.recv() => received,
            };
            match received {
                Ok(message) => batch.add(&self.watermarks, message),
                Err(error) => {
                    tracing::warn!(%error, "kafka: cannot receive");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
        let linger = tokio::time::sleep(Duration::from_millis(self.config.batch_linger_ms));
        tokio::pin!(linger);
        while batch.messages.len() < self.config.batch_max_messages && batch.bytes < self.config.batch_max_bytes {
            tokio::select! {
                _ = &mut linger => break,
                received = self.consumer.recv() => match received {
                    Ok(message) => batch.add(&self.watermarks, message),
                    Err(error) => {
                        tracing::warn!(%error, "kafka: cannot receive");
                        break;
                    }
                },
            }
        }
        Some((batch.messages, batch.ticket))
    }
}

/// A batch being gathered.
#[derive(Default)]
struct Batch {
    messages: Vec<OwnedMessage>,
    ticket: Ticket,
    bytes: usize,
}

impl Batch {
    fn add(&mut self, watermarks: &Mutex<Watermarks>, message: BorrowedMessage<'_>) {
        lock(watermarks).read(&mut self.ticket, message.topic(), message.partition(), message.offset());
        self.bytes += message.payload_len();
        self.messages.push(message.detach());
    }
}

/// What the batch tasks share.
struct Shared {
    consumer: Arc<StreamConsumer<CollectorContext>>,
    watermarks: Arc<Mutex<Watermarks>>,
    routes: Arc<TopicRoutes>,
    normalizer: Arc<Normalizer>,
    writer: Writer,
    metrics: Metrics,
    stop: watch::Receiver<bool>,
}

fn lock(watermarks: &Mutex<Watermarks>) -> std::sync::MutexGuard<'_, Watermarks> {
    // The watermarks stay consistent even if a holder panicked mid-update:
    // every method leaves them valid between statements.
    watermarks.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Shared {
    /// Makes a batch durable (retrying while the store cannot write), then
    /// stores the positions it completes. On stop with the store failing,
    /// gives up: the positions stay behind and the messages are read again.
    async fn store(&self, messages: Vec<OwnedMessage>, ticket: Ticket) {
        let messages = Arc::new(messages);
        // A batch too large for one log entry is split, half by half.
        let mut work: Vec<Range<usize>> = Vec::new();
        work.push(0..messages.len());
        let mut backoff = Duration::from_millis(100);
        while let Some(range) = work.pop() {
            let (events, rejects) = self.normalize(Arc::clone(&messages), range.clone()).await;
            let records = (events.len() + rejects.len()) as u64;
            let rejected = rejects.len() as u64;
            match self.writer.write_waiting(events, rejects).await {
                Ok(_) => {
                    self.metrics.received.add(records);
                    self.metrics.rejected.add(rejected);
                    self.metrics.kafka_messages.add(range.len() as u64);
                    backoff = Duration::from_millis(100);
                }
                Err(WriteError::Refused(reason)) if range.len() > 1 => {
                    tracing::warn!(%reason, messages = range.len(), "kafka batch too large for one log entry; splitting");
                    let middle = range.start + range.len() / 2;
                    work.push(middle..range.end);
                    work.push(range.start..middle);
                }
                Err(WriteError::Refused(reason)) => {
                    // One message whose events cannot be logged: keep a note
                    // of it in quarantine rather than stall the partition.
                    let message = &messages[range.start];
                    let mut note =
                        quarantined(message, Timestamp::now(), format!("its events cannot be stored: {reason}"));
                    note.raw.truncate(64 * 1024);
                    if self.writer.write_waiting(Vec::new(), vec![note]).await.is_err() {
                        work.push(range);
                    }
                }
                Err(error) => {
                    if *self.stop.borrow() {
                        tracing::warn!(%error, "kafka: stopping with a batch not stored; it will be read again");
                        return;
                    }
                    tracing::error!(%error, retry_in = ?backoff, "kafka: cannot store a batch; retrying");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                    work.push(range);
                }
            }
        }
        let positions = lock(&self.watermarks).complete(ticket);
        if positions.is_empty() {
            return;
        }
        let mut list = TopicPartitionList::new();
        for position in &positions {
            if let Err(error) =
                list.add_partition_offset(&position.topic, position.partition, Offset::Offset(position.offset))
            {
                tracing::error!(%error, "kafka: cannot list a position to store");
            }
        }
        // Fails for a partition revoked meanwhile: its new owner re-reads.
        if let Err(error) = self.consumer.store_offsets(&list) {
            tracing::debug!(%error, "kafka: positions not stored (partition revoked?)");
        }
    }

    /// Normalizes the messages of `range` on the blocking pool.
    async fn normalize(&self, messages: Arc<Vec<OwnedMessage>>, range: Range<usize>) -> (Vec<Event>, Vec<Quarantined>) {
        let normalizer = Arc::clone(&self.normalizer);
        let routes = Arc::clone(&self.routes);
        let kept = Arc::clone(&messages);
        let kept_range = range.clone();
        let normalized = tokio::task::spawn_blocking(move || {
            let mut events = Vec::new();
            let mut rejects = Vec::new();
            let now = Timestamp::now();
            let limits = normalizer.limits().decode;
            for message in &messages[range] {
                let Some(payload) = message.payload() else {
                    rejects.push(quarantined(message, now, "the message has no value (a tombstone)".into()));
                    continue;
                };
                let choice = routes.choice(message.topic());
                normalizer.normalize_with(payload, limits, &choice, &mut |result| match result {
                    Ok(event) => events.push(event),
                    Err(rejection) => rejects.push(Quarantined {
                        received_at: now,
                        origin: origin(message, Some(&rejection.position.to_string())),
                        source: rejection.source,
                        reason: rejection.reason.to_string(),
                        raw: rejection.raw,
                    }),
                });
            }
            (events, rejects)
        })
        .await;
        normalized.unwrap_or_else(|error| {
            // Normalizing is fuzzed and does not panic; if it ever did, the
            // messages are kept whole in quarantine, never dropped.
            tracing::error!(%error, "kafka: normalization failed unexpectedly; quarantining the batch");
            let now = Timestamp::now();
            let reason = format!("normalization failed unexpectedly: {error}");
            (Vec::new(), kept[kept_range].iter().map(|m| quarantined(m, now, reason.clone())).collect())
        })
    }
}

/// A whole message kept in quarantine.
fn quarantined(message: &OwnedMessage, received_at: Timestamp, reason: String) -> Quarantined {
    Quarantined {
        received_at,
        origin: origin(message, None),
        source: None,
        reason,
        raw: message.payload().map(<[u8]>::to_vec).unwrap_or_default(),
    }
}

/// `kafka:<topic>/<partition>@<offset>`, and the record's place in the message.
fn origin(message: &OwnedMessage, position: Option<&str>) -> String {
    let mut origin = format!("kafka:{}/{}@{}", message.topic(), message.partition(), message.offset());
    if let Some(position) = position {
        origin.push(':');
        origin.push_str(position);
    }
    origin
}
