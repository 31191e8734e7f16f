-- Generation now as a share of the rated capacity of the co-op's meters in service.
WITH latest AS (
    SELECT DISTINCT ON (device_id) device_id, last_power_w, last_reading_at
    FROM dashboards.meter_hourly
    WHERE coop_id IN ($coop)
      AND bucket > $__timeTo()::timestamptz - interval '2 hours' AND bucket <= $__timeTo()
    ORDER BY device_id, bucket DESC
)
SELECT 100.0 * COALESCE((SELECT sum(last_power_w) FROM latest
                         WHERE last_reading_at > $__timeTo()::timestamptz - interval '15 minutes'), 0)
       / NULLIF((SELECT sum(rated_power_w) FROM dashboards.coop_capacity WHERE coop_id IN ($coop)), 0)
       AS "Share of capacity"
