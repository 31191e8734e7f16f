-- Certificates and CRLs that expire soon (the view is the PKI's mirror, migration 0012):
-- a CA within 60 days, a server or device certificate within 21 days of not_after, a CRL
-- within 2 days of its nextUpdate (an expired CRL locks every device out).
WITH margin (kind, days) AS (VALUES ('ca', 60), ('broker', 21), ('server', 21), ('device', 21), ('crl', 2))
SELECT c.subject, c.kind, extract(epoch FROM c.expires_at - now()) / 86400 AS days_left
FROM dashboards.certificate_expiry c
JOIN margin m ON m.kind = c.kind
WHERE c.expires_at < now() + make_interval(days => m.days)
ORDER BY c.kind, c.subject
