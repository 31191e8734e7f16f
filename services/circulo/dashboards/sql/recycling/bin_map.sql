-- Each bin's latest fill level in the range, at its registered location.
SELECT DISTINCT ON (device_id) device_id AS "Bin", location_name AS "Site", lat AS latitude,
       lon AS longitude, fill_pct_last AS "Fill %", weight_g_last / 1000.0 AS "kg inside",
       last_reading_at AS "Last reading"
FROM dashboards.bin_hourly
WHERE coop_id IN ($coop) AND $__timeFilter(bucket) AND lat IS NOT NULL AND lon IS NOT NULL
ORDER BY device_id, bucket DESC
