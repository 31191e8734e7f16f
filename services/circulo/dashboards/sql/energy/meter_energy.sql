-- Energy per hour or day for each meter, from the meter rollups. Hours for ranges of up to 31
-- days; a longer range shows days whatever the resolution (a year of hours is 8,760 points per
-- meter, more than the panel can draw).
SELECT bucket AS "time", device_id AS metric, energy_wh / 1000.0 AS "kWh"
FROM dashboards.meter_hourly
WHERE '$resolution' = 'hour' AND $__timeTo()::timestamptz - $__timeFrom()::timestamptz <= interval '31 days'
  AND coop_id IN ($coop) AND $__timeFilter(bucket)
UNION ALL
SELECT bucket, device_id, energy_wh / 1000.0
FROM dashboards.meter_daily
WHERE ('$resolution' = 'day' OR $__timeTo()::timestamptz - $__timeFrom()::timestamptz > interval '31 days')
  AND coop_id IN ($coop) AND $__timeFilter(bucket)
ORDER BY 1, 2
