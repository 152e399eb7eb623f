-- description: What agents did on behalf of one person in a time window, per agent and system: how many actions, how many destructive, denied or unapproved, over which tasks and when.
-- param: user                                the person (on_behalf_of), as the sources name them
-- param: from = 1970-01-01T00:00:00Z          start of the window (RFC 3339, inclusive)
-- param: to = 2200-01-01T00:00:00Z            end of the window (RFC 3339, exclusive)
SELECT agent_id,
       source,
       count(*) AS actions,
       count(*) FILTER (WHERE action_class IN ('delete', 'admin')) AS destructive,
       count(*) FILTER (WHERE action_class IN ('delete', 'admin') AND approval_id IS NULL) AS destructive_unapproved,
       count(*) FILTER (WHERE outcome = 'denied') AS denied,
       count(DISTINCT task_id) AS tasks,
       min(time) AS first_seen,
       max(time) AS last_seen
FROM events
WHERE on_behalf_of = $user
  AND time >= to_timestamp_micros($from)
  AND time < to_timestamp_micros($to)
GROUP BY agent_id, source
ORDER BY actions DESC, agent_id, source
