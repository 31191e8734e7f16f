SELECT extract(epoch FROM now() - last_checkpoint_at) AS "Checkpoint age", last_checkpoint_size AS "Size"
FROM dashboards.ledger_status
