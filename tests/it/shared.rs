//! Several nodes sharing one store: two `serve` processes sealing into a
//! real S3-compatible server (`s3s-fs`) with a real PostgreSQL as their
//! catalog, one killed and restarted mid-way, and a third, query-only
//! process reading everything they listed.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use crate::harness::{Server, TempDir, cargo_installed, duckdb, http, run, stderr, wait_until};

const ACCESS_KEY: &str = "agentrail-test";
const SECRET_KEY: &str = "agentrail-test-secret";
const BUCKET: &str = "audit";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port")
}

fn wait_for_port(port: u16, what: &str) {
    wait_until(&format!("{what} listens on {port}"), 60, || {
        std::net::TcpStream::connect(("127.0.0.1", port)).map(|_| ()).map_err(|e| e.to_string())
    });
}

/// `s3s-fs`, an S3-compatible server over a directory, killed when dropped.
struct S3Server {
    child: Child,
    port: u16,
}

impl S3Server {
    fn start(root: &Path) -> S3Server {
        let bin = cargo_installed(
            "s3s-fs",
            "AGENTRAIL_S3S_FS",
            "cargo install s3s-fs --version 0.14.1 --features binary --locked",
        );
        std::fs::create_dir_all(root.join(BUCKET)).expect("bucket directory");
        let port = free_port();
        let child = Command::new(bin)
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args(["--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY])
            .arg(root)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("s3s-fs starts");
        wait_for_port(port, "s3s-fs");
        S3Server { child, port }
    }

    fn config(&self) -> String {
        format!(
            "[storage]\nurl = \"s3://{BUCKET}/agentrail\"\n\
             options = {{ endpoint = \"http://127.0.0.1:{}\", allow_http = \"true\", region = \"us-east-1\", \
             access_key_id = \"{ACCESS_KEY}\", secret_access_key = \"{SECRET_KEY}\" }}\n",
            self.port
        )
    }

    fn flags(&self) -> Vec<String> {
        [
            "--storage".to_owned(),
            format!("s3://{BUCKET}/agentrail"),
            "--storage-option".to_owned(),
            format!("endpoint=http://127.0.0.1:{}", self.port),
            "--storage-option".to_owned(),
            "allow_http=true".to_owned(),
            "--storage-option".to_owned(),
            "region=us-east-1".to_owned(),
            "--storage-option".to_owned(),
            format!("access_key_id={ACCESS_KEY}"),
            "--storage-option".to_owned(),
            format!("secret_access_key={SECRET_KEY}"),
        ]
        .to_vec()
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A PostgreSQL server of its own (Debian's `postgresql`), in a scratch
/// directory, on a free port; stopped when dropped.
struct PgServer {
    child: Child,
    port: u16,
}

fn pg_bin(name: &str) -> PathBuf {
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|versions| versions.flatten().map(|v| v.path().join("bin").join(name)).filter(|p| p.is_file()).collect())
        .unwrap_or_default();
    found.sort();
    found.pop().unwrap_or_else(|| panic!("these tests need PostgreSQL's {name}: apt-get install postgresql"))
}

/// `command` as the `postgres` user when run as root (PostgreSQL refuses root).
fn as_postgres(program: &Path) -> Command {
    let root = Command::new("id").arg("-u").output().map(|o| o.stdout == b"0\n").unwrap_or(false);
    if root {
        let mut command = Command::new("runuser");
        command.args(["-u", "postgres", "--"]).arg(program);
        command
    } else {
        Command::new(program)
    }
}

impl PgServer {
    fn start(dir: &Path) -> PgServer {
        let data = dir.join("pgdata");
        std::fs::create_dir_all(&data).expect("pg directory");
        let _ = Command::new("chown").args(["-R", "postgres:postgres"]).arg(dir).status();
        let init = as_postgres(&pg_bin("initdb"))
            .args(["-D"])
            .arg(&data)
            .args(["-A", "trust", "-U", "agentrail", "--no-sync"])
            .output()
            .expect("initdb runs");
        assert!(init.status.success(), "initdb: {}", String::from_utf8_lossy(&init.stderr));
        let port = free_port();
        let child = as_postgres(&pg_bin("postgres"))
            .arg("-D")
            .arg(&data)
            .args(["-p", &port.to_string(), "-k"])
            .arg(&data)
            .args(["-c", "listen_addresses=127.0.0.1", "-c", "fsync=off"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("postgres starts");
        wait_for_port(port, "postgres");
        PgServer { child, port }
    }

    fn url(&self) -> String {
        format!("postgres://agentrail@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An ingest node: `serve` with the shared store and its own data directory.
fn node(dir: &Path, id: &str, shared: &str) -> Server {
    std::fs::create_dir_all(dir).expect("node directory");
    let config = dir.join("agentrail.toml");
    std::fs::write(&config, format!("seal_after_seconds = 1\n{shared}\n[node]\nid = \"{id}\"\ncatalog_poll_ms = 200\n\n[audit]\nenabled = false\n"))
        .expect("config");
    let data = dir.join("data").display().to_string();
    Server::start(&["--config", &config.display().to_string(), "--data-dir", &data])
}

/// `count` events, numbered from `first`, in CloudTrail's shape.
fn batch(first: usize, count: usize) -> Vec<u8> {
    let mut body = String::new();
    for n in first..first + count {
        body.push_str(&format!(
            r#"{{"eventVersion":"1.08","eventTime":"2026-11-24T10:{:02}:{:02}Z","eventSource":"logs.amazonaws.com","eventName":"DeleteLogGroup","eventID":"shared-{n:06}","awsRegion":"us-east-1","userIdentity":{{"type":"AssumedRole","arn":"arn:aws:sts::123456789012:assumed-role/agent/agent-7"}},"requestParameters":{{"logGroupName":"/app/{n}"}}}}"#,
            (n / 60) % 60,
            n % 60
        ));
        body.push('\n');
    }
    body.into_bytes()
}

fn post(server: &Server, body: &[u8]) -> u16 {
    let headers = [("Content-Type", "application/x-ndjson")];
    http(server.addr, "POST", "/v1/events", &headers, body).map(|r| r.status).unwrap_or(0)
}

/// The query-only process: `agentrail query` over the shared store.
fn shared_count(cache: &Path, flags: &[String], catalog: &str) -> Result<u64, String> {
    let cache = cache.display().to_string();
    let mut args: Vec<&str> = vec!["query", "--data-dir", &cache, "--format", "json", "--catalog", catalog];
    args.extend(flags.iter().map(String::as_str));
    args.push("SELECT count(*) AS n, count(DISTINCT event_id) AS ids FROM events");
    let output = run(&args, b"");
    if !output.status.success() {
        return Err(stderr(&output));
    }
    let rows: serde_json::Value = serde_json::from_slice(&output.stdout).map_err(|e| e.to_string())?;
    let (n, ids) = (rows[0]["n"].as_u64(), rows[0]["ids"].as_u64());
    match (n, ids) {
        (Some(n), Some(ids)) if n == ids => Ok(n),
        _ => Err(format!("rows and distinct ids differ: {rows}")),
    }
}

#[test]
fn two_nodes_share_s3_and_a_postgresql_catalog_through_a_kill_and_a_query_only_process_sees_every_event() {
    let root = TempDir::new("shared-two-nodes");
    let s3 = S3Server::start(&root.path().join("s3"));
    let pg = PgServer::start(&root.path().join("pg"));
    // Each node merges its small seals every second, while the queries below run.
    let compaction = "[compaction]\ninterval = \"1s\"\nmin_segments = 2\ngrace = \"1s\"\n";
    let shared = format!("{}\n[catalog]\nurl = \"{}\"\n{compaction}", s3.config(), pg.url());
    let (a_dir, b_dir) = (root.path().join("node-a"), root.path().join("node-b"));
    let mut a = node(&a_dir, "ingest-a", &shared);
    let b = node(&b_dir, "ingest-b", &shared);

    // Batches go to both nodes in turn; each acknowledged batch is counted.
    let (batches, size) = (40, 250);
    let mut acknowledged = 0;
    for i in 0..batches {
        let body = batch(i * size, size);
        if i == batches / 2 {
            // Node A dies mid-way (SIGKILL): what it acknowledged is in its
            // log, maybe sealed, maybe uploaded, maybe listed.
            let _ = a.child.kill();
            let _ = a.child.wait();
            a = node(&a_dir, "ingest-a", &shared);
        }
        let target = if i % 2 == 0 { &a } else { &b };
        assert_eq!(post(target, &body), 200, "batch {i}");
        acknowledged += size;
    }
    let expected = acknowledged as u64;

    // A query-only process (no data of its own: a cache directory) sees
    // exactly every acknowledged event, once.
    let cache = root.path().join("query");
    let seen = wait_until("every event listed in the shared catalog", 90, || {
        match shared_count(&cache, &s3.flags(), &pg.url()) {
            Ok(n) if n == expected => Ok(n),
            Ok(n) => Err(format!("{n} of {expected}")),
            Err(error) => Err(error),
        }
    });
    assert_eq!(seen, expected);

    // Each node's segments are named after it, and listed under it.
    let listed = psql(&pg.url(), "SELECT node, count(*), sum(rows) FROM agentrail_files GROUP BY node ORDER BY node");
    let per_node: Vec<(String, u64)> = listed
        .lines()
        .filter_map(|line| {
            let cells: Vec<&str> = line.split('|').collect();
            Some((cells.first()?.to_string(), cells.get(2)?.parse().ok()?))
        })
        .collect();
    assert_eq!(per_node.iter().map(|(_, rows)| rows).sum::<u64>(), expected, "{listed}");
    assert_eq!(
        per_node.iter().map(|(node, _)| node.as_str()).collect::<Vec<_>>(),
        ["ingest-a", "ingest-b"],
        "{listed}"
    );
    let objects = walk(&root.path().join("s3").join(BUCKET).join("agentrail/segments"));
    let parquet: Vec<&String> = objects.iter().filter(|name| name.ends_with(".parquet")).collect();
    assert!(!parquet.is_empty());
    assert!(parquet.iter().all(|name| name.starts_with("ingest-a-") || name.starts_with("ingest-b-")), "{parquet:?}");

    // The nodes' own answers agree, and each node's directory verifies.
    for server in [&a, &b] {
        let headers = [("Content-Type", "application/json")];
        let body = br#"{"sql": "SELECT count(*) AS n FROM events"}"#;
        wait_until("the node sees every node's events", 30, || {
            let answer = http(server.addr, "POST", "/api/v1/query", &headers, body).map_err(|e| e.to_string())?;
            match answer.json()["rows"][0]["n"].as_u64() {
                Some(n) if n == expected => Ok(()),
                other => Err(format!("{other:?}")),
            }
        });
    }

    // Both nodes merged their seals (ids and all, in the catalog's
    // transactions) and, past the grace, deleted the merged-away uploads:
    // the bucket holds what the catalog lists, and the count never moved.
    let segments = root.path().join("s3").join(BUCKET).join("agentrail/segments");
    wait_until("each node merged and its merged-away uploads went", 60, || {
        let merged =
            psql(&pg.url(), "SELECT node FROM agentrail_files WHERE path LIKE '%-c%' GROUP BY node ORDER BY node");
        let listed = psql(&pg.url(), "SELECT count(*) FROM agentrail_files WHERE kind = 'events'");
        let uploaded = walk(&segments).iter().filter(|name| name.ends_with(".parquet")).count();
        match (merged.as_str(), listed.parse::<usize>()) {
            ("ingest-a\ningest-b", Ok(listed)) if listed == uploaded => Ok(()),
            _ => Err(format!("merged by {merged:?}; {listed} listed, {uploaded} uploaded")),
        }
    });
    assert_eq!(shared_count(&cache, &s3.flags(), &pg.url()), Ok(expected));
    let ids = psql(&pg.url(), "SELECT count(*) FROM agentrail_event_ids");
    assert_eq!(ids.parse::<u64>().ok(), Some(expected), "each listed event's id, moved with its merge");
    // Stopped, not killed: a merge under way is finished (one a kill cuts
    // short leaves files the next start removes).
    assert!(a.stop().success(), "a stops gracefully");
    assert!(b.stop().success(), "b stops gracefully");
    for dir in [&a_dir, &b_dir] {
        let data = dir.join("data").display().to_string();
        let output = run(&["verify", "--data-dir", &data], b"");
        assert!(output.status.success(), "{}{}", String::from_utf8_lossy(&output.stdout), stderr(&output));
    }

    // DuckDB reads the bucket's Parquet as it is (through the file system
    // s3s-fs serves), the files the catalog lists: a merge's inputs stay in
    // the bucket for their grace, where a glob would count them too.
    let bucket = root.path().join("s3").join(BUCKET).join("agentrail");
    let files: Vec<String> = psql(&pg.url(), "SELECT path FROM agentrail_files WHERE kind = 'events'")
        .lines()
        .map(|path| format!("'{}'", bucket.join(path).display()))
        .collect();
    let sql = format!(
        "SELECT count(*), count(DISTINCT event_id) FROM read_parquet([{}], hive_partitioning = true)",
        files.join(", ")
    );
    let rows = duckdb(&sql);
    assert_eq!((rows[0][0].as_u64(), rows[0][1].as_u64()), (Some(expected), Some(expected)), "{rows}");
}

#[test]
fn a_second_process_with_the_same_node_id_is_refused_and_bad_storage_is_named() {
    let root = TempDir::new("shared-refusals");
    let s3 = S3Server::start(&root.path().join("s3"));
    let pg = PgServer::start(&root.path().join("pg"));
    let shared = format!("{}\n[catalog]\nurl = \"{}\"\n", s3.config(), pg.url());
    let _first = node(&root.path().join("one"), "same", &shared);
    let dir = root.path().join("two");
    std::fs::create_dir_all(&dir).expect("dir");
    let config = dir.join("agentrail.toml");
    std::fs::write(&config, format!("{shared}\n[node]\nid = \"same\"\n")).expect("config");
    let data = dir.join("data").display().to_string();
    let output =
        run(&["serve", "--config", &config.display().to_string(), "--data-dir", &data, "--listen", "127.0.0.1:0"], b"");
    assert!(!output.status.success());
    assert!(stderr(&output).contains("node id \"same\" is in use"), "{}", stderr(&output));

    // An unknown scheme, a misspelt option and a bad node id, each named.
    for (storage, node, wanted) in [
        ("[storage]\nurl = \"ftp://x/y\"\n", "", "unknown scheme \"ftp\""),
        ("[storage]\nurl = \"s3://b\"\noptions = { endpiont = \"http://x\" }\n", "", "\"endpiont\""),
        (&*s3.config(), "[node]\nid = \"../escape\"\n", "is not valid"),
    ] {
        std::fs::write(&config, format!("{storage}\n{node}")).expect("config");
        let output = run(
            &["serve", "--config", &config.display().to_string(), "--data-dir", &data, "--listen", "127.0.0.1:0"],
            b"",
        );
        assert!(!output.status.success(), "{storage}");
        assert!(stderr(&output).contains(wanted), "{wanted}: {}", stderr(&output));
    }
}

/// `sql`'s answer through psql, unaligned, trimmed.
fn psql(url: &str, sql: &str) -> String {
    let output = Command::new("psql").args([url, "-At", "-c", sql]).output().expect("psql runs");
    assert!(output.status.success(), "{sql}: {}", stderr(&output));
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

/// File names under `dir`, recursively.
fn walk(dir: &Path) -> Vec<String> {
    let mut names = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                names.push(entry.file_name().to_string_lossy().into_owned());
            }
        }
    }
    names
}

/// Events of the bench-data sample, normalized.
fn sample_events() -> Vec<agentrail_event::Event> {
    let input =
        std::fs::read(crate::harness::workspace_root().join("bench-data/samples/mixed.ndjson")).expect("sample");
    agentrail_collect::builtin_normalizer()
        .expect("built-ins load")
        .normalize_all(&input, &agentrail_collect::SourceChoice::Auto)
        .expect("sample normalizes")
}

/// A store of node `node` publishing to `shared`, sealing only when told.
fn shared_store(dir: &Path, shared: &agentrail_shared::Shared, node: &str) -> agentrail_store::Store {
    let options = agentrail_store::StoreOptions {
        auto_seal: false,
        publisher: Some(shared.publisher(node.to_owned()) as std::sync::Arc<dyn agentrail_store::Publish>),
        ..agentrail_store::StoreOptions::default()
    };
    agentrail_store::Store::open(dir, options).expect("the store opens").0
}

/// What the catalog lists: rows, and files per node.
fn listed_rows(shared: &agentrail_shared::Shared) -> u64 {
    let listing = shared.runtime.block_on(shared.catalog.list()).expect("the catalog lists");
    listing.segments.iter().map(|s| s.rows).sum()
}

#[test]
fn two_nodes_holding_the_same_events_list_each_once_whoever_lists_first() {
    use agentrail_store::Finished;

    let root = TempDir::new("shared-dedup");
    let pg = PgServer::start(&root.path().join("pg"));
    let bucket = root.path().join("bucket");
    std::fs::create_dir_all(&bucket).expect("bucket");
    let storage =
        agentrail_shared::StorageConfig { url: format!("file://{}", bucket.display()), options: Default::default() };
    let catalog = agentrail_shared::CatalogConfig { url: Some(pg.url()), ..Default::default() };
    let shared = agentrail_shared::Shared::open(&storage, &catalog).expect("the shared store opens");
    let events = sample_events();
    assert!(events.len() >= 100, "the sample has {} events", events.len());
    let (a_dir, b_dir) = (root.path().join("a"), root.path().join("b"));
    let mut a = shared_store(&a_dir, &shared, "a");
    let mut b = shared_store(&b_dir, &shared, "b");

    // A makes events 0..60 durable and writes its seal; before A lists it,
    // B (which re-read 30..100 of A's partition) seals and lists.
    a.append(events[..60].to_vec(), Vec::new()).expect("durable on a");
    let mut a_seal = a.begin_seal().expect("rows to seal").run().expect("a's files written");
    b.append(events[30..100].to_vec(), Vec::new()).expect("durable on b");
    let b_segments = b.seal().expect("b lists");
    assert_eq!(b_segments.iter().map(|s| s.rows).sum::<u64>(), 70);

    // A's listing meets the 30 events B listed first: withdrawn, the rest
    // pending again and sealed without them.
    assert_eq!(a.finish_seal(&mut a_seal).expect("a's listing answers"), Finished::Requeued { dropped: 30 });
    assert!(a.manifest().segments.is_empty(), "nothing of the withdrawn seal is in the manifest");
    let a_segments = a.seal().expect("a lists the rest");
    assert_eq!(a_segments.iter().map(|s| s.rows).sum::<u64>(), 30);
    assert_eq!(listed_rows(&shared), 100);

    // B later re-reads events A listed: its seal leaves them out before writing.
    b.append(events[..10].to_vec(), Vec::new()).expect("durable on b");
    let job = b.begin_seal().expect("rows to seal");
    let mut sealed = job.run().expect("b's files written");
    assert_eq!(b.finish_seal(&mut sealed).expect("b lists"), Finished::Listed { dropped: 10 });
    assert_eq!(listed_rows(&shared), 100);
    drop((a, b));

    // The bucket holds each event once; both directories verify, A's chain
    // saying why its first seal's files are gone.
    let glob = bucket.join("segments/*/*.parquet").display().to_string();
    let rows = duckdb(&format!("SELECT count(*), count(DISTINCT event_id) FROM read_parquet('{glob}')"));
    assert_eq!((rows[0][0].as_u64(), rows[0][1].as_u64()), (Some(100), Some(100)), "{rows}");
    for dir in [&a_dir, &b_dir] {
        let output = run(&["verify", "--data-dir", &dir.display().to_string()], b"");
        assert!(output.status.success(), "{}{}", String::from_utf8_lossy(&output.stdout), stderr(&output));
    }
    let chain = std::fs::read_to_string(a_dir.join("integrity/chain.jsonl")).unwrap_or_default();
    assert!(chain.contains("another node listed 30 of its events first"), "{chain}");

    // Reopened, A publishes nothing again and lists the same.
    let reopened = shared_store(&a_dir, &shared, "a");
    assert_eq!(reopened.manifest().total_rows(), 30);
    assert_eq!(listed_rows(&shared), 100);
}

#[test]
fn two_kafka_consumers_of_one_group_store_every_message_once_through_a_kill_into_s3_and_postgresql() {
    use crate::kafka::{PARTITIONS, TOPIC, committed_total, kafka_section, metric, produce};

    let root = TempDir::new("shared-kafka");
    let broker = crate::harness::Broker::start();
    broker.create_topic(TOPIC, PARTITIONS as u32);
    let s3 = S3Server::start(&root.path().join("s3"));
    let pg = PgServer::start(&root.path().join("pg"));
    // Positions are committed every 3 s, so a node killed mid-stream has
    // made durable messages it never committed: the partition's next owner
    // reads them again.
    let shared = format!(
        "{}\n[catalog]\nurl = \"{}\"\n{}",
        s3.config(),
        pg.url(),
        kafka_section(&broker.address, "shared", 3000)
    );
    let (a_dir, b_dir) = (root.path().join("node-a"), root.path().join("node-b"));
    let a = node(&a_dir, "kafka-a", &shared);
    let b = node(&b_dir, "kafka-b", &shared);

    // Both members take part (each has stored some of a first third), then
    // A dies (SIGKILL) while the rest flows, and comes back.
    let total = 12_000;
    produce(&broker.address, 0..total / 3);
    wait_until("both nodes consume", 60, || {
        let (on_a, on_b) = (metric(&a, "agentrail_kafka_messages_total"), metric(&b, "agentrail_kafka_messages_total"));
        if on_a > 0 && on_b > 0 { Ok(()) } else { Err(format!("a {on_a}, b {on_b}")) }
    });
    let producer = {
        let brokers = broker.address.clone();
        std::thread::spawn(move || produce(&brokers, total / 3..total))
    };
    std::thread::sleep(std::time::Duration::from_millis(1000));
    drop(a);
    std::thread::sleep(std::time::Duration::from_millis(1000));
    let a = node(&a_dir, "kafka-a", &shared);
    producer.join().expect("produced");
    assert_eq!(topic_messages(&broker.address), total as i64, "the broker holds every message once");
    wait_until("the group commits every message", 180, || match committed_total(&broker, "shared") {
        n if n >= total as i64 => Ok(()),
        n => Err(format!("{n} of {total}")),
    });

    let expected = total as u64;
    let cache = root.path().join("query");
    wait_until("exactly every message listed, once", 90, || match shared_count(&cache, &s3.flags(), &pg.url()) {
        Ok(n) if n == expected => Ok(n),
        Ok(n) => Err(format!("{n} of {expected}")),
        Err(error) => Err(error),
    });
    assert!(a.stop().success(), "a stops gracefully");
    assert!(b.stop().success(), "b stops gracefully");
    let cache = root.path().join("query-after-stop");
    assert_eq!(shared_count(&cache, &s3.flags(), &pg.url()), Ok(expected));
    for dir in [&a_dir, &b_dir] {
        let data = dir.join("data").display().to_string();
        let output = run(&["verify", "--data-dir", &data], b"");
        assert!(output.status.success(), "{}{}", String::from_utf8_lossy(&output.stdout), stderr(&output));
    }
    let glob = root.path().join("s3").join(BUCKET).join("agentrail/segments/*/*.parquet").display().to_string();
    let rows = duckdb(&format!("SELECT count(*), count(DISTINCT event_id) FROM read_parquet('{glob}')"));
    assert_eq!((rows[0][0].as_u64(), rows[0][1].as_u64()), (Some(expected), Some(expected)), "{rows}");
}

/// Messages in the topic (the partitions' high watermarks, summed).
fn topic_messages(brokers: &str) -> i64 {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    let consumer: BaseConsumer =
        rdkafka::ClientConfig::new().set("bootstrap.servers", brokers).create().expect("a consumer");
    (0..crate::kafka::PARTITIONS)
        .map(|partition| {
            let (low, high) = consumer
                .fetch_watermarks(crate::kafka::TOPIC, partition, std::time::Duration::from_secs(10))
                .expect("watermarks");
            high - low
        })
        .sum()
}
