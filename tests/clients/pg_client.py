"""psycopg 3 (the PostgreSQL driver for Python) against `agentrail serve`'s
PostgreSQL port, as an analyst's notebook would use it: list the tables,
replay one incident with a bound parameter, search, read a whole event row
(maps come as JSON text), and try a write and a wrong password.

Usage: pg_client.py HOST PORT PASSWORD CORRELATION_ID SEARCH_TERM
Prints one JSON object with what each step saw. Run by tests/it/postgres.rs."""
import json, sys
import psycopg

host, port, password, correlation_id, term = sys.argv[1:6]
out = {}

def connect(password):
    return psycopg.connect(host=host, port=int(port), user="notebook", password=password,
                           dbname="agentrail", connect_timeout=10, autocommit=True)

with connect(password) as conn:
    out["server_version"] = conn.info.parameter_status("server_version")
    tables = conn.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY table_name"
    ).fetchall()
    out["tables"] = [t for (t,) in tables]
    # Parameters travel bound (the extended protocol), never as SQL text.
    rows = conn.execute(
        "SELECT time, source, action, agent_id FROM events WHERE correlation_id = %s ORDER BY time, event_id",
        (correlation_id,),
    ).fetchall()
    out["replay"] = [[r[0].isoformat(), r[1], r[2], r[3]] for r in rows]
    (count,) = conn.execute("SELECT count(*) FROM events WHERE search(%s) AND source <> 'agentrail'", (term,)).fetchone()
    out["search_count"] = count
    cur = conn.execute("SELECT * FROM events WHERE correlation_id = %s LIMIT 1", (correlation_id,))
    names = [d.name for d in cur.description]
    row = dict(zip(names, cur.fetchone()))
    out["columns"] = names
    out["attributes"] = json.loads(row["attributes"])
    out["delegation_chain"] = row["delegation_chain"]
    try:
        conn.execute("DELETE FROM events")
        out["write"] = "allowed"
    except psycopg.Error as e:
        out["write"] = f"{e.sqlstate}: {e}"
    try:
        conn.execute("SELECT no_such_column FROM events")
        out["bad_column"] = "allowed"
    except psycopg.Error as e:
        out["bad_column"] = f"{e.sqlstate}: {e}"
    # The connection is still usable after refusals.
    (one,) = conn.execute("SELECT 1").fetchone()
    out["after_errors"] = one

try:
    connect("not-a-token-at-all-0123")
    out["wrong_password"] = "let in"
except psycopg.OperationalError as e:
    out["wrong_password"] = str(e)

print(json.dumps(out))
