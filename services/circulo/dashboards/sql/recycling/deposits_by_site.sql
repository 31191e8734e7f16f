-- Kilograms per site, one column per material (a stacked bar per site).
SELECT location_name AS "Site",
       sum(weight_g) FILTER (WHERE material IN ('pet', 'hdpe', 'pp')) / 1000.0 AS "Plastics",
       sum(weight_g) FILTER (WHERE material IN ('aluminium', 'steel')) / 1000.0 AS "Metals",
       sum(weight_g) FILTER (WHERE material = 'glass') / 1000.0 AS "Glass",
       sum(weight_g) FILTER (WHERE material IN ('paper', 'cardboard')) / 1000.0 AS "Paper",
       sum(weight_g) FILTER (WHERE material NOT IN ('pet', 'hdpe', 'pp', 'aluminium', 'steel', 'glass',
                                                    'paper', 'cardboard')) / 1000.0 AS "Other"
FROM dashboards.deposit
WHERE coop_id IN ($coop) AND $__timeFilter(ts)
GROUP BY location_name
ORDER BY location_name
