-- Energy per hour or day for each meter, from the meter rollups.
SELECT bucket AS "time", device_id AS metric, energy_wh / 1000.0 AS "kWh"
FROM dashboards.meter_hourly
WHERE '$resolution' = 'hour' AND coop_id IN ($coop) AND $__timeFilter(bucket)
UNION ALL
SELECT bucket, device_id, energy_wh / 1000.0
FROM dashboards.meter_daily
WHERE '$resolution' = 'day' AND coop_id IN ($coop) AND $__timeFilter(bucket)
ORDER BY 1, 2
