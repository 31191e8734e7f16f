-- Messages without a known device belong to no co-op and show under every selection.
SELECT time_bucket(CASE WHEN '$resolution' = 'day' THEN interval '1 day' ELSE interval '1 hour' END,
                   received_at) AS "time",
       reason AS metric, count(*) AS "messages"
FROM dashboards.quarantine
WHERE (coop_id IN ($coop) OR coop_id IS NULL) AND $__timeFilter(received_at)
GROUP BY 1, 2
ORDER BY 1, 2
