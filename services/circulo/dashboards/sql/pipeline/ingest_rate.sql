-- Messages committed per minute, by stream (hourly resolution: the average minute of each hour).
SELECT time_bucket(CASE WHEN '$resolution' = 'hour' THEN interval '1 hour' ELSE interval '1 minute' END,
                   bucket) AS "time",
       stream AS metric,
       sum(messages)::double precision
           / CASE WHEN '$resolution' = 'hour' THEN 60 ELSE 1 END AS "messages/min"
FROM dashboards.ingest_minute
WHERE $__timeFilter(bucket)
GROUP BY 1, 2
ORDER BY 1, 2
