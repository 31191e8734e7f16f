-- Settlements the rewards engine committed, by kind, per bucket of settlement time.
SELECT time_bucket(CASE WHEN '$resolution' = 'hour' THEN interval '1 hour' ELSE interval '1 minute' END,
                   settled_at) AS "time",
       kind AS metric, count(*) AS "settlements"
FROM dashboards.reward_settlement
WHERE (coop_id IN ($coop) OR coop_id IS NULL) AND $__timeFilter(settled_at)
GROUP BY 1, 2
ORDER BY 1, 2
