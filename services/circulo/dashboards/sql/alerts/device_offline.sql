-- Devices in service whose last status is offline (their last will, or a clean goodbye)
-- for more than 10 minutes: a reboot or a short network drop does not page anyone.
SELECT device_id, coop_id, kind, extract(epoch FROM now() - state_changed_at) / 60 AS offline_minutes
FROM dashboards.device_health
WHERE status <> 'retired' AND online IS FALSE AND state_changed_at < now() - interval '10 minutes'
ORDER BY device_id
