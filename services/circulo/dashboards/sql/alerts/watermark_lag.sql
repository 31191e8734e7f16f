-- W more than 5 minutes behind now: something received that long ago may still be
-- uncommitted, so the rewards engine and the rollups wait (SPEC 3). No worker ever: no row.
SELECT extract(epoch FROM now() - watermark) AS lag_seconds
FROM dashboards.ingest_watermark
WHERE watermark < now() - interval '5 minutes'
