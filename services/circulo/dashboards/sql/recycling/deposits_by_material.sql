-- Kilograms deposited per material and hour or day.
SELECT time_bucket(CASE WHEN '$resolution' = 'day' THEN interval '1 day' ELSE interval '1 hour' END, ts)
           AS "time",
       material AS metric, sum(weight_g) / 1000.0 AS "kg"
FROM dashboards.deposit
WHERE coop_id IN ($coop) AND $__timeFilter(ts)
GROUP BY 1, 2
ORDER BY 1, 2
