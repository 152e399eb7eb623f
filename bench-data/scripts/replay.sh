#!/usr/bin/env bash
# Replay latency: `agentrail replay` (direct and --expand) of each planted
# incident over a store of EVENTS generated events, against DuckDB selecting
# the same correlation id from the same Parquet files, in the same run.
# Each figure is the median of RUNS runs of the whole command (process
# start, manifest, plan, read, print), warm page cache.
#
#   bench-data/scripts/replay.sh [EVENTS] [SEED] [RUNS]
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=common.sh
source bench-data/scripts/common.sh

events=${1:-200000}
seed=${2:-42}
runs=${3:-7}

bench_setup "$events" "$seed"
store="target/bench-data/store-${seed}-${events}"
[ -s "$store/manifest.json" ] || ./target/release/agentrail ingest --data-dir "$store" "$dir/mixed.ndjson"

python3 - "$store" "$dir/ground_truth.json" "$runs" <<'PY'
import json, statistics, subprocess, sys, time
import duckdb
store, truth, runs = sys.argv[1], sys.argv[2], int(sys.argv[3])
incidents = [i["correlation_id"] for i in json.load(open(truth))["incidents"]]
con = duckdb.connect()
parquet = f"{store}/segments/**/*.parquet"
rows = con.execute(f"SELECT count(*) FROM read_parquet('{parquet}')").fetchone()[0]
print(f"store: {store}, {rows} events, {len(incidents)} incidents")

def median_ms(fn):
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)

def agentrail(args):
    return lambda: subprocess.run(["./target/release/agentrail", "replay", "--data-dir", store, "--format", "json", *args],
                                  stdout=subprocess.DEVNULL, check=True)

for corr in incidents:
    direct = median_ms(agentrail([corr]))
    expanded = median_ms(agentrail(["--expand", corr]))
    # DuckDB writes the rows as JSON, as replay --format json does.
    duck = median_ms(lambda: con.execute(
        f"COPY (SELECT * FROM read_parquet('{parquet}') WHERE correlation_id = '{corr}' ORDER BY time) "
        f"TO '/tmp/agentrail-replay-duckdb.json' (FORMAT json)"))
    print(f"{corr}: agentrail replay {direct:6.0f} ms, --expand {expanded:6.0f} ms; "
          f"DuckDB select in-process {duck:6.0f} ms; replay/DuckDB {direct / duck:4.1f}x the time")
PY
