-- Co-ops with meters in service whose first unsettled hour ended more than 2 hours ago (an
-- hour settles once every meter is done with it, at the latest 15 minutes after its end by
-- the idle timeout). Without a progress mark yet, the first hour with meter data counts.
WITH coops AS (
    SELECT h.coop_id, min(h.bucket) AS first_hour
    FROM dashboards.meter_hourly h
    JOIN dashboards.device d ON d.device_id = h.device_id AND d.status <> 'retired'
    GROUP BY h.coop_id
), unsettled AS (
    SELECT c.coop_id, COALESCE(p.settled_through, c.first_hour) + interval '1 hour' AS hour_end
    FROM coops c LEFT JOIN dashboards.green_progress p USING (coop_id)
)
SELECT coop_id, extract(epoch FROM now() - hour_end) / 3600 AS hours_overdue
FROM unsettled
WHERE hour_end < now() - interval '2 hours'
ORDER BY coop_id
