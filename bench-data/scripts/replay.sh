#!/usr/bin/env bash
# Incident lookups over a store of EVENTS generated events: replay and
# search through the running server's API (warm: parts open, page cache
# warm; first: the first request of a fresh server for that incident), the
# whole `agentrail replay` process, and DuckDB selecting the same
# correlation id from the same Parquet files in-process, in the same run.
# Also ingest time and storage (Parquet + index) against the raw NDJSON.
#
#   bench-data/scripts/replay.sh [EVENTS] [SEED] [RUNS]
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=common.sh
source bench-data/scripts/common.sh

events=${1:-200000}
seed=${2:-42}
runs=${3:-21}

bench_store "$events" "$seed"
echo "== storage"
raw=$(stat -c %s "$file")
segments=$(du -sb "$store/segments" | cut -f1)
index=$(du -sb "$store/index" | cut -f1)
python3 -c "
raw, seg, idx = $raw, $segments, $index
print(f'raw NDJSON {raw/2**20:.0f} MiB; Parquet {seg/2**20:.0f} MiB ({seg/raw:.1%}); index {idx/2**20:.0f} MiB ({idx/raw:.1%}); together {(seg+idx)/raw:.1%} of raw')"

port=$((20000 + RANDOM % 20000))
./target/release/agentrail serve --data-dir "$store" --listen "127.0.0.1:$port" --pg-listen off >/dev/null 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done

python3 - "$store" "$dir/ground_truth.json" "$runs" "$port" <<'PY'
import json, statistics, subprocess, sys, time, urllib.parse, urllib.request
import duckdb
store, truth, runs, port = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
incidents = [i["correlation_id"] for i in json.load(open(truth))["incidents"]]
con = duckdb.connect()
parquet = f"{store}/segments/**/*.parquet"
rows = con.execute(f"SELECT count(*) FROM read_parquet('{parquet}')").fetchone()[0]
files = con.execute(f"SELECT count(*) FROM glob('{parquet}')").fetchone()[0]
print(f"== lookups: {rows} events in {files} segments, {len(incidents)} incidents, {runs} runs each")

def timed(fn):
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1000

def stats(samples):
    samples = sorted(samples)
    p99 = samples[min(len(samples) - 1, round(0.99 * (len(samples) - 1)))]
    return statistics.median(samples), p99

def get(path):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}") as response:
        return response.read()

def process(args):
    subprocess.run(["./target/release/agentrail", *args], stdout=subprocess.DEVNULL, check=True)

def duck(corr):
    # DuckDB writes the rows as JSON, as the replay answer does.
    con.execute(f"COPY (SELECT * FROM read_parquet('{parquet}') WHERE correlation_id = '{corr}' ORDER BY time) "
                f"TO '/tmp/agentrail-replay-duckdb.json' (FORMAT json)")

totals = {"first": [], "warm": [], "expand": [], "process": [], "duckdb": []}
for corr in incidents:
    first = timed(lambda: get(f"/api/v1/replay/{corr}"))
    warm = [timed(lambda: get(f"/api/v1/replay/{corr}")) for _ in range(runs)]
    expand = [timed(lambda: get(f"/api/v1/replay/{corr}?expand=true")) for _ in range(max(3, runs // 3))]
    proc = [timed(lambda: process(["replay", "--data-dir", store, "--format", "json", corr])) for _ in range(max(3, runs // 3))]
    ddb = [timed(lambda: duck(corr)) for _ in range(max(3, runs // 3))]
    events = len(json.loads(get(f"/api/v1/replay/{corr}"))["events"])
    totals["first"].append(first); totals["warm"] += warm; totals["expand"] += expand
    totals["process"] += proc; totals["duckdb"] += ddb
    w50, w99 = stats(warm)
    d50, _ = stats(ddb)
    print(f"{corr} ({events} events): API first {first:5.1f} ms, warm p50 {w50:5.1f} / p99 {w99:5.1f} ms, "
          f"--expand p50 {stats(expand)[0]:6.1f} ms; process {stats(proc)[0]:5.0f} ms; "
          f"DuckDB {d50:6.1f} ms = {d50 / w50:5.1f}x the warm API time")

print("== all incidents")
for name, samples in totals.items():
    p50, p99 = stats(samples)
    print(f"{name:8s} p50 {p50:7.1f} ms  p99 {p99:7.1f} ms  ({len(samples)} samples)")
print(f"DuckDB / warm replay: {stats(totals['duckdb'])[0] / stats(totals['warm'])[0]:.1f}x")

print("== search (API, warm, limit 100)")
searches = [f"correlation_id:{incidents[0]}", "deleteloggroup", "source:github AND outcome:denied", "delete* AND prod"]
for q in searches:
    path = "/api/v1/search?" + urllib.parse.urlencode({"q": q, "limit": 100})
    get(path)
    p50, p99 = stats([timed(lambda: get(path)) for _ in range(runs)])
    returned = json.loads(get(path))["returned"]
    print(f"{q!r:45s} p50 {p50:6.1f} ms  p99 {p99:6.1f} ms  ({returned} returned)")
PY
