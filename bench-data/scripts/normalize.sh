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
# shellcheck source=common.sh
source bench-data/scripts/common.sh

events=${1:-200000}
seed=${2:-42}

bench_setup "$events" "$seed"
lines=$(wc -l < "$file")
bytes=$(stat -c %s "$file")
echo "data: $file, $lines records, $((bytes / 1024 / 1024)) MiB"


# Runs a command 3 times; reports the best wall time and the peak RSS.
measure() {
  local name=$1; shift
  python3 - "$name" "$lines" "$bytes" "$@" <<'PY'
import resource, subprocess, sys, time
name, lines, size, cmd = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4:]
best = None
for _ in range(3):
    start = time.perf_counter()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    elapsed = time.perf_counter() - start
    best = elapsed if best is None else min(best, elapsed)
rss_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
print(f"{name:<26} {best:7.2f} s {lines / best:10.0f} records/s {size / best / 1e6:7.1f} MB/s {rss_mib:7.0f} MiB peak RSS")
open(f"target/bench-data/.last-{name}", "w").write(str(best))
PY
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
