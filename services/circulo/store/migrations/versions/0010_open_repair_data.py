"""Open repair data (SPEC §12): repair events' brand, year and barrier; each co-op's ORDS settings.

Revision ID: 0010
Revises: 0009

``repair_event`` gains the optional ``brand``, ``year_of_manufacture`` and ``barrier`` of a
repair event (added as nullable columns: a catalogue change that rewrites no row). The
CHECKs repeat the wire contract (``circulo_schemas.payloads.RepairEvent``) as the last guard.

``coop_open_data`` holds what a co-op publishes as Open Repair Data Standard data: the
``data_provider`` name and ``country`` (ISO 3166-1 alpha-3) every exported row carries, and
whether the free-text ``problem`` may be published (off unless the co-op opts in).
"""

from __future__ import annotations

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

DDL = r"""
ALTER TABLE repair_event
    ADD COLUMN brand text CHECK (length(brand) BETWEEN 1 AND 100),
    ADD COLUMN year_of_manufacture integer CHECK (year_of_manufacture BETWEEN 1850 AND 9999),
    ADD COLUMN barrier text CHECK (barrier IN (
        'spare_parts_not_available', 'spare_parts_too_expensive', 'no_way_to_open',
        'repair_information_not_available', 'lack_of_equipment', 'too_worn_out')),
    ADD CONSTRAINT repair_event_barrier_at_end_of_life CHECK (barrier IS NULL OR status = 'end_of_life');

CREATE TABLE coop_open_data (
    coop_id          text PRIMARY KEY REFERENCES coop (coop_id),
    data_provider    text NOT NULL CHECK (length(data_provider) BETWEEN 1 AND 200),
    country          text NOT NULL CHECK (country ~ '^[A-Z]{3}$'),
    publish_problems boolean NOT NULL DEFAULT false,
    updated_at       timestamptz NOT NULL DEFAULT now()
);
"""

GRANTS = """
GRANT SELECT, INSERT, UPDATE ON coop_open_data TO circulo_registry;
GRANT SELECT ON coop_open_data TO circulo_rewards;
"""


def upgrade() -> None:
    """Add the repair event columns and the co-ops' open-data settings."""
    op.execute(DDL)
    op.execute(GRANTS)


def downgrade() -> None:
    """Forward-only: Circulo never downgrades a schema that may hold ledger data."""
    raise NotImplementedError("forward-only migrations")
