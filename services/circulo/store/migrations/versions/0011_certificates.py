"""Energy certificates (SPEC §12): EnergyTag granular-certificate bundles, their ids and claims.

Revision ID: 0011
Revises: 0010

Every green settlement issues, in its own transaction, one bundle per meter and production
hour: certificate ids come from the one-row ``certificate_counter`` (a row, not a sequence,
so a settlement that rolls back gives its ids back and the registry's ids stay contiguous).
``certificate_issuance`` keeps each bundle as issued (immutable facts: meter, hour, ids,
issuer metadata, the ledger record that issued it); ``certificate_bundle`` holds the current
bundles — a partial action marks a bundle ``split`` and inserts its two parts. No two live
bundles share an id, and no two issuances do (exclusion constraints on the id ranges).

A Wh (one certificate, face value 1 Wh) is claimed at most once: ``certificate_claim`` refuses
any claim whose ids overlap an earlier one, and never changes once written. The co-op's
issuer metadata (``certificate_issuer``) and which meters' certificates go to their owner
instead of the treasury (``certificate_assignment``) are registry settings.
"""

from __future__ import annotations

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

ACCOUNT = r"'^[A-Za-z0-9][A-Za-z0-9@._-]{0,127}$'"
SOURCES = (
    "'solar_pv', 'wind', 'hydro', 'biomass', 'nuclear', 'electrolysis', 'geothermal', "
    "'battery_storage', 'chp', 'other'"
)

SETTINGS = f"""
CREATE TABLE certificate_issuer (
    coop_id                        text PRIMARY KEY REFERENCES coop (coop_id),
    issuing_body                   text NOT NULL CHECK (length(issuing_body) BETWEEN 1 AND 200),
    country_of_issuance            text NOT NULL CHECK (length(country_of_issuance) BETWEEN 1 AND 100),
    connected_grid_identification  text NOT NULL
                                   CHECK (length(connected_grid_identification) BETWEEN 1 AND 200),
    issue_market_zone              text NOT NULL CHECK (length(issue_market_zone) BETWEEN 1 AND 200),
    energy_source                  text NOT NULL DEFAULT 'solar_pv' CHECK (energy_source IN ({SOURCES})),
    expiry_days                    integer NOT NULL DEFAULT 730 CHECK (expiry_days BETWEEN 1 AND 36500),
    updated_at                     timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE certificate_assignment (
    device_id    text PRIMARY KEY REFERENCES device (device_id),
    holder       text NOT NULL CHECK (holder ~ {ACCOUNT}),
    assigned_at  timestamptz NOT NULL DEFAULT now()
);
"""

REGISTRY = f"""
CREATE TABLE certificate_counter (
    id       smallint PRIMARY KEY DEFAULT 1 CHECK (id = 1),
    next_id  bigint NOT NULL CHECK (next_id BETWEEN 1 AND 9007199254740991)
);
INSERT INTO certificate_counter (id, next_id) VALUES (1, 1);

-- The issuer's attributes (GC Registry API v2: IssuanceMetaData), one row per distinct set.
CREATE TABLE certificate_metadata (
    id                             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    coop_id                        text NOT NULL REFERENCES coop (coop_id),
    issuing_body                   text NOT NULL,
    country_of_issuance            text NOT NULL,
    connected_grid_identification  text NOT NULL,
    issue_market_zone              text NOT NULL,
    energy_source                  text NOT NULL CHECK (energy_source IN ({SOURCES})),
    UNIQUE (coop_id, issuing_body, country_of_issuance, connected_grid_identification,
            issue_market_zone, energy_source)
);

CREATE TABLE certificate_issuance (
    id                 bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    issuance_id        text NOT NULL,
    coop_id            text NOT NULL REFERENCES coop (coop_id),
    device_id          text NOT NULL REFERENCES device (device_id),
    range_start        bigint NOT NULL UNIQUE CHECK (range_start >= 1),
    range_end          bigint NOT NULL,
    production_start   timestamptz NOT NULL,
    production_end     timestamptz NOT NULL,
    metadata           bigint NOT NULL REFERENCES certificate_metadata (id),
    device_capacity_w  integer,
    device_location    text,
    location_name      text,
    issued_seq         bigint NOT NULL REFERENCES ledger_entry (seq),
    issued_at          timestamptz NOT NULL,
    expires_at         timestamptz NOT NULL,
    settlement         bigint NOT NULL REFERENCES reward_settlement (id),
    hash               text NOT NULL CHECK (hash ~ '^[0-9a-f]{{64}}$'),
    CHECK (range_end >= range_start),
    CHECK (production_end > production_start AND production_end <= production_start + interval '1 hour'),
    CONSTRAINT certificate_issuance_ids_once
        EXCLUDE USING gist (int8range(range_start, range_end, '[]') WITH &&)
);
CREATE INDEX certificate_issuance_settlement_idx ON certificate_issuance (settlement);
CREATE INDEX certificate_issuance_coop_time_idx ON certificate_issuance (coop_id, production_start);

CREATE TABLE certificate_bundle (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    issuance      bigint NOT NULL REFERENCES certificate_issuance (id),
    range_start   bigint NOT NULL,
    range_end     bigint NOT NULL,
    holder        text NOT NULL CHECK (holder ~ {ACCOUNT}),
    status        text NOT NULL CHECK (status IN ('active', 'cancelled', 'claimed', 'withdrawn', 'split')),
    beneficiary   text,
    period_start  timestamptz,
    period_end    timestamptz,
    parent        bigint REFERENCES certificate_bundle (id),
    last_seq      bigint NOT NULL REFERENCES ledger_entry (seq),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    CHECK (range_end >= range_start),
    CHECK (status NOT IN ('cancelled', 'claimed')
           OR (beneficiary IS NOT NULL AND period_start IS NOT NULL AND period_end > period_start)),
    CONSTRAINT certificate_bundle_ids_once
        EXCLUDE USING gist (int8range(range_start, range_end, '[]') WITH &&) WHERE (status <> 'split')
);
CREATE INDEX certificate_bundle_issuance_idx ON certificate_bundle (issuance);
CREATE INDEX certificate_bundle_holder_idx ON certificate_bundle (holder, status) WHERE status <> 'split';
CREATE UNIQUE INDEX certificate_bundle_live_start_key ON certificate_bundle (range_start)
    WHERE status <> 'split';

-- A Wh is claimed at most once: overlapping claims are refused by the database itself.
CREATE TABLE certificate_claim (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    ids           int8range NOT NULL CHECK (NOT isempty(ids)),
    bundle        bigint NOT NULL REFERENCES certificate_bundle (id),
    beneficiary   text NOT NULL,
    period_start  timestamptz NOT NULL,
    period_end    timestamptz NOT NULL,
    claim_seq     bigint NOT NULL REFERENCES ledger_entry (seq),
    claimed_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT certificate_claim_once EXCLUDE USING gist (ids WITH &&)
);
CREATE TRIGGER certificate_claim_no_update_delete BEFORE UPDATE OR DELETE ON certificate_claim
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER certificate_claim_no_truncate BEFORE TRUNCATE ON certificate_claim
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();
"""

# The dashboards' view: bundles with what they were issued for (no holder of another co-op
# is hidden: holders are accounts, already shown on the ledger panels).
VIEW = """
CREATE VIEW dashboards.certificate_bundle AS
SELECT b.id, i.coop_id, i.device_id, i.production_start, i.production_end, i.issued_at,
       i.expires_at, b.range_start, b.range_end, b.range_end - b.range_start + 1 AS quantity_wh,
       b.holder, b.status, b.beneficiary
  FROM certificate_bundle b JOIN certificate_issuance i ON i.id = b.issuance
 WHERE b.status <> 'split';
GRANT SELECT ON dashboards.certificate_bundle TO circulo_reader;
"""

TABLES = (
    "certificate_counter", "certificate_metadata", "certificate_issuance", "certificate_bundle",
    "certificate_claim",
)  # fmt: skip

GRANTS = f"""
GRANT SELECT, INSERT, UPDATE ON {", ".join(TABLES)} TO circulo_rewards;
GRANT SELECT, INSERT, UPDATE, DELETE ON certificate_issuer, certificate_assignment TO circulo_registry;
GRANT SELECT, INSERT, UPDATE, DELETE ON certificate_issuer, certificate_assignment TO circulo_rewards;
"""


def upgrade() -> None:
    """The certificate registry's tables, its dashboard view and grants."""
    op.execute(SETTINGS)
    op.execute(REGISTRY)
    op.execute(VIEW)
    op.execute(GRANTS)


def downgrade() -> None:
    """Forward-only: Circulo never downgrades a schema that may hold ledger data."""
    raise NotImplementedError("forward-only migrations")
