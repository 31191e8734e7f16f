-- Seconds since the newest entry was appended (the head hash changes with every append).
SELECT extract(epoch FROM now() - COALESCE(last_ts, head_updated_at)) AS "Head age"
FROM dashboards.ledger_status
