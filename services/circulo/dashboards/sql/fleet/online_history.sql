-- 1 while online, 0 while offline (value mappings name the states).
SELECT ts AS "time", device_id AS metric, CASE state WHEN 'online' THEN 1 ELSE 0 END AS "state"
FROM dashboards.device_status
WHERE coop_id IN ($coop) AND $__timeFilter(ts)
ORDER BY 1, 2
