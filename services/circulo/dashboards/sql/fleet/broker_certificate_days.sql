SELECT min(days_left) AS "Days left"
FROM dashboards.pki_certificate
WHERE kind = 'server' AND name = 'broker'
