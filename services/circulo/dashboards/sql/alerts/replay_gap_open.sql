-- Devices with a sequence gap still open longer than replay_timeout (10 minutes) after it
-- was found (the replay issue provides the view): their settlement waits for it. One row
-- per device (its oldest open gap), so each device's alert clears on its own.
SELECT device_id, coop_id, extract(epoch FROM now() - min(opened_at)) / 60 AS open_minutes
FROM dashboards.replay_gap
WHERE closed_at IS NULL AND opened_at < now() - interval '10 minutes'
GROUP BY device_id, coop_id
ORDER BY device_id
