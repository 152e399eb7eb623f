-- description: One credential used by more than one agent instance.
-- severity: high
-- schedule: 1h
-- lookback: 24h
-- param: from       start of the window (bound by the report)
-- param: to         end of the window (bound by the report)
--
-- A credential should belong to one agent instance: when two agent ids
-- present the same credential id, it was copied, and neither's actions can
-- be told apart. One agent restarting (a new session, the same agent id)
-- does not fire. GitHub names an app's bot account `<agent>[bot]`, so that
-- suffix is not another agent. One finding per credential, with every use
-- in the window. (The few shared credentials come first in the join: that
-- side is held in memory, and its ids filter the scan of `events`.)
WITH shared AS (
  SELECT credential_id
  FROM events
  WHERE actor_type = 'agent'
    AND agent_id IS NOT NULL
    AND credential_id IS NOT NULL
    AND time >= to_timestamp_micros($from)
    AND time < to_timestamp_micros($to)
  GROUP BY credential_id
  HAVING count(DISTINCT regexp_replace(agent_id, '\[bot\]$', '')) > 1
)
SELECT e.event_id, e.time, e.agent_id, e.on_behalf_of, e.correlation_id,
       concat('credential ', e.credential_id) AS finding,
       concat('credential ', e.credential_id, ' is used by more than one agent') AS title
FROM shared s JOIN events e ON e.credential_id = s.credential_id
WHERE e.actor_type = 'agent'
  AND e.time >= to_timestamp_micros($from)
  AND e.time < to_timestamp_micros($to)
