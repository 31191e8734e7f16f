SELECT count(*) AS "Deposits", COALESCE(sum(items), 0) AS "Items"
FROM dashboards.deposit
WHERE coop_id IN ($coop) AND $__timeFilter(ts)
