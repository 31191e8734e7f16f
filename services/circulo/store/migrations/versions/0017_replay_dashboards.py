"""Replay gaps for Grafana and the alert rules (SPEC §11): ``dashboards.replay_gap``.

Revision ID: 0017
Revises: 0015

View for Grafana and alert rules (schema ``dashboards``, role ``circulo_reader``):

- ``dashboards.replay_gap``: one row per gap of ``replay_gap`` (migration 0014) with the
  device's co-op and kind; ``size`` is the number of ``seq`` in the range (a range may
  wrap at 2^32), ``arrived`` how many of them arrived since (``size − missing``),
  ``pending`` whether it is still ``open`` or ``requested``, and ``lost`` the messages whose
  loss is final (``missing`` of a ``lost`` gap, else 0). The columns ``device_id, coop_id,
  opened_at, closed_at`` are what the alert rule ``replay_gap_open`` was written against.
"""

from __future__ import annotations

from alembic import op

revision = "0017"
down_revision = "0015"
branch_labels = None
depends_on = None

DDL = r"""
CREATE VIEW dashboards.replay_gap AS
SELECT g.device_id, d.coop_id, d.kind, g.epoch, g.from_seq, g.to_seq,
       (g.to_seq - g.from_seq + 4294967296) % 4294967296 + 1 AS size,
       g.missing,
       (g.to_seq - g.from_seq + 4294967296) % 4294967296 + 1 - g.missing AS arrived,
       g.state, g.state IN ('open', 'requested') AS pending,
       CASE WHEN g.state = 'lost' THEN g.missing ELSE 0 END AS lost,
       g.lost_reason, g.requests, g.opened_at, g.requested_at, g.give_up_at, g.closed_at,
       g.before_ts, g.after_ts
FROM replay_gap g JOIN device d USING (device_id);
COMMENT ON VIEW dashboards.replay_gap IS 'Replay gaps and their co-op: pending, recovered, lost (SPEC §11)';
"""

GRANTS = "GRANT SELECT ON dashboards.replay_gap TO circulo_reader;"


def upgrade() -> None:
    """Create the dashboards view of replay gaps."""
    op.execute(DDL)
    op.execute(GRANTS)


def downgrade() -> None:
    """Forward-only: Circulo never downgrades a schema that may hold ledger data."""
    raise NotImplementedError("forward-only migrations")
