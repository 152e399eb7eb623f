# Shared by the benchmark scripts (sourced).
#
#   bench_machine       describes the machine, builds the release binaries
#                       (unless AGENTRAIL_BENCH_NO_BUILD=1: the ones in
#                       target/release are used as they are) and makes sure
#                       DuckDB, the baseline engine, is importable
#   bench_setup EVENTS SEED
#                       bench_machine, then generates the bench-data for EVENTS
#                       and SEED once (cached under target/bench-data/<seed>-<events>/);
#                       sets `dir` and `file`
#   bench_store EVENTS SEED
#                       bench_setup, then that data ingested once (timed) into
#                       target/bench-data/store-<seed>-<events>/; sets `store`
bench_machine() {
  echo "== machine"
  echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB"
  echo "rustc: $(rustc --version)"
  [ "${AGENTRAIL_BENCH_NO_BUILD:-}" = 1 ] || cargo build --release --quiet -p agentrail -p agentrail-bench-data
  python3 -c 'import duckdb' 2>/dev/null || python3 -m pip install --quiet duckdb
}

bench_setup() {
  local events=$1 seed=$2
  dir="target/bench-data/${seed}-${events}"
  file="$dir/mixed.ndjson"
  bench_machine
  [ -s "$file" ] || ./target/release/agentrail-benchgen --seed "$seed" --events "$events" --days 3 --mixed-only --out "$dir"
}

bench_store() {
  local events=$1 seed=$2
  bench_setup "$events" "$seed"
  store="target/bench-data/store-${seed}-${events}"
  if [ ! -s "$store/manifest.json" ]; then
    echo "== ingest"
    /usr/bin/time -f "ingest: %e s wall, %M KiB peak RSS" ./target/release/agentrail ingest --data-dir "$store" "$file"
  fi
}
