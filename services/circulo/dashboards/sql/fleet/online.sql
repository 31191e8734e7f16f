SELECT count(*) FILTER (WHERE online) AS "Online",
       count(*) FILTER (WHERE online IS NOT TRUE) AS "Offline or never seen"
FROM dashboards.device_health
WHERE coop_id IN ($coop) AND status <> 'retired'
