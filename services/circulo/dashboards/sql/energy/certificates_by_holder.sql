-- Who holds the certificates for energy produced in the range, in kWh per status.
SELECT holder AS "Holder", coop_id AS "Co-op",
       sum(quantity_wh) FILTER (WHERE status = 'active' AND expires_at > now())::numeric / 1000 AS "Active kWh",
       sum(quantity_wh) FILTER (WHERE status = 'cancelled')::numeric / 1000 AS "Cancelled kWh",
       sum(quantity_wh) FILTER (WHERE status = 'claimed')::numeric / 1000 AS "Claimed kWh",
       sum(quantity_wh) FILTER (WHERE status = 'withdrawn')::numeric / 1000 AS "Withdrawn kWh"
FROM dashboards.certificate_bundle
WHERE coop_id IN ($coop) AND $__timeFilter(production_start)
GROUP BY holder, coop_id
ORDER BY "Holder", "Co-op"
