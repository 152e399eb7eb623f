//! Syslog: the system's own `logger` (util-linux) sends RFC 5424 with
//! structured data over TCP (newline and octet-counted framing) and RFC 3164
//! over UDP to `agentrail serve`; hostile messages over a raw socket go to
//! quarantine with their reason while the good ones around them are stored;
//! and syslog files normalize like any other input.

use std::io::Write;
use std::process::Command;

use serde_json::Value;

use crate::harness::{ANALYST, Server, post_query, run, server, stderr, stdout_lines, wait_until};

/// A port free for both TCP and UDP on loopback (the server binds it next).
fn free_port() -> u16 {
    loop {
        let tcp = std::net::TcpListener::bind("127.0.0.1:0").expect("tcp port");
        let port = tcp.local_addr().expect("addr").port();
        if std::net::UdpSocket::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

fn logger(port: u16, args: &[&str], message: &str) {
    let port = port.to_string();
    let status = Command::new("logger")
        .args(["--server", "127.0.0.1", "--port", &port])
        .args(args)
        .arg(message)
        .status()
        .expect("logger (util-linux) runs");
    assert!(status.success(), "logger {args:?} failed");
}

fn rows(server: &Server, sql: &str) -> Vec<Value> {
    let answer = post_query(server, &serde_json::json!({ "sql": sql }).to_string(), &[("Authorization", ANALYST)]);
    assert_eq!(answer.status, 200, "{}", String::from_utf8_lossy(&answer.body));
    answer.json()["rows"].as_array().cloned().unwrap_or_default()
}

fn wait_for_rows(server: &Server, sql: &str, wanted: usize) -> Vec<Value> {
    wait_until(&format!("{wanted} rows for {sql}"), 60, || {
        let found = rows(server, sql);
        if found.len() >= wanted { Ok(found) } else { Err(format!("{} rows: {found:#?}", found.len())) }
    })
}

#[test]
fn logger_over_tcp_and_udp_and_hostile_messages_over_a_raw_socket() {
    let port = free_port();
    let config = format!("[syslog]\ntcp = \"127.0.0.1:{port}\"\nudp = \"127.0.0.1:{port}\"\n");
    let (_data, _dir, server) = server("syslog", &config);

    // RFC 5424 with the agent's fields as structured data, newline-framed and octet-counted.
    let sd = [
        "--rfc5424",
        "--sd-id",
        "agent@32473",
        "--sd-param",
        "agent_id=\"deployer-7\"",
        "--sd-param",
        "on_behalf_of=\"alice@example.com\"",
        "--sd-param",
        "correlation_id=\"inc-4711\"",
        "--sd-param",
        "task_id=\"TASK-88\"",
        "--msgid",
        "logs.delete_log_group",
        "-t",
        "agentd",
    ];
    logger(port, &[&["--tcp"], &sd[..]].concat(), "deleted log group prod-payments");
    logger(port, &[&["--tcp", "--octet-count"], &sd[..]].concat(), "deleted log group prod-ledger");
    // RFC 3164 over UDP: an SSH login by the agent's account.
    logger(
        port,
        &["--udp", "--rfc3164", "-t", "sshd"],
        "Accepted publickey for agent-deployer-7 from 192.0.2.7 port 50022 ssh2",
    );

    // Hostile input over a raw connection, with good messages around it.
    let mut raw = std::net::TcpStream::connect(("127.0.0.1", port)).expect("syslog tcp");
    let long = format!("<13>1 - host app - - - {}\n", "x".repeat(70 * 1024));
    let mut hostile: Vec<u8> = Vec::new();
    hostile.extend_from_slice(b"<14>1 2026-11-24T10:00:00Z h agentd - first - before the bad ones\n");
    hostile.extend_from_slice(b"<999>1 - h a - - - bad priority\n");
    hostile.extend_from_slice(b"not syslog at all\n");
    hostile.extend_from_slice(b"<13>1 - h a - - [unclosed x=\"1\n");
    hostile.extend_from_slice(b"<13>\xff\xfe\xfd not utf-8\n");
    hostile.extend_from_slice(long.as_bytes());
    hostile.extend_from_slice(
        b"<14>1 2026-11-24T10:00:01Z gw agentd - - - {\"id\":\"gw-77\",\"ts\":\"2026-11-24T10:00:01Z\",\"agent_id\":\"deployer-7\",\"tool\":\"github.repo.delete\"}\n",
    );
    hostile.extend_from_slice(b"<14>1 2026-11-24T10:00:02Z h agentd - last - after the bad ones");
    raw.write_all(&hostile).expect("sent");
    drop(raw);

    let events = wait_for_rows(
        &server,
        "SELECT source, action, agent_id, on_behalf_of, correlation_id, task_id, actor_id, src_ip, outcome, \
                action_class, credential_type, message, attributes['syslog.hostname'] AS host \
         FROM events ORDER BY action",
        6,
    );
    let by_action = |action: &str| {
        events.iter().find(|e| e["action"] == action).unwrap_or_else(|| panic!("no {action}: {events:#?}")).clone()
    };
    let deleted: Vec<&Value> = events.iter().filter(|e| e["action"] == "logs.delete_log_group").collect();
    assert_eq!(deleted.len(), 2, "both framings: {events:#?}");
    for event in &deleted {
        assert_eq!(event["source"], "syslog");
        assert_eq!(event["agent_id"], "deployer-7");
        assert_eq!(event["on_behalf_of"], "alice@example.com");
        assert_eq!(event["correlation_id"], "inc-4711");
        assert_eq!(event["task_id"], "TASK-88");
    }
    let ssh = by_action("sshd.Accepted");
    assert_eq!(ssh["actor_id"], "agent-deployer-7");
    assert_eq!(ssh["agent_id"], "deployer-7");
    assert_eq!(ssh["src_ip"], "192.0.2.7");
    assert_eq!(ssh["outcome"], "success");
    assert_eq!(ssh["action_class"], "auth");
    assert_eq!(ssh["credential_type"], "api_key");
    // A JSON message is taken by its own mapping, the syslog header kept.
    let json = by_action("github.repo.delete");
    assert_eq!(json["source"], "agent");
    assert_eq!(json["host"], "gw");
    assert!(events.iter().any(|e| e["message"] == "before the bad ones"));
    assert!(events.iter().any(|e| e["message"] == "after the bad ones"), "the last message had no newline");

    let quarantined = wait_for_rows(&server, "SELECT reason, origin FROM quarantine ORDER BY reason", 5);
    let reasons: Vec<&str> = quarantined.iter().filter_map(|q| q["reason"].as_str()).collect();
    for wanted in [
        "the priority must be <0> to <191>",
        "a message starts with its priority",
        "a parameter value is not closed",
        "not UTF-8",
        "over the limit of 65536",
    ] {
        assert!(reasons.iter().any(|r| r.contains(wanted)), "no {wanted:?} in {reasons:#?}");
    }
    assert!(quarantined.iter().all(|q| q["origin"].as_str().is_some_and(|o| o.starts_with("syslog+tcp:127.0.0.1:"))));
    let metrics = crate::harness::get(&server, "/metrics", ANALYST);
    let text = String::from_utf8_lossy(&metrics.body);
    assert!(text.contains("agentrail_syslog_messages_total"), "{text}");
    assert!(server.stop().success(), "clean shutdown with the syslog listeners");
}

#[test]
fn syslog_files_normalize_and_a_port_in_use_stops_the_start() {
    let lines = "<38>Nov 24 06:30:01 bastion sshd[811]: Failed password for invalid user admin from 198.51.100.9 port 40022 ssh2\n\
                 {\"id\":\"gw-1\",\"ts\":\"2026-11-24T10:00:00Z\",\"agent_id\":\"deployer-7\",\"tool\":\"x\"}\n\
                 <86>1 2026-11-24T10:00:00Z gw sudo - - - agent-deployer-7 : TTY=pts/0 ; PWD=/ ; USER=root ; COMMAND=/usr/bin/systemctl stop payments\n";
    let output = run(&["normalize"], lines.as_bytes());
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let events = stdout_lines(&output);
    assert_eq!(events.len(), 3);
    assert_eq!(events[0]["source"], "syslog");
    assert_eq!(events[0]["action"], "sshd.Failed");
    assert_eq!(events[0]["actor_id"], "admin");
    assert_eq!(events[0]["outcome"], "denied");
    assert_eq!(events[0]["src_ip"], "198.51.100.9");
    assert!(events[0]["raw"].as_str().is_some_and(|r| r.starts_with("<38>Nov 24")), "raw is the line as received");
    assert_eq!(events[1]["source"], "agent");
    assert_eq!(events[2]["action"], "sudo /usr/bin/systemctl");
    assert_eq!(events[2]["resource"], "/usr/bin/systemctl stop payments");
    assert_eq!(events[2]["agent_id"], "deployer-7");
    assert_eq!(events[2]["action_class"], "admin");

    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("port");
    let port = taken.local_addr().expect("addr").port();
    let config = crate::harness::TempDir::new("syslog-port-taken");
    let file = config.path().join("agentrail.toml");
    std::fs::write(&file, format!("[syslog]\ntcp = \"127.0.0.1:{port}\"\n")).expect("config");
    let data = config.path().join("data").display().to_string();
    let config_path = file.display().to_string();
    let output = run(&["serve", "--config", &config_path, "--data-dir", &data, "--listen", "127.0.0.1:0"], b"");
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains(&format!("cannot listen for syslog over TCP on 127.0.0.1:{port}")),
        "{}",
        stderr(&output)
    );
}
