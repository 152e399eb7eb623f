//! The PostgreSQL wire protocol with real clients: Debian's `psql` and
//! psycopg 3, against the same data the HTTP API answers from.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::process::{Command, Output};

use serde_json::Value;

use crate::harness::{
    ANALYST as BEARER, Server, TempDir, get, ingest_sample, post_query, quick_destructive_rule, sample_store, server,
    stderr, wait_until,
};

const ANALYST: &str = "analyst-token-0123456789";
const SHIPPER: &str = "shipper-token-0123456789";

/// `psql` as a script runs it: unaligned, tuples only, stop on error.
fn psql(pg: SocketAddr, user: &str, password: Option<&str>, args: &[&str]) -> Output {
    let mut command = Command::new("psql");
    command
        .args(["-h", &pg.ip().to_string(), "-p", &pg.port().to_string(), "-U", user, "-d", "agentrail"])
        .args(["-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-w"])
        .args(args)
        .env("PGCONNECT_TIMEOUT", "10")
        .env("PGSSLMODE", "disable")
        .env_remove("PGPASSWORD");
    if let Some(password) = password {
        command.env("PGPASSWORD", password);
    }
    command.output().expect("psql runs (`.ci/run` installs Debian's postgresql-client)")
}

/// psql's status when a statement failed (2 is a failed connection).
fn statement_failed(output: &Output) -> bool {
    matches!(output.status.code(), Some(1 | 3))
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The rows the HTTP API gives for `sql`.
fn api_rows(server: &Server, sql: &str) -> Vec<Value> {
    let body = serde_json::json!({ "sql": sql }).to_string();
    let answer = post_query(server, &body, &[]);
    assert_eq!(answer.status, 200, "{}", String::from_utf8_lossy(&answer.body));
    answer.json()["rows"].as_array().expect("rows").clone()
}

#[test]
fn psql_and_psycopg_list_tables_replay_and_search_as_the_api_answers_and_get_its_refusals() {
    let rules = TempDir::new("pg-rules");
    quick_destructive_rule(rules.path());
    let config = format!(
        "[audit]\nenabled = true\n[reports]\nfirst_run_delay_seconds = 0\nrules_dir = {:?}\n",
        rules.path().display().to_string()
    );
    let (_data, _dir, server) = server("pg-clients", &config);
    ingest_sample(&server);
    let pg = server.pg.expect("serve says where it serves PostgreSQL");
    let busiest = api_rows(
        &server,
        "SELECT correlation_id FROM events WHERE correlation_id IS NOT NULL \
         GROUP BY correlation_id ORDER BY count(*) DESC, correlation_id LIMIT 1",
    )[0]["correlation_id"]
        .as_str()
        .expect("an incident")
        .to_owned();
    let replay_sql = format!(
        "SELECT time, source, action, agent_id FROM events WHERE correlation_id = '{busiest}' ORDER BY time, event_id"
    );
    let replay = api_rows(&server, &replay_sql);
    assert!(replay.len() > 1, "the busiest incident has several events");
    let searched = api_rows(
        &server,
        &format!("SELECT count(*) AS n FROM events WHERE search('{busiest}') AND source <> 'agentrail'"),
    )[0]["n"]
        .as_u64()
        .expect("count");
    assert!(searched > 0);

    // psql: the catalog lists the tables, a replay and a search agree with the API.
    let listed = psql(pg, "analyst", Some(ANALYST), &["-c", "\\dt"]);
    assert!(listed.status.success(), "\\dt: {}", stderr(&listed));
    for table in ["events", "quarantine"] {
        assert!(stdout(&listed).lines().any(|line| line.contains(&format!("|{table}|"))), "{}", stdout(&listed));
    }
    // What Grafana and Metabase (pgjdbc) ask before they query.
    for client in ["grafana_tables.sql", "jdbc_get_tables.sql"] {
        let file = crate::harness::workspace_root().join("tests/fixtures/pg-clients").join(client);
        let listed = psql(pg, "grafana", Some(ANALYST), &["-f", &file.display().to_string()]);
        assert!(listed.status.success(), "{client}: {}", stderr(&listed));
        for table in ["events", "quarantine"] {
            assert!(stdout(&listed).contains(table), "{client} lists {table}: {}", stdout(&listed));
        }
    }
    let rows = psql(pg, "analyst", Some(ANALYST), &["-F", "\t", "-c", &replay_sql]);
    assert!(rows.status.success(), "replay: {}", stderr(&rows));
    let lines: Vec<String> = stdout(&rows).lines().filter(|l| !l.is_empty()).map(str::to_owned).collect();
    assert_eq!(lines.len(), replay.len(), "{lines:?}");
    for (line, expected) in lines.iter().zip(&replay) {
        let fields: Vec<&str> = line.split('\t').collect();
        assert_eq!(
            fields[1..],
            [&expected["source"], &expected["action"], &expected["agent_id"]].map(|v| v.as_str().unwrap_or(""))
        );
        // psql prints `2026-… 10:00:00.123+00`, the API `2026-…T10:00:00.123Z`: the same second.
        assert_eq!(fields[0][..19].replace(' ', "T"), expected["time"].as_str().expect("time")[..19]);
    }
    // Named queries are table functions: the replay timeline by name, its
    // argument bound as a value (a quote in it cannot widen the query).
    let named =
        psql(pg, "analyst", Some(ANALYST), &["-c", &format!("SELECT count(*) FROM replay_timeline('{busiest}')")]);
    assert_eq!(stdout(&named).trim(), replay.len().to_string(), "{}", stderr(&named));
    let injected = psql(pg, "analyst", Some(ANALYST), &["-c", "SELECT count(*) FROM replay_timeline(''' OR 1=1 --')"]);
    assert_eq!(stdout(&injected).trim(), "0", "{}", stderr(&injected));
    let arity = psql(pg, "analyst", Some(ANALYST), &["-c", "SELECT * FROM replay_timeline()"]);
    assert!(stderr(&arity).contains("replay_timeline needs the parameter(s) correlation_id"), "{}", stderr(&arity));
    let search = psql(
        pg,
        "analyst",
        Some(ANALYST),
        &["-c", &format!("SELECT count(*) FROM events WHERE search('{busiest}') AND source <> 'agentrail'")],
    );
    assert_eq!(stdout(&search).trim(), searched.to_string(), "{}", stderr(&search));

    // Refusals name the problem.
    let wrong = psql(pg, "analyst", Some("not-a-token-0123456789"), &["-c", "SELECT 1"]);
    assert_eq!(wrong.status.code(), Some(2));
    assert!(stderr(&wrong).contains("password authentication failed"), "{}", stderr(&wrong));
    let ingest_only = psql(pg, "shipper", Some(SHIPPER), &["-c", "SELECT 1"]);
    assert_eq!(ingest_only.status.code(), Some(2));
    assert!(stderr(&ingest_only).contains("does not have the analyst role"), "{}", stderr(&ingest_only));
    let no_password = psql(pg, "analyst", None, &["-c", "SELECT 1"]);
    assert_eq!(no_password.status.code(), Some(2), "a password is required when tokens are configured");
    for write in [
        "DROP TABLE events",
        "INSERT INTO events (event_id) VALUES ('forged')",
        "SET datafusion.execution.batch_size = 1",
    ] {
        let refused = psql(pg, "analyst", Some(ANALYST), &["-c", write]);
        assert!(statement_failed(&refused), "{write}: {}", stdout(&refused));
        assert!(
            stderr(&refused).contains("cannot be changed") || stderr(&refused).contains("read-only"),
            "{write}: {}",
            stderr(&refused)
        );
    }

    // The report history is tables: the scheduler's findings, by SQL.
    let reported = wait_until("the scheduler reports unapproved destructive actions", 60, || {
        let report = get(&server, "/api/v1/reports", BEARER).json();
        let keys: BTreeSet<String> = report["findings"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|f| f["rule"] == "destructive_without_approval")
            .filter_map(|f| f["key"].as_str().map(str::to_owned))
            .collect();
        if keys.is_empty() { Err(format!("{report}")) } else { Ok(keys) }
    });
    let tabled = psql(
        pg,
        "analyst",
        Some(ANALYST),
        &[
            "-c",
            "SELECT DISTINCT f.key FROM findings f JOIN report_runs r ON f.run_id = r.run_id WHERE r.rule = 'destructive_without_approval' AND r.error IS NULL",
        ],
    );
    let keys: BTreeSet<String> = stdout(&tabled).lines().filter(|l| !l.is_empty()).map(str::to_owned).collect();
    assert!(
        keys.is_superset(&reported),
        "findings {keys:?} miss some of the current report's {reported:?}: {}",
        stderr(&tabled)
    );

    // psycopg: bound parameters (the extended protocol), a whole row, refusals.
    let script = crate::harness::workspace_root().join("tests/clients/pg_client.py");
    let output = Command::new("python3")
        .arg(&script)
        .args([&pg.ip().to_string(), &pg.port().to_string(), ANALYST, &busiest, &busiest])
        .output()
        .expect("python3 runs");
    assert!(
        output.status.success(),
        "the psycopg client failed (`.ci/run` installs psycopg[binary]): {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let seen: Value = serde_json::from_slice(&output.stdout).expect("the client prints JSON");
    let tables: Vec<&str> = seen["tables"].as_array().expect("tables").iter().filter_map(Value::as_str).collect();
    assert!(tables.contains(&"events") && tables.contains(&"quarantine"), "{tables:?}");
    let replayed = seen["replay"].as_array().expect("replay");
    assert_eq!(replayed.len(), replay.len());
    for (row, expected) in replayed.iter().zip(&replay) {
        let row = row.as_array().expect("a row");
        assert_eq!(row[1..], [expected["source"].clone(), expected["action"].clone(), expected["agent_id"].clone()]);
        assert_eq!(row[0].as_str().expect("time")[..19], expected["time"].as_str().expect("time")[..19]);
    }
    assert_eq!(seen["search_count"], searched);
    let columns: Vec<&str> = seen["columns"].as_array().expect("columns").iter().filter_map(Value::as_str).collect();
    for column in ["event_id", "time", "source", "agent_id", "on_behalf_of", "delegation_chain", "attributes", "raw"] {
        assert!(columns.contains(&column), "{column} missing from {columns:?}");
    }
    assert!(seen["attributes"].is_object(), "attributes arrive as a JSON object: {seen}");
    assert!(seen["delegation_chain"].is_array(), "delegation_chain arrives as an array: {seen}");
    assert!(seen["write"].as_str().expect("write").starts_with("25006"), "{seen}");
    assert!(seen["bad_column"].as_str().expect("bad column").contains("no_such_column"), "{seen}");
    assert_eq!(seen["after_errors"], 1);
    assert!(seen["wrong_password"].as_str().expect("wrong").contains("password authentication failed"), "{seen}");

    // The audit of the auditors covers the wire protocol too.
    wait_until("PostgreSQL statements and refused logins are audited", 30, || {
        let audited = api_rows(
            &server,
            "SELECT action, actor_id, outcome, attributes['sql'] AS sql FROM events \
             WHERE source = 'agentrail' AND action LIKE 'pg.%'",
        );
        let has = |action: &str, actor: Value, outcome: &str, sql: &str| {
            audited.iter().any(|row| {
                row["action"] == action
                    && row["actor_id"] == actor
                    && row["outcome"] == outcome
                    && row["sql"].as_str().unwrap_or("").contains(sql)
            })
        };
        let replayed = has("pg.query", "token:analyst".into(), "success", &busiest);
        let refused_write = has("pg.query", "token:analyst".into(), "denied", "DROP TABLE");
        let refused_login = audited.iter().any(|row| row["action"] == "pg.login" && row["outcome"] == "denied");
        if replayed && refused_write && refused_login { Ok(()) } else { Err(format!("{audited:?}")) }
    });
    assert!(server.stop().success());
}

#[test]
fn without_tokens_loopback_lets_any_user_in_within_the_query_limits() {
    let (data, dir) = sample_store("pg-open");
    let config = data.path().join("agentrail.toml");
    std::fs::write(&config, "[query]\nmax_rows = 5\n").expect("config");
    let server = Server::start(&["--config", &config.display().to_string(), "--data-dir", &dir]);
    let pg = server.pg.expect("PostgreSQL is on by default");
    let counted = psql(pg, "whoever", None, &["-c", "SELECT count(*) > 5 FROM events"]);
    assert_eq!(stdout(&counted).trim(), "t", "{}", stderr(&counted));
    let too_many = psql(pg, "whoever", None, &["-c", "SELECT event_id FROM events"]);
    assert!(statement_failed(&too_many));
    assert!(stderr(&too_many).contains("more than 5 rows"), "{}", stderr(&too_many));
    assert!(server.stop().success());
}

#[test]
fn the_postgresql_listener_can_be_moved_or_turned_off_and_a_bad_one_stops_the_start() {
    let data = TempDir::new("pg-listen");
    let dir = data.path().join("data").display().to_string();
    let mut off = Command::new(crate::harness::agentrail_bin());
    off.args(["serve", "--data-dir", &dir, "--listen", "127.0.0.1:0", "--pg-listen", "off"]);
    let server = Server::spawn(off);
    assert!(server.pg.is_none(), "--pg-listen off serves no PostgreSQL");
    assert!(server.stop().success());

    let holder = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
    let taken = holder.local_addr().expect("address").to_string();
    let busy =
        crate::harness::run(&["serve", "--data-dir", &dir, "--listen", "127.0.0.1:0", "--pg-listen", &taken], b"");
    assert!(!busy.status.success());
    assert!(stderr(&busy).contains(&format!("cannot listen for PostgreSQL clients on {taken}")), "{}", stderr(&busy));
    assert!(stderr(&busy).contains("--pg-listen"), "{}", stderr(&busy));
    drop(holder);

    let open =
        crate::harness::run(&["serve", "--data-dir", &dir, "--listen", "127.0.0.1:0", "--pg-listen", "0.0.0.0:0"], b"");
    assert!(!open.status.success());
    assert!(stderr(&open).contains("refusing to serve PostgreSQL on 0.0.0.0:0 without tokens"), "{}", stderr(&open));

    let bad = crate::harness::run(&["serve", "--data-dir", &dir, "--pg-listen", "sometimes"], b"");
    assert_eq!(bad.status.code(), Some(2));
    assert!(stderr(&bad).contains("neither an address"), "{}", stderr(&bad));
}
