-- description: An agent's action outside its credential's granted scopes, or refused (denied) by the system it called.
-- severity: high
-- schedule: 15m
-- lookback: 24h
-- param: from       start of the window (bound by the report)
-- param: to         end of the window (bound by the report)
--
-- Two signs, either fires: the permission the action needed is not among
-- the scopes its credential was granted (where both are known), or the
-- called system denied it (`outcome = 'denied'`: CloudTrail AccessDenied,
-- Kubernetes 403, a gateway refusal). Other failures (404, throttling) are
-- not scope problems and stay out, and so are denials of `auth` actions
-- (a person rejecting a tool call in Claude Code, a refused sign-in).
SELECT event_id, time, agent_id, on_behalf_of, correlation_id,
       concat(agent_id, ' ', coalesce(credential_id, task_id, event_id)) AS finding,
       CASE WHEN outcome = 'denied'
            THEN concat(agent_id, ' was denied ', coalesce(permission, action))
            ELSE concat(agent_id, ' used ', permission, ' outside its granted scopes') END AS title
FROM events
WHERE actor_type = 'agent'
  AND time >= to_timestamp_micros($from)
  AND time < to_timestamp_micros($to)
  AND ((outcome = 'denied' AND action_class <> 'auth')
       OR (permission IS NOT NULL AND cardinality(scopes) > 0 AND NOT array_has(scopes, permission)))
