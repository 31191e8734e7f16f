SELECT count(DISTINCT device_id) AS "Meters reporting"
FROM dashboards.meter_hourly
WHERE coop_id IN ($coop) AND $__timeFilter(bucket)
