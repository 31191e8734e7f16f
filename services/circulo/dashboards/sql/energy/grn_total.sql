SELECT COALESCE(sum(signed_micro), 0)::numeric / 1000000 AS "GRN minted"
FROM dashboards.ledger_entry
WHERE token = 'GRN' AND coop_id IN ($coop) AND $__timeFilter(ts)
