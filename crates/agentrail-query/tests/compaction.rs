//! Compaction under a query engine: a query planned on the manifest before a
//! merge still runs while the merged-away files are in their grace (and
//! fails once they are gone, which is why the grace exists); after a
//! refresh the engine reads the merged segments and answers the same.

use std::path::Path;
use std::time::Duration;

use agentrail_collect::{SourceChoice, builtin_normalizer};
use agentrail_event::Timestamp;
use agentrail_query::{QueryEngine, QueryLimits};
use agentrail_store::{CompactionPolicy, Store, StoreOptions};
use datafusion::arrow::array::AsArray;
use datafusion::arrow::datatypes::Int64Type;
use datafusion::physical_plan::{ExecutionPlan, collect};

const DISTINCT_IDS: &str = "SELECT count(DISTINCT event_id) AS n FROM events";

fn store_of_small_segments(dir: &Path) -> (Store, i64) {
    let sample = std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../bench-data/samples/mixed.ndjson"))
        .expect("bench-data sample");
    let events =
        builtin_normalizer().expect("built-ins").normalize_all(&sample, &SourceChoice::Auto).expect("normalizes");
    let options = StoreOptions { seal_rows: 1_000_000, auto_seal: false, ..StoreOptions::default() };
    let (mut store, _) = Store::open(dir, options).expect("opens");
    for chunk in events.chunks(events.len().div_ceil(12)) {
        store.append(chunk.to_vec(), Vec::new()).expect("durable");
        store.seal().expect("seals");
    }
    (store, events.len() as i64)
}

async fn plan(engine: &QueryEngine) -> std::sync::Arc<dyn ExecutionPlan> {
    let frame = engine.context().sql(DISTINCT_IDS).await.expect("plans");
    frame.create_physical_plan().await.expect("physical plan")
}

async fn execute(engine: &QueryEngine, plan: std::sync::Arc<dyn ExecutionPlan>) -> Result<i64, String> {
    let batches = collect(plan, engine.context().task_ctx()).await.map_err(|e| e.to_string())?;
    Ok(batches[0].column(0).as_primitive::<Int64Type>().value(0))
}

#[tokio::test]
async fn a_query_planned_before_a_merge_runs_through_its_grace() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (mut store, total) = store_of_small_segments(dir.path());
    let engine = QueryEngine::open(dir.path(), QueryLimits::default()).expect("engine");
    let before = store.manifest().segments.len();

    let in_grace = plan(&engine).await;
    let after_grace = plan(&engine).await;
    let policy = CompactionPolicy { min_segments: 4, grace: Duration::from_secs(3600), ..CompactionPolicy::default() };
    let outcome = store.compact(&policy, false).expect("compacts");
    assert!(outcome.segments_after < before, "{outcome:?}");

    // Another request refreshes the engine meanwhile.
    assert!(engine.refresh().expect("refreshes"), "the manifest changed");
    assert_eq!(execute(&engine, in_grace).await, Ok(total), "the old files are still there");
    let later = Timestamp::from_micros(Timestamp::now().as_micros() + 2 * 3_600_000_000);
    assert!(store.collect_retired(later).expect("collects") > 0);
    let error = execute(&engine, after_grace).await.expect_err("the files it planned on are gone");
    assert!(error.contains("No such file") || error.contains("not found"), "{error}");

    let answer = engine.query(DISTINCT_IDS).await.expect("answers");
    assert_eq!(answer.batches[0].column(0).as_primitive::<Int64Type>().value(0), total);
}
