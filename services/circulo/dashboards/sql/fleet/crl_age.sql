SELECT round(age_s / 3600.0, 1) AS "CRL age (h)"
FROM dashboards.pki_crl
