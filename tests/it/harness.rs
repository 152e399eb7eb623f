//! Finding (building once) the real binary and running it.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The `agentrail` binary cargo built for this test run.
pub fn agentrail_bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_agentrail"))
}

/// Runs `agentrail ARGS` with `stdin` as standard input.
pub fn run(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(agentrail_bin())
        .args(args)
        .current_dir(workspace_root())
        .env("AGENTRAIL_PG_LISTEN", "127.0.0.1:0")
        .env_remove("AGENTRAIL_MAPPINGS")
        .env_remove("AGENTRAIL_REDACTION")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("agentrail starts");
    let mut input = child.stdin.take().expect("stdin");
    let stdin = stdin.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = input.write_all(&stdin);
    });
    let output = child.wait_with_output().expect("agentrail runs");
    writer.join().expect("stdin writer");
    output
}

pub fn stdout_lines(output: &Output) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("stdout line is not JSON ({e}): {line}")))
        .collect()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// A scratch directory removed at the end of the test.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("agentrail-it-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        TempDir(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A running `agentrail serve`, killed (SIGKILL) when dropped.
pub struct Server {
    pub child: std::process::Child,
    pub addr: std::net::SocketAddr,
    /// Where it serves PostgreSQL clients, when it does.
    pub pg: Option<std::net::SocketAddr>,
}

impl Server {
    /// Starts `agentrail serve ARGS --listen 127.0.0.1:0` and waits for its address.
    pub fn start(args: &[&str]) -> Server {
        let mut command = Command::new(agentrail_bin());
        command.arg("serve").args(args).args(["--listen", "127.0.0.1:0"]);
        Server::spawn(command)
    }

    /// Starts a command that runs `agentrail serve` (in a namespace, say)
    /// and prints its first line, and waits for the address in that line.
    pub fn spawn(mut command: Command) -> Server {
        use std::io::BufRead;
        // Servers run side by side: each takes a free PostgreSQL port
        // unless the test chose one.
        if command.get_envs().all(|(key, _)| key != "AGENTRAIL_PG_LISTEN") {
            command.env("AGENTRAIL_PG_LISTEN", "127.0.0.1:0");
        }
        let mut child = command
            .current_dir(workspace_root())
            .env_remove("AGENTRAIL_CONFIG")
            .stdout(Stdio::piped())
            // AGENTRAIL_IT_STDERR=1 shows the server's log (with RUST_LOG) when debugging a test.
            .stderr(if std::env::var_os("AGENTRAIL_IT_STDERR").is_some() { Stdio::inherit() } else { Stdio::null() })
            .spawn()
            .expect("agentrail serve starts");
        let stdout = child.stdout.take().expect("stdout");
        let (sender, receiver) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = std::io::BufReader::new(stdout).read_line(&mut line);
            let _ = sender.send(line);
        });
        let line = receiver.recv_timeout(std::time::Duration::from_secs(60)).expect("the server says where it listens");
        let addr = line
            .split("://")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("no address in {line:?}"));
        let pg = line
            .split("; postgresql on ")
            .nth(1)
            .and_then(|rest| rest.split([';', ' ', '\n']).next())
            .and_then(|a| a.parse().ok());
        Server { child, addr, pg }
    }

    /// SIGTERM, then waits for the exit status.
    pub fn stop(mut self) -> std::process::ExitStatus {
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        self.child.wait().expect("server exits")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A response: status, headers (lower-cased names) and body.
#[derive(Debug)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("response is not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

/// One HTTP/1.1 request over a fresh connection (`Connection: close`).
pub fn http(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> std::io::Result<HttpResponse> {
    use std::io::Read;
    let mut stream = std::net::TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(std::time::Duration::from_secs(60)))?;
    let mut request =
        format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n", body.len());
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes())?;
    stream.write_all(body)?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").ok_or_else(|| std::io::Error::other("no header end"))?;
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other("no status line"))?;
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    Ok(HttpResponse { status, headers, body: raw[split + 4..].to_vec() })
}

/// Runs a DuckDB query through Python (installed by `.ci/run`) and returns its rows as JSON.
pub fn duckdb(sql: &str) -> serde_json::Value {
    let script =
        format!("import duckdb, json\nrows = duckdb.sql({sql:?}).fetchall()\nprint(json.dumps(rows, default=str))");
    let output = Command::new("python3").arg("-c").arg(&script).output().expect("python3 runs");
    assert!(
        output.status.success(),
        "DuckDB query failed (is the duckdb Python package installed? `.ci/run` installs it): {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("rows as JSON")
}

/// A test's server binary installed with cargo: `$env_var`, else on
/// `PATH`, else in cargo's bin directory; `install` says how to get it.
pub fn cargo_installed(name: &str, env_var: &str, install: &str) -> PathBuf {
    if let Some(path) = std::env::var_os(env_var) {
        return PathBuf::from(path);
    }
    let on_path = std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).map(|dir| dir.join(name)).find(|p| p.is_file()))
        .unwrap_or_default();
    let in_cargo = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cargo")))
        .map(|home| home.join("bin").join(name))
        .filter(|p| p.is_file());
    on_path
        .or(in_cargo)
        .unwrap_or_else(|| panic!("these tests need {name}: `{install}` (.ci/run does this), or set {env_var}"))
}

/// The `tansu` Kafka-protocol broker binary.
pub fn tansu_bin() -> PathBuf {
    cargo_installed("tansu", "AGENTRAIL_TANSU", "cargo install tansu --version 0.6.0 --locked --features dynostore")
}

/// A `tansu` broker with in-memory storage on a free loopback port, killed when dropped.
pub struct Broker {
    child: std::process::Child,
    pub address: String,
}

impl Broker {
    pub fn start() -> Broker {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port");
        let url = format!("tcp://127.0.0.1:{port}");
        let child = Command::new(tansu_bin())
            .args(["broker", "--listener-url", &url, "--advertised-listener-url", &url])
            .args(["--storage-engine", "memory://tansu/"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("tansu starts");
        let address = format!("127.0.0.1:{port}");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while std::net::TcpStream::connect(&address).is_err() {
            assert!(std::time::Instant::now() < deadline, "tansu did not listen on {address}");
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        Broker { child, address }
    }

    pub fn create_topic(&self, name: &str, partitions: u32) {
        let status = Command::new(tansu_bin())
            .args(["topic", "create", name, "--partitions", &partitions.to_string()])
            .args(["--broker", &format!("tcp://{}", self.address)])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("tansu topic create runs");
        assert!(status.success(), "cannot create topic {name}");
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A data directory holding the checked-in multi-source bench-data sample
/// (`bench-data/samples/mixed.ndjson`, two days), stored by `agentrail ingest`.
pub fn sample_store(name: &str) -> (TempDir, String) {
    let data = TempDir::new(name);
    let dir = data.path().join("data").display().to_string();
    let sample = workspace_root().join("bench-data/samples/mixed.ndjson").display().to_string();
    let output = run(&["ingest", "--data-dir", &dir, &sample], b"");
    assert!(output.status.success(), "ingest: {}", stderr(&output));
    (data, dir)
}

/// Runs `agentrail ARGS`, which must fail with status 2 and a message on
/// stderr containing `wanted`.
pub fn refused(args: &[&str], wanted: &str) {
    let output = run(args, b"");
    assert_eq!(output.status.code(), Some(2), "{args:?}");
    assert!(stderr(&output).contains(wanted), "{args:?}: {}", stderr(&output));
}

/// The `n` of the first row `agentrail query` answers `sql` with.
pub fn count(dir: &str, sql: &str) -> u64 {
    let rows = cli_json(&["query", "--data-dir", dir, "--format", "json", sql]);
    rows[0]["n"].as_u64().expect("a count")
}

/// `agentrail verify` passes on `dir`.
pub fn verifies(dir: &str) {
    let output = run(&["verify", "--data-dir", dir], b"");
    assert!(output.status.success(), "{}{}", String::from_utf8_lossy(&output.stdout), stderr(&output));
}

/// Runs `agentrail ARGS`, which must succeed, and parses its JSON output.
pub fn cli_json(args: &[&str]) -> serde_json::Value {
    let output = run(args, b"");
    assert!(output.status.success(), "{args:?}: {}", stderr(&output));
    serde_json::from_slice(&output.stdout).expect("JSON output")
}

/// The most frequent value of `column` among a data directory's events
/// (asked of `agentrail query`): a busy agent, incident or credential.
pub fn most_common(dir: &str, column: &str) -> String {
    let sql = format!(
        "SELECT {column} FROM events WHERE {column} IS NOT NULL GROUP BY {column} ORDER BY count(*) DESC, {column} LIMIT 1"
    );
    let rows = cli_json(&["query", "--data-dir", dir, "--format", "json", &sql]);
    rows[0][column].as_str().unwrap_or_else(|| panic!("no {column} in {dir}")).to_owned()
}

/// One request a [`WebhookReceiver`] got.
#[derive(Debug, Clone)]
pub struct ReceivedRequest {
    pub path: String,
    /// Lower-cased names.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl ReceivedRequest {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("webhook body is not JSON ({e})"))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

/// A webhook receiver on a real socket: an HTTP/1.1 server (keep-alive
/// included) that records every request and answers `503` to the first
/// `failures` of them, then `200`.
pub struct WebhookReceiver {
    pub addr: std::net::SocketAddr,
    received: std::sync::Arc<std::sync::Mutex<Vec<ReceivedRequest>>>,
}

impl WebhookReceiver {
    pub fn start(failures: usize) -> WebhookReceiver {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("receiver binds");
        let addr = listener.local_addr().expect("receiver address");
        let received = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let answered = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let log = std::sync::Arc::clone(&received);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let log = std::sync::Arc::clone(&log);
                let answered = std::sync::Arc::clone(&answered);
                std::thread::spawn(move || serve_webhook_connection(stream, &log, &answered, failures));
            }
        });
        WebhookReceiver { addr, received }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn received(&self) -> Vec<ReceivedRequest> {
        self.received.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// Waits (up to `seconds`) for a request that `wanted` accepts.
    pub fn wait_for(&self, seconds: u64, wanted: impl Fn(&ReceivedRequest) -> bool) -> ReceivedRequest {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(seconds);
        loop {
            if let Some(request) = self.received().into_iter().find(|r| wanted(r)) {
                return request;
            }
            assert!(std::time::Instant::now() < deadline, "no such webhook request; got {:?}", self.received());
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }
}

fn serve_webhook_connection(
    stream: std::net::TcpStream,
    log: &std::sync::Mutex<Vec<ReceivedRequest>>,
    answered: &std::sync::atomic::AtomicUsize,
    failures: usize,
) {
    use std::io::{BufRead, BufReader, Read};
    let Ok(mut writer) = stream.try_clone() else { return };
    let mut reader = BufReader::new(stream);
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
            return;
        }
        let path = request_line.split_whitespace().nth(1).unwrap_or_default().to_owned();
        let mut headers = Vec::new();
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':') {
                headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
            }
        }
        let length = headers.iter().find(|(n, _)| n == "content-length").and_then(|(_, v)| v.parse().ok()).unwrap_or(0);
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        log.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(ReceivedRequest { path, headers, body });
        let n = answered.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let response: &[u8] = if n < failures {
            b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 4\r\n\r\nbusy"
        } else {
            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
        };
        if writer.write_all(response).is_err() {
            return;
        }
    }
}

/// The tokens of [`server`]: ingest only, analyst (read) only, and admin.
pub const SHIPPER: &str = "Bearer shipper-token-0123456789";
pub const ANALYST: &str = "Bearer analyst-token-0123456789";
pub const ADMIN: &str = "Bearer admin-token-0123456789";

/// A server with an ingest-only, an analyst and an admin token, sealing every second.
/// Its own requests are not audited (they would add events the tests count)
/// unless `extra_config` has an `[audit]` section.
pub fn server(name: &str, extra_config: &str) -> (TempDir, String, Server) {
    server_in(TempDir::new(name), extra_config)
}

/// [`server`] over `data/` in a directory prepared beforehand.
pub fn server_in(data: TempDir, extra_config: &str) -> (TempDir, String, Server) {
    let audit = if extra_config.contains("[audit]") { "" } else { "[audit]\nenabled = false\n" };
    let config = data.path().join("agentrail.toml");
    std::fs::write(
        &config,
        format!(
            r#"
seal_after_seconds = 1
{extra_config}
{audit}

[[tokens]]
name = "shipper"
token = "shipper-token-0123456789"

[[tokens]]
name = "analyst"
token = "analyst-token-0123456789"
roles = ["analyst"]

[[tokens]]
name = "admin"
token = "admin-token-0123456789"
roles = ["admin"]
"#
        ),
    )
    .expect("config");
    let data_dir = data.path().join("data").display().to_string();
    let server = Server::start(&["--config", &config.display().to_string(), "--data-dir", &data_dir]);
    (data, data_dir, server)
}

pub fn get(server: &Server, path: &str, auth: &str) -> HttpResponse {
    http(server.addr, "GET", path, &[("Authorization", auth)], b"").expect("request")
}

pub fn post_query(server: &Server, body: &str, extra: &[(&str, &str)]) -> HttpResponse {
    let mut headers = vec![("Authorization", ANALYST), ("Content-Type", "application/json")];
    headers.extend_from_slice(extra);
    http(server.addr, "POST", "/api/v1/query", &headers, body.as_bytes()).expect("request")
}

/// Posts the bench sample and waits until the API sees all of it sealed.
pub fn ingest_sample(server: &Server) -> u64 {
    let sample = std::fs::read(workspace_root().join("bench-data/samples/mixed.ndjson")).expect("sample");
    let headers = [("Authorization", SHIPPER), ("Content-Type", "application/x-ndjson")];
    let posted = http(server.addr, "POST", "/v1/events", &headers, &sample).expect("post");
    assert_eq!(posted.status, 200, "{}", String::from_utf8_lossy(&posted.body));
    let accepted = posted.json()["accepted"].as_u64().expect("accepted");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let counted =
            post_query(server, r#"{"sql": "SELECT count(*) AS n FROM events WHERE source <> 'agentrail'"}"#, &[]);
        assert_eq!(counted.status, 200, "{}", String::from_utf8_lossy(&counted.body));
        if counted.json()["rows"][0]["n"].as_u64() == Some(accepted) {
            return accepted;
        }
        assert!(std::time::Instant::now() < deadline, "sealed events never became visible: {}", counted.json());
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

/// Writes the built-in `destructive_without_approval` rule into `dir`, tuned
/// to run every two seconds over ten years (a user tunes a rule by copying
/// it), so a server with `[reports] rules_dir` there has findings at once.
pub fn quick_destructive_rule(dir: &Path) {
    let rule = "destructive_without_approval";
    let builtin =
        std::fs::read_to_string(workspace_root().join(format!("queries/anomalies/{rule}.sql"))).expect("built-in rule");
    let tuned =
        builtin.replace("-- schedule: 15m", "-- schedule: 2s").replace("-- lookback: 24h", "-- lookback: 3650d");
    assert_ne!(tuned, builtin, "the rule's header changed: update this helper");
    std::fs::write(dir.join(format!("{rule}.sql")), tuned).expect("rule written");
}

/// Writes two rules into `dir` that cannot run: `no_severity` (its file
/// cannot be used) and `bad_column` (parses, but names a column `events`
/// lacks), both every two seconds over a day.
pub fn write_broken_rules(dir: &Path) {
    let write = |name: &str, text: &str| std::fs::write(dir.join(name), text).expect("rule written");
    write(
        "no_severity.sql",
        "-- description: x\n-- schedule: 2s\n-- lookback: 1d\n-- param: from\n-- param: to\nSELECT $from, $to",
    );
    write(
        "bad_column.sql",
        "-- description: x\n-- severity: low\n-- schedule: 2s\n-- lookback: 1d\n-- param: from\n-- param: to\n\
         SELECT event_id, time, no_such_column AS finding FROM events \
         WHERE time >= to_timestamp_micros($from) AND time < to_timestamp_micros($to)",
    );
}

/// Polls `check` every 200 ms until it gives a value, failing after `seconds`
/// with `what` and the last state it described.
pub fn wait_until<T>(what: &str, seconds: u64, mut check: impl FnMut() -> Result<T, String>) -> T {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(seconds);
    loop {
        match check() {
            Ok(value) => return value,
            Err(state) => assert!(std::time::Instant::now() < deadline, "{what}: {state}"),
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}
