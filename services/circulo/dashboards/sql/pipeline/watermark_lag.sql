-- now - W: nothing received before W is still uncommitted (SPEC 3).
SELECT extract(epoch FROM now() - min(low_watermark)) AS "W lag"
FROM dashboards.ingest_worker
WHERE live
