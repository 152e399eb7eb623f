-- description: An agent touching a system it never touched in its baseline window.
-- severity: medium
-- schedule: 1h
-- lookback: 24h
-- param: from            start of the window (bound by the report)
-- param: to              end of the window (bound by the report)
-- param: baseline_from   start of the baseline; the baseline ends where the window starts (bound by the report from the rule's `baseline`)
-- baseline: 7d
--
-- A system is the record's source (`aws.cloudtrail`, `github`, `k8s.audit`,
-- …). An agent seen in the baseline that now appears in a source it never
-- appeared in fires, with every event of that agent in that source; an
-- agent with no baseline at all is new, not drifting, and stays out. The
-- GitHub `[bot]` suffix is the same agent.
WITH agents AS (
  SELECT regexp_replace(agent_id, '\[bot\]$', '') AS agent, source, time, event_id, on_behalf_of, correlation_id
  FROM events
  WHERE actor_type = 'agent' AND agent_id IS NOT NULL
    AND time >= to_timestamp_micros($baseline_from)
    AND time < to_timestamp_micros($to)
),
baseline AS (
  SELECT DISTINCT agent, source FROM agents WHERE time < to_timestamp_micros($from)
),
known AS (
  SELECT DISTINCT agent FROM baseline
)
SELECT w.event_id, w.time, w.agent AS agent_id, w.on_behalf_of, w.correlation_id,
       concat(w.agent, ' on ', w.source) AS finding,
       concat(w.agent, ' touched ', w.source, ' for the first time') AS title
-- The known agents first: the join holds that (small) side in memory.
FROM known k
JOIN agents w ON w.agent = k.agent
WHERE w.time >= to_timestamp_micros($from)
  AND NOT EXISTS (SELECT 1 FROM baseline b WHERE b.agent = w.agent AND b.source = w.source)
