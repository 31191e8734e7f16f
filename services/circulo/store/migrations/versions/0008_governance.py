"""Governance (SPEC §14): ``adopted_by`` on entries, records found fast.

Revision ID: 0008
Revises: 0007

A governed co-op's mints name the proposal that adopted their policy (``adopted_by``, null
elsewhere and on every older entry: adding a nullable column rewrites no row and fires no
trigger). The governance state (secretaries, member keys, proposals, ballots, tallies) lives
in record entries; a partial index over the few records keeps reading them cheap beside
millions of mints.
"""

from __future__ import annotations

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

DDL = r"""
ALTER TABLE ledger_entry ADD COLUMN adopted_by text;
ALTER TABLE ledger_entry ADD CONSTRAINT ledger_entry_adopted_by_check CHECK (
    adopted_by IS NULL OR (format = 2 AND adopted_by ~ '^[\x21-\x7e][\x20-\x7e]{0,199}$'));
CREATE INDEX ledger_entry_records_idx ON ledger_entry (reason, seq) WHERE kind = 'record';
"""


def upgrade() -> None:
    """Add ``adopted_by`` and the records index."""
    op.execute(DDL)


def downgrade() -> None:
    """Forward-only: Circulo never downgrades a schema that may hold ledger data."""
    raise NotImplementedError("forward-only migrations")
