-- Messages lost in transit across the fleet, from per-device sequence-number gaps.
SELECT 100.0 * COALESCE(sum(seq_missing), 0) / NULLIF(sum(seq_received) + sum(seq_missing), 0)
       AS "Message loss"
FROM dashboards.device_health
WHERE coop_id IN ($coop) AND status <> 'retired'
