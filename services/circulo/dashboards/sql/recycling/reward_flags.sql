SELECT ts AS "Time", flag AS "Flag", device_id AS "Device", token AS "Token",
       excluded_micro::numeric / 1000000 AS "Excluded", detail AS "Detail"
FROM dashboards.reward_flag
WHERE coop_id IN ($coop) AND $__timeFilter(ts)
ORDER BY ts DESC, device_id, flag
LIMIT 500
