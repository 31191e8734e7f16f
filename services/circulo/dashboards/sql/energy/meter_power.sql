-- Average power per meter and hour (the mean of its readings). For ranges longer than 31 days,
-- its mean power per day from the daily rollup (the day's energy over 24 h): a year of hours is
-- 8,760 points per meter, more than the panel can draw.
SELECT bucket AS "time", device_id AS metric, avg_power_w / 1000.0 AS "kW"
FROM dashboards.meter_hourly
WHERE $__timeTo()::timestamptz - $__timeFrom()::timestamptz <= interval '31 days'
  AND coop_id IN ($coop) AND $__timeFilter(bucket)
UNION ALL
SELECT bucket, device_id, energy_wh / 24000.0
FROM dashboards.meter_daily
WHERE $__timeTo()::timestamptz - $__timeFrom()::timestamptz > interval '31 days'
  AND coop_id IN ($coop) AND $__timeFilter(bucket)
ORDER BY 1, 2
