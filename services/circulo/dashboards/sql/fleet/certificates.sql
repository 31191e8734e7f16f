SELECT kind AS "Kind", name AS "Name", not_after AS "Expires", days_left AS "Days left"
FROM dashboards.pki_certificate
WHERE kind <> 'device' OR coop_id IN ($coop)
ORDER BY days_left, kind, name
LIMIT 100
