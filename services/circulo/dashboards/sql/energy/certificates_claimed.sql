-- Certificates for energy produced in the range whose attributes were claimed (final).
SELECT COALESCE(sum(quantity_wh) FILTER (WHERE status = 'claimed'), 0)::numeric / 1000 AS "kWh claimed"
FROM dashboards.certificate_bundle
WHERE coop_id IN ($coop) AND $__timeFilter(production_start)
