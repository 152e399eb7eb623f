#!/usr/bin/env bash
# End-to-end benchmark of `agentrail normalize` on generated multi-source data,
# with DuckDB on the same file as the baseline, in the same run.
#
#   bench-data/scripts/normalize.sh [EVENTS] [SEED]
#
# Prints the machine, then for each contender: wall time, records/s, MB/s
# and peak RSS, and the ratio agentrail/DuckDB. Data is cached in
# target/bench-data/<seed>-<events>/ so reruns only measure.
set -euo pipefail
cd "$(dirname "$0")/../.."

events=${1:-200000}
seed=${2:-42}
dir="target/bench-data/${seed}-${events}"

echo "== machine"
echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB"
echo "rustc: $(rustc --version)"

cargo build --release --quiet -p agentrail -p agentrail-bench-data
if [ ! -s "$dir/mixed.ndjson" ]; then
  ./target/release/agentrail-benchgen --seed "$seed" --events "$events" --days 3 --out "$dir"
fi
file="$dir/mixed.ndjson"
lines=$(wc -l < "$file")
bytes=$(stat -c %s "$file")
echo "data: $file, $lines records, $((bytes / 1024 / 1024)) MiB"

python3 -c 'import duckdb' 2>/dev/null || python3 -m pip install --quiet duckdb

# Runs a command 3 times; reports the best wall time and the peak RSS.
measure() {
  local name=$1; shift
  local best="" rss=0
  for _ in 1 2 3; do
    local out
    out=$( { /usr/bin/time -f '%e %M' "$@" > /dev/null 2>/dev/null; } 2>&1 | tail -1 )
    local secs=${out% *} kb=${out#* }
    if [ -z "$best" ] || awk "BEGIN {exit !($secs < $best)}"; then best=$secs; fi
    [ "$kb" -gt "$rss" ] && rss=$kb
  done
  awk -v n="$name" -v s="$best" -v l="$lines" -v b="$bytes" -v r="$rss" \
    'BEGIN {printf "%-28s %7.2f s %10.0f records/s %8.1f MB/s %7.0f MiB RSS\n", n, s, l/s, b/s/1e6, r/1024}'
  echo "$best" > "target/bench-data/.last-$name"
}

echo "== one core each"
measure agentrail-normalize taskset -c 0 ./target/release/agentrail normalize "$file"
measure duckdb-parse-extract taskset -c 0 python3 -c "
import duckdb, sys
con = duckdb.connect()
con.execute('SET threads = 1')
# Parse every record and pull the fields every source keys its events on.
con.execute('''SELECT count(*),
  count(json_extract_string(json, '\$.eventName')), count(json_extract_string(json, '\$.eventType')),
  count(json_extract_string(json, '\$.action')), count(json_extract_string(json, '\$.verb')),
  count(json_extract_string(json, '\$.protoPayload.methodName')), count(json_extract_string(json, '\$.tool'))
  FROM read_ndjson_objects(?, maximum_object_size = 16777216)''', ['$file']).fetchall()
"
awk -v a="$(cat target/bench-data/.last-agentrail-normalize)" -v d="$(cat target/bench-data/.last-duckdb-parse-extract)" \
  'BEGIN {printf "ratio: agentrail normalize takes %.2fx the time of DuckDB parse+extract\n", a/d}'
