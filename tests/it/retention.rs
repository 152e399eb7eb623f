//! Retention from the command line and from the admin API: expired events
//! go, the chain records it, `verify` still passes; roles are enforced and
//! bad arguments refused with a reason.

use crate::harness::{
    ADMIN, ANALYST, SHIPPER, cli_json, count, http, ingest_sample, refused, run, sample_store, server, stderr, verifies,
};

#[test]
fn the_cli_deletes_one_sources_old_rows_then_everything_old_and_the_store_verifies() {
    let (_data, dir) = sample_store("retention-cli");
    let total = count(&dir, "SELECT count(*) AS n FROM events");
    let github = count(&dir, "SELECT count(*) AS n FROM events WHERE source = 'github'");
    assert!(github > 0 && github < total);

    // The sample's days (2026-11-16 and 17) are more than a day old.
    let dry = run(&["retention", "--data-dir", &dir, "--source", "github=1d", "--dry-run"], b"");
    assert!(dry.status.success(), "{}", stderr(&dry));
    assert!(String::from_utf8_lossy(&dry.stdout).contains("would rewrite"), "{}", String::from_utf8_lossy(&dry.stdout));
    assert_eq!(count(&dir, "SELECT count(*) AS n FROM events"), total, "a dry run deletes nothing");

    let applied = cli_json(&["retention", "--data-dir", &dir, "--source", "github=1d", "--format", "json"]);
    assert_eq!(applied["outcome"]["rows_deleted"].as_u64(), Some(github), "{applied}");
    assert_eq!(count(&dir, "SELECT count(*) AS n FROM events WHERE source = 'github'"), 0);
    assert_eq!(count(&dir, "SELECT count(*) AS n FROM events"), total - github);
    verifies(&dir);

    let output = run(&["retention", "--data-dir", &dir, "--keep", "1d"], b"");
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(String::from_utf8_lossy(&output.stdout).contains("segments deleted"));
    assert_eq!(count(&dir, "SELECT count(*) AS n FROM events"), 0);
    verifies(&dir);
}

#[test]
fn bad_retention_arguments_are_refused_with_a_reason() {
    let (_data, dir) = sample_store("retention-args");
    refused(&["retention", "--data-dir", &dir], "give --keep DURATION");
    refused(&["retention", "--data-dir", &dir, "--keep", "forever"], "forever");
    refused(&["retention", "--data-dir", &dir, "--source", "github"], "is not NAME=DURATION");
    refused(&["retention", "--data-dir", &dir, "--source", "=1d"], "names no source");
    refused(&["retention", "--data-dir", &format!("{dir}/nowhere"), "--keep", "1d"], "is not a data directory");
}

#[test]
fn the_admin_api_applies_retention_for_admins_only() {
    let extra = r#"
[retention]
keep = "1d"
interval = "1000d"
"#;
    let (_data, dir, server) = server("retention-api", extra);
    ingest_sample(&server);
    let post = |path: &str, auth: &str| http(server.addr, "POST", path, &[("Authorization", auth)], b"").expect("post");

    for token in [ANALYST, SHIPPER] {
        let refused = post("/api/v1/admin/retention", token);
        assert_eq!(refused.status, 403, "{}", String::from_utf8_lossy(&refused.body));
        assert!(refused.json()["error"].as_str().is_some_and(|e| e.contains("admin")));
    }
    assert_eq!(post("/api/v1/admin/retention?dry_run=maybe", ADMIN).status, 400);
    let dry = post("/api/v1/admin/retention?dry_run=true", ADMIN);
    assert_eq!(dry.status, 200, "{}", String::from_utf8_lossy(&dry.body));
    assert!(!dry.json()["outcome"]["segments_deleted"].as_array().expect("list").is_empty(), "{}", dry.json());

    let applied = post("/api/v1/admin/retention", ADMIN);
    assert_eq!(applied.status, 200, "{}", String::from_utf8_lossy(&applied.body));
    assert!(applied.json()["outcome"]["rows_deleted"].as_u64() > Some(0), "{}", applied.json());
    // An admin may do what an analyst does.
    let report = http(server.addr, "GET", "/api/v1/verify", &[("Authorization", ADMIN)], b"").expect("verify");
    assert_eq!(report.json()["verified"], true, "{}", report.json());

    // A second writer on the same directory is refused while the server runs.
    let refused = run(&["retention", "--data-dir", &dir, "--keep", "1d"], b"");
    assert_eq!(refused.status.code(), Some(2));
    assert!(stderr(&refused).contains("another agentrail process"), "{}", stderr(&refused));
}
