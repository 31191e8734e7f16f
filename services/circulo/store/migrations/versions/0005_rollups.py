"""Rollups and dashboard views, read-only access for Grafana.

Revision ID: 0005
Revises: 0004

Rollup tables (``rollup_*``) hold hourly and daily aggregates per device and per co-op,
computed with ``time_bucket`` by ``circulo.dashboards.rollups.refresh_rollups`` from the
raw hypertables; they work on both TimescaleDB editions. Energy is a counter delta
between consecutive readings (resets credit nothing, SPEC §4), which needs a window
function: continuous aggregates cannot express it, so energy stays in rollup tables on
both editions. Bin telemetry is a plain aggregate: with the Timescale license it is a
continuous aggregate with a refresh policy, on the Apache edition a rollup table; the
view ``dashboards.bin_hourly`` hides which.

Grafana reads only the views in schema ``dashboards`` through ``circulo_reader``; the
views run with their owner's rights, so the role needs no grant on any raw table. The
views over the ledger (0003) and the rewards engine's tables (0004) give dashboards the
co-op of each entry, the chain's head and link check, settlements, flags and CO2e.
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

ROLLUP_TABLES = r"""
-- Refresh progress: everything received up to `watermark` is in the rollups.
CREATE TABLE rollup_state (
    name          text PRIMARY KEY,
    watermark     timestamptz NOT NULL,
    refreshed_at  timestamptz NOT NULL DEFAULT now()
);

-- Energy per meter and hour: the deltas of consecutive readings whose later reading falls
-- in the hour (the hour GRN attributes them to); a negative delta is a counter reset.
CREATE TABLE rollup_meter_hourly (
    device_id        text NOT NULL,
    bucket           timestamptz NOT NULL,
    energy_wh        bigint NOT NULL,
    readings         integer NOT NULL,
    counter_resets   integer NOT NULL,
    power_sum_w      double precision NOT NULL,
    max_power_w      double precision NOT NULL,
    last_power_w     double precision NOT NULL,
    last_energy_wh   bigint NOT NULL,
    last_reading_at  timestamptz NOT NULL,
    PRIMARY KEY (device_id, bucket)
);
CREATE INDEX rollup_meter_hourly_bucket_idx ON rollup_meter_hourly (bucket);

CREATE TABLE rollup_meter_daily (
    device_id        text NOT NULL,
    bucket           timestamptz NOT NULL,
    energy_wh        bigint NOT NULL,
    readings         integer NOT NULL,
    counter_resets   integer NOT NULL,
    max_power_w      double precision NOT NULL,
    last_reading_at  timestamptz NOT NULL,
    PRIMARY KEY (device_id, bucket)
);
CREATE INDEX rollup_meter_daily_bucket_idx ON rollup_meter_daily (bucket);

CREATE TABLE rollup_coop_hourly (
    coop_id           text NOT NULL,
    bucket            timestamptz NOT NULL,
    energy_wh         bigint NOT NULL,
    meters_reporting  integer NOT NULL,
    readings          integer NOT NULL,
    PRIMARY KEY (coop_id, bucket)
);

CREATE TABLE rollup_coop_daily (
    coop_id           text NOT NULL,
    bucket            timestamptz NOT NULL,
    energy_wh         bigint NOT NULL,
    meters_reporting  integer NOT NULL,
    readings          integer NOT NULL,
    PRIMARY KEY (coop_id, bucket)
);

CREATE TABLE rollup_bin_hourly (
    device_id        text NOT NULL,
    bucket           timestamptz NOT NULL,
    readings         integer NOT NULL,
    fill_pct_last    double precision NOT NULL,
    fill_pct_max     double precision NOT NULL,
    weight_g_last    bigint NOT NULL,
    battery_pct_min  double precision,
    battery_pct_last double precision,
    rssi_dbm_avg     double precision,
    last_reading_at  timestamptz NOT NULL,
    PRIMARY KEY (device_id, bucket)
);

-- Messages committed per minute of receipt, and their delay (received_at - ts).
CREATE TABLE rollup_ingest_minute (
    bucket       timestamptz NOT NULL,
    stream       text NOT NULL,
    messages     integer NOT NULL,
    lag_ms_sum   double precision,
    lag_ms_max   double precision,
    PRIMARY KEY (bucket, stream)
);

-- The refresh finds what arrived since its watermark by receipt time.
CREATE INDEX IF NOT EXISTS bin_reading_received_idx ON bin_reading (received_at DESC);
CREATE INDEX IF NOT EXISTS device_status_received_idx ON device_status (received_at DESC);
CREATE INDEX IF NOT EXISTS bin_event_received_all_idx ON bin_event (received_at);
"""

# With the Timescale license: bin telemetry as a continuous aggregate kept by a policy.
BIN_CAGG = r"""
CREATE MATERIALIZED VIEW cagg_bin_hourly WITH (timescaledb.continuous) AS
SELECT device_id, time_bucket(interval '1 hour', ts) AS bucket, count(*)::integer AS readings,
       last(fill_pct, ts) AS fill_pct_last, max(fill_pct) AS fill_pct_max,
       last(weight_g, ts) AS weight_g_last, min(battery_pct) AS battery_pct_min,
       last(battery_pct, ts) AS battery_pct_last, avg(rssi_dbm) AS rssi_dbm_avg,
       max(ts) AS last_reading_at
FROM bin_reading GROUP BY device_id, time_bucket(interval '1 hour', ts)
WITH NO DATA;
SELECT add_continuous_aggregate_policy('cagg_bin_hourly', start_offset => interval '31 days',
    end_offset => interval '1 minute', schedule_interval => interval '1 minute');
"""

VIEWS = r"""
CREATE SCHEMA dashboards;
COMMENT ON SCHEMA dashboards IS 'Views for Grafana (role circulo_reader); nothing else is readable by it.';

CREATE VIEW dashboards.coop AS SELECT coop_id, name FROM coop;

CREATE VIEW dashboards.device AS
SELECT device_id, kind, coop_id, status, location_name, lat, lon, rated_power_w,
       capacity_kg, installer, registered_at, commissioned_at, retired_at
FROM device;

CREATE VIEW dashboards.meter_hourly AS
SELECT r.bucket, r.device_id, d.coop_id, d.location_name, d.rated_power_w, r.energy_wh,
       r.readings, r.counter_resets, r.power_sum_w / r.readings AS avg_power_w, r.max_power_w,
       r.last_power_w, r.last_reading_at
FROM rollup_meter_hourly r JOIN device d USING (device_id);

CREATE VIEW dashboards.meter_daily AS
SELECT r.bucket, r.device_id, d.coop_id, d.location_name, d.rated_power_w, r.energy_wh,
       r.readings, r.counter_resets, r.max_power_w, r.last_reading_at
FROM rollup_meter_daily r JOIN device d USING (device_id);

CREATE VIEW dashboards.coop_hourly AS
SELECT bucket, coop_id, energy_wh, meters_reporting, readings FROM rollup_coop_hourly;

CREATE VIEW dashboards.coop_daily AS
SELECT bucket, coop_id, energy_wh, meters_reporting, readings FROM rollup_coop_daily;

-- Rated capacity of a co-op's meters in service.
CREATE VIEW dashboards.coop_capacity AS
SELECT coop_id, count(*) AS meters, COALESCE(sum(rated_power_w), 0)::bigint AS rated_power_w
FROM device WHERE kind = 'meter' AND status <> 'retired' GROUP BY coop_id;

CREATE VIEW dashboards.bin_hourly AS
SELECT r.bucket, r.device_id, d.coop_id, d.location_name, d.lat, d.lon, d.capacity_kg,
       r.readings, r.fill_pct_last, r.fill_pct_max, r.weight_g_last, r.battery_pct_min,
       r.battery_pct_last, r.rssi_dbm_avg, r.last_reading_at
FROM {bin_source} r JOIN device d USING (device_id);

CREATE VIEW dashboards.deposit AS
SELECT e.ts, e.received_at, e.device_id, d.coop_id, d.location_name, e.event_id, e.material,
       e.weight_g, COALESCE(e.items, 1) AS items, e.contaminated, e.account IS NOT NULL AS identified
FROM bin_event e JOIN device d USING (device_id) WHERE e.type = 'deposit';

CREATE VIEW dashboards.collection AS
SELECT e.ts, e.received_at, e.device_id, d.coop_id, d.location_name, e.event_id, e.weight_g,
       e.collector
FROM bin_event e JOIN device d USING (device_id) WHERE e.type = 'collection';

-- Mass balance per collection, as SPEC §4 states it with the default 15 % tolerance
-- (the rewards engine's flags are the authority; this is the dashboard's view of it).
CREATE VIEW dashboards.collection_balance AS
WITH ordered AS (
    SELECT c.*, lag(c.ts) OVER (PARTITION BY c.device_id ORDER BY c.ts, c.event_id) AS previous_ts
    FROM bin_event c WHERE c.type = 'collection'
)
SELECT o.ts, o.device_id, d.coop_id, d.location_name, o.event_id, o.weight_g AS collected_g,
       COALESCE(s.deposited_g, 0) AS deposited_g,
       COALESCE(s.deposited_g, 0) * 100 > o.weight_g * 115 AS over_tolerance
FROM ordered o
JOIN device d USING (device_id)
LEFT JOIN LATERAL (
    SELECT sum(p.weight_g) AS deposited_g FROM bin_event p
    WHERE p.device_id = o.device_id AND p.type = 'deposit'
      AND p.ts <= o.ts AND (o.previous_ts IS NULL OR p.ts > o.previous_ts)
) s ON true;

CREATE VIEW dashboards.repair AS
SELECT e.ts, e.received_at, e.device_id, d.coop_id, d.location_name, e.event_id, e.category,
       e.status, e.weight_g
FROM repair_event e JOIN device d USING (device_id);

CREATE VIEW dashboards.device_health AS
SELECT d.device_id, d.kind, d.coop_id, d.status, d.location_name, d.installer, d.lat, d.lon,
       s.online, s.state_changed_at, s.last_seen_at, s.last_telemetry_at, s.fw,
       COALESCE(s.seq_received, 0) AS seq_received, COALESCE(s.seq_missing, 0) AS seq_missing,
       COALESCE(s.seq_resets, 0) AS seq_resets, s.last_clock_skew_ms
FROM device d LEFT JOIN device_state s USING (device_id);

CREATE VIEW dashboards.device_status AS
SELECT s.ts, s.device_id, d.coop_id, d.kind, s.state, s.reason
FROM device_status s JOIN device d USING (device_id);

-- The quarantine without its payload bytes; a message from an unknown device has no co-op.
CREATE VIEW dashboards.quarantine AS
SELECT q.received_at, q.reason, q.device_id, d.coop_id, q.topic, q.replayed_at, q.replay_outcome
FROM quarantine q LEFT JOIN device d USING (device_id);

CREATE VIEW dashboards.ingest_minute AS
SELECT bucket, stream, messages, lag_ms_sum / NULLIF(messages, 0) AS avg_lag_ms, lag_ms_max
FROM rollup_ingest_minute;

CREATE VIEW dashboards.ingest_worker AS
SELECT worker_id, host, started_at, stopped_at, heartbeat_at, low_watermark,
       stopped_at IS NULL AND heartbeat_at > now() - interval '60 seconds' AS live
FROM ingest_worker;

CREATE VIEW dashboards.rollup_state AS SELECT name, watermark, refreshed_at FROM rollup_state;

-- Ledger (0003) ------------------------------------------------------------------------
-- The co-op of an entry: its settlement's co-op or device's co-op; a correction takes the
-- co-op of the entry it reverses; without a settlement row, the settlement id names it
-- (green:{coop}:…, deposit:{device}:…, repair:{device}:…, SPEC §5).
CREATE VIEW dashboards.ledger_entry AS
WITH named AS (
    SELECT e.*, COALESCE(c.settlement_id, e.settlement_id) AS origin
    FROM ledger_entry e LEFT JOIN ledger_entry c ON c.seq = e.corrects_seq
)
SELECT n.seq, n.ts, n.kind, n.token, n.account, n.reason, n.settlement_id, n.amount_micro,
       CASE n.kind WHEN 'mint' THEN n.amount_micro ELSE -n.amount_micro END AS signed_micro,
       n.corrects_seq, n.policy, n.key_id,
       COALESCE(s.coop_id, sd.coop_id,
                CASE WHEN split_part(n.origin, ':', 1) IN ('green', 'green-late')
                     THEN split_part(n.origin, ':', 2) END,
                od.coop_id) AS coop_id
FROM named n
LEFT JOIN reward_settlement s ON s.settlement_id = n.origin
LEFT JOIN device sd ON sd.device_id = s.device_id
LEFT JOIN device od ON od.device_id = split_part(n.origin, ':', 2)
    AND split_part(n.origin, ':', 1) IN ('deposit', 'deposit-late', 'repair');

-- The chain head and a link check the database can do (seq gapless, each prev_hash the
-- previous hash); hashes and signatures are checked by `circulo ledger verify`.
CREATE VIEW dashboards.ledger_status AS
WITH links AS (
    SELECT seq, ts, hash, prev_hash,
           lag(seq) OVER (ORDER BY seq) AS previous_seq, lag(hash) OVER (ORDER BY seq) AS previous_hash
    FROM ledger_entry
), checked AS (
    SELECT count(*) AS entries, max(seq) AS last_seq, max(ts) AS last_ts,
           count(*) FILTER (WHERE (previous_seq IS NULL AND (seq <> 1 OR prev_hash <> repeat('0', 64)))
                               OR (previous_seq IS NOT NULL
                                   AND (seq <> previous_seq + 1 OR prev_hash <> previous_hash)))
               AS broken_links
    FROM links
)
SELECT c.entries, COALESCE(c.last_seq, 0) AS last_seq, c.last_ts, h.hash AS head_hash,
       h.updated_at AS head_updated_at, c.broken_links,
       c.broken_links = 0 AND h.seq = COALESCE(c.last_seq, 0) AS links_ok,
       (SELECT max(created_at) FROM ledger_checkpoint) AS last_checkpoint_at,
       (SELECT max(size) FROM ledger_checkpoint) AS last_checkpoint_size
FROM checked c CROSS JOIN ledger_head h;

-- Rewards (0004) -----------------------------------------------------------------------
CREATE VIEW dashboards.reward_settlement AS
SELECT s.settlement_id, s.kind, COALESCE(s.coop_id, d.coop_id) AS coop_id, s.device_id, s.hour,
       s.token, s.credited_wh, s.minted_micro, s.excluded_micro, s.mints, s.sources, s.policy,
       s.engine, s.settled_at
FROM reward_settlement s LEFT JOIN device d USING (device_id);

CREATE VIEW dashboards.reward_flag AS
SELECT f.flag, f.device_id, d.coop_id, f.ts, f.detail, f.token, f.excluded_micro, f.created_at
FROM reward_flag f LEFT JOIN device d USING (device_id);

CREATE VIEW dashboards.green_progress AS
SELECT coop_id, settled_through, updated_at FROM reward_green_progress;

CREATE VIEW dashboards.repair_co2e AS
SELECT r.ts, r.device_id, d.coop_id, r.category, r.weight_g, r.co2e_avoided_g, r.factor_table_version
FROM reward_repair_report r JOIN device d USING (device_id);
"""

# Grafana's role reads the dashboards schema and nothing else (issue: "sees only views
# made for dashboards"), so the direct grants 0004 gave it on reward tables are revoked.
GRANTS = """
REVOKE SELECT ON reward_settlement, reward_flag, reward_repair_report, reward_green_progress,
    reward_bin_progress FROM circulo_reader;
GRANT USAGE ON SCHEMA dashboards TO circulo_reader;
GRANT SELECT ON ALL TABLES IN SCHEMA dashboards TO circulo_reader;
GRANT SELECT, INSERT, UPDATE, DELETE ON rollup_state, rollup_meter_hourly, rollup_meter_daily,
    rollup_coop_hourly, rollup_coop_daily, rollup_bin_hourly, rollup_ingest_minute TO circulo_rewards;
"""


def timescale_licensed() -> bool:
    """True when the server runs the Timescale-licensed edition (continuous aggregates)."""
    row = op.get_bind().exec_driver_sql("SELECT current_setting('timescaledb.license', true)").fetchone()
    return row is not None and row[0] == "timescale"


def upgrade() -> None:
    """Create the rollup tables, the dashboards schema and its views, and the grants."""
    op.execute(ROLLUP_TABLES)
    licensed = timescale_licensed()
    if licensed:
        op.execute(BIN_CAGG)
    op.execute(VIEWS.replace("{bin_source}", "cagg_bin_hourly" if licensed else "rollup_bin_hourly"))
    op.execute(GRANTS)


def downgrade() -> None:
    """Forward-only: Circulo never downgrades a schema that may hold ledger data."""
    raise NotImplementedError("forward-only migrations")
