-- description: An agent acting with no human principal anywhere in the record.
-- severity: medium
-- schedule: 1h
-- lookback: 24h
-- param: from       start of the window (bound by the report)
-- param: to         end of the window (bound by the report)
--
-- No `on_behalf_of` and no delegation chain: no person authorised this
-- action that any system recorded (a client-credentials token whose subject
-- is the agent itself, a GitHub server-to-server token, no CloudTrail
-- onBehalfOf, no Kubernetes impersonatedUser). A token whose subject is a
-- person, or an RFC 8693 `act` chain, gives a principal and does not fire.
-- One finding per agent and task.
SELECT event_id, time, agent_id, on_behalf_of, correlation_id,
       concat(agent_id, ' ', coalesce(task_id, session_id, credential_id, event_id)) AS finding,
       concat(agent_id, ' acted with no human principal') AS title
FROM events
WHERE actor_type = 'agent'
  AND agent_id IS NOT NULL
  AND time >= to_timestamp_micros($from)
  AND time < to_timestamp_micros($to)
  AND on_behalf_of IS NULL
  AND coalesce(cardinality(delegation_chain), 0) = 0
