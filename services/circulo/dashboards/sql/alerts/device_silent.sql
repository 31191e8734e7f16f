-- Devices in service that sent no data for longer than their kind's reporting period × N.
-- Silence is measured up to W, what the ingest has committed, not up to now: while the
-- ingest is down W stands still, so an ingest outage is one watermark alert, not one alert
-- per device. Offline devices (last will) are the device-offline rule's; repair stations
-- report only when a repair happens, so they have no reporting period (offline covers them).
WITH w AS (SELECT watermark FROM dashboards.ingest_watermark),
     allowance (kind, period_s, multiple) AS (VALUES ('meter', 60, 5), ('bin', 900, 3))
SELECT h.device_id, h.coop_id, h.kind,
       extract(epoch FROM w.watermark - COALESCE(h.last_telemetry_at, h.last_seen_at)) / 60 AS silent_minutes
FROM dashboards.device_health h
JOIN allowance a ON a.kind = h.kind
CROSS JOIN w
WHERE h.status <> 'retired' AND h.online IS NOT FALSE AND h.last_seen_at IS NOT NULL
  AND w.watermark - COALESCE(h.last_telemetry_at, h.last_seen_at) > make_interval(secs => a.period_s * a.multiple)
ORDER BY h.device_id
