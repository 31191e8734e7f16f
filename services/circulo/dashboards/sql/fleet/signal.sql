SELECT time_bucket(CASE WHEN '$resolution' = 'day' THEN interval '1 day' ELSE interval '1 hour' END, bucket)
           AS "time",
       device_id AS metric, avg(rssi_dbm_avg) AS "RSSI dBm"
FROM dashboards.bin_hourly
WHERE coop_id IN ($coop) AND $__timeFilter(bucket) AND rssi_dbm_avg IS NOT NULL
GROUP BY 1, 2
ORDER BY 1, 2
