SELECT COALESCE(sum(signed_micro), 0)::numeric / 1000000 AS "RCY minted"
FROM dashboards.ledger_entry
WHERE token = 'RCY' AND coop_id IN ($coop) AND $__timeFilter(ts)
