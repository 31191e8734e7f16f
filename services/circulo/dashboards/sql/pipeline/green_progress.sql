-- How far each co-op's hours are settled, and how long ago the engine last moved it.
SELECT coop_id AS "Co-op", settled_through AS "Settled through",
       extract(epoch FROM now() - settled_through) / 3600 AS "Hours behind",
       updated_at AS "Updated"
FROM dashboards.green_progress
WHERE coop_id IN ($coop)
ORDER BY coop_id
