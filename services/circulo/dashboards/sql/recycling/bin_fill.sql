SELECT bucket AS "time", device_id AS metric, fill_pct_last AS "Fill %"
FROM dashboards.bin_hourly
WHERE coop_id IN ($coop) AND $__timeFilter(bucket)
ORDER BY 1, 2
