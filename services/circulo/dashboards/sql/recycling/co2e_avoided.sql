-- Reported, never minted: the Open Repair Alliance footprint x 50 % displacement per fixed item.
SELECT COALESCE(sum(co2e_avoided_g), 0) / 1000.0 AS "CO2e avoided"
FROM dashboards.repair_co2e
WHERE coop_id IN ($coop) AND $__timeFilter(ts)
