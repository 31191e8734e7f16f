"""Registry broker-sync state: each device's credential issues and its broker client's state.

Revision ID: 0006
Revises: 0005

The database and the broker cannot change in one transaction, so the registry records
what it last did on the broker: ``pending`` (the device row exists, its broker client was
not confirmed yet), ``provisioned`` (client created, enabled, with the device's role) or
``disabled`` (retired). ``circulo device sync`` reconciles the broker with the registry
and updates this state. No secret is stored: only how many times credentials were issued
and when.
"""

from __future__ import annotations

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

DDL = """
CREATE TABLE device_credentials (
    device_id          text PRIMARY KEY REFERENCES device (device_id),
    version            integer NOT NULL DEFAULT 0 CHECK (version >= 0),
    issued_at          timestamptz,
    broker_state       text NOT NULL DEFAULT 'pending'
                       CHECK (broker_state IN ('pending', 'provisioned', 'disabled')),
    broker_checked_at  timestamptz,
    CONSTRAINT issued_has_time CHECK (version = 0 OR issued_at IS NOT NULL)
);
"""

GRANTS = """
GRANT SELECT, INSERT, UPDATE ON device_credentials TO circulo_registry;
"""


def upgrade() -> None:
    """Create the device credential state table."""
    op.execute(DDL)
    op.execute(GRANTS)


def downgrade() -> None:
    """Forward-only: Circulo never downgrades a schema that may hold ledger data."""
    raise NotImplementedError("forward-only migrations")
