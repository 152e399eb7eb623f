-- description: An agent's credential that lives longer than the allowed lifetime (one hour by default).
-- severity: medium
-- schedule: 1h
-- lookback: 24h
-- param: from       start of the window (bound by the report)
-- param: to         end of the window (bound by the report)
-- param: max_minutes = 60    the longest lifetime allowed, in minutes
--
-- Lifetime is `credential_expires_at - credential_issued_at`, where a record
-- gives both (OAuth `iat`/`exp`, STS session start and expiry). A credential
-- without an expiry is a static key: see static_api_key. One finding per
-- credential.
SELECT event_id, time, agent_id, on_behalf_of, correlation_id,
       concat('credential ', credential_id) AS finding,
       concat(agent_id, ' used ', credential_type, ' credential ', credential_id, ' valid for ',
              CAST(CAST((date_part('epoch', credential_expires_at) - date_part('epoch', credential_issued_at)) / 60 AS BIGINT) AS VARCHAR),
              ' minutes') AS title
FROM events
WHERE actor_type = 'agent'
  AND time >= to_timestamp_micros($from)
  AND time < to_timestamp_micros($to)
  AND credential_id IS NOT NULL
  AND date_part('epoch', credential_expires_at) - date_part('epoch', credential_issued_at) > CAST($max_minutes AS DOUBLE) * 60
