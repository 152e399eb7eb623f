#!/usr/bin/env bash
# The anomaly rules over a store of EVENTS generated events (3 days): the
# whole `agentrail report` process over all three days and over one day's
# partition, each rule's own time from its `rules_run`, and DuckDB running
# the same rule SQL (parameters bound as literals, a few functions renamed
# to its dialect) over the same Parquet files, in the same run.
#
#   bench-data/scripts/report.sh [EVENTS] [SEED] [RUNS]
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=common.sh
source bench-data/scripts/common.sh

events=${1:-1000000}
seed=${2:-42}
runs=${3:-3}

store="target/bench-data/store-${seed}-${events}"
if [ -s "$store/manifest.json" ]; then
  bench_machine
else
  bench_setup "$events" "$seed"
  echo "== ingest"
  ./target/release/agentrail ingest --data-dir "$store" "$file"
fi

python3 - "$store" "$runs" <<'PY'
import calendar, json, pathlib, re, statistics, subprocess, sys, time
import duckdb

store, runs = sys.argv[1], int(sys.argv[2])
until = "2026-11-19T00:00:00Z"  # the end of the generated three days

def report(since):
    """The whole process, `runs` times: (median wall seconds, per-rule median seconds, findings)."""
    walls, per_rule, events, findings = [], {}, {}, 0
    for _ in range(runs):
        start = time.perf_counter()
        out = subprocess.run(["./target/release/agentrail", "report", "--data-dir", store, "--until", until,
                              "--since", since, "--format", "json"], capture_output=True)
        walls.append(time.perf_counter() - start)
        doc = json.loads(out.stdout)
        if doc["errors"]:
            sys.exit(f"rules failed: {doc['errors']}")
        findings = len(doc["findings"])
        for run in doc["rules_run"]:
            per_rule.setdefault(run["rule"], []).append(run["seconds"])
            events[run["rule"]] = run["events"]
    return statistics.median(walls), {r: statistics.median(s) for r, s in per_rule.items()}, events, findings

def duck_sql(text, since_hours):
    """A rule file's SQL for DuckDB: parameters as literals, `events` as the Parquet files."""
    end = calendar.timegm(time.strptime(until, "%Y-%m-%dT%H:%M:%SZ"))
    iso = lambda t: time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))
    values = {"from": iso(end - since_hours * 3600), "to": until}
    baseline = re.search(r"^-- baseline:\s*(\d+)d", text, re.M)
    if baseline:
        values["baseline_from"] = iso(end - since_hours * 3600 - int(baseline.group(1)) * 86400)
    for name, value in re.findall(r"^-- param:\s*(\w+)\s*=\s*(\S+)", text, re.M):
        values[name] = value
    sql = "\n".join(line for line in text.splitlines() if not line.startswith("--"))
    for name, value in values.items():
        sql = sql.replace(f"to_timestamp_micros(${name})", f"TIMESTAMPTZ '{value}'")
    for name, value in sorted(values.items(), key=lambda kv: -len(kv[0])):
        sql = sql.replace(f"${name}", f"'{value}'")
    return sql.replace("cardinality(", "len(")

con = duckdb.connect()
con.execute(f"CREATE VIEW events AS SELECT * FROM read_parquet('{store}/segments/**/*.parquet', hive_partitioning = false)")
total = con.execute("SELECT count(*) FROM events").fetchone()[0]
print(f"== rules over {total} events ({runs} runs each, medians)")
rules = sorted(pathlib.Path("queries/anomalies").glob("*.sql"))
for since, hours in (("72h", 72), ("24h", 24)):
    wall, ours, events, findings = report(since)
    print(f"-- window {since}: whole `agentrail report` process {wall:.2f} s, {findings} findings")
    duck_total = 0.0
    for path in rules:
        rule = path.stem
        try:
            sql = duck_sql(path.read_text(), hours)
            samples = []
            for _ in range(runs):
                start = time.perf_counter()
                # Materialized, as agentrail materializes its rows.
                con.execute(f"CREATE OR REPLACE TEMP TABLE result AS {sql}")
                rows = con.execute("SELECT count(*) FROM result").fetchone()[0]
                samples.append(time.perf_counter() - start)
            duck = statistics.median(samples)
            duck_total += duck
            same = "" if rows == events[rule] else f" (agentrail: {events[rule]} rows!)"
            print(f"{rule:30s} agentrail {ours[rule]:6.2f} s   DuckDB {duck:6.2f} s   "
                  f"agentrail/DuckDB {ours[rule] / duck:4.1f}x   {rows} rows{same}")
        except duckdb.Error as error:
            print(f"{rule:30s} agentrail {ours[rule]:6.2f} s   DuckDB n/a ({str(error).splitlines()[0][:80]})")
    print(f"{'all rules':30s} agentrail {sum(ours.values()):6.2f} s   DuckDB {duck_total:6.2f} s (rules it ran)")
PY
