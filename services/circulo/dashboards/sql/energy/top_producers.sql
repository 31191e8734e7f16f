-- The meters that generated most in the range, with their share of the co-op's energy.
SELECT device_id AS "Meter", location_name AS "Site", coop_id AS "Co-op",
       sum(energy_wh) / 1000.0 AS "kWh",
       round(100.0 * sum(energy_wh) / NULLIF(sum(sum(energy_wh)) OVER (PARTITION BY coop_id), 0), 1)
           AS "Share of co-op %"
FROM dashboards.meter_hourly
WHERE coop_id IN ($coop) AND $__timeFilter(bucket)
GROUP BY device_id, location_name, coop_id
ORDER BY "kWh" DESC, "Meter"
LIMIT 10
