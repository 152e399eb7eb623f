-- description: An agent authenticating with a static, long-term API key instead of a short-lived credential.
-- severity: medium
-- schedule: 1h
-- lookback: 24h
-- param: from       start of the window (bound by the report)
-- param: to         end of the window (bound by the report)
-- param: static_key_pattern = AKIA%    credential ids that are long-term keys whatever the record's type (LIKE pattern; AWS: AKIA = IAM user key, ASIA = temporary)
--
-- A static key never expires and is usually shared by copy: it cannot say
-- which agent instance, or for whom. Fires on `credential_type = 'api_key'`
-- and on credential ids matching the pattern. One finding per key.
SELECT event_id, time, agent_id, on_behalf_of, correlation_id,
       concat('key ', credential_id) AS finding,
       concat(agent_id, ' authenticated with static key ', credential_id) AS title
FROM events
WHERE actor_type = 'agent'
  AND time >= to_timestamp_micros($from)
  AND time < to_timestamp_micros($to)
  AND (credential_type = 'api_key' OR credential_id LIKE $static_key_pattern)
