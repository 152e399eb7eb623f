#!/usr/bin/env bash
# Compaction: EVENTS generated events stored by CHUNKS separate ingests (so
# each day has many small segments, as seals by age leave them), then
# `agentrail compact` on a copy (timed), and the same questions asked of
# both stores through the server's API: the replay of each planted incident,
# a search, a full count. DuckDB selecting the same incidents from each
# store's Parquet files is the baseline, in the same run.
#
#   bench-data/scripts/compaction.sh [EVENTS] [SEED] [CHUNKS] [RUNS]
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=common.sh
source bench-data/scripts/common.sh

events=${1:-200000}
seed=${2:-42}
chunks=${3:-100}
runs=${4:-21}

bench_setup "$events" "$seed"
small="target/bench-data/small-${seed}-${events}-${chunks}"
compacted="target/bench-data/compacted-${seed}-${events}-${chunks}"
if [ ! -s "$small/manifest.json" ]; then
  echo "== $chunks separate ingests"
  parts=$(mktemp -d)
  split -n "l/$chunks" -d -a 4 "$file" "$parts/part-"
  for part in "$parts"/part-*; do
    ./target/release/agentrail ingest --data-dir "$small" "$part" >/dev/null
  done
  rm -rf "$parts"
fi
rm -rf "$compacted"
cp -r "$small" "$compacted"
echo "== agentrail compact"
/usr/bin/time -f "compact: %e s wall, %M KiB peak RSS" \
  ./target/release/agentrail compact --data-dir "$compacted" | tail -1
./target/release/agentrail verify --data-dir "$compacted" | tail -1

config=$(mktemp)
printf '[compaction]\nenabled = false\n[audit]\nenabled = false\n' > "$config"
servers=()
trap 'kill "${servers[@]}" 2>/dev/null || true; rm -f "$config"' EXIT
start() {
  local port=$1 store=$2
  ./target/release/agentrail serve --config "$config" --data-dir "$store" --listen "127.0.0.1:$port" \
    --pg-listen off >/dev/null 2>&1 &
  servers+=($!)
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
}
port=$((20000 + RANDOM % 20000))
start "$port" "$small"
start "$((port + 1))" "$compacted"

python3 - "$small" "$compacted" "$dir/ground_truth.json" "$runs" "$port" <<'PY'
import json, statistics, sys, time, urllib.parse, urllib.request
import duckdb
small, compacted, truth, runs, port = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
incidents = [i["correlation_id"] for i in json.load(open(truth))["incidents"]]
con = duckdb.connect()

def timed(fn):
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1000

def p50(fn):
    fn()  # warm
    return statistics.median(timed(fn) for _ in range(runs))

def get(port, path):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}") as response:
        return response.read()

def query(port, sql):
    body = json.dumps({"sql": sql}).encode()
    request = urllib.request.Request(f"http://127.0.0.1:{port}/api/v1/query", body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(request) as response:
        return response.read()

results = {}
for name, store, at in [("small segments", small, port), ("compacted", compacted, port + 1)]:
    parquet = f"{store}/segments/**/*.parquet"
    files = con.execute(f"SELECT count(*) FROM glob('{parquet}')").fetchone()[0]
    rows = con.execute(f"SELECT count(*) FROM read_parquet('{parquet}')").fetchone()[0]
    replay = statistics.median(p50(lambda c=c: get(at, f"/api/v1/replay/{c}")) for c in incidents)
    search = p50(lambda: get(at, "/api/v1/search?" + urllib.parse.urlencode({"q": "delete*", "limit": 50})))
    count = p50(lambda: query(at, "SELECT source, count(*) FROM events GROUP BY source"))
    duck = statistics.median(
        p50(lambda c=c: con.execute(f"SELECT * FROM read_parquet('{parquet}') WHERE correlation_id = '{c}' ORDER BY time").fetchall())
        for c in incidents)
    results[name] = dict(files=files, rows=rows, replay=replay, search=search, count=count, duck=duck)
    print(f"{name:15} {rows} events in {files:5} files: replay p50 {replay:6.1f} ms, search {search:6.1f} ms, "
          f"count by source {count:6.1f} ms; DuckDB replay {duck:6.1f} ms (DuckDB / agentrail {duck / replay:.1f}x)")

before, after = results["small segments"], results["compacted"]
print(f"== compaction: {before['files']} → {after['files']} files; replay {before['replay'] / after['replay']:.1f}x, "
      f"search {before['search'] / after['search']:.1f}x, count {before['count'] / after['count']:.1f}x faster; "
      f"DuckDB's replay {before['duck'] / after['duck']:.1f}x faster")
PY
