-- Meters with at least one reading in the range: an index probe per meter, not a scan of every
-- meter-hour of the range.
SELECT count(*) AS "Meters reporting"
FROM dashboards.device d
WHERE d.kind = 'meter' AND d.coop_id IN ($coop)
  AND EXISTS (SELECT 1 FROM dashboards.meter_hourly m WHERE m.device_id = d.device_id AND $__timeFilter(m.bucket))
