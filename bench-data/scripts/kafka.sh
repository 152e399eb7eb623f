#!/usr/bin/env bash
# Benchmark of the Kafka collector: generated multi-source records are
# produced into a 3-partition topic of a local tansu broker (not timed),
# then `agentrail serve` consumes them with durable offsets (each position
# committed only after its events are fsynced). Reports events/s and MB/s
# from the first message stored to the last, and the server's peak RSS;
# DuckDB's bare read_json -> zstd Parquet conversion of the same NDJSON file
# in the same run is the baseline. The broker shares the machine's 2 cores.
#
#   bench-data/scripts/kafka.sh [EVENTS] [SEED]
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=common.sh
source bench-data/scripts/common.sh

events=${1:-200000}
seed=${2:-42}
tansu=${AGENTRAIL_TANSU:-$(command -v tansu || echo "${CARGO_HOME:-$HOME/.cargo}/bin/tansu")}

bench_setup "$events" "$seed"

work=$(mktemp -d)
trap 'kill "$server" "$broker" 2>/dev/null || true; rm -rf "$work"' EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$tansu" broker --listener-url "tcp://127.0.0.1:$port" --advertised-listener-url "tcp://127.0.0.1:$port" \
  > "$work/broker.log" 2>&1 &
broker=$!
sleep 1
"$tansu" topic create audit --partitions 3 --broker "tcp://127.0.0.1:$port" > /dev/null

echo "== producing $events records into 3 partitions (not timed)"
python3 - "$file" "$work" <<'PY'
import json, sys
file, work = sys.argv[1], sys.argv[2]
parts = [[], [], []]
for i, line in enumerate(open(file, "rb")):
    parts[i % 3].append({"value": json.loads(line)})
for p, records in enumerate(parts):
    json.dump(records, open(f"{work}/part-{p}.json", "w"))
PY
for p in 0 1 2; do
  "$tansu" cat produce audit "$work/part-$p.json" --partition "$p" --broker "tcp://127.0.0.1:$port" > /dev/null 2>&1
done

cat > "$work/agentrail.toml" <<EOF
[kafka]
brokers = "127.0.0.1:$port"
group_id = "bench"
[[kafka.topics]]
name = "audit"
EOF
./target/release/agentrail serve --config "$work/agentrail.toml" --data-dir "$work/data" --listen 127.0.0.1:0 --pg-listen off \
  > "$work/server.out" 2> "$work/server.err" &
server=$!
for _ in $(seq 100); do grep -q listening "$work/server.out" 2>/dev/null && break; sleep 0.1; done
metrics="$(grep -o 'http://[^ ]*' "$work/server.out")/metrics"

python3 - "$metrics" "$events" "$file" "$server" "$work" <<'PY'
import os, subprocess, sys, time, urllib.request
metrics, events, file, server, work = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
def stored():
    text = urllib.request.urlopen(metrics).read().decode()
    return int(next(l.split()[1] for l in text.splitlines() if l.startswith("agentrail_kafka_messages_total")))
first = None
deadline = time.time() + 900
while time.time() < deadline:
    n = stored()
    if n and first is None:
        first = time.perf_counter()
    if n >= events:
        break
    time.sleep(0.05)
end = time.perf_counter()
peak_kb = int(next(l.split()[1] for l in open(f"/proc/{server}/status") if l.startswith("VmHWM")))
size = os.path.getsize(file)
wall = end - first
print(f"agentrail serve, Kafka (durable offsets): {events / wall:9.0f} events/s {size / wall / 1e6:6.1f} MB/s "
      f"({wall:.2f} s), server peak RSS {peak_kb / 1024:.0f} MiB")
start = time.perf_counter()
subprocess.run(["python3", "-c", f"""
import duckdb
con = duckdb.connect()
con.execute("COPY (SELECT * FROM read_json('{file}', format='newline_delimited', union_by_name=true, maximum_object_size=16777216)) TO '{work}/duckdb.parquet' (FORMAT parquet, COMPRESSION zstd)")
"""], check=True)
duckdb = time.perf_counter() - start
print(f"duckdb read_json -> parquet zstd:        {events / duckdb:9.0f} events/s ({duckdb:.2f} s)")
print(f"ratio: the Kafka collector runs at {duckdb / wall:.2f}x DuckDB's bare conversion speed")
PY
kill -TERM "$server"; wait "$server" || true
