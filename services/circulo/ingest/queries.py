"""SQL of the ingest, in one place: staging tables, inserts with dedup, state and watermark."""

from __future__ import annotations

from circulo.ingest.tables import TABLES, StoredType

# Staging tables live per connection and empty themselves at every commit; COPY fills
# them, then one INSERT … SELECT … ON CONFLICT DO NOTHING moves the new rows.
CREATE_STAGING = (
    "".join(
        f"CREATE TEMP TABLE IF NOT EXISTS stage_{table} (LIKE {table}) ON COMMIT DELETE ROWS;\n"
        for table in TABLES
    )
    + """
CREATE TEMP TABLE IF NOT EXISTS stage_quarantine (
    received_at timestamptz, topic text, payload bytea, reason text, detail text,
    device_id text, key_sha256 bytea) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS stage_device_state (LIKE device_state) ON COMMIT DELETE ROWS;
"""
)


def copy_into_stage(spec: StoredType) -> str:
    """COPY into the stored type's staging table, in its column order."""
    return f"COPY stage_{spec.table} ({', '.join(spec.column_names)}) FROM STDIN"


def insert_new(spec: StoredType) -> str:
    """Move staged rows; return the keys that were new."""
    cols = ", ".join(spec.column_names)
    key = ", ".join(spec.key)
    return (
        f"INSERT INTO {spec.table} ({cols}) SELECT {cols} FROM stage_{spec.table} "
        f"ON CONFLICT ({key}) DO NOTHING RETURNING {key}"
    )


def existing_hashes(spec: StoredType) -> str:
    """Payload hashes of rows already stored under the staged keys that were not new.

    A separate statement (not a CTE of the insert) so that it sees rows another worker
    committed while our insert waited on them.
    """
    key = ", ".join(spec.key)
    keyed = ", ".join(f"t.{k}" for k in spec.key)
    arrays = ", ".join(f"%s::{sql_type}[]" for sql_type in spec.key_sql_types)
    return (
        f"SELECT {keyed}, t.payload_sha256 FROM {spec.table} t "
        f"JOIN unnest({arrays}) AS k({key}) USING ({key})"
    )


COPY_QUARANTINE = (
    "COPY stage_quarantine (received_at, topic, payload, reason, detail, device_id, key_sha256) FROM STDIN"
)

# New quarantine keys win; a key seen before makes the message a duplicate (SPEC §2).
INSERT_QUARANTINE = """
WITH new_keys AS (
    INSERT INTO quarantine_key (key_sha256, received_at)
    SELECT key_sha256, received_at FROM stage_quarantine
    ON CONFLICT (key_sha256) DO NOTHING
    RETURNING key_sha256
)
INSERT INTO quarantine (received_at, topic, payload, reason, detail, device_id, key_sha256)
SELECT s.received_at, s.topic, s.payload, s.reason, s.detail, s.device_id, s.key_sha256
FROM stage_quarantine s JOIN new_keys USING (key_sha256)
RETURNING key_sha256
"""

ENSURE_DEVICE_STATE = """
INSERT INTO device_state (device_id) SELECT unnest(%s::text[]) ON CONFLICT (device_id) DO NOTHING
"""

# Locked in a fixed order so that two workers never deadlock on the same devices.
LOCK_DEVICE_STATE = """
SELECT device_id, online, state_changed_at, last_seen_at, last_telemetry_at, last_event_at,
       last_status_at, fw, last_seq, seq_received, seq_missing, seq_resets, last_clock_skew_ms,
       last_reading_ts, seq_epoch, last_seq_ts
FROM device_state WHERE device_id = ANY(%s) ORDER BY device_id FOR UPDATE
"""

DEVICE_STATE_COLUMNS = (
    "device_id", "online", "state_changed_at", "last_seen_at", "last_telemetry_at", "last_event_at",
    "last_status_at", "fw", "last_seq", "seq_received", "seq_missing", "seq_resets", "last_clock_skew_ms",
    "last_reading_ts", "seq_epoch", "last_seq_ts",
)  # fmt: skip

COPY_DEVICE_STATE = f"COPY stage_device_state ({', '.join(DEVICE_STATE_COLUMNS)}) FROM STDIN"

UPDATE_DEVICE_STATE = (
    "UPDATE device_state d SET "
    + ", ".join(f"{c} = s.{c}" for c in DEVICE_STATE_COLUMNS[1:])
    + " FROM stage_device_state s WHERE d.device_id = s.device_id"
)

INSERT_STATUS = """
INSERT INTO device_status (device_id, ts, received_at, state, seq, fw, uptime_s, reason, payload_sha256,
                           raw_payload)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
"""

UPSERT_WATERMARK = """
INSERT INTO ingest_worker (worker_id, low_watermark, heartbeat_at, started_at, host, pid)
VALUES (%(worker_id)s, %(watermark)s, now(), %(started_at)s, %(host)s, %(pid)s)
ON CONFLICT (worker_id) DO UPDATE
SET low_watermark = GREATEST(ingest_worker.low_watermark, EXCLUDED.low_watermark),
    heartbeat_at = now(), started_at = EXCLUDED.started_at, host = EXCLUDED.host,
    pid = EXCLUDED.pid, stopped_at = NULL
"""

MARK_WORKER_STOPPED = "UPDATE ingest_worker SET stopped_at = now(), heartbeat_at = now() WHERE worker_id = %s"

LOAD_REGISTRY = "SELECT device_id, kind, status = 'retired', profile FROM device"
LOOKUP_DEVICES = "SELECT device_id, kind, status = 'retired', profile FROM device WHERE device_id = ANY(%s)"

# --- replay gaps (SPEC §11) ------------------------------------------------------------------
GAP_COLUMNS = (
    "epoch", "from_seq", "to_seq", "after_received_at", "give_up_at", "next_request_at", "before_ts",
    "after_ts", "state", "request_id", "requests", "requested_at", "opened_at", "closed_at", "lost_reason",
)  # fmt: skip

# Read under the batch's device_state row locks: a device's gaps change only under its
# device_state row (writers lock it FOR UPDATE, the requester FOR UPDATE SKIP LOCKED), so the
# gap rows need no lock of their own (a row lock is a heap write: hundreds a batch).
PENDING_GAPS = f"""
SELECT device_id, {", ".join(GAP_COLUMNS)} FROM replay_gap
WHERE device_id = ANY(%s) AND state IN ('open', 'requested')
ORDER BY device_id, epoch, from_seq
"""

DELETE_GAPS = """
DELETE FROM replay_gap g USING unnest(%s::text[], %s::bigint[], %s::bigint[]) AS k(device_id, epoch, from_seq)
WHERE g.device_id = k.device_id AND g.epoch = k.epoch AND g.from_seq = k.from_seq
"""

# A closed row with the same start (an epoch -1 counter that restarted) gives way to the new one.
INSERT_GAP = f"""
INSERT INTO replay_gap (device_id, missing, {", ".join(GAP_COLUMNS)})
VALUES (%s, %s, {", ".join(["%s"] * len(GAP_COLUMNS))})
ON CONFLICT (device_id, epoch, from_seq) DO UPDATE SET
    missing = EXCLUDED.missing, {", ".join(f"{c} = EXCLUDED.{c}" for c in GAP_COLUMNS[2:])}
WHERE replay_gap.state IN ('recovered', 'lost')
"""

# --- replay requests (SPEC §11): judged by W, shared by the workers -------------------------
LOW_WATERMARK = "SELECT ingest_low_watermark()"

# after_received_at bounds both times from below, so the pending index finds the candidates.
# The device_state row is the lock of a device's gaps (see PENDING_GAPS): a device a writer or
# another worker's requester holds is skipped this round.
LOCK_DUE_GAPS = """
SELECT g.device_id, d.kind, g.epoch, g.from_seq, g.to_seq, g.requests, g.give_up_at, g.next_request_at
FROM replay_gap g JOIN device d USING (device_id) JOIN device_state s USING (device_id)
WHERE g.state IN ('open', 'requested') AND g.after_received_at <= %(w)s
  AND (g.give_up_at <= %(w)s OR g.next_request_at <= %(w)s)
ORDER BY g.next_request_at
LIMIT %(limit)s
FOR UPDATE OF s SKIP LOCKED
"""

MARK_REQUESTED = """
UPDATE replay_gap SET state = 'requested', request_id = %s, requests = requests + 1, requested_at = now(),
                      next_request_at = %s
WHERE device_id = %s AND epoch = %s AND from_seq = %s
"""

GIVE_UP = """
UPDATE replay_gap SET state = 'lost', lost_reason = 'timeout', closed_at = now()
WHERE device_id = %s AND epoch = %s AND from_seq = %s
"""

PENDING_GAP_COUNTS = (
    "SELECT state, count(*) FROM replay_gap WHERE state IN ('open', 'requested') GROUP BY state"
)
