-- Energy certificates (1 Wh each) issued for energy produced in the range, withdrawn ones left out.
SELECT COALESCE(sum(quantity_wh) FILTER (WHERE status <> 'withdrawn'), 0)::numeric / 1000 AS "kWh certified"
FROM dashboards.certificate_bundle
WHERE coop_id IN ($coop) AND $__timeFilter(production_start)
