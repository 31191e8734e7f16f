-- Each ingest worker: now minus its low watermark bounds how long a message waits for commit.
SELECT worker_id AS "Worker", host AS "Host", live AS "Live",
       extract(epoch FROM now() - heartbeat_at) AS "Heartbeat age s",
       extract(epoch FROM now() - low_watermark) AS "Commit lag s",
       started_at AS "Started", stopped_at AS "Stopped"
FROM dashboards.ingest_worker
ORDER BY live DESC, worker_id
