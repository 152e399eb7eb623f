//! `agentrail verify` and `GET /api/v1/verify`: a stored sample verifies;
//! tampering is named by file and kind, with exit status 1; bad arguments
//! are refused with a reason and status 2.

use crate::harness::{
    ADMIN, ANALYST, SHIPPER, TempDir, get, ingest_sample, refused, run, sample_store, server, stderr,
};

fn first_segment(dir: &str) -> String {
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(format!("{dir}/manifest.json")).expect("manifest")).expect("json");
    manifest["segments"][0]["path"].as_str().expect("a segment").to_owned()
}

#[test]
fn a_stored_sample_verifies_and_a_flipped_byte_is_named() {
    let (_data, dir) = sample_store("verify-cli");
    let clean = run(&["verify", "--data-dir", &dir], b"");
    let text = String::from_utf8_lossy(&clean.stdout);
    assert!(clean.status.success(), "{text}{}", stderr(&clean));
    assert!(text.starts_with("verified: ") && text.contains("newest checkpoint: "), "{text}");

    // The auditor keeps the JSON report (its checkpoint) and the public key.
    let saved = format!("{dir}/../saved.json");
    let json = run(&["verify", "--data-dir", &dir, "--format", "json"], b"");
    std::fs::write(&saved, &json.stdout).expect("save");
    let report: serde_json::Value = serde_json::from_slice(&json.stdout).expect("json");
    assert_eq!(report["verified"], true);
    assert_eq!(report["attestation"]["signatures"][0]["algorithm"], "Ed25519");
    let public = format!("{dir}/../auditor.pub");
    std::fs::write(&public, report["public_key"].as_str().expect("key")).expect("save");
    let audited = run(&["verify", "--data-dir", &dir, "--public-key", &public, "--trusted-checkpoint", &saved], b"");
    assert!(audited.status.success(), "{}", String::from_utf8_lossy(&audited.stdout));

    let segment = first_segment(&dir);
    let path = format!("{dir}/{segment}");
    let mut bytes = std::fs::read(&path).expect("segment");
    bytes[200] ^= 0x20;
    std::fs::write(&path, bytes).expect("tamper");
    let tampered = run(&["verify", "--data-dir", &dir], b"");
    let text = String::from_utf8_lossy(&tampered.stdout);
    assert_eq!(tampered.status.code(), Some(1), "{text}");
    assert!(text.contains(&format!("MODIFIED      {segment}: ")), "{text}");
    assert!(text.contains("NOT VERIFIED: 1 problems (1 modified)"), "{text}");

    // Days outside the tampered one are still clean.
    let day = segment.split("dt=").nth(1).and_then(|rest| rest.get(..10)).expect("day");
    let other = run(&["verify", "--data-dir", &dir, "--to", "2000-01-01"], b"");
    assert!(other.status.success(), "{}", String::from_utf8_lossy(&other.stdout));
    let same = run(&["verify", "--data-dir", &dir, "--from", day, "--to", &format!("{day}T23:00:00Z")], b"");
    assert_eq!(same.status.code(), Some(1));
}

#[test]
fn bad_arguments_are_refused_with_a_reason() {
    let (data, dir) = sample_store("verify-args");
    refused(&["verify", "--data-dir", &dir, "--from", "last tuesday"], "--from \"last tuesday\" is not a date");
    refused(&["verify", "--data-dir", &dir, "--to", "2026-02-30"], "is not a date");
    let missing = data.path().join("nowhere.pub").display().to_string();
    refused(&["verify", "--data-dir", &dir, "--public-key", &missing], "cannot read the public key");
    let garbage = data.path().join("garbage.pub");
    std::fs::write(&garbage, "not a key").expect("write");
    refused(
        &["verify", "--data-dir", &dir, "--public-key", &garbage.display().to_string()],
        "is not an Ed25519 public key",
    );
    let bad_checkpoint = data.path().join("checkpoint.json");
    std::fs::write(&bad_checkpoint, "{\"size\": \"many\"}").expect("write");
    refused(
        &["verify", "--data-dir", &dir, "--trusted-checkpoint", &bad_checkpoint.display().to_string()],
        "trusted checkpoint",
    );
    let empty = TempDir::new("verify-none");
    refused(&["verify", "--data-dir", &empty.path().join("absent").display().to_string()], "is not a data directory");
}

#[test]
fn the_api_verifies_for_analysts_only_and_reports_tampering() {
    let (_data, dir, server) = server("verify-api", "");
    ingest_sample(&server);
    let answer = get(&server, "/api/v1/verify", ANALYST);
    assert_eq!(answer.status, 200, "{}", String::from_utf8_lossy(&answer.body));
    let report = answer.json();
    assert_eq!(report["verified"], true, "{report}");
    assert!(report["segments_checked"].as_u64() > Some(0));

    let refused = get(&server, "/api/v1/verify", SHIPPER);
    assert_eq!(refused.status, 403);
    assert!(refused.json()["error"].as_str().is_some_and(|e| e.contains("analyst")));
    let bad = get(&server, "/api/v1/verify?from=soon", ANALYST);
    assert_eq!(bad.status, 400);
    assert!(bad.json()["error"].as_str().is_some_and(|e| e.contains("`from` must be a date")), "{}", bad.json());
    let unknown = get(&server, "/api/v1/verify?since=2026-01-01", ANALYST);
    assert_eq!(unknown.status, 400);

    let segment = first_segment(&dir);
    std::fs::remove_file(format!("{dir}/{segment}")).expect("delete");
    let report = get(&server, "/api/v1/verify", ANALYST).json();
    assert_eq!(report["verified"], false);
    let problems = report["problems"].as_array().expect("problems");
    assert!(problems.iter().any(|p| p["kind"] == "missing" && p["path"] == segment.as_str()), "{report}");
}

#[test]
fn the_signing_key_rotates_through_the_admin_api_and_the_first_key_still_verifies() {
    let (_data, dir, server) = server("verify-rotate", "");
    ingest_sample(&server);
    let post = |path: &str, auth: &str, body: &[u8]| {
        crate::harness::http(server.addr, "POST", path, &[("Authorization", auth)], body).expect("answers")
    };
    assert_eq!(post("/api/v1/admin/rotate-key", ANALYST, b"").status, 403);
    let rotated = post("/api/v1/admin/rotate-key", ADMIN, b"");
    assert_eq!(rotated.status, 200, "{}", String::from_utf8_lossy(&rotated.body));
    let new_key = rotated.json()["public_key"].as_str().expect("the new key").to_owned();

    // An event sealed after the rotation is signed with the new key.
    let record = br#"{"id":"rotated-1","ts":"2026-11-20T10:00:00Z","agent_id":"deploy-bot","tool":"github.merge"}"#;
    assert_eq!(post("/v1/events", SHIPPER, record).status, 200);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let sql = r#"{"sql": "SELECT count(*) AS n FROM events WHERE event_id = 'agent:rotated-1'"}"#;
        if crate::harness::post_query(&server, sql, &[]).json()["rows"][0]["n"] == 1 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the event was never sealed");
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let report = get(&server, "/api/v1/verify", ANALYST).json();
    assert_eq!(report["verified"], true, "{report}");
    assert_ne!(report["public_key"], new_key.as_str(), "verified with the first key, the chain's anchor");
    let checkpoints = std::fs::read_to_string(format!("{dir}/integrity/checkpoints.jsonl")).expect("checkpoints");
    assert!(checkpoints.contains(&format!("\"next_key\":\"{new_key}\"")), "{checkpoints}");
}
