//! `agentrail demo`: from nothing to a printed replay, a report and a
//! server to look at, in one command.

use std::io::BufRead;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::harness::{agentrail_bin, http};

#[test]
fn demo_ingests_generated_data_prints_a_replay_and_a_report_and_serves_until_stopped() {
    let mut child = Command::new(agentrail_bin())
        .args(["demo", "--events", "3000", "--listen", "127.0.0.1:0", "--pg-listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("agentrail demo starts");
    let stdout = child.stdout.take().expect("stdout");
    let (lines, received) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
            let last = line == "Serving until ctrl-c.";
            if lines.send(line).is_err() || last {
                return;
            }
        }
    });
    let mut printed = Vec::new();
    loop {
        let line = received.recv_timeout(Duration::from_secs(240)).unwrap_or_else(|_| {
            let _ = child.kill();
            panic!("the demo did not finish its first replay in time; it printed:\n{}", printed.join("\n"))
        });
        let done = line == "Serving until ctrl-c.";
        printed.push(line);
        if done {
            break;
        }
    }
    let text = printed.join("\n");
    let value_of = |label: &str| {
        printed
            .iter()
            .find_map(|line| line.trim_start().strip_prefix(label).map(|rest| rest.trim().to_owned()))
            .unwrap_or_else(|| panic!("no {label:?} line in:\n{text}"))
    };

    // Where to look: the page of the incident, and the data directory.
    let page = value_of("web page");
    let (base, id) = page.split_once("/#replay=").expect("a replay link");
    let addr = base.trim_start_matches("http://").parse().expect("an address");
    assert!(text.contains(&format!("The most interesting incident, {id}:")), "{text}");
    let unapproved = text
        .lines()
        .find_map(|line| line.strip_prefix("destructive actions: "))
        .and_then(|rest| rest.split_once(" (")?.1.split_whitespace().next()?.parse::<usize>().ok())
        .unwrap_or_else(|| panic!("no destructive actions line in:\n{text}"));
    assert!(unapproved > 0, "the chosen incident has unapproved destructive actions:\n{text}");
    let findings: usize = text
        .lines()
        .find_map(|line| line.strip_prefix("Anomaly report over the last 4 days: "))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| panic!("no report line in:\n{text}"));
    assert!(findings > 0 && text.contains("destructive_without_approval"), "{text}");

    // The server it keeps running answers for the same incident.
    let html = http(addr, "GET", "/", &[("Accept", "text/html")], b"").expect("the page");
    assert_eq!(html.status, 200);
    assert!(html.header("content-type").is_some_and(|t| t.starts_with("text/html")));
    let replayed = http(addr, "GET", &format!("/api/v1/replay/{id}?expand=true"), &[], b"").expect("replay");
    assert_eq!(replayed.status, 200);
    let events = replayed.json()["event_count"].as_u64().expect("event count");
    assert!(text.contains(&format!("  {events} events, ")), "the printed replay has the API's {events} events");

    let data = value_of("data");
    let data = data.trim_end_matches(" (removed at exit)").to_owned();
    assert!(std::path::Path::new(&data).is_dir());
    let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
    let status = child.wait().expect("the demo exits");
    assert!(status.success(), "SIGTERM stops the demo cleanly: {status}");
    assert!(!std::path::Path::new(&data).exists(), "the temporary data directory {data} is removed");
}

#[test]
fn demo_refuses_a_data_directory_that_holds_something() {
    let data = crate::harness::TempDir::new("demo-full");
    std::fs::write(data.path().join("keep.txt"), "mine").expect("a file");
    let dir = data.path().display().to_string();
    let output = crate::harness::run(&["demo", "--data-dir", &dir, "--listen", "127.0.0.1:0"], b"");
    assert!(!output.status.success());
    assert!(crate::harness::stderr(&output).contains("is not empty"), "{}", crate::harness::stderr(&output));
    assert!(data.path().join("keep.txt").exists(), "nothing of the user's is touched");
    let bad = crate::harness::run(&["demo", "--events", "5"], b"");
    assert_eq!(bad.status.code(), Some(2));
}
