#!/usr/bin/env bash
# The same incident questions asked three ways of a store of EVENTS
# generated events, in the same run: over the PostgreSQL wire protocol
# (psycopg 3, extended protocol, the correlation id bound), over the HTTP
# read API (`POST /api/v1/query`, JSON), and DuckDB in-process on the same
# Parquet files (the baseline). Warm: each query once before timing.
#
#   bench-data/scripts/pg.sh [EVENTS] [SEED] [RUNS]
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=common.sh
source bench-data/scripts/common.sh

events=${1:-200000}
seed=${2:-42}
runs=${3:-21}

bench_store "$events" "$seed"
python3 -c 'import psycopg' 2>/dev/null || python3 -m pip install --quiet 'psycopg[binary]==3.3.9'
# DuckDB hands timestamptz values to Python through pytz.
python3 -c 'import pytz' 2>/dev/null || python3 -m pip install --quiet pytz

port=$((20000 + RANDOM % 20000))
pg_port=$((port + 1))
./target/release/agentrail serve --data-dir "$store" --listen "127.0.0.1:$port" --pg-listen "127.0.0.1:$pg_port" >/dev/null 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done

python3 - "$store" "$dir/ground_truth.json" "$runs" "$port" "$pg_port" <<'PY'
import json, statistics, sys, time, urllib.request
import duckdb, psycopg
store, truth, runs, port, pg_port = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], int(sys.argv[5])
incidents = [i["correlation_id"] for i in json.load(open(truth))["incidents"]]
parquet = f"{store}/segments/**/*.parquet"
con = duckdb.connect()
pg = psycopg.connect(host="127.0.0.1", port=pg_port, user="bench", dbname="agentrail", autocommit=True)

REPLAY = ("SELECT time, source, action, action_class, outcome, agent_id, on_behalf_of, credential_id, approval_id, event_id "
          "FROM {table} WHERE correlation_id = {value} ORDER BY time, event_id")
COUNT = "SELECT source, count(*) AS n FROM {table} GROUP BY source ORDER BY n DESC"

def timed(fn):
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1000

def p50(samples):
    return statistics.median(samples)

def over_pg(sql, params=()):
    return pg.execute(sql, params).fetchall()

def over_http(sql):
    body = json.dumps({"sql": sql}).encode()
    request = urllib.request.Request(f"http://127.0.0.1:{port}/api/v1/query", body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(request) as response:
        return json.loads(response.read())["rows"]

def over_duckdb(sql):
    return con.execute(sql).fetchall()

def compare(label, pg_sql, pg_params, http_sql, duck_sql):
    rows = (len(over_pg(pg_sql, pg_params)), len(over_http(http_sql)), len(over_duckdb(duck_sql)))
    assert rows[0] == rows[1] == rows[2], f"{label}: the three answers differ in rows: {rows}"
    t_pg = p50([timed(lambda: over_pg(pg_sql, pg_params)) for _ in range(runs)])
    t_http = p50([timed(lambda: over_http(http_sql)) for _ in range(runs)])
    t_duck = p50([timed(lambda: over_duckdb(duck_sql)) for _ in range(runs)])
    print(f"{label:32s} {rows[0]:6d} rows  PostgreSQL {t_pg:7.1f} ms  HTTP {t_http:7.1f} ms  DuckDB {t_duck:7.1f} ms  "
          f"DuckDB/PostgreSQL {t_duck / t_pg:5.1f}x")
    return t_pg, t_http, t_duck

rows = over_duckdb(f"SELECT count(*) FROM read_parquet('{parquet}')")[0][0]
print(f"== {rows} events, {len(incidents)} incidents, median of {runs} runs each (warm)")
totals = []
for corr in incidents:
    totals.append(compare(
        f"replay {corr}",
        REPLAY.format(table="events", value="%s"), (corr,),
        REPLAY.format(table="events", value=f"'{corr}'"),
        REPLAY.format(table=f"read_parquet('{parquet}')", value=f"'{corr}'"),
    ))
compare("events per source (full scan)", COUNT.format(table="events"), (), COUNT.format(table="events"),
        COUNT.format(table=f"read_parquet('{parquet}')"))
pg_total = sum(t[0] for t in totals)
print(f"== replays: DuckDB / PostgreSQL {sum(t[2] for t in totals) / pg_total:.1f}x, "
      f"HTTP / PostgreSQL {sum(t[1] for t in totals) / pg_total:.2f}x")
PY
