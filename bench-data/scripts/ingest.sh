#!/usr/bin/env bash
# End-to-end benchmark of durable ingestion: `agentrail ingest` of a
# generated multi-source NDJSON file (normalize, write-ahead log with fsync,
# Parquet segments, manifest), against DuckDB's bare conversion of the same
# file to zstd Parquet, in the same run.
#
#   bench-data/scripts/ingest.sh [EVENTS] [SEED]
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=common.sh
source bench-data/scripts/common.sh

events=${1:-200000}
seed=${2:-42}

bench_setup "$events" "$seed"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

python3 - "$file" "$out" <<'PY'
import os, resource, subprocess, sys, time
file, out = sys.argv[1], sys.argv[2]
lines = sum(1 for _ in open(file, "rb"))
size = os.path.getsize(file)
print(f"data: {file}, {lines} records, {size / 2**20:.0f} MiB")

def measure(name, cmd, target):
    best = None
    for attempt in range(3):
        subprocess.run(["rm", "-rf", target])
        os.makedirs(target)
        start = time.perf_counter()
        subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        best = min(best or 1e9, time.perf_counter() - start)
    rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    # What stays: Parquet files (the write-ahead log is trimmed as it is sealed).
    stored = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(target) for f in fs if f.endswith(".parquet"))
    print(f"{name:<34} {best:7.2f} s {lines / best:9.0f} events/s {size / best / 1e6:6.1f} MB/s "
          f"Parquet {stored / 2**20:6.1f} MiB ({100 * stored / size:4.1f}% of input), peak RSS so far {rss:5.0f} MiB")
    return best

agentrail = measure("agentrail ingest (durable)",
    ["./target/release/agentrail", "ingest", "--data-dir", f"{out}/agentrail", file], f"{out}/agentrail")
duckdb = measure("duckdb read_json -> parquet zstd",
    ["python3", "-c", f"""
import duckdb
con = duckdb.connect()
con.execute("COPY (SELECT * FROM read_json('{file}', format='newline_delimited', union_by_name=true, maximum_object_size=16777216)) TO '{out}/duckdb/out.parquet' (FORMAT parquet, COMPRESSION zstd)")
"""], f"{out}/duckdb")
print(f"ratio: agentrail ingest runs at {duckdb / agentrail:.2f}x DuckDB's bare conversion speed")
PY
