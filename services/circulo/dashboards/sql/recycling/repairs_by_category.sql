SELECT category AS "Category",
       count(*) FILTER (WHERE status = 'fixed') AS "Fixed",
       count(*) FILTER (WHERE status = 'repairable') AS "Repairable",
       count(*) FILTER (WHERE status = 'end_of_life') AS "End of life"
FROM dashboards.repair
WHERE coop_id IN ($coop) AND $__timeFilter(ts)
GROUP BY category
ORDER BY count(*) DESC, category
