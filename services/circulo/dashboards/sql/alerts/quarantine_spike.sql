-- Quarantined messages per co-op and reason in the last 15 minutes, against the same
-- co-op's and reason's usual 15 minutes over the day before: at least 20 and more than five
-- times the usual. Messages of unknown devices belong to no co-op. `ignored` traffic (known
-- non-data topics of a device profile) is its own outcome and never quarantined; the filter
-- keeps it out should a reason of that name ever appear.
WITH recent AS (
    SELECT COALESCE(coop_id, '(none)') AS coop_id, reason, count(*) AS messages
    FROM dashboards.quarantine
    WHERE received_at > now() - interval '15 minutes' AND reason <> 'ignored'
    GROUP BY 1, 2
), usual AS (
    SELECT COALESCE(coop_id, '(none)') AS coop_id, reason, count(*) / 96.0 AS per_15_minutes
    FROM dashboards.quarantine
    WHERE received_at > now() - interval '24 hours 15 minutes' AND received_at <= now() - interval '15 minutes'
    GROUP BY 1, 2
)
SELECT r.coop_id, r.reason, r.messages
FROM recent r LEFT JOIN usual u USING (coop_id, reason)
WHERE r.messages >= 20 AND r.messages > 5 * COALESCE(u.per_15_minutes, 0)
ORDER BY r.coop_id, r.reason
