-- Certificates for energy produced in the range still active (not expired): what can still be sold or claimed.
SELECT COALESCE(sum(quantity_wh) FILTER (WHERE status = 'active' AND expires_at > now()), 0)::numeric / 1000
       AS "kWh held"
FROM dashboards.certificate_bundle
WHERE coop_id IN ($coop) AND $__timeFilter(production_start)
