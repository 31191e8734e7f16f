SELECT coop_id AS __value, name AS __text FROM dashboards.coop ORDER BY name
