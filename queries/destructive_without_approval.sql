-- description: Delete and admin actions by agents with no approval recorded, in a time window, newest first.
-- param: from = 1970-01-01T00:00:00Z          start of the window (RFC 3339, inclusive)
-- param: to = 2200-01-01T00:00:00Z            end of the window (RFC 3339, exclusive)
SELECT time, source, agent_id, on_behalf_of, action, resource, outcome, task_id, correlation_id, credential_id, event_id
FROM events
WHERE action_class IN ('delete', 'admin')
  AND actor_type = 'agent'
  AND approval_id IS NULL
  AND time >= to_timestamp_micros($from)
  AND time < to_timestamp_micros($to)
ORDER BY time DESC, event_id
