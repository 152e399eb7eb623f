//! `agentrail serve` over real sockets: answers, limits, auth, graceful
//! shutdown, and the crash test.

use std::collections::HashSet;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::harness::{Server, TempDir, duckdb, http};

fn gateway_record(id: &str) -> String {
    format!(
        r#"{{"id":"{id}","ts":"2026-11-20T10:00:00Z","agent_id":"agent-{}","tool":"github.list_repos","on_behalf_of":"alice@example.com"}}"#,
        id.len()
    )
}

fn ndjson(ids: &[String]) -> Vec<u8> {
    ids.iter().map(|id| gateway_record(id) + "\n").collect::<String>().into_bytes()
}

const NDJSON: (&str, &str) = ("Content-Type", "application/x-ndjson");

/// Stored event ids, counted by DuckDB over the sealed segments.
fn stored_ids(data_dir: &str) -> (u64, u64) {
    let rows = duckdb(&format!(
        "SELECT count(*), count(DISTINCT event_id) FROM read_parquet('{data_dir}/segments/**/*.parquet')"
    ));
    (rows[0][0].as_u64().unwrap_or_default(), rows[0][1].as_u64().unwrap_or_default())
}

#[test]
fn ingest_answers_with_counts_and_keeps_good_lines_of_a_bad_batch() {
    let data = TempDir::new("serve");
    let data_dir = data.path().display().to_string();
    let server = Server::start(&["--data-dir", &data_dir]);

    let ids: Vec<String> = (0..50).map(|i| format!("gw-{i}")).collect();
    let answer = http(server.addr, "POST", "/v1/events", &[NDJSON], &ndjson(&ids)).expect("request");
    assert_eq!(answer.status, 200);
    assert_eq!(answer.json(), serde_json::json!({"accepted": 50, "duplicates": 0, "rejected": 0, "errors": []}));

    // A retried batch with one bad line: duplicates counted, good line kept, bad one named.
    let mut body = ndjson(&ids[..10]);
    body.extend_from_slice(b"{\"id\": \"gw-cut\", \"ts\": \n");
    body.extend_from_slice(&ndjson(&["gw-new".to_owned()]));
    let answer = http(server.addr, "POST", "/v1/events", &[NDJSON], &body).expect("request");
    assert_eq!(answer.status, 200);
    let json = answer.json();
    assert_eq!(
        (json["accepted"].as_u64(), json["duplicates"].as_u64(), json["rejected"].as_u64()),
        (Some(1), Some(10), Some(1))
    );
    assert_eq!(json["errors"][0]["index"], "line 11");

    // gzip bodies, and a gzip bomb refused.
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(&ndjson(&["gw-gz".to_owned()])).expect("gzip");
    let gz = encoder.finish().expect("gzip");
    let answer =
        http(server.addr, "POST", "/v1/events", &[NDJSON, ("Content-Encoding", "gzip")], &gz).expect("request");
    assert_eq!((answer.status, answer.json()["accepted"].as_u64()), (200, Some(1)));
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(&vec![b' '; 100 << 20]).expect("gzip");
    let bomb = encoder.finish().expect("gzip");
    let answer = http(server.addr, "POST", "/v1/events", &[("Content-Encoding", "gzip")], &bomb).expect("request");
    assert_eq!(answer.status, 413, "{}", String::from_utf8_lossy(&answer.body));

    // Clear refusals for what cannot be read.
    let answer = http(server.addr, "POST", "/v1/events", &[("Content-Encoding", "br")], b"{}").expect("request");
    assert_eq!(answer.status, 415);
    let answer = http(server.addr, "POST", "/v1/events?source=nosuch", &[], b"{}").expect("request");
    assert_eq!(answer.status, 400);
    assert!(answer.json()["error"].as_str().is_some_and(|e| e.contains("nosuch")));
    let answer = http(server.addr, "GET", "/healthz", &[], b"").expect("request");
    assert_eq!(answer.status, 200);
    let metrics = http(server.addr, "GET", "/metrics", &[], b"").expect("request");
    assert!(String::from_utf8_lossy(&metrics.body).contains("agentrail_events_accepted_total 52"));
    assert!(metrics.header("content-type").is_some_and(|t| t.starts_with("text/plain")), "{:?}", metrics.headers);

    // SIGTERM: stop accepting, seal, exit 0; another engine reads the result.
    assert!(server.stop().success());
    assert_eq!(stored_ids(&data_dir), (52, 52));
}

#[test]
fn tokens_are_required_and_limited_to_their_sources() {
    let data = TempDir::new("tokens");
    let config = data.path().join("agentrail.toml");
    std::fs::write(
        &config,
        r#"
[[tokens]]
name = "gateway"
token = "s3cret-gateway-token"
sources = ["agent"]
"#,
    )
    .expect("config");
    let data_dir = data.path().join("data").display().to_string();
    let config = config.display().to_string();
    let server = Server::start(&["--config", &config, "--data-dir", &data_dir]);
    let body = ndjson(&["gw-1".to_owned()]);
    let post = |auth: Option<&str>, body: &[u8]| {
        let header;
        let mut headers = vec![NDJSON];
        if let Some(token) = auth {
            header = format!("Bearer {token}");
            headers.push(("Authorization", header.as_str()));
            return http(server.addr, "POST", "/v1/events", &headers, body).expect("request");
        }
        http(server.addr, "POST", "/v1/events", &headers, body).expect("request")
    };
    assert_eq!(post(None, &body).status, 401);
    assert_eq!(post(Some("s3cret-gateway-tokeN"), &body).status, 401);
    assert_eq!(post(Some("s3cret-gateway-token"), &body).status, 200);
    let cloudtrail = br#"{"eventVersion":"1.09","eventTime":"2026-11-20T10:00:00Z","eventSource":"s3.amazonaws.com","eventName":"ListBuckets","eventID":"e1"}"#;
    let refused = post(Some("s3cret-gateway-token"), cloudtrail);
    assert_eq!(refused.status, 403);
    assert!(refused.json()["error"].as_str().is_some_and(|e| e.contains("aws.cloudtrail")));
}

#[test]
fn binding_beyond_loopback_without_tokens_is_refused() {
    let output = crate::harness::run(&["serve", "--data-dir", "/tmp/agentrail-never", "--listen", "0.0.0.0:0"], b"");
    assert_eq!(output.status.code(), Some(2));
    assert!(crate::harness::stderr(&output).contains("without ingest tokens"), "{}", crate::harness::stderr(&output));
}

/// Several clients post unique events while the server is killed with
/// SIGKILL at random moments and restarted. Every event that was answered
/// 200 must be stored, and nothing stored twice.
#[test]
fn acknowledged_events_survive_kill_9_exactly_once() {
    let data = TempDir::new("crash");
    let data_dir = data.path().display().to_string();
    let acknowledged = Arc::new(Mutex::new(HashSet::new()));
    let sent = Arc::new(Mutex::new(HashSet::new()));
    let mut next_id = 0_u64;
    let mut seed = 0x9e37_79b9_u64;
    let mut random = move |bound: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % bound
    };
    for round in 0..4 {
        let server = Server::start(&["--data-dir", &data_dir]);
        let addr = server.addr;
        let deadline = Instant::now() + Duration::from_millis(400 + random(800));
        let mut clients = Vec::new();
        for client in 0..4 {
            let acknowledged = Arc::clone(&acknowledged);
            let sent = Arc::clone(&sent);
            let first = next_id + client * 1_000_000;
            clients.push(std::thread::spawn(move || {
                let mut id = first;
                while Instant::now() < deadline + Duration::from_millis(300) {
                    let batch: Vec<String> = (id..id + 50).map(|n| format!("crash-{round}-{n}")).collect();
                    id += 50;
                    sent.lock().expect("lock").extend(batch.iter().cloned());
                    // Retries of unacknowledged batches are what shippers do; here the next
                    // round's restart plays the same role for the ids checked below.
                    match http(addr, "POST", "/v1/events", &[NDJSON], &ndjson(&batch)) {
                        Ok(answer) if answer.status == 200 => {
                            acknowledged.lock().expect("lock").extend(batch.into_iter().map(|i| format!("agent:{i}")));
                        }
                        _ => {}
                    }
                }
            }));
        }
        next_id += 10_000_000;
        std::thread::sleep(deadline.saturating_duration_since(Instant::now()));
        drop(server); // SIGKILL mid-traffic.
        for client in clients {
            client.join().expect("client");
        }
    }
    // A last clean start replays the log; a graceful stop seals it.
    let server = Server::start(&["--data-dir", &data_dir]);
    assert!(server.stop().success());

    let acknowledged = acknowledged.lock().expect("lock").clone();
    assert!(acknowledged.len() > 500, "the test must acknowledge real traffic, got {}", acknowledged.len());
    let rows = duckdb(&format!("SELECT event_id FROM read_parquet('{data_dir}/segments/**/*.parquet')"));
    let stored: Vec<String> = rows
        .as_array()
        .map(|r| r.iter().filter_map(|row| row[0].as_str().map(str::to_owned)).collect())
        .unwrap_or_default();
    let stored_set: HashSet<&String> = stored.iter().collect();
    assert_eq!(stored_set.len(), stored.len(), "an event was stored twice");
    let lost: Vec<&String> = acknowledged.iter().filter(|id| !stored_set.contains(id)).take(5).collect();
    assert!(lost.is_empty(), "acknowledged events lost: {lost:?} (of {})", acknowledged.len());
    let sent = sent.lock().expect("lock");
    assert!(
        stored.iter().all(|id| id.strip_prefix("agent:").is_some_and(|raw| sent.contains(raw))),
        "stored something never sent"
    );
}

/// A signal right after the address is announced is handled gracefully:
/// the handlers exist before the announcement (this once raced).
#[test]
fn a_signal_right_after_start_stops_gracefully() {
    let data = TempDir::new("early-signal");
    let data_dir = data.path().display().to_string();
    for attempt in 0..8 {
        let server = Server::start(&["--data-dir", &data_dir]);
        let status = server.stop();
        assert!(status.success(), "attempt {attempt}: {status:?}");
    }
}

/// The data directory on a 4 MiB file system (a tmpfs in a private mount
/// namespace): once the disk is full, batches are answered 503 with
/// `Retry-After`, never 200 without fsync and never a client error; the
/// server stays up. Its data, copied out afterwards, holds every
/// acknowledged event exactly once.
#[test]
fn a_full_disk_is_503_with_retry_after_and_loses_nothing_acknowledged() {
    let scratch = TempDir::new("full-disk");
    let mount = scratch.path().join("small");
    let copied = scratch.path().join("copied");
    std::fs::create_dir_all(&mount).expect("mount point");
    let script = r#"
set -e
mount -t tmpfs -o size=4m tmpfs "$1"
"$2" serve --data-dir "$1/data" --listen 127.0.0.1:0 &
server=$!
trap 'kill -TERM $server' TERM
while kill -0 $server 2>/dev/null; do wait $server || true; done
cp -a "$1/data" "$3"
"#;
    let mut command = std::process::Command::new("unshare");
    command.args(["--user", "--map-root-user", "--mount", "sh", "-c", script, "sh"]).args([
        mount.as_os_str(),
        crate::harness::agentrail_bin().as_os_str(),
        copied.as_os_str(),
    ]);
    let server = Server::spawn(command);

    let mut acknowledged = Vec::new();
    let mut refusals = 0;
    for round in 0..2000 {
        let ids: Vec<String> = (0..100).map(|n| format!("full-{round}-{n}")).collect();
        let answer = http(server.addr, "POST", "/v1/events", &[NDJSON], &ndjson(&ids)).expect("answers");
        match answer.status {
            200 => acknowledged.extend(ids.into_iter().map(|id| format!("agent:{id}"))),
            503 => {
                assert!(answer.header("retry-after").is_some(), "503 without Retry-After");
                let body = String::from_utf8_lossy(&answer.body);
                assert!(body.contains("No space left"), "the reason names the full disk: {body}");
                refusals += 1;
                if refusals == 3 {
                    break;
                }
            }
            other => panic!("a full disk answered {other}: {}", String::from_utf8_lossy(&answer.body)),
        }
    }
    assert_eq!(refusals, 3, "the disk never filled up");
    assert!(!acknowledged.is_empty(), "some batches fit before the disk filled");
    let health = http(server.addr, "GET", "/healthz", &[], b"").expect("health answers");
    assert_eq!(health.status, 200, "the server stays up");
    server.stop();

    // On a disk with room, the copied data directory replays and seals.
    let data_dir = copied.display().to_string();
    let restarted = Server::start(&["--data-dir", &data_dir]);
    assert!(restarted.stop().success());
    let rows = duckdb(&format!("SELECT event_id FROM read_parquet('{data_dir}/segments/**/*.parquet')"));
    let stored: Vec<&str> =
        rows.as_array().map(|r| r.iter().filter_map(|row| row[0].as_str()).collect()).unwrap_or_default();
    let stored_set: HashSet<&str> = stored.iter().copied().collect();
    assert_eq!(stored_set.len(), stored.len(), "an event was stored twice");
    let lost: Vec<&String> = acknowledged.iter().filter(|id| !stored_set.contains(id.as_str())).take(5).collect();
    assert!(lost.is_empty(), "acknowledged events lost: {lost:?}");
}

/// The configuration example in the README is a configuration `serve`
/// accepts (tokens, limits, Kafka with TLS/SASL options and a topic pattern);
/// only the address and data directory are replaced for the test.
#[test]
fn the_readme_configuration_example_is_accepted() {
    let readme = std::fs::read_to_string(crate::harness::workspace_root().join("README.md")).expect("README");
    let example = readme
        .split("## Configuration")
        .nth(1)
        .and_then(|section| section.split("```toml").nth(1))
        .and_then(|block| block.split("```").next())
        .expect("a ```toml block under ## Configuration");
    let scratch = TempDir::new("readme-config");
    let config = scratch.path().join("agentrail.toml");
    std::fs::write(&config, example).expect("config");
    let data_dir = scratch.path().join("data").display().to_string();
    let server = Server::start(&["--config", &config.display().to_string(), "--data-dir", &data_dir]);
    let tokens: Vec<&str> = example
        .lines()
        .filter_map(|line| line.trim().strip_prefix("token = \"").and_then(|rest| rest.strip_suffix('"')))
        .collect();
    let [token, analyst, admin] = tokens[..] else {
        panic!("the example has an ingest, an analyst and an admin token: {tokens:?}")
    };
    let answer = http(
        server.addr,
        "POST",
        "/v1/events",
        &[NDJSON, ("Authorization", &format!("Bearer {token}"))],
        &ndjson(&["readme-1".to_owned()]),
    )
    .expect("answers");
    // The example's token may send CloudTrail and Kubernetes records only.
    assert_eq!(answer.status, 403, "{}", String::from_utf8_lossy(&answer.body));
    // The analyst may read, the shipper may not.
    let read = |token: &str| {
        http(server.addr, "GET", "/api/v1/queries", &[("Authorization", &format!("Bearer {token}"))], b"")
            .expect("answers")
            .status
    };
    assert_eq!((read(analyst), read(token), read(admin)), (200, 403, 200));
    // Only the admin may ask for retention; this example configures none.
    let retention = |token: &str| {
        let auth = format!("Bearer {token}");
        http(server.addr, "POST", "/api/v1/admin/retention", &[("Authorization", &auth)], b"").expect("answers")
    };
    assert_eq!(retention(analyst).status, 403);
    let none = retention(admin);
    assert_eq!(none.status, 409);
    assert!(none.json()["error"].as_str().is_some_and(|e| e.contains("no retention is configured")), "{}", none.json());
    assert!(server.stop().success());
}

/// Bodies that claim a compression they do not have are a clear 400.
#[test]
fn compressed_garbage_is_a_clear_client_error() {
    let data = TempDir::new("garbage");
    let data_dir = data.path().display().to_string();
    let server = Server::start(&["--data-dir", &data_dir]);
    for encoding in ["gzip", "zstd", "deflate"] {
        let answer = http(
            server.addr,
            "POST",
            "/v1/events",
            &[NDJSON, ("Content-Encoding", encoding)],
            b"this is not compressed at all",
        )
        .expect("answers");
        assert_eq!(answer.status, 400, "{encoding}: {}", String::from_utf8_lossy(&answer.body));
        let body = String::from_utf8_lossy(&answer.body).to_lowercase();
        assert!(body.contains(encoding), "the answer names the encoding: {body}");
    }
    assert!(server.stop().success());
}

/// `agentrail token` makes a token whose configuration lines hold only its
/// hash; the server accepts the token in the role it was made for.
#[test]
fn a_made_token_is_configured_by_its_hash_and_works() {
    let made = crate::harness::run(&["token", "--name", "soc", "--role", "analyst", "--source", "okta"], b"");
    assert!(made.status.success(), "{}", crate::harness::stderr(&made));
    let token = crate::harness::stderr(&made).lines().next().expect("the token").to_owned();
    assert!(token.starts_with("agentrail_") && token.len() == "agentrail_".len() + 64, "{token}");
    let lines = String::from_utf8(made.stdout).expect("utf-8");
    assert!(!lines.contains(&token) && lines.contains("token_sha256 = "), "{lines}");
    assert!(lines.contains("roles = [\"analyst\"]") && lines.contains("sources = [\"okta\"]"), "{lines}");

    let data = TempDir::new("made-token");
    let config = data.path().join("agentrail.toml");
    std::fs::write(&config, &lines).expect("config");
    let data_dir = data.path().join("data").display().to_string();
    let server = Server::start(&["--config", &config.display().to_string(), "--data-dir", &data_dir]);
    let read = |auth: &str| {
        http(server.addr, "GET", "/api/v1/queries", &[("Authorization", auth)], b"").expect("answers").status
    };
    assert_eq!(read(&format!("Bearer {token}")), 200);
    assert_eq!(
        read(&format!("Bearer {}", &lines[lines.find("token_sha256 = \"").expect("hash") + 16..][..64])),
        401,
        "the hash is not the token"
    );
    assert!(server.stop().success());

    crate::harness::refused(&["token", "--name", "x"], "--role");
    crate::harness::refused(&["token", "--name", "a\"b", "--role", "admin"], "must be a plain");
}
