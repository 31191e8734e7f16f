-- Delay from measurement to receipt (received_at - ts), average and worst per bucket.
SELECT time_bucket(CASE WHEN '$resolution' = 'hour' THEN interval '1 hour' ELSE interval '1 minute' END,
                   bucket) AS "time",
       stream AS metric, max(lag_ms_max) / 1000.0 AS "max s"
FROM dashboards.ingest_minute
WHERE $__timeFilter(bucket) AND lag_ms_max IS NOT NULL
GROUP BY 1, 2
ORDER BY 1, 2
