-- description: A destructive action by an agent with no human approval on record.
-- severity: high
-- schedule: 15m
-- lookback: 24h
-- param: from       start of the window (bound by the report)
-- param: to         end of the window (bound by the report)
-- param: classes = delete    action classes that count as destructive, comma-separated (e.g. delete,admin)
--
-- Approvals are recorded by the agent gateway (source `agent`: `approval_id`,
-- `approved_by`). The other systems' records of the same call (CloudTrail,
-- Kubernetes audit, GitHub, OTLP telemetry) carry none, so such a record is
-- cleared when the same agent has an approved destructive gateway record
-- within 10 seconds of it; without one it fires too (an agent that deleted
-- without passing through the gateway). One finding per agent and hour.
WITH destructive AS (
  SELECT * FROM events
  WHERE actor_type = 'agent'
    AND array_has(string_to_array($classes, ','), action_class)
    AND time >= to_timestamp_micros($from) - INTERVAL '10 seconds'
    AND time < to_timestamp_micros($to) + INTERVAL '10 seconds'
),
approved AS (
  SELECT agent_id, time FROM destructive WHERE source = 'agent' AND approval_id IS NOT NULL
)
SELECT d.event_id, d.time, d.agent_id, d.on_behalf_of, d.correlation_id,
       concat(d.agent_id, ' ', CAST(date_trunc('hour', d.time) AS VARCHAR)) AS finding,
       concat(d.agent_id, ' ran ', d.action, ' without an approval') AS title
FROM destructive d
WHERE d.approval_id IS NULL
  AND d.time >= to_timestamp_micros($from)
  AND d.time < to_timestamp_micros($to)
  AND NOT EXISTS (
    SELECT 1 FROM approved a
    WHERE a.agent_id = d.agent_id
      AND d.source <> 'agent'
      AND a.time BETWEEN d.time - INTERVAL '10 seconds' AND d.time + INTERVAL '10 seconds'
  )
