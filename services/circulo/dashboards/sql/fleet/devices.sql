SELECT device_id AS "Device", kind AS "Kind", location_name AS "Site", installer AS "Installer",
       CASE WHEN online THEN 'online' WHEN online IS NULL THEN 'never seen' ELSE 'offline' END
           AS "State",
       last_seen_at AS "Last seen", fw AS "Firmware",
       round(100.0 * seq_missing / NULLIF(seq_received + seq_missing, 0), 2) AS "Loss %",
       last_clock_skew_ms AS "Clock skew ms"
FROM dashboards.device_health
WHERE coop_id IN ($coop) AND status <> 'retired'
ORDER BY online NULLS FIRST, last_seen_at NULLS FIRST, device_id
