"""Replay on request (SPEC §11): gap ranges per device and epoch, and what devices could not replay.

Revision ID: 0014
Revises: 0013

- ``replay_gap``: one row per contiguous range of ``seq`` missing from a device in one boot
  ``epoch`` (``epoch`` is -1 for firmware that sends none). ``from_seq``..``to_seq`` is
  inclusive and may wrap (``from_seq > to_seq`` runs through 2^32 - 1 to 0). A message that
  arrives inside a range splits it; ``missing`` is what the range still lacks. The gap is
  judged against ``W`` (SPEC §3): it is requested once ``W`` passes ``after_received_at``
  (the receipt of the message after it) plus ``replay_after``, and given up at
  ``give_up_at``. ``before_ts``/``after_ts`` are the payload times of the messages either
  side, so the rewards engine knows which hours and collections a pending gap may cover.
  States: ``open`` (waiting for ``replay_after``), ``requested`` (a command was sent),
  ``recovered`` (every message arrived), ``lost`` (final: the device answered
  ``replay_unavailable``, or ``replay_timeout`` passed).
- ``replay_unavailable``: the ``v: 2`` events in which a device says it no longer holds a
  range; stored once per (device, request, epoch, range), and the range's loss is final.
- ``device_state.seq_epoch`` and ``last_seq_ts``: the epoch of ``last_seq`` (the furthest
  ``seq`` seen in the device's current boot; -1 for firmware without epochs) and that
  message's payload time, so a gap opened in a later batch knows its ``before_ts``.
"""

from __future__ import annotations

from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

DDL = r"""
CREATE TABLE replay_gap (
    device_id         text NOT NULL,
    epoch             bigint NOT NULL CHECK (epoch >= -1),
    from_seq          bigint NOT NULL CHECK (from_seq BETWEEN 0 AND 4294967295),
    to_seq            bigint NOT NULL CHECK (to_seq BETWEEN 0 AND 4294967295),
    missing           bigint NOT NULL CHECK (missing >= 0),
    before_ts         timestamptz,
    after_ts          timestamptz,
    after_received_at timestamptz NOT NULL,
    opened_at         timestamptz NOT NULL DEFAULT now(),
    state             text NOT NULL DEFAULT 'open'
                      CHECK (state IN ('open', 'requested', 'recovered', 'lost')),
    request_id        text,
    requests          integer NOT NULL DEFAULT 0,
    requested_at      timestamptz,
    next_request_at   timestamptz,
    give_up_at        timestamptz,
    closed_at         timestamptz,
    lost_reason       text CHECK (lost_reason IN ('unavailable', 'timeout')),
    PRIMARY KEY (device_id, epoch, from_seq),
    CONSTRAINT closed_gaps_have_a_time CHECK ((state IN ('recovered', 'lost')) = (closed_at IS NOT NULL)),
    CONSTRAINT lost_gaps_have_a_reason CHECK ((state = 'lost') = (lost_reason IS NOT NULL))
);
CREATE INDEX replay_gap_pending_idx ON replay_gap (after_received_at)
    WHERE state IN ('open', 'requested');
CREATE INDEX replay_gap_device_pending_idx ON replay_gap (device_id, before_ts)
    WHERE state IN ('open', 'requested');
COMMENT ON TABLE replay_gap IS 'Ranges of seq missing per device and boot epoch, and their replay (SPEC §11)';

CREATE TABLE replay_unavailable (
    device_id      text NOT NULL,
    request_id     text NOT NULL,
    epoch          bigint NOT NULL,
    from_seq       bigint NOT NULL,
    to_seq         bigint NOT NULL,
    ts             timestamptz NOT NULL,
    received_at    timestamptz NOT NULL,
    seq            bigint NOT NULL,
    payload_sha256 bytea NOT NULL,
    PRIMARY KEY (device_id, request_id, epoch, from_seq)
);
COMMENT ON TABLE replay_unavailable IS 'A device no longer holds a range a replay asked for: final loss';

ALTER TABLE device_state ADD COLUMN seq_epoch bigint, ADD COLUMN last_seq_ts timestamptz;
"""

GRANTS = """
GRANT SELECT, INSERT, UPDATE, DELETE ON replay_gap TO circulo_ingest;
GRANT SELECT, INSERT ON replay_unavailable TO circulo_ingest;
GRANT SELECT ON replay_gap, replay_unavailable TO circulo_rewards, circulo_registry;
"""


def upgrade() -> None:
    """Create the replay gap and replay-unavailable tables."""
    op.execute(DDL)
    op.execute(GRANTS)


def downgrade() -> None:
    """Forward-only: Circulo never downgrades a schema that may hold ledger data."""
    raise NotImplementedError("forward-only migrations")
