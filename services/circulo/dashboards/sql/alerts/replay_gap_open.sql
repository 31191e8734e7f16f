-- Devices whose replay is not done (SPEC 11): a gap still open or requested more than
-- replay_timeout (10 minutes) after it was found, or messages whose loss became final in the
-- last hour (the device answered replay_unavailable, or the replay timed out). One row per
-- device and problem ('pending' or 'lost'), its messages the number, so each clears on its own.
SELECT device_id, coop_id, problem, messages
FROM (
    SELECT device_id, coop_id, 'pending' AS problem, sum(missing) AS messages
    FROM dashboards.replay_gap
    WHERE pending AND opened_at < now() - interval '10 minutes'
    GROUP BY device_id, coop_id
    UNION ALL
    SELECT device_id, coop_id, 'lost', sum(lost)
    FROM dashboards.replay_gap
    WHERE state = 'lost' AND closed_at > now() - interval '1 hour'
    GROUP BY device_id, coop_id
) p
WHERE messages > 0
ORDER BY device_id, problem
