"""Ingest state: worker watermarks, device online state and seq statistics.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

DDL = """
-- One row per ingest worker: its low watermark (SPEC §3) and a heartbeat. W, the
-- minimum over live workers, is what the rewards engine settles by.
CREATE TABLE ingest_worker (
    worker_id       text PRIMARY KEY,
    low_watermark   timestamptz NOT NULL,
    heartbeat_at    timestamptz NOT NULL,
    started_at      timestamptz NOT NULL,
    host            text,
    pid             integer,
    stopped_at      timestamptz
);

-- W: everything received before it is committed, by every live worker. A worker silent
-- for 60 s is not live (SPEC §3). With no live worker, W is the latest watermark any
-- worker published (nothing is in flight anywhere).
CREATE FUNCTION ingest_low_watermark(live_window interval DEFAULT interval '60 seconds')
RETURNS timestamptz LANGUAGE sql STABLE AS $$
    SELECT COALESCE(
        (SELECT min(low_watermark) FROM ingest_worker
          WHERE stopped_at IS NULL AND heartbeat_at > now() - live_window),
        (SELECT max(low_watermark) FROM ingest_worker))
$$;

-- Online state, last seen, and seq statistics per device (message-loss statistics:
-- a gap of n between consecutive seq values counts n - 1 missing messages).
CREATE TABLE device_state (
    device_id          text PRIMARY KEY,
    online             boolean,
    state_changed_at   timestamptz,
    last_seen_at       timestamptz,
    last_telemetry_at  timestamptz,
    last_event_at      timestamptz,
    last_status_at     timestamptz,
    fw                 text,
    last_seq           bigint,
    seq_received       bigint NOT NULL DEFAULT 0,
    seq_missing        bigint NOT NULL DEFAULT 0,
    seq_resets         bigint NOT NULL DEFAULT 0,
    last_clock_skew_ms bigint
);
"""

GRANTS = """
GRANT SELECT, INSERT, UPDATE ON ingest_worker, device_state TO circulo_ingest;
GRANT SELECT ON ingest_worker, device_state TO circulo_rewards, circulo_registry;
GRANT EXECUTE ON FUNCTION ingest_low_watermark(interval) TO circulo_rewards;
"""


def upgrade() -> None:
    """Create the ingest worker and device state tables."""
    op.execute(DDL)
    op.execute(GRANTS)


def downgrade() -> None:
    """Forward-only: Circulo never downgrades a schema that may hold ledger data."""
    raise NotImplementedError("forward-only migrations")
