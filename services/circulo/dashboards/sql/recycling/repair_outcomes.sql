SELECT status AS "Outcome", count(*) AS "Repairs"
FROM dashboards.repair
WHERE coop_id IN ($coop) AND $__timeFilter(ts)
GROUP BY status
ORDER BY status
