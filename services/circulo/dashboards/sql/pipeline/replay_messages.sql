-- Messages of closed replay gaps per bucket of closing time: recovered (the device republished
-- them) and lost for good, by reason (unavailable: the device no longer held them; timeout).
SELECT time_bucket(CASE WHEN '$resolution' = 'hour' THEN interval '1 hour' ELSE interval '1 minute' END,
                   closed_at) AS "time",
       metric, sum(messages) AS "messages"
FROM (
    SELECT closed_at, 'recovered' AS metric, arrived AS messages
    FROM dashboards.replay_gap WHERE closed_at IS NOT NULL AND arrived > 0 AND coop_id IN ($coop)
    UNION ALL
    SELECT closed_at, 'lost (' || lost_reason || ')', lost
    FROM dashboards.replay_gap WHERE state = 'lost' AND coop_id IN ($coop)
) m
WHERE $__timeFilter(closed_at)
GROUP BY 1, 2
ORDER BY 1, 2
