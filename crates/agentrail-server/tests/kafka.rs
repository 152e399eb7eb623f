//! The Kafka collector against librdkafka's mock cluster (a real Kafka
//! protocol implementation inside librdkafka, whose brokers can be taken
//! down, slowed and restarted): nothing read is lost, nothing is stored
//! twice, poison messages are quarantined with their coordinates, offsets
//! are committed only for what is durable. The end-to-end test against a
//! broker process lives in `tests/it/kafka.rs`.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use agentrail_collect::builtin_normalizer;
use agentrail_server::writer::{self, WriterOptions};
use agentrail_server::{KafkaCollector, KafkaConfig, Metrics, TopicConfig};
use agentrail_store::{Store, StoreOptions};
use arrow_array::cast::AsArray;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};
use tokio::sync::watch;

const TOPIC: &str = "agent-audit";
const PARTITIONS: i32 = 3;

fn record(i: usize) -> String {
    format!(
        r#"{{"id":"gw-{i}","ts":"2026-11-20T10:{:02}:{:02}Z","agent_id":"deploy-bot","on_behalf_of":"alice@example.com","tool":"github.list_repos","correlation_id":"corr-{}"}}"#,
        (i / 60) % 60,
        i % 60,
        i % 17
    )
}

fn config(brokers: &str, group: &str) -> KafkaConfig {
    KafkaConfig {
        brokers: brokers.to_owned(),
        group_id: group.to_owned(),
        topics: vec![TopicConfig { name: TOPIC.into(), source: "auto".into() }],
        options: BTreeMap::from([
            // The mock cluster is fast to fail; keep retrying quickly.
            ("reconnect.backoff.ms".to_owned(), "50".to_owned()),
            ("reconnect.backoff.max.ms".to_owned(), "500".to_owned()),
        ]),
        batch_max_messages: 200,
        batch_max_bytes: 1 << 20,
        batch_linger_ms: 10,
        max_in_flight_batches: 3,
        commit_interval_ms: 200,
    }
}

fn producer(brokers: &str) -> FutureProducer {
    ClientConfig::new().set("bootstrap.servers", brokers).set("message.timeout.ms", "60000").create().expect("producer")
}

/// Sends records `range` round-robin over the partitions.
async fn produce(producer: &FutureProducer, range: std::ops::Range<usize>) {
    for i in range {
        let payload = record(i);
        let key = format!("k{i}");
        let sent = producer
            .send(
                FutureRecord::to(TOPIC).payload(&payload).key(&key).partition(i as i32 % PARTITIONS),
                Duration::from_secs(60),
            )
            .await;
        sent.map_err(|(e, _)| e).expect("produced");
    }
}

/// A collector over a store in `dir`, running until stopped.
struct Node {
    stop: watch::Sender<bool>,
    consuming: tokio::task::JoinHandle<()>,
    writer_thread: writer::WriterThread,
    metrics: Metrics,
}

impl Node {
    fn start(dir: &Path, config: KafkaConfig, writer_options: WriterOptions) -> Node {
        let (store, _) = Store::open(dir, StoreOptions { auto_seal: false, ..StoreOptions::default() }).expect("store");
        let normalizer = Arc::new(builtin_normalizer().expect("built-in mappings"));
        let metrics = Metrics::default();
        let (writer, writer_thread) = writer::start(store, writer_options, Arc::clone(&metrics));
        let collector = KafkaCollector::start(config, &normalizer, Arc::clone(&metrics)).expect("collector");
        let (stop, stopping) = watch::channel(false);
        let consuming = tokio::spawn(collector.run(normalizer, writer, Arc::clone(&metrics), stopping));
        Node { stop, consuming, writer_thread, metrics }
    }

    async fn wait_for_messages(&self, count: u64, within: Duration) {
        let started = Instant::now();
        while self.metrics.kafka_messages.get() < count {
            assert!(
                started.elapsed() < within,
                "only {} of {count} messages stored after {within:?}",
                self.metrics.kafka_messages.get()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn stop(self) -> Metrics {
        self.stop.send_replace(true);
        self.consuming.await.expect("collector task");
        tokio::task::spawn_blocking(move || self.writer_thread.shutdown())
            .await
            .expect("join")
            .expect("writer shut down cleanly");
        self.metrics
    }
}

/// Every event id stored in `dir`'s segments (sealed on shutdown).
fn stored_ids(dir: &Path) -> Vec<String> {
    let manifest = agentrail_store::Manifest::load(dir).expect("manifest");
    let mut ids = Vec::new();
    for segment in &manifest.segments {
        agentrail_store::segment::for_each_event_id(&dir.join(&segment.path), |id| ids.push(id.to_owned()))
            .expect("segment readable");
    }
    ids
}

/// (origin, reason) of every quarantined record in `dir`.
fn quarantined(dir: &Path) -> Vec<(String, String)> {
    let manifest = agentrail_store::Manifest::load(dir).expect("manifest");
    let mut rows = Vec::new();
    for segment in &manifest.quarantine {
        let file = File::open(dir.join(&segment.path)).expect("quarantine file");
        for batch in ParquetRecordBatchReaderBuilder::try_new(file).expect("parquet").build().expect("reader") {
            let batch = batch.expect("batch");
            let origins = batch.column_by_name("origin").expect("origin").as_string::<i32>().clone();
            let reasons = batch.column_by_name("reason").expect("reason").as_string::<i32>().clone();
            for row in 0..batch.num_rows() {
                rows.push((origins.value(row).to_owned(), reasons.value(row).to_owned()));
            }
        }
    }
    rows
}

/// The group's committed position of each partition (`None`: nothing committed).
fn committed(brokers: &str, group: &str) -> HashMap<i32, Option<i64>> {
    let consumer: BaseConsumer =
        ClientConfig::new().set("bootstrap.servers", brokers).set("group.id", group).create().expect("consumer");
    let mut list = TopicPartitionList::new();
    for partition in 0..PARTITIONS {
        list.add_partition(TOPIC, partition);
    }
    let list = consumer.committed_offsets(list, Duration::from_secs(10)).expect("committed offsets");
    list.elements()
        .iter()
        .map(|e| {
            let offset = match e.offset() {
                Offset::Offset(o) => Some(o),
                _ => None,
            };
            (e.partition(), offset)
        })
        .collect()
}

fn cluster() -> MockCluster<'static, rdkafka::producer::DefaultProducerContext> {
    let cluster = MockCluster::new(3).expect("mock cluster");
    cluster.create_topic(TOPIC, PARTITIONS, 1).expect("topic");
    cluster
}

fn assert_exactly_once(ids: &[String], expected: usize) {
    let mut unique = ids.to_vec();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), ids.len(), "an event was stored twice");
    assert_eq!(ids.len(), expected, "events stored");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_message_is_stored_once_poison_is_quarantined_and_offsets_follow_durability() {
    let cluster = cluster();
    let brokers = cluster.bootstrap_servers();
    let dir = tempfile::tempdir().expect("tempdir");
    let producer = producer(&brokers);
    produce(&producer, 0..1500).await;
    // Poison on partition 1: not JSON, cut short, not UTF-8, a record no
    // mapping knows, a tombstone.
    let poison = [
        Some(&b"{not json"[..]),
        Some(&b"{\"truncated\": "[..]),
        Some(&b"\xff\xfe not utf-8"[..]),
        Some(&br#"{"hello":"world"}"#[..]),
        None,
    ];
    for payload in poison {
        let mut message = FutureRecord::<str, [u8]>::to(TOPIC).key("poison").partition(1);
        if let Some(payload) = payload {
            message = message.payload(payload);
        }
        producer.send(message, Duration::from_secs(10)).await.map_err(|(e, _)| e).expect("produced");
    }
    produce(&producer, 1500..2000).await;

    // A writer queue of one: the collector must wait for room, not drop.
    let options = WriterOptions { queue_depth: 1, max_group: 1, ..WriterOptions::default() };
    let node = Node::start(dir.path(), config(&brokers, "agentrail"), options);
    node.wait_for_messages(2005, Duration::from_secs(60)).await;
    let metrics = node.stop().await;
    assert_eq!(metrics.accepted.get(), 2000);
    assert_eq!(metrics.rejected.get(), 5);

    assert_exactly_once(&stored_ids(dir.path()), 2000);
    let mut quarantine = quarantined(dir.path());
    quarantine.sort();
    assert_eq!(quarantine.len(), 5, "{quarantine:?}");
    let origins: Vec<&str> = quarantine.iter().map(|(o, _)| o.as_str()).collect();
    assert!(origins.iter().all(|o| o.starts_with("kafka:agent-audit/1@")), "{origins:?}");
    assert!(quarantine.iter().any(|(_, reason)| reason.contains("tombstone")), "{quarantine:?}");
    assert!(quarantine.iter().any(|(_, reason)| reason.contains("no source mapping")), "{quarantine:?}");

    // Every offset was stored, so each position is one past the partition's
    // last offset: its record count, plus the 5 poison messages on partition 1.
    let positions = committed(&brokers, "agentrail");
    for partition in 0..PARTITIONS {
        let records = (0..2000).filter(|i| i % PARTITIONS == partition).count() as i64;
        let poison = if partition == 1 { 5 } else { 0 };
        assert_eq!(positions[&partition], Some(records + poison), "partition {partition}: {positions:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reading_a_topic_again_stores_nothing_twice() {
    let cluster = cluster();
    let brokers = cluster.bootstrap_servers();
    let dir = tempfile::tempdir().expect("tempdir");
    produce(&producer(&brokers), 0..600).await;
    let first = Node::start(dir.path(), config(&brokers, "first"), WriterOptions::default());
    first.wait_for_messages(600, Duration::from_secs(60)).await;
    first.stop().await;
    // Another group reads everything again, as a consumer does after a crash
    // that lost its positions: the events are recognised and not stored again.
    let again = Node::start(dir.path(), config(&brokers, "second"), WriterOptions::default());
    again.wait_for_messages(600, Duration::from_secs(60)).await;
    let metrics = again.stop().await;
    assert_eq!(metrics.accepted.get(), 0);
    assert_eq!(metrics.duplicates.get(), 600);
    assert_exactly_once(&stored_ids(dir.path()), 600);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn brokers_down_then_up_and_slow_lose_nothing() {
    let cluster = cluster();
    let brokers = cluster.bootstrap_servers();
    let dir = tempfile::tempdir().expect("tempdir");
    let producer = producer(&brokers);
    produce(&producer, 0..300).await;
    let node = Node::start(dir.path(), config(&brokers, "agentrail"), WriterOptions::default());
    node.wait_for_messages(300, Duration::from_secs(60)).await;

    // Every broker goes down: the collector waits, nothing is committed
    // wrongly, nothing panics; the brokers come back and it carries on.
    for broker in 1..=3 {
        cluster.broker_down(broker).expect("down");
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    for broker in 1..=3 {
        cluster.broker_up(broker).expect("up");
    }
    produce(&producer, 300..600).await;
    node.wait_for_messages(600, Duration::from_secs(60)).await;

    // Slow brokers: every request takes 300 ms.
    for broker in 1..=3 {
        cluster.broker_round_trip_time(broker, Duration::from_millis(300)).expect("rtt");
    }
    produce(&producer, 600..900).await;
    node.wait_for_messages(900, Duration::from_secs(90)).await;
    let metrics = node.stop().await;
    assert_eq!(metrics.accepted.get(), 900);
    assert_exactly_once(&stored_ids(dir.path()), 900);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partitions_move_between_group_members_without_loss() {
    let cluster = cluster();
    let brokers = cluster.bootstrap_servers();
    let producer = producer(&brokers);
    let dir_a = tempfile::tempdir().expect("tempdir");
    let dir_b = tempfile::tempdir().expect("tempdir");
    produce(&producer, 0..900).await;
    let a = Node::start(dir_a.path(), config(&brokers, "shared"), WriterOptions::default());
    a.wait_for_messages(1, Duration::from_secs(60)).await;
    // A second member joins: partitions are split between the two.
    let b = Node::start(dir_b.path(), config(&brokers, "shared"), WriterOptions::default());
    produce(&producer, 900..1800).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    // The first leaves (graceful): the second takes over all partitions.
    a.stop().await;
    produce(&producer, 1800..2400).await;
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let positions = committed(&brokers, "shared");
        if positions.values().map(|p| p.unwrap_or(0)).sum::<i64>() == 2400 {
            break;
        }
        assert!(Instant::now() < deadline, "positions stuck at {positions:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    b.stop().await;
    // Each member wrote its own store; a message read by both (in flight at
    // the hand-over) is in both, but no event is missing from the union and
    // neither store holds one twice.
    let ids_a = stored_ids(dir_a.path());
    let ids_b = stored_ids(dir_b.path());
    assert_exactly_once(&ids_a, ids_a.len());
    assert_exactly_once(&ids_b, ids_b.len());
    let mut union: Vec<String> = ids_a.into_iter().chain(ids_b).collect();
    union.sort();
    union.dedup();
    assert_eq!(union.len(), 2400);
}
