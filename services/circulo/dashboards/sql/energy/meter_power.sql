-- Average and peak power per meter and hour.
SELECT bucket AS "time", device_id AS metric, avg_power_w / 1000.0 AS "kW"
FROM dashboards.meter_hourly
WHERE coop_id IN ($coop) AND $__timeFilter(bucket)
ORDER BY 1, 2
