SELECT COALESCE(sum(energy_wh), 0) / 1000.0 AS "Energy"
FROM dashboards.coop_hourly
WHERE coop_id IN ($coop) AND $__timeFilter(bucket)
