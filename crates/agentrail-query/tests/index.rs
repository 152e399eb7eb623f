//! The index in queries: id conditions and `search()` read only the rows the
//! index points to, give the same answers as a scan, and a part that goes
//! missing is rebuilt by the store.

use std::collections::BTreeSet;
use std::path::Path;

use agentrail_collect::{SourceChoice, builtin_normalizer};
use agentrail_event::{Event, Timestamp};
use agentrail_query::{Answer, QueryEngine, QueryLimits, SearchRequest, search};
use agentrail_store::index::part_path;
use agentrail_store::{IndexPart, Store, StoreOptions};
use datafusion::arrow::array::{Array, AsArray};

fn sample_events() -> Vec<Event> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../bench-data/samples/mixed.ndjson");
    let input = std::fs::read(path).expect("bench-data sample");
    builtin_normalizer().expect("built-ins load").normalize_all(&input, &SourceChoice::Auto).expect("sample normalizes")
}

/// A store of the sample in many small segments (so lookups have segments to skip).
fn sample_store() -> (tempfile::TempDir, Vec<Event>) {
    let dir = tempfile::tempdir().expect("temp dir");
    let events = sample_events();
    let (mut store, _) =
        Store::open(dir.path(), StoreOptions { seal_rows: 150, ..StoreOptions::default() }).expect("store opens");
    for chunk in events.chunks(50) {
        store.append(chunk.to_vec(), Vec::new()).expect("appends");
    }
    store.seal().expect("seals");
    assert!(store.manifest().segments.len() >= 8, "several segments: {}", store.manifest().segments.len());
    (dir, events)
}

fn engine(dir: &Path) -> QueryEngine {
    QueryEngine::open(dir, QueryLimits::default()).expect("engine opens")
}

fn run(engine: &QueryEngine, sql: &str) -> Answer {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    runtime.block_on(engine.query(sql)).unwrap_or_else(|e| panic!("{sql}: {e}"))
}

fn run_err(engine: &QueryEngine, sql: &str) -> String {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    match runtime.block_on(engine.query(sql)) {
        Ok(answer) => panic!("{sql} answered {} rows", answer.rows()),
        Err(error) => error.to_string(),
    }
}

/// The first column of every row, as text, sorted.
fn ids(answer: &Answer) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for batch in &answer.batches {
        let column = batch.column(0).as_string::<i32>();
        for i in 0..column.len() {
            out.insert(column.value(i).to_owned());
        }
    }
    out
}

/// The text of an `EXPLAIN [ANALYZE]` answer.
fn plan_text(answer: &Answer) -> String {
    let mut text = String::new();
    for batch in &answer.batches {
        let plans = batch.column(1).as_string::<i32>();
        for i in 0..plans.len() {
            text.push_str(plans.value(i));
            text.push('\n');
        }
    }
    text
}

/// A `name=value` figure from a plan line containing `node`. DataFusion
/// rounds large counts (`2.04 K`): those come back approximately.
fn metric(plan: &str, node: &str, name: &str) -> u64 {
    let line = plan.lines().find(|l| l.contains(node)).unwrap_or_else(|| panic!("no {node} in\n{plan}"));
    let start = line.find(&format!(" {name}=")).unwrap_or_else(|| panic!("no {name} in {line}")) + name.len() + 2;
    let value: String = line[start..].chars().take_while(|c| *c != ',' && *c != ']').collect();
    let (number, scale) = match value.trim().split_once(' ') {
        Some((number, "K")) => (number, 1e3),
        Some((number, "M")) => (number, 1e6),
        _ => (value.trim(), 1.0),
    };
    let number: f64 = number.parse().unwrap_or_else(|_| panic!("{name}={value} in {line}"));
    (number * scale).round() as u64
}

fn expected(events: &[Event], keep: impl Fn(&Event) -> bool) -> BTreeSet<String> {
    events.iter().filter(|e| keep(e)).map(|e| e.event_id.clone()).collect()
}

#[test]
fn id_lookups_read_only_the_matching_rows_and_agree_with_the_events() {
    let (dir, events) = sample_store();
    let engine = engine(dir.path());
    let incident = events.iter().find_map(|e| e.correlation_id.clone()).expect("a correlated event");
    let agent = events.iter().find_map(|e| e.agent_id.clone()).expect("an agent event");

    let sql = format!("SELECT event_id FROM events WHERE correlation_id = '{incident}'");
    let want = expected(&events, |e| e.correlation_id.as_deref() == Some(&incident));
    assert_eq!(ids(&run(&engine, &sql)), want);

    let sql = format!(
        "SELECT event_id FROM events WHERE agent_id IN ('{agent}', 'nobody') AND correlation_id = '{incident}'"
    );
    let both =
        expected(&events, |e| e.agent_id.as_deref() == Some(&agent) && e.correlation_id.as_deref() == Some(&incident));
    assert_eq!(ids(&run(&engine, &sql)), both);

    // The plan says what the index decided: most segments skipped, and the
    // Parquet scan decodes only the selected rows.
    let plan = plan_text(&run(
        &engine,
        &format!("EXPLAIN ANALYZE SELECT event_id FROM events WHERE correlation_id = '{incident}'"),
    ));
    let segments = metric(&plan, "IndexLookupExec", "segments");
    let skipped = metric(&plan, "IndexLookupExec", "skipped");
    assert!(skipped > segments / 2, "most segments hold none of one incident:\n{plan}");
    assert_eq!(metric(&plan, "IndexLookupExec", "rows_selected"), want.len() as u64, "{plan}");
    let read = metric(&plan, "DataSourceExec", "pushdown_rows_matched")
        + metric(&plan, "DataSourceExec", "pushdown_rows_pruned");
    assert_eq!(read, want.len() as u64, "only the selected rows are decoded:\n{plan}");

    // The same condition hidden from the index reads every row.
    let plan = plan_text(&run(
        &engine,
        &format!("EXPLAIN ANALYZE SELECT event_id FROM events WHERE concat(correlation_id, '') = '{incident}'"),
    ));
    assert!(!plan.contains("IndexLookupExec"), "{plan}");
    let scanned = metric(&plan, "DataSourceExec", "pushdown_rows_matched")
        + metric(&plan, "DataSourceExec", "pushdown_rows_pruned");
    assert!(scanned >= events.len() as u64 * 99 / 100, "a scan decodes every row ({scanned}):\n{plan}");

    // No match at all: no file is opened.
    let plan = plan_text(&run(&engine, "EXPLAIN ANALYZE SELECT event_id FROM events WHERE trace_id = 'no-such-trace'"));
    assert_eq!(metric(&plan, "IndexLookupExec", "skipped"), metric(&plan, "IndexLookupExec", "segments"), "{plan}");
}

#[test]
fn search_finds_words_and_ids_and_explains_its_mistakes() {
    let (dir, events) = sample_store();
    let engine = engine(dir.path());
    let agent = events.iter().find_map(|e| e.agent_id.clone()).expect("an agent event");

    // Exact ids through the query language; text by word, case-insensitive.
    let sql = format!("SELECT event_id FROM events WHERE search('agent_id:\"{agent}\"')");
    assert_eq!(ids(&run(&engine, &sql)), expected(&events, |e| e.agent_id.as_deref() == Some(&agent)));
    let word = events
        .iter()
        .find(|e| e.action.chars().all(|c| c.is_ascii_alphanumeric()) && e.action.len() > 4)
        .map(|e| e.action.clone())
        .expect("a one-word action");
    let sql = format!(
        "SELECT event_id FROM events WHERE search('action:{}') AND source = 'aws.cloudtrail'",
        word.to_lowercase()
    );
    let want = expected(&events, |e| e.action.eq_ignore_ascii_case(&word) && e.source == "aws.cloudtrail");
    assert_eq!(ids(&run(&engine, &sql)), want, "{sql}");

    let error = run_err(&engine, "SELECT event_id FROM events WHERE search('message:(unclosed')");
    assert!(error.contains("message:(unclosed"), "the bad query is named: {error}");
    let error = run_err(&engine, "SELECT search('x') FROM events");
    assert!(error.contains("condition of its own"), "{error}");
    let error = run_err(&engine, "SELECT event_id FROM events WHERE search('x') OR agent_id = 'a'");
    assert!(error.contains("condition of its own"), "{error}");
}

/// `search` reads only the newest matches from the index (plus ties), and
/// that gives what sorting every match would: newest first, then by id,
/// inside `[from, to)`, with `truncated` when more matched.
#[test]
fn search_reads_the_newest_matches_and_agrees_with_sorting_every_match() {
    let (dir, events) = sample_store();
    let engine = engine(dir.path());
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let mut cloudtrail: Vec<&Event> = events.iter().filter(|e| e.source == "aws.cloudtrail").collect();
    cloudtrail.sort_by(|a, b| b.time.cmp(&a.time).then_with(|| a.event_id.cmp(&b.event_id)));
    assert!(cloudtrail.len() > 40, "enough matches: {}", cloudtrail.len());
    let newest_ids = |from: Option<Timestamp>, to: Option<Timestamp>, limit: usize| {
        let request = SearchRequest { query: "source:aws.cloudtrail".into(), from, to, limit };
        let answer = runtime.block_on(search(&engine, &request)).expect("search answers");
        let ids: Vec<String> = answer.events.iter().map(|e| e["event_id"].as_str().unwrap_or("").to_owned()).collect();
        (ids, answer.truncated)
    };
    let want = |within: &[&&Event], limit: usize| -> (Vec<String>, bool) {
        (within.iter().take(limit).map(|e| e.event_id.clone()).collect(), within.len() > limit)
    };

    let all: Vec<&&Event> = cloudtrail.iter().collect();
    for limit in [1, 7, 25, cloudtrail.len(), cloudtrail.len() + 5] {
        assert_eq!(newest_ids(None, None, limit), want(&all, limit), "limit {limit}");
    }
    // `to` is exclusive and lands on an event's own time; `from` inclusive.
    let to = cloudtrail[10].time;
    let from = cloudtrail[cloudtrail.len() - 10].time;
    let within: Vec<&&Event> = cloudtrail.iter().filter(|e| e.time >= from && e.time < to).collect();
    for limit in [1, 5, within.len()] {
        assert_eq!(newest_ids(Some(from), Some(to), limit), want(&within, limit), "limit {limit} in [from, to)");
    }
}

#[test]
fn broken_parts_are_scanned_refused_to_search_and_rebuilt_on_open() {
    let (dir, events) = sample_store();
    let manifest = agentrail_store::Manifest::load(dir.path()).expect("manifest");
    let part_of = |n: usize| dir.path().join(part_path(&manifest.segments[n].path));
    let search = "SELECT event_id FROM events WHERE search('delete OR denied')";
    let found_before = ids(&run(&engine(dir.path()), search));
    assert!(!found_before.is_empty());
    // Missing, unreadable, and another segment's part in its place.
    std::fs::remove_dir_all(part_of(0)).expect("part removed");
    std::fs::write(part_of(1).join("meta.json"), b"{ not json").expect("meta damaged");
    std::fs::remove_dir_all(part_of(2)).expect("part removed");
    copy_dir(&part_of(3), &part_of(2));

    let incident = events.iter().find_map(|e| e.correlation_id.clone()).expect("a correlated event");
    let want = expected(&events, |e| e.correlation_id.as_deref() == Some(&incident));
    let sql = format!("SELECT event_id FROM events WHERE correlation_id = '{incident}'");
    {
        let engine = engine(dir.path());
        assert_eq!(ids(&run(&engine, &sql)), want, "segments without a usable part are scanned");
        let plan = plan_text(&run(&engine, &format!("EXPLAIN ANALYZE {sql}")));
        assert!(plan.contains("whole=3"), "{plan}");
        let error = run_err(&engine, search);
        assert!(error.contains(&manifest.segments[0].path) && error.contains("no index part"), "{error}");
    }
    // A part left by a seal that never reached the manifest goes.
    let stray = dir.path().join("index/dt=2020-01-01/00000000000000000099-00000000000000000099");
    std::fs::create_dir_all(&stray).expect("stray part");

    let (_store, report) = Store::open(dir.path(), StoreOptions::default()).expect("reopens");
    assert_eq!(report.rebuilt_index_parts, 3);
    assert!(report.removed_unlisted_files.contains(&stray), "{:?}", report.removed_unlisted_files);
    for segment in &manifest.segments {
        IndexPart::open_checked(dir.path(), segment).expect("every part agrees with its segment");
    }
    let engine = engine(dir.path());
    assert_eq!(ids(&run(&engine, &sql)), want);
    let plan = plan_text(&run(&engine, &format!("EXPLAIN ANALYZE {sql}")));
    assert!(plan.contains("whole=0"), "{plan}");
    assert_eq!(ids(&run(&engine, search)), found_before, "rebuilt parts answer as the originals did");
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("target dir");
    for entry in std::fs::read_dir(from).expect("part dir").flatten() {
        std::fs::copy(entry.path(), to.join(entry.file_name())).expect("copied");
    }
}
