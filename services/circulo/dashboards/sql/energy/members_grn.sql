-- Each account's GRN in the period (the panel shows the current month), mints less burns.
SELECT account AS "Account", coop_id AS "Co-op", sum(signed_micro)::numeric / 1000000 AS "GRN",
       count(*) FILTER (WHERE kind = 'mint') AS "Mints"
FROM dashboards.ledger_entry
WHERE token = 'GRN' AND coop_id IN ($coop) AND $__timeFilter(ts)
GROUP BY account, coop_id
ORDER BY "GRN" DESC, "Account"
