-- Ingest workers that did not stop cleanly and sent no heartbeat for 2 minutes (they no
-- longer hold W back after 60 s, but the messages the broker deals to them wait).
SELECT worker_id, extract(epoch FROM now() - heartbeat_at) AS silent_seconds
FROM dashboards.ingest_worker
WHERE stopped_at IS NULL AND heartbeat_at < now() - interval '2 minutes'
ORDER BY worker_id
