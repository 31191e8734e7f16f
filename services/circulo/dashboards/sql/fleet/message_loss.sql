SELECT device_id AS "Device",
       100.0 * seq_missing / NULLIF(seq_received + seq_missing, 0) AS "Loss %"
FROM dashboards.device_health
WHERE coop_id IN ($coop) AND status <> 'retired' AND seq_received + seq_missing > 0
ORDER BY "Loss %" DESC, device_id
LIMIT 20
