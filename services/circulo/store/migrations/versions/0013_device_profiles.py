"""Device profiles (SPEC §10): a meter's firmware and its translated readings.

Revision ID: 0013
Revises: 0012

- ``device.profile``: ``circulo`` (the native contract, the default), ``shelly-gen2`` or
  ``tasmota``; only meters may run third-party firmware.
- ``meter_reading`` rows of profiled meters are translated from the firmware's payload:
  they have no ``seq`` and may have no power (a Shelly EM reports power and register in
  different components), and keep the firmware's bytes in ``raw_payload``. Their
  ``payload_sha256`` is the SHA-256 of the canonical reading (time and register), so the
  same reading sent on two topics is a duplicate, not a conflict (SPEC §10).
- ``device_status.raw_payload``: the firmware's bytes of a translated status (an LWT).
- ``device_state.last_reading_ts``: the latest stored reading of a profiled meter, from
  which its loss statistics are estimated (it has no ``seq``).

(The rewards flag ``glitch`` of policy v2 is allowed since 0007.)
"""

from __future__ import annotations

from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

DDL = r"""
ALTER TABLE device
    ADD COLUMN profile text NOT NULL DEFAULT 'circulo'
        CHECK (profile IN ('circulo', 'shelly-gen2', 'tasmota')),
    ADD CONSTRAINT only_meters_are_profiled CHECK (kind = 'meter' OR profile = 'circulo');

ALTER TABLE meter_reading
    ALTER COLUMN seq DROP NOT NULL,
    ALTER COLUMN power_w DROP NOT NULL,
    ADD COLUMN raw_payload bytea;
COMMENT ON COLUMN meter_reading.payload_sha256 IS
    'SHA-256 of the payload (circulo devices) or of the canonical reading (profiled devices)';
COMMENT ON COLUMN meter_reading.raw_payload IS
    'The firmware''s payload of a translated reading (profiled devices); NULL for circulo devices';

ALTER TABLE device_status ADD COLUMN raw_payload bytea;

ALTER TABLE device_state ADD COLUMN last_reading_ts timestamptz;
"""


def upgrade() -> None:
    """Add profiles and the columns of translated readings."""
    op.execute(DDL)


def downgrade() -> None:
    """Forward-only: Circulo never downgrades a schema that may hold ledger data."""
    raise NotImplementedError("forward-only migrations")
