-- Each collection against what was deposited since the previous one (15 % tolerance).
SELECT ts AS "Collected at", location_name AS "Site", device_id AS "Bin",
       collected_g / 1000.0 AS "Collected kg", deposited_g / 1000.0 AS "Deposited kg",
       CASE WHEN over_tolerance THEN 'mass_balance' ELSE 'ok' END AS "Mass balance"
FROM dashboards.collection_balance
WHERE coop_id IN ($coop) AND $__timeFilter(ts)
ORDER BY ts DESC, device_id
