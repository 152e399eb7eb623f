-- description: Everything one agent did in a time window, newest first: system, action, outcome, for whom, task and incident.
-- param: agent_id                            the agent's id
-- param: from = 1970-01-01T00:00:00Z          start of the window (RFC 3339, inclusive)
-- param: to = 2200-01-01T00:00:00Z            end of the window (RFC 3339, exclusive)
SELECT time, source, action, action_class, outcome, resource, on_behalf_of, task_id, correlation_id,
       credential_id, approval_id, event_id
FROM events
WHERE agent_id = $agent_id
  AND time >= to_timestamp_micros($from)
  AND time < to_timestamp_micros($to)
ORDER BY time DESC, event_id
