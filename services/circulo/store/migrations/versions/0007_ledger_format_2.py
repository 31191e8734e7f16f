"""Ledger format 2 (SPEC §13): records, transfers, dividends, the floor; member keys.

Revision ID: 0007
Revises: 0006

Existing entries upgrade in place and keep verifying: they get ``format = 1`` (the column's
default while it is added, a catalogue change that rewrites no row and fires no trigger),
and a format-1 entry's hash never covered ``format`` (docs/ledger.md). New entries are
written with ``format = 2``. The constraints become the kinds-and-reasons table: a
``record`` has no token and an amount of 0 (the only entries that may), and only a
``correction`` burn names the entry it corrects. A balance can never go below zero (the
journal checks it under the head lock; the CHECK is the last guard).

Settlements gain the kinds that move tokens (``transfer``, ``dividend``, ``floor``) and
``period_start`` — the time their sources are attributed to (a green hour, a collection's
or repair's ``ts``) — backfilled for existing rows; the floor counts a month's mints by it.
Flags gain ``glitch`` (SPEC §10), ``uncertified_span`` (§12) and ``floor_shortfall`` (§13,
about an account, not a device: ``device_id`` may be null).

``member_key`` holds each member's registered Ed25519 public key (SPEC §14), written with
the ``member.key`` record that registers or revokes it; a signed request (a transfer) is
checked against the key active when it is executed.
"""

from __future__ import annotations

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

LEDGER = r"""
ALTER TABLE ledger_entry ADD COLUMN format smallint NOT NULL DEFAULT 1;
ALTER TABLE ledger_entry ALTER COLUMN format DROP DEFAULT;
ALTER TABLE ledger_entry
    DROP CONSTRAINT ledger_entry_kind_check,
    DROP CONSTRAINT ledger_entry_token_check,
    DROP CONSTRAINT ledger_entry_amount_micro_check,
    DROP CONSTRAINT ledger_entry_reason_check,
    DROP CONSTRAINT burn_is_correction;
ALTER TABLE ledger_entry ALTER COLUMN token DROP NOT NULL;
ALTER TABLE ledger_entry
    ADD CONSTRAINT ledger_entry_format_check CHECK (format IN (1, 2)),
    ADD CONSTRAINT ledger_entry_kind_check CHECK (kind IN ('mint', 'burn', 'record')),
    ADD CONSTRAINT ledger_entry_token_amount_check CHECK (
        CASE WHEN kind = 'record' THEN token IS NULL AND amount_micro = 0
             ELSE token IN ('GRN', 'RCY') AND amount_micro > 0 AND amount_micro <= 9007199254740991
        END),
    ADD CONSTRAINT ledger_entry_reason_check CHECK (
        CASE kind
            WHEN 'mint' THEN reason IN ('green.energy', 'recycle.deposit', 'repair')
                             OR (format = 2 AND reason IN ('transfer', 'dividend', 'floor'))
            WHEN 'burn' THEN reason = 'correction'
                             OR (format = 2 AND reason IN ('transfer', 'dividend', 'floor'))
            ELSE format = 2 AND (reason = 'member.key'
                                 OR reason ~ '^(governance|certificate)(\.[a-z][a-z0-9_]*)+$')
        END),
    ADD CONSTRAINT ledger_entry_correction_shape_check CHECK (
        (corrects_seq IS NOT NULL) = (kind = 'burn' AND reason = 'correction'));
ALTER TABLE ledger_balance ADD CONSTRAINT ledger_balance_never_negative CHECK (amount_micro >= 0);
"""

# The dashboards' view of the journal: a record moves no balance.
LEDGER_VIEW = r"""
CREATE OR REPLACE VIEW dashboards.ledger_entry AS
WITH named AS (
    SELECT e.*, COALESCE(c.settlement_id, e.settlement_id) AS origin
    FROM ledger_entry e LEFT JOIN ledger_entry c ON c.seq = e.corrects_seq
)
SELECT n.seq, n.ts, n.kind, n.token, n.account, n.reason, n.settlement_id, n.amount_micro,
       CASE n.kind WHEN 'mint' THEN n.amount_micro WHEN 'burn' THEN -n.amount_micro ELSE 0 END
           AS signed_micro,
       n.corrects_seq, n.policy, n.key_id,
       COALESCE(s.coop_id, sd.coop_id,
                CASE WHEN split_part(n.origin, ':', 1) IN ('green', 'green-late', 'dividend', 'floor')
                     THEN split_part(n.origin, ':', 2) END,
                od.coop_id) AS coop_id
FROM named n
LEFT JOIN reward_settlement s ON s.settlement_id = n.origin
LEFT JOIN device sd ON sd.device_id = s.device_id
LEFT JOIN device od ON od.device_id = split_part(n.origin, ':', 2)
    AND split_part(n.origin, ':', 1) IN ('deposit', 'deposit-late', 'repair');
"""

REWARDS = r"""
ALTER TABLE reward_settlement DROP CONSTRAINT reward_settlement_kind_check;
ALTER TABLE reward_settlement ADD CONSTRAINT reward_settlement_kind_check CHECK (kind IN (
    'green', 'green-late', 'deposit', 'deposit-late', 'repair', 'transfer', 'dividend', 'floor'));
ALTER TABLE reward_settlement ADD COLUMN period_start timestamptz;

UPDATE reward_settlement SET period_start = hour WHERE kind = 'green';
UPDATE reward_settlement s SET period_start = (
    SELECT min(time_bucket('1 hour', c.ts)) FROM reward_meter_claim c WHERE c.settlement = s.id)
 WHERE kind = 'green-late';
UPDATE reward_settlement s SET period_start = (
    SELECT min(e.ts) FROM reward_event_claim c
      JOIN bin_event e ON e.device_id = c.device_id AND e.event_id = c.event_id
     WHERE c.settlement = s.id AND c.kind IN ('collection', 'deposit'))
 WHERE kind IN ('deposit', 'deposit-late');
UPDATE reward_settlement s SET period_start = (
    SELECT e.ts FROM reward_event_claim c
      JOIN repair_event e ON e.device_id = c.device_id AND e.event_id = c.event_id
     WHERE c.settlement = s.id)
 WHERE kind = 'repair';
CREATE INDEX reward_settlement_period_idx ON reward_settlement (coop_id, period_start);

ALTER TABLE reward_flag DROP CONSTRAINT reward_flag_flag_check;
ALTER TABLE reward_flag ADD CONSTRAINT reward_flag_flag_check CHECK (flag IN (
    'counter_reset', 'implausible', 'contaminated', 'anonymous', 'unknown_account', 'mass_balance',
    'late', 'daily_cap', 'implausible_weight', 'glitch', 'uncertified_span', 'floor_shortfall'));
ALTER TABLE reward_flag ALTER COLUMN device_id DROP NOT NULL;
"""

MEMBER_KEYS = r"""
CREATE TABLE member_key (
    key_id          text PRIMARY KEY CHECK (key_id ~ '^[0-9a-f]{16}$'),
    coop_id         text NOT NULL REFERENCES coop (coop_id),
    account         text NOT NULL CHECK (account ~ '^[A-Za-z0-9][A-Za-z0-9@._-]{0,127}$'),
    public_key      text NOT NULL UNIQUE CHECK (public_key ~ '^[0-9a-f]{64}$'),
    registered_seq  bigint REFERENCES ledger_entry (seq),
    registered_at   timestamptz NOT NULL DEFAULT now(),
    revoked_seq     bigint REFERENCES ledger_entry (seq),
    revoked_at      timestamptz
);
-- one active key per member of a co-op
CREATE UNIQUE INDEX member_key_active_idx ON member_key (coop_id, account) WHERE revoked_at IS NULL;
REVOKE ALL ON member_key FROM PUBLIC;
GRANT SELECT, INSERT, UPDATE ON member_key TO circulo_rewards;
GRANT SELECT ON member_key TO circulo_registry;
"""


def upgrade() -> None:
    """Format 2 constraints, the settlement and flag kinds, settlement periods, member keys."""
    op.execute(LEDGER)
    op.execute(LEDGER_VIEW)
    op.execute(REWARDS)
    op.execute(MEMBER_KEYS)


def downgrade() -> None:
    """Forward-only: Circulo never downgrades a schema that may hold ledger data."""
    raise NotImplementedError("forward-only migrations")
