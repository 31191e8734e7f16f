-- Each meter's last power reading in the range and its share of the meter's rating.
SELECT DISTINCT ON (device_id) device_id AS "Meter", location_name AS "Site",
       last_power_w / 1000.0 AS "kW", 100.0 * last_power_w / rated_power_w AS "% of rating",
       last_reading_at AS "Last reading"
FROM dashboards.meter_hourly
WHERE coop_id IN ($coop) AND $__timeFilter(bucket)
ORDER BY device_id, bucket DESC
