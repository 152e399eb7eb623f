#!/usr/bin/env bash
# Load benchmark of `agentrail serve` with durable acks: generated
# multi-source records posted in batches of 1,000 (as NDJSON) by CONCURRENCY
# curl clients; every 200 means fsynced. Reports events/s, MB/s, p50/p99
# acknowledgement latency and the server's peak RSS.
#
#   bench-data/scripts/serve.sh [EVENTS] [CONCURRENCY] [SEED]
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=common.sh
source bench-data/scripts/common.sh

events=${1:-200000}
concurrency=${2:-8}
seed=${3:-42}

bench_setup "$events" "$seed"

work=$(mktemp -d)
trap 'kill "$server" 2>/dev/null || true; rm -rf "$work"' EXIT
split -l 1000 -d -a 5 "$dir/mixed.ndjson" "$work/batch-"
batches=$(ls "$work"/batch-* | wc -l)
bytes=$(stat -c %s "$dir/mixed.ndjson")

./target/release/agentrail serve --data-dir "$work/data" --listen 127.0.0.1:0 --pg-listen off > "$work/server.out" 2> "$work/server.err" &
server=$!
for _ in $(seq 100); do grep -q listening "$work/server.out" 2>/dev/null && break; sleep 0.1; done
url="$(grep -o 'http://[^ ]*' "$work/server.out")/v1/events"

start=$(date +%s.%N)
ls "$work"/batch-* | xargs -P "$concurrency" -I{} curl -s -o /dev/null -w '%{http_code} %{time_total}\n' \
  -H 'Content-Type: application/x-ndjson' --data-binary @{} "$url" > "$work/results"
end=$(date +%s.%N)
peak_kb=$(awk '/VmHWM/ {print $2}' "/proc/$server/status")
kill -TERM "$server"; wait "$server" || true

python3 - "$work/results" "$start" "$end" "$events" "$bytes" "$batches" "$concurrency" "$peak_kb" <<'PY'
import sys
path, start, end, events, size, batches, concurrency, peak_kb = sys.argv[1:]
rows = [line.split() for line in open(path)]
codes = {}
for code, _ in rows:
    codes[code] = codes.get(code, 0) + 1
latencies = sorted(float(t) for code, t in rows if code == "200")
wall = float(end) - float(start)
def pct(p):
    return latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000 if latencies else float("nan")
ok_events = int(events) * codes.get("200", 0) / int(batches)
print(f"{batches} batches of 1000 over {concurrency} connections: answers {codes}")
print(f"serve (durable acks): {ok_events / wall:,.0f} events/s, {int(size) / wall / 1e6:.1f} MB/s, "
      f"ack latency p50 {pct(0.50):.0f} ms, p99 {pct(0.99):.0f} ms, server peak RSS {int(peak_kb) / 1024:.0f} MiB")
PY
