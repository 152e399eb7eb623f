-- description: Who used one credential, where and when: per actor and system, the count of actions and outcomes, first and last use, and the lifetime the credential was issued with.
-- param: credential_id                       the credential's id (a key id, a token jti, a certificate serial)
SELECT coalesce(agent_id, actor_id) AS used_by,
       actor_type,
       source,
       count(*) AS actions,
       count(*) FILTER (WHERE outcome = 'denied') AS denied,
       count(DISTINCT on_behalf_of) AS users,
       min(time) AS first_used,
       max(time) AS last_used,
       min(credential_issued_at) AS issued_at,
       max(credential_expires_at) AS expires_at,
       max(credential_expires_at) - min(credential_issued_at) AS lifetime
FROM events
WHERE credential_id = $credential_id
GROUP BY coalesce(agent_id, actor_id), actor_type, source
ORDER BY first_used
