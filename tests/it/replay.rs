//! `agentrail replay` on the checked-in bench-data sample against its
//! ground truth: the direct events and, with `--expand`, exactly the linked
//! events (recall and precision 1.0), each with the link the generator
//! planted; decoys (the same agents' other work) stay out.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::harness::{run, sample_store, stderr, workspace_root};

fn ground_truth() -> Value {
    let path = workspace_root().join("bench-data/samples/ground_truth.json");
    serde_json::from_slice(&std::fs::read(path).expect("ground truth")).expect("ground truth is JSON")
}

fn strings(value: &Value) -> BTreeSet<String> {
    value.as_array().into_iter().flatten().filter_map(|v| v.as_str().map(str::to_owned)).collect()
}

/// `[{"event_id", "link"}, …]` as a map from event id to link.
fn links(list: &Value) -> BTreeMap<String, String> {
    list.as_array()
        .into_iter()
        .flatten()
        .filter_map(|x| Some((x["event_id"].as_str()?.to_owned(), x["link"].as_str()?.to_owned())))
        .collect()
}

fn replay_json(dir: &str, correlation_id: &str, expand: bool) -> Value {
    let mut args = vec!["replay", "--data-dir", dir, "--format", "json"];
    if expand {
        args.push("--expand");
    }
    args.push(correlation_id);
    let output = run(&args, b"");
    assert!(output.status.success(), "replay {correlation_id}: {}", stderr(&output));
    serde_json::from_slice(&output.stdout).expect("replay JSON")
}

#[test]
fn replay_and_expansion_equal_the_ground_truth() {
    let (_data, dir) = sample_store("replay-truth");
    let truth = ground_truth();
    let incidents = truth["incidents"].as_array().expect("incidents");
    assert!(!incidents.is_empty());
    for incident in incidents {
        let id = incident["correlation_id"].as_str().expect("id");
        let direct = strings(&incident["direct_event_ids"]);

        let replayed = replay_json(&dir, id, false);
        let events = replayed["events"].as_array().expect("events");
        let got: BTreeSet<String> = events.iter().filter_map(|e| e["event_id"].as_str().map(str::to_owned)).collect();
        assert_eq!(got, direct, "{id}: direct events");
        let times: Vec<&str> = events.iter().filter_map(|e| e["time"].as_str()).collect();
        assert!(times.windows(2).all(|w| w[0] <= w[1]), "{id}: time order");
        assert_eq!(replayed["first_seen"].as_str(), times.first().copied());
        // The human who asked heads the delegation tree.
        let humans = strings(&Value::Array(
            replayed["delegation"].as_array().into_iter().flatten().map(|n| n["name"].clone()).collect(),
        ));
        assert!(humans.contains(incident["on_behalf_of"].as_str().unwrap_or("?")), "{id}: {humans:?}");

        let expanded = replay_json(&dir, id, true);
        let expected_links = links(&incident["expanded_event_ids"]);
        let got_links = links(&expanded["expanded"]);
        let expected_ids: BTreeSet<&String> = expected_links.keys().collect();
        let got_ids: BTreeSet<&String> = got_links.keys().collect();
        assert_eq!(got_ids, expected_ids, "{id}: expanded events (recall and precision)");
        assert_eq!(got_links, expected_links, "{id}: the link that brought each event in");
        let all: BTreeSet<String> = expanded["events"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|e| e["event_id"].as_str().map(str::to_owned))
            .collect();
        for decoy in strings(&incident["decoy_event_ids"]) {
            assert!(!all.contains(&decoy), "{id}: decoy {decoy} pulled in");
        }
        assert_eq!(expanded["expansion_truncated"], Value::Bool(false));
    }
}

#[test]
fn the_text_timeline_flags_unapproved_destructive_actions() {
    let (_data, dir) = sample_store("replay-text");
    let truth = ground_truth();
    let id = truth["incidents"][0]["correlation_id"].as_str().expect("an incident");
    let output = run(&["replay", "--data-dir", &dir, "--expand", id], b"");
    assert!(output.status.success(), "{}", stderr(&output));
    let text = String::from_utf8_lossy(&output.stdout);
    for heading in ["incident ", "delegation", "systems", "destructive actions", "credentials", "timeline"] {
        assert!(text.contains(heading), "missing {heading}: {text}");
    }
    let json = replay_json(&dir, id, true);
    let unapproved = json["destructive_actions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|d| d["approved"] == Value::Bool(false))
        .count();
    assert_eq!(text.matches("NO APPROVAL").count(), unapproved, "{text}");

    let missing = run(&["replay", "--data-dir", &dir, "corr-does-not-exist"], b"");
    assert_eq!(missing.status.code(), Some(1));
    assert!(stderr(&missing).contains("no stored event carries correlation id"), "{}", stderr(&missing));
    // Quotes in an id are data, not SQL.
    let hostile = run(&["replay", "--data-dir", &dir, "x' OR '1'='1"], b"");
    assert_eq!(hostile.status.code(), Some(1), "{}", String::from_utf8_lossy(&hostile.stdout));
}
