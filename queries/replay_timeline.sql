-- description: One incident's events in time order, with who acted, for whom, with which credential and approval (the rows behind `agentrail replay`).
-- param: correlation_id   the incident's correlation id
SELECT time, source, action, action_class, outcome, actor_type, actor_id, agent_id, on_behalf_of,
       delegation_chain, task_id, resource, credential_id, approval_id, approved_by, event_id
FROM events
WHERE correlation_id = $correlation_id
ORDER BY time, event_id
