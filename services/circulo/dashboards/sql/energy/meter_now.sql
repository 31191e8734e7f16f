-- Each meter's last power reading in the range and its share of the meter's rating: one index
-- probe per meter for its latest hour in the range, so a year's range costs what a day's does.
SELECT d.device_id AS "Meter", d.location_name AS "Site",
       h.last_power_w / 1000.0 AS "kW", 100.0 * h.last_power_w / d.rated_power_w AS "% of rating",
       h.last_reading_at AS "Last reading"
FROM dashboards.device d
CROSS JOIN LATERAL (
    SELECT m.last_power_w, m.last_reading_at
    FROM dashboards.meter_hourly m
    WHERE m.device_id = d.device_id AND $__timeFilter(m.bucket)
    ORDER BY m.bucket DESC
    LIMIT 1
) h
WHERE d.kind = 'meter' AND d.coop_id IN ($coop)
ORDER BY d.device_id
