-- Ledger entries that no signed checkpoint covers yet, the oldest waiting more than 2 hours
-- (checkpoints are published hourly): members cannot prove those entries yet.
SELECT extract(epoch FROM now() - min(e.ts)) / 3600 AS hours_waiting
FROM dashboards.ledger_entry e
CROSS JOIN dashboards.ledger_status s
WHERE e.seq > COALESCE(s.last_checkpoint_size, 0)
HAVING min(e.ts) < now() - interval '2 hours'
