"""Registry (co-ops, members, devices), time-series hypertables, events, quarantine, roles.

Revision ID: 0001
Revises: -

Chunk intervals (docs/operations.md explains them): telemetry is the bulk of the rows
(a 200-meter co-op at one reading a minute writes ~288,000 meter rows a day, ~50 MB with
indexes), so one-day chunks keep the working chunk and its indexes small enough to stay in
memory while the rewards engine scans the last hours, and let retention drop whole days.
Status history and the quarantine are sparse: seven-day chunks keep their chunk count low.
"""

from __future__ import annotations

from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

ROLES = ("circulo_ingest", "circulo_rewards", "circulo_registry", "circulo_reader")

DDL = r"""
CREATE EXTENSION IF NOT EXISTS timescaledb;

-- Registry -------------------------------------------------------------------------
CREATE TABLE coop (
    coop_id     text PRIMARY KEY CHECK (coop_id ~ '^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$'),
    name        text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE member (
    coop_id     text NOT NULL REFERENCES coop (coop_id),
    account     text NOT NULL CHECK (account ~ '^[A-Za-z0-9][A-Za-z0-9@._-]{0,127}$'),
    shares      bigint NOT NULL CHECK (shares >= 0),
    joined_at   timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (coop_id, account)
);
CREATE INDEX member_account_idx ON member (account);

CREATE TABLE device (
    device_id        text PRIMARY KEY CHECK (device_id ~ '^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$'),
    kind             text NOT NULL CHECK (kind IN ('meter', 'bin', 'repair')),
    coop_id          text NOT NULL REFERENCES coop (coop_id),
    status           text NOT NULL DEFAULT 'registered'
                     CHECK (status IN ('registered', 'active', 'retired')),
    lat              double precision CHECK (lat BETWEEN -90 AND 90),
    lon              double precision CHECK (lon BETWEEN -180 AND 180),
    location_name    text,
    rated_power_w    integer CHECK (rated_power_w > 0),
    capacity_kg      numeric(10, 3) CHECK (capacity_kg > 0),
    installer        text,
    notes            text,
    registered_at    timestamptz NOT NULL DEFAULT now(),
    commissioned_at  timestamptz,
    retired_at       timestamptz,
    updated_at       timestamptz NOT NULL DEFAULT now(),
    -- a meter's rated power is what the plausibility rule needs (SPEC §4)
    CONSTRAINT meter_has_rated_power CHECK (kind <> 'meter' OR rated_power_w IS NOT NULL),
    CONSTRAINT retired_has_time CHECK (status <> 'retired' OR retired_at IS NOT NULL)
);
CREATE INDEX device_coop_idx ON device (coop_id, kind);

-- Time series (hypertables) ------------------------------------------------------------
-- Dedup key of telemetry is (device_id, ts) (SPEC §2); on a hypertable every unique index
-- holds the time column, which this one does. It is also the per-device time index
-- TimescaleDB recommends, so no second index is needed.
CREATE TABLE meter_reading (
    device_id     text NOT NULL,
    ts            timestamptz NOT NULL,
    received_at   timestamptz NOT NULL,
    seq           bigint NOT NULL,
    energy_wh     bigint NOT NULL CHECK (energy_wh >= 0),
    power_w       double precision NOT NULL,
    voltage_v     double precision,
    frequency_hz  double precision,
    temp_c        double precision,
    payload_sha256 bytea NOT NULL
);
SELECT create_hypertable('meter_reading', 'ts', chunk_time_interval => interval '1 day');
CREATE UNIQUE INDEX meter_reading_device_ts_key ON meter_reading (device_id, ts DESC);
CREATE INDEX meter_reading_received_idx ON meter_reading (received_at DESC);

CREATE TABLE bin_reading (
    device_id     text NOT NULL,
    ts            timestamptz NOT NULL,
    received_at   timestamptz NOT NULL,
    seq           bigint NOT NULL,
    fill_pct      double precision NOT NULL,
    weight_g      bigint NOT NULL CHECK (weight_g >= 0),
    temp_c        double precision,
    battery_pct   double precision,
    rssi_dbm      double precision,
    payload_sha256 bytea NOT NULL
);
SELECT create_hypertable('bin_reading', 'ts', chunk_time_interval => interval '1 day');
CREATE UNIQUE INDEX bin_reading_device_ts_key ON bin_reading (device_id, ts DESC);

-- A status is stored when it changes the device's state (SPEC §2); ts is the message's
-- ts, or its receipt time when it has none.
CREATE TABLE device_status (
    device_id     text NOT NULL,
    ts            timestamptz NOT NULL,
    received_at   timestamptz NOT NULL,
    state         text NOT NULL CHECK (state IN ('online', 'offline')),
    seq           bigint,
    fw            text,
    uptime_s      bigint,
    reason        text,
    payload_sha256 bytea NOT NULL
);
SELECT create_hypertable('device_status', 'ts', chunk_time_interval => interval '7 days');
CREATE INDEX device_status_device_ts_idx ON device_status (device_id, ts DESC);

-- Quarantine keeps the raw bytes, topic, receipt time, reason and detail (SPEC §3).
CREATE TABLE quarantine (
    id            bigint GENERATED ALWAYS AS IDENTITY,
    received_at   timestamptz NOT NULL,
    topic         text NOT NULL,
    payload       bytea NOT NULL,
    reason        text NOT NULL CHECK (reason IN (
                      'topic', 'unknown_device', 'retired_device', 'kind_mismatch', 'too_large',
                      'not_utf8', 'not_json', 'schema', 'clock_skew', 'too_old', 'conflict')),
    detail        text NOT NULL DEFAULT '',
    device_id     text,
    key_sha256    bytea NOT NULL,
    replayed_at   timestamptz,
    replay_outcome text,
    PRIMARY KEY (id, received_at)
);
SELECT create_hypertable('quarantine', 'received_at', chunk_time_interval => interval '7 days');
CREATE INDEX quarantine_device_idx ON quarantine (device_id, received_at DESC);
CREATE INDEX quarantine_reason_idx ON quarantine (reason, received_at DESC);
CREATE INDEX quarantine_pending_idx ON quarantine (received_at) WHERE replayed_at IS NULL;

-- A quarantined message is keyed by SHA-256(topic || payload): a plain table so the key
-- can be a real unique constraint without the time column.
CREATE TABLE quarantine_key (
    key_sha256    bytea PRIMARY KEY,
    received_at   timestamptz NOT NULL
);

-- Events (plain tables) ------------------------------------------------------------------
-- Events are few and their dedup key (device_id, event_id) has no time column, so they
-- live in plain tables where it can be a real primary key (SPEC §2).
CREATE TABLE bin_event (
    device_id     text NOT NULL,
    event_id      text NOT NULL CHECK (length(event_id) BETWEEN 1 AND 64),
    type          text NOT NULL CHECK (type IN ('deposit', 'collection')),
    ts            timestamptz NOT NULL,
    received_at   timestamptz NOT NULL,
    seq           bigint NOT NULL,
    material      text,
    weight_g      bigint NOT NULL CHECK (weight_g > 0),
    account       text,
    items         integer,
    contaminated  boolean NOT NULL DEFAULT false,
    collector     text,
    payload_sha256 bytea NOT NULL,
    PRIMARY KEY (device_id, event_id),
    CONSTRAINT deposit_has_material CHECK (type <> 'deposit' OR material IS NOT NULL)
);
CREATE INDEX bin_event_device_ts_idx ON bin_event (device_id, ts);
CREATE INDEX bin_event_collection_idx ON bin_event (received_at) WHERE type = 'collection';

CREATE TABLE repair_event (
    device_id     text NOT NULL,
    event_id      text NOT NULL CHECK (length(event_id) BETWEEN 1 AND 64),
    ts            timestamptz NOT NULL,
    received_at   timestamptz NOT NULL,
    seq           bigint NOT NULL,
    category      text NOT NULL,
    status        text NOT NULL CHECK (status IN ('fixed', 'repairable', 'end_of_life')),
    weight_g      bigint NOT NULL CHECK (weight_g > 0),
    owner         text,
    repairer      text,
    age_years     numeric,
    problem       text,
    payload_sha256 bytea NOT NULL,
    PRIMARY KEY (device_id, event_id)
);
CREATE INDEX repair_event_received_idx ON repair_event (received_at);
CREATE INDEX repair_event_device_ts_idx ON repair_event (device_id, ts);
"""

GRANTS = """
GRANT USAGE ON SCHEMA public TO circulo_ingest, circulo_rewards, circulo_registry, circulo_reader;
GRANT SELECT ON coop, member, device TO circulo_ingest, circulo_rewards;
GRANT SELECT, INSERT, UPDATE ON coop, member, device TO circulo_registry;
GRANT SELECT, INSERT ON meter_reading, bin_reading, device_status, bin_event, repair_event,
    quarantine_key TO circulo_ingest;
GRANT SELECT, INSERT, UPDATE ON quarantine TO circulo_ingest;
GRANT SELECT ON meter_reading, bin_reading, device_status, bin_event, repair_event, quarantine
    TO circulo_rewards, circulo_registry;
"""


def create_roles() -> None:
    """Group roles (NOLOGIN) for SPEC §6; login users are granted membership by operators."""
    for role in ROLES:
        op.execute(
            f"DO $$ BEGIN CREATE ROLE {role} NOLOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$"
        )


def upgrade() -> None:
    """Create the extension, registry, hypertables, event tables and role grants."""
    create_roles()
    op.execute(DDL)
    op.execute(GRANTS)


def downgrade() -> None:
    """Forward-only: Circulo never downgrades a schema that may hold ledger data."""
    raise NotImplementedError("forward-only migrations")
