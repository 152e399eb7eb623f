-- description: An agent calling far more often in one hour than its own baseline rate.
-- severity: medium
-- schedule: 1h
-- lookback: 24h
-- param: from            start of the window (bound by the report)
-- param: to              end of the window (bound by the report)
-- param: baseline_from   start of the baseline; the baseline ends where the window starts (bound by the report from the rule's `baseline`)
-- param: factor = 10     how many times its baseline hourly mean an hour must reach
-- param: min_calls = 30  and at least this many calls in the hour
-- param: sources = agent    the sources whose records count as calls, comma-separated
-- baseline: 7d
--
-- Counted per agent and UTC clock hour, on the gateway's records (one per
-- tool call; other systems' records of the same calls would count them
-- again). The baseline mean is the agent's calls in the baseline divided by
-- the hours from its first call there to the window (a store younger than
-- the baseline, or an agent deployed within it, is not diluted by hours it
-- did not exist; at least one hour). Why 10x and 30: an agent's busy hours run to about three times
-- its mean (batch jobs, a person's working day), so 10x is well clear of
-- normal; 30 keeps an agent that averages 0.5 calls an hour from firing on
-- 5. An agent with no baseline calls is new: see new_system_for_agent.
WITH calls AS (
  SELECT agent_id, time, event_id, on_behalf_of, correlation_id
  FROM events
  WHERE actor_type = 'agent' AND agent_id IS NOT NULL
    AND array_has(string_to_array($sources, ','), source)
    AND time >= to_timestamp_micros($baseline_from)
    AND time < to_timestamp_micros($to)
),
baseline AS (
  SELECT agent_id,
         count(*) / greatest(1.0, (date_part('epoch', to_timestamp_micros($from)) - date_part('epoch', min(time))) / 3600.0) AS per_hour
  FROM calls
  WHERE time < to_timestamp_micros($from)
  GROUP BY agent_id
),
hours AS (
  SELECT agent_id, date_trunc('hour', time) AS hour, count(*) AS calls
  FROM calls
  WHERE time >= to_timestamp_micros($from)
  GROUP BY agent_id, date_trunc('hour', time)
),
spikes AS (
  SELECT h.agent_id, h.hour, h.calls, b.per_hour
  FROM hours h JOIN baseline b ON h.agent_id = b.agent_id
  WHERE h.calls >= CAST($min_calls AS BIGINT)
    AND h.calls >= CAST($factor AS DOUBLE) * b.per_hour
)
SELECT c.event_id, c.time, c.agent_id, c.on_behalf_of, c.correlation_id,
       concat(s.agent_id, ' ', CAST(s.hour AS VARCHAR)) AS finding,
       concat(s.agent_id, ' made ', CAST(s.calls AS VARCHAR), ' calls in the hour from ', CAST(s.hour AS VARCHAR),
              ', against a baseline of ', CAST(round(s.per_hour, 1) AS VARCHAR), ' an hour') AS title
-- The few spikes first: the join holds that side in memory.
FROM spikes s JOIN calls c ON c.agent_id = s.agent_id AND date_trunc('hour', c.time) = s.hour
WHERE c.time >= to_timestamp_micros($from)
