SELECT COALESCE(device_id, '(unknown)') AS "Device", reason AS "Reason", count(*) AS "Messages",
       count(*) FILTER (WHERE replayed_at IS NULL) AS "Not replayed", max(received_at) AS "Last"
FROM dashboards.quarantine
WHERE (coop_id IN ($coop) OR coop_id IS NULL) AND $__timeFilter(received_at)
GROUP BY device_id, reason
ORDER BY "Messages" DESC, "Device", "Reason"
