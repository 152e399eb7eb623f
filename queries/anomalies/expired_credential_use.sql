-- description: An action taken with a credential after its expiry.
-- severity: high
-- schedule: 15m
-- lookback: 24h
-- param: from       start of the window (bound by the report)
-- param: to         end of the window (bound by the report)
--
-- The record's time is after the credential's `exp`: a stale token kept and
-- replayed (most systems refuse it, and the attempt is the signal). Use
-- shortly before expiry does not fire. One finding per credential.
SELECT event_id, time, agent_id, on_behalf_of, correlation_id,
       concat('credential ', credential_id) AS finding,
       concat(coalesce(agent_id, actor_id), ' used credential ', credential_id, ' after it expired at ',
              CAST(credential_expires_at AS VARCHAR)) AS title
FROM events
WHERE time >= to_timestamp_micros($from)
  AND time < to_timestamp_micros($to)
  AND credential_expires_at IS NOT NULL
  AND time > credential_expires_at
