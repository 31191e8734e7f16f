"""SQL of the monitor samples (``monitor_seq_sample``, ``monitor_broker_sample``, migration 0009)."""

from __future__ import annotations

# Each co-op's cumulative seq counters, as the ingest keeps them per device (0002).
INSERT_SEQ_SAMPLE = """
INSERT INTO monitor_seq_sample (coop_id, sampled_at, seq_received, seq_missing)
SELECT d.coop_id, %(at)s, COALESCE(sum(s.seq_received), 0), COALESCE(sum(s.seq_missing), 0)
FROM device d JOIN device_state s USING (device_id)
GROUP BY d.coop_id
ON CONFLICT (coop_id, sampled_at) DO NOTHING
"""

INSERT_BROKER_SAMPLE = """
INSERT INTO monitor_broker_sample (broker, sampled_at, store_messages, retained_messages, clients_connected)
VALUES (%(broker)s, %(at)s, %(store_messages)s, %(retained_messages)s, %(clients_connected)s)
ON CONFLICT (broker, sampled_at) DO NOTHING
"""

DELETE_OLD_SEQ = "DELETE FROM monitor_seq_sample WHERE sampled_at < %(before)s"
DELETE_OLD_BROKER = "DELETE FROM monitor_broker_sample WHERE sampled_at < %(before)s"
