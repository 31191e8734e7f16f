-- Co-op generation at the end of the range: each meter's last power reading, if recent.
SELECT COALESCE(sum(last_power_w), 0) / 1000.0 AS "Generation now"
FROM (
    SELECT DISTINCT ON (device_id) device_id, last_power_w, last_reading_at
    FROM dashboards.meter_hourly
    WHERE coop_id IN ($coop)
      AND bucket > $__timeTo()::timestamptz - interval '2 hours' AND bucket <= $__timeTo()
    ORDER BY device_id, bucket DESC
) latest
WHERE last_reading_at > $__timeTo()::timestamptz - interval '15 minutes'
