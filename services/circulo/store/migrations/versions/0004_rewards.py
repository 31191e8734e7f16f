"""Rewards engine: settlements, claims, flags, progress marks, cap usage, leader fencing.

Revision ID: 0004
Revises: 0003

Exactly once (SPEC §5): every source is claimed by one settlement under a unique
constraint — a meter pair by ``(device_id, later ts)`` in ``reward_meter_claim``, a
deposit, collection or repair by ``(device_id, event_id)`` in ``reward_event_claim`` —
and a settlement id is unique in ``reward_settlement``. The engine writes claims, ledger
entries, flags, cap usage and progress marks in one transaction, so a second engine (or
a stale leader) fails on a constraint and its transaction mints nothing.

A meter's pairs also form a chain: its progress mark (the last settled reading) moves by
compare-and-set in the settlement's transaction and a meter has one baseline, so two
engines cannot settle diverging chains of the same meter.
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

DDL = r"""
-- Leader fencing: the engine holding the advisory lock bumps the epoch; each settlement
-- transaction checks it (FOR SHARE), so a leader that lost its lock stops minting.
CREATE TABLE reward_leader (
    id           smallint PRIMARY KEY DEFAULT 1 CHECK (id = 1),
    epoch        bigint NOT NULL DEFAULT 0,
    holder       text,
    acquired_at  timestamptz
);
INSERT INTO reward_leader (id) VALUES (1);

-- One row per settlement; settlement_id is deterministic from what it settles (SPEC §5).
CREATE TABLE reward_settlement (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    settlement_id   text NOT NULL UNIQUE,
    kind            text NOT NULL
                    CHECK (kind IN ('green', 'green-late', 'deposit', 'deposit-late', 'repair')),
    coop_id         text,
    device_id       text,
    hour            timestamptz,
    token           text NOT NULL CHECK (token IN ('GRN', 'RCY')),
    credited_wh     bigint,
    minted_micro    bigint NOT NULL DEFAULT 0 CHECK (minted_micro >= 0),
    excluded_micro  bigint NOT NULL DEFAULT 0 CHECK (excluded_micro >= 0),
    mints           integer NOT NULL DEFAULT 0,
    sources         integer NOT NULL DEFAULT 0,
    policy          text NOT NULL,
    engine          text NOT NULL,
    settled_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX reward_settlement_coop_idx ON reward_settlement (coop_id, settled_at);
CREATE INDEX reward_settlement_time_idx ON reward_settlement (settled_at);

-- Meter pairs: the key is (device_id, later ts); prev_ts is NULL for the baseline. This is
-- the engine's biggest table (a row per reading), so it carries only its key: the
-- settlement id is written in the same transaction as the settlement row (no foreign key
-- to check per row), and chains cannot fork because meter progress moves by
-- compare-and-set in that transaction too.
CREATE TABLE reward_meter_claim (
    device_id   text NOT NULL,
    ts          timestamptz NOT NULL,
    prev_ts     timestamptz,
    settlement  bigint NOT NULL,
    PRIMARY KEY (device_id, ts),
    CHECK (prev_ts IS NULL OR prev_ts < ts)
);
CREATE UNIQUE INDEX reward_meter_claim_baseline_key ON reward_meter_claim (device_id)
    WHERE prev_ts IS NULL;

-- Deposits, collections and repairs: the key is (device_id, event_id).
CREATE TABLE reward_event_claim (
    device_id   text NOT NULL,
    event_id    text NOT NULL,
    kind        text NOT NULL CHECK (kind IN ('deposit', 'collection', 'repair')),
    settlement  bigint NOT NULL REFERENCES reward_settlement (id),
    PRIMARY KEY (device_id, event_id)
);

-- Progress marks: a meter's last settled reading (the next pair's baseline), a co-op's
-- settled hours (everything before settled_through), a bin's last settled collection.
CREATE TABLE reward_meter_progress (
    device_id       text PRIMARY KEY,
    last_ts         timestamptz NOT NULL,
    last_energy_wh  bigint NOT NULL,
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE reward_green_progress (
    coop_id          text PRIMARY KEY,
    settled_through  timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE reward_bin_progress (
    device_id           text PRIMARY KEY,
    last_collection_ts  timestamptz NOT NULL,
    last_collection_id  text NOT NULL,
    updated_at          timestamptz NOT NULL DEFAULT now()
);

-- What each account minted in RCY per UTC day of the source's ts (the daily cap).
CREATE TABLE reward_cap_usage (
    account     text NOT NULL,
    day         date NOT NULL,
    used_micro  bigint NOT NULL CHECK (used_micro >= 0),
    PRIMARY KEY (account, day)
);

-- Every excluded amount and why (SPEC §8 `rewards flags`); recorded once, with the
-- settlement that excluded it.
CREATE TABLE reward_flag (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    flag            text NOT NULL CHECK (flag IN (
                        'counter_reset', 'implausible', 'contaminated', 'anonymous',
                        'unknown_account', 'mass_balance', 'late', 'daily_cap',
                        'implausible_weight')),
    device_id       text NOT NULL,
    ts              timestamptz NOT NULL,
    detail          text NOT NULL,
    token           text NOT NULL CHECK (token IN ('GRN', 'RCY')),
    account         text NOT NULL DEFAULT '',
    excluded_micro  bigint NOT NULL DEFAULT 0 CHECK (excluded_micro >= 0),
    source_key      text NOT NULL,
    settlement      bigint NOT NULL REFERENCES reward_settlement (id),
    created_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (source_key, flag, account)
);
CREATE INDEX reward_flag_ts_idx ON reward_flag (ts);
CREATE INDEX reward_flag_device_idx ON reward_flag (device_id, ts);

-- CO2e avoided by fixed repairs: reported, never minted, with the factor-table version.
CREATE TABLE reward_repair_report (
    device_id             text NOT NULL,
    event_id              text NOT NULL,
    ts                    timestamptz NOT NULL,
    category              text NOT NULL,
    weight_g              bigint NOT NULL,
    co2e_avoided_g        bigint NOT NULL CHECK (co2e_avoided_g >= 0),
    factor_table_version  text NOT NULL,
    settlement            bigint NOT NULL REFERENCES reward_settlement (id),
    PRIMARY KEY (device_id, event_id)
);
CREATE INDEX reward_repair_report_ts_idx ON reward_repair_report (ts);
"""

TABLES = (
    "reward_leader", "reward_settlement", "reward_meter_claim", "reward_event_claim",
    "reward_meter_progress", "reward_green_progress", "reward_bin_progress", "reward_cap_usage",
    "reward_flag", "reward_repair_report",
)  # fmt: skip

# The rewards engine alone writes its tables (SPEC §6); nothing here is ever deleted.
# Dashboards and operators read settlements, flags and the CO2e report.
GRANTS = f"""
GRANT SELECT, INSERT, UPDATE ON {", ".join(TABLES)} TO circulo_rewards;
GRANT SELECT ON reward_settlement, reward_flag, reward_repair_report, reward_green_progress,
    reward_bin_progress TO circulo_reader, circulo_registry;
"""


def upgrade() -> None:
    """Create the rewards engine's tables and grants."""
    op.execute(DDL)
    op.execute(GRANTS)


def downgrade() -> None:
    """Forward-only: Circulo never downgrades a schema that may hold ledger data."""
    raise NotImplementedError("forward-only migrations")
