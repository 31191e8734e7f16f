SELECT time_bucket(CASE WHEN '$resolution' = 'day' THEN interval '1 day' ELSE interval '1 hour' END, ts)
           AS "time",
       reason AS metric, sum(signed_micro)::numeric / 1000000 AS "RCY"
FROM dashboards.ledger_entry
WHERE token = 'RCY' AND coop_id IN ($coop) AND $__timeFilter(ts)
GROUP BY 1, 2
ORDER BY 1, 2
