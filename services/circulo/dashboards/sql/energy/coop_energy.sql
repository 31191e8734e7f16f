-- Energy per hour or day for each co-op, from the co-op rollups.
SELECT bucket AS "time", coop_id AS metric, energy_wh / 1000.0 AS "kWh"
FROM dashboards.coop_hourly
WHERE '$resolution' = 'hour' AND coop_id IN ($coop) AND $__timeFilter(bucket)
UNION ALL
SELECT bucket, coop_id, energy_wh / 1000.0
FROM dashboards.coop_daily
WHERE '$resolution' = 'day' AND coop_id IN ($coop) AND $__timeFilter(bucket)
ORDER BY 1, 2
