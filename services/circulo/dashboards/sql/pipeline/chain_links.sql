-- 1 when seq is gapless and every prev_hash is the previous hash; 0 names a break.
SELECT CASE WHEN links_ok THEN 1 ELSE 0 END AS "Chain links", broken_links AS "Broken links"
FROM dashboards.ledger_status
