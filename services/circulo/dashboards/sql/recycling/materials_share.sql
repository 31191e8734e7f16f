SELECT material AS "Material", sum(weight_g) / 1000.0 AS "kg"
FROM dashboards.deposit
WHERE coop_id IN ($coop) AND $__timeFilter(ts) AND NOT contaminated
GROUP BY material
ORDER BY "kg" DESC
