#!/usr/bin/env bash
# Scale-out on one machine: durable HTTP ingest of EVENTS generated records
# (batches of 1,000 NDJSON records, CONCURRENCY clients, every 200 fsynced)
# into one node on its local disk, one node sealing into a shared store
# (s3s-fs, an S3-compatible server over a directory, with a PostgreSQL
# catalog) and two such nodes sharing the load; then incident replay through
# the read API of the local node and of the shared one (which reads the
# object store), with DuckDB on the local Parquet as the baseline, and
# DuckDB's bare conversion of the file to Parquet as ingest's baseline.
#
#   bench-data/scripts/shared.sh [EVENTS] [CONCURRENCY] [SEED] [RUNS]
#
# Needs s3s-fs (cargo install s3s-fs --version 0.14.1 --features binary
# --locked) and Debian's postgresql; run as root, PostgreSQL runs as the
# `postgres` user.
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=common.sh
source bench-data/scripts/common.sh

events=${1:-200000}
concurrency=${2:-8}
seed=${3:-42}
runs=${4:-21}

bench_setup "$events" "$seed"
s3s=$(command -v s3s-fs || echo "${CARGO_HOME:-$HOME/.cargo}/bin/s3s-fs")
pg_bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)

work=$(mktemp -d /tmp/agentrail-shared-bench.XXXXXX)
chmod 711 "$work"  # PostgreSQL runs as `postgres` in a directory below
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
split -l 1000 -d -a 5 "$dir/mixed.ndjson" "$work/batch-"

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 200); do (echo > "/dev/tcp/127.0.0.1/$1") 2>/dev/null && return; sleep 0.1; done; echo "nothing listens on $1" >&2; exit 1; }

echo "== servers"
s3_port=$(free_port)
mkdir -p "$work/s3/bench"
"$s3s" --host 127.0.0.1 --port "$s3_port" --access-key bench --secret-key bench-secret "$work/s3" >/dev/null 2>&1 &
pids+=($!)
wait_port "$s3_port"
pg_port=$(free_port)
mkdir -p "$work/pg"
chown postgres:postgres "$work/pg"
runuser -u postgres -- "$pg_bin/initdb" -D "$work/pg/data" -A trust -U agentrail --no-sync >/dev/null
runuser -u postgres -- "$pg_bin/postgres" -D "$work/pg/data" -p "$pg_port" -k "$work/pg/data" \
  -c listen_addresses=127.0.0.1 >/dev/null 2>&1 &
pids+=($!)
wait_port "$pg_port"
echo "s3s-fs $("$s3s" --version 2>/dev/null | head -n 1 || true) on $s3_port; PostgreSQL $("$pg_bin/postgres" --version | awk '{print $3}') on $pg_port (fsync on)"

# node NAME [SHARED-PREFIX DATABASE]: a serve process; prints its URL.
node() {
  local name=$1 prefix=${2:-} database=${3:-}
  mkdir -p "$work/$name"
  {
    echo "seal_after_seconds = 5"
    echo "[audit]"
    echo "enabled = false"
    if [ -n "$prefix" ]; then
      echo "[storage]"
      echo "url = \"s3://bench/$prefix\""
      echo "options = { endpoint = \"http://127.0.0.1:$s3_port\", allow_http = \"true\", region = \"us-east-1\", access_key_id = \"bench\", secret_access_key = \"bench-secret\" }"
      echo "[catalog]"
      echo "url = \"postgres://agentrail@127.0.0.1:$pg_port/$database\""
      echo "[node]"
      echo "id = \"$name\""
    fi
  } > "$work/$name/agentrail.toml"
  ./target/release/agentrail serve --config "$work/$name/agentrail.toml" --data-dir "$work/$name/data" \
    --listen 127.0.0.1:0 --pg-listen off > "$work/$name/out" 2> "$work/$name/err" &
  pids+=($!)
  echo $! > "$work/$name/pid"
  for _ in $(seq 300); do grep -q listening "$work/$name/out" 2>/dev/null && break; sleep 0.1; done
  grep -o 'http://[^ ]*' "$work/$name/out" | head -n 1
}

for database in one two; do
  "$pg_bin/psql" -q -h 127.0.0.1 -p "$pg_port" -U agentrail -d postgres -c "CREATE DATABASE $database"
done
local_url=$(node local)
one_url=$(node one one one)
two_a_url=$(node two-a two two)
two_b_url=$(node two-b two two)

python3 - "$work" "$events" "$concurrency" "$runs" "$dir/ground_truth.json" "$pg_port" \
  "$local_url" "$one_url" "$two_a_url" "$two_b_url" <<'PY'
import concurrent.futures, glob, json, os, statistics, subprocess, sys, time, urllib.request
import duckdb

work, events, concurrency, runs, truth, pg_port = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5], sys.argv[6]
local_url, one_url, two_a_url, two_b_url = sys.argv[7:11]
batches = sorted(glob.glob(f"{work}/batch-*"))
size = sum(os.path.getsize(b) for b in batches)

def post(url, path):
    body = open(path, "rb").read()
    request = urllib.request.Request(f"{url}/v1/events", body, {"Content-Type": "application/x-ndjson"})
    start = time.perf_counter()
    with urllib.request.urlopen(request) as response:
        response.read()
        return response.status, time.perf_counter() - start

def listed(database):
    sql = "SELECT coalesce(sum(rows), 0) FROM agentrail_files WHERE kind = 'events'"
    out = subprocess.run(["psql", "-At", "-h", "127.0.0.1", "-p", pg_port, "-U", "agentrail", "-d", database, "-c", sql],
                         capture_output=True, text=True)
    return int(out.stdout.strip() or 0) if out.returncode == 0 else 0

def stored(url):
    body = json.dumps({"sql": "SELECT count(*) AS n FROM events"}).encode()
    request = urllib.request.Request(f"{url}/api/v1/query", body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(request) as response:
        return json.loads(response.read())["rows"][0]["n"]

def load(label, urls, database=None):
    start = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(concurrency) as pool:
        answers = list(pool.map(lambda i: post(urls[i % len(urls)], batches[i]), range(len(batches))))
    acked = time.perf_counter() - start
    codes = {}
    for code, _ in answers:
        codes[code] = codes.get(code, 0) + 1
    latencies = sorted(t for code, t in answers if code == 200)
    p50, p99 = latencies[len(latencies) // 2] * 1000, latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))] * 1000
    # Visible: sealed and listed (shared) or sealed into the manifest (local).
    count = (lambda: listed(database)) if database else (lambda: stored(urls[0]))
    while count() < events:
        time.sleep(0.05)
    visible = time.perf_counter() - start
    print(f"{label:<28} answers {codes}: {events / acked:8,.0f} events/s acked ({size / acked / 1e6:5.1f} MB/s), "
          f"ack p50 {p50:4.0f} ms p99 {p99:5.0f} ms; all {events} queryable after {visible:5.1f} s "
          f"({events / visible:7,.0f} events/s)")
    return events / acked

print(f"== ingest: {events} records in {len(batches)} batches of 1,000 ({size / 2**20:.0f} MiB), {concurrency} clients")
rates = {}
rates["local"] = load("one node, local disk", [local_url])
rates["one"] = load("one node, shared store", [one_url], "one")
rates["two"] = load("two nodes, shared store", [two_a_url, two_b_url], "two")

con = duckdb.connect()
start = time.perf_counter()
con.execute(f"COPY (SELECT * FROM read_json('{work}/batch-*', format='newline_delimited', union_by_name=true, "
            f"maximum_object_size=16777216)) TO '{work}/duckdb.parquet' (FORMAT parquet, COMPRESSION zstd)")
duck = events / (time.perf_counter() - start)
print(f"{'DuckDB read_json -> Parquet':<28} {duck:8,.0f} events/s (no durability, no normalization)")
print(f"ratios: shared/local {rates['one'] / rates['local']:.2f}x, two nodes/one {rates['two'] / rates['one']:.2f}x, "
      f"local/DuckDB {rates['local'] / duck:.2f}x")

incidents = [i["correlation_id"] for i in json.load(open(truth))["incidents"]]
parquet = f"{work}/local/data/segments/**/*.parquet"

def timed(fn):
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1000

def get(url, path):
    with urllib.request.urlopen(f"{url}{path}") as response:
        return response.read()

def duck_replay(corr):
    con.execute(f"COPY (SELECT * FROM read_parquet('{parquet}') WHERE correlation_id = '{corr}' ORDER BY time) "
                f"TO '{work}/duckdb-replay.json' (FORMAT json)")

print(f"== replay (read API, warm, median of {runs} per incident, {len(incidents)} incidents)")
totals = {"local": [], "shared": [], "duckdb": []}
for corr in incidents:
    answers = {name: len(json.loads(get(url, f"/api/v1/replay/{corr}"))["events"]) for name, url in
               [("local", local_url), ("shared", one_url)]}
    assert answers["local"] == answers["shared"], f"{corr}: the answers differ: {answers}"
    local = [timed(lambda: get(local_url, f"/api/v1/replay/{corr}")) for _ in range(runs)]
    shared = [timed(lambda: get(one_url, f"/api/v1/replay/{corr}")) for _ in range(runs)]
    ddb = [timed(lambda: duck_replay(corr)) for _ in range(max(3, runs // 3))]
    totals["local"] += local; totals["shared"] += shared; totals["duckdb"] += ddb
    print(f"{corr} ({answers['local']} events): local p50 {statistics.median(local):6.1f} ms, "
          f"s3s-fs p50 {statistics.median(shared):6.1f} ms, DuckDB (local Parquet) {statistics.median(ddb):6.1f} ms")
m = {name: statistics.median(samples) for name, samples in totals.items()}
print(f"all: local {m['local']:.1f} ms, s3s-fs {m['shared']:.1f} ms ({m['shared'] / m['local']:.1f}x local), "
      f"DuckDB {m['duckdb']:.1f} ms (DuckDB / s3s-fs replay {m['duckdb'] / m['shared']:.1f}x)")
PY
