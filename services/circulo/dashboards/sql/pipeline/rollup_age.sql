SELECT extract(epoch FROM now() - max(watermark)) AS "Rollups behind"
FROM dashboards.rollup_state
