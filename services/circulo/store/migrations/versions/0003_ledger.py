"""Ledger: journal, chain head, balances, signing keys and rotations, checkpoints.

Revision ID: 0003
Revises: 0002

The journal, the key registry, the rotations and the checkpoints are append-only: triggers
refuse UPDATE, DELETE and TRUNCATE for every role, the table owner included (a superuser
can still disable triggers; ``circulo ledger verify`` then catches what was changed).
Only ``circulo_rewards`` writes the ledger (SPEC §6); ``circulo_reader`` reads nothing raw
(dashboards get views). The one-row ``ledger_head`` is locked ``FOR UPDATE`` by every
append, so concurrent writers serialise and the chain cannot fork; ``prev_hash`` is also
unique, a second guard against a fork.
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

APPEND_ONLY_TABLES = ("ledger_entry", "ledger_signing_key", "ledger_key_rotation", "ledger_checkpoint")

DDL = r"""
CREATE TABLE ledger_signing_key (
    key_id        text PRIMARY KEY CHECK (key_id ~ '^[0-9a-f]{16}$'),
    public_key    text NOT NULL UNIQUE CHECK (public_key ~ '^[0-9a-f]{64}$'),
    registered_at timestamptz NOT NULL DEFAULT now()
);

-- A rotation from old_key_id to new_key_id, after the entry after_seq (the last one the
-- old key signed). statement_sig is the old key's Ed25519 signature over the JCS of
-- {after_seq, new_key_id, new_public_key, old_key_id, ts}; NULL when the old key was lost
-- and the rotation is only the operator's word.
CREATE TABLE ledger_key_rotation (
    rotation_id   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    old_key_id    text NOT NULL REFERENCES ledger_signing_key (key_id),
    new_key_id    text NOT NULL REFERENCES ledger_signing_key (key_id),
    after_seq     bigint NOT NULL CHECK (after_seq >= 0),
    ts            text NOT NULL,
    statement_sig text CHECK (statement_sig ~ '^[0-9a-f]{128}$'),
    note          text NOT NULL DEFAULT '',
    CHECK (old_key_id <> new_key_id)
);

CREATE TABLE ledger_entry (
    seq             bigint PRIMARY KEY CHECK (seq >= 1),
    ts              timestamptz NOT NULL,
    kind            text NOT NULL CHECK (kind IN ('mint', 'burn')),
    token           text NOT NULL CHECK (token IN ('GRN', 'RCY')),
    account         text NOT NULL CHECK (account ~ '^[A-Za-z0-9][A-Za-z0-9@._-]{0,127}$'),
    amount_micro    bigint NOT NULL CHECK (amount_micro > 0 AND amount_micro <= 9007199254740991),
    reason          text NOT NULL
                    CHECK (reason IN ('green.energy', 'recycle.deposit', 'repair', 'correction')),
    settlement_id   text NOT NULL,
    sources         jsonb NOT NULL CHECK (jsonb_typeof(sources) = 'array'),
    policy          text NOT NULL,
    idempotency_key text NOT NULL UNIQUE CHECK (idempotency_key ~ '^[0-9a-f]{64}$'),
    key_id          text NOT NULL REFERENCES ledger_signing_key (key_id),
    prev_hash       text NOT NULL UNIQUE CHECK (prev_hash ~ '^[0-9a-f]{64}$'),
    hash            text NOT NULL UNIQUE CHECK (hash ~ '^[0-9a-f]{64}$'),
    sig             text NOT NULL CHECK (sig ~ '^[0-9a-f]{128}$'),
    corrects_seq    bigint UNIQUE REFERENCES ledger_entry (seq),
    CONSTRAINT burn_is_correction CHECK (
        (kind = 'burn') = (reason = 'correction') AND (kind = 'burn') = (corrects_seq IS NOT NULL)),
    CONSTRAINT corrects_earlier CHECK (corrects_seq < seq)
);
CREATE INDEX ledger_entry_account_idx ON ledger_entry (account, seq);
CREATE INDEX ledger_entry_settlement_idx ON ledger_entry (settlement_id);

-- The chain head: the last seq and hash (0 and 64 zeros while the journal is empty).
CREATE TABLE ledger_head (
    singleton  boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    seq        bigint NOT NULL CHECK (seq >= 0),
    hash       text NOT NULL,
    key_id     text REFERENCES ledger_signing_key (key_id),
    updated_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO ledger_head (seq, hash) VALUES (0, repeat('0', 64));

-- Mints minus burns per account and token, kept in step by every append.
CREATE TABLE ledger_balance (
    account      text NOT NULL,
    token        text NOT NULL CHECK (token IN ('GRN', 'RCY')),
    amount_micro bigint NOT NULL,
    last_seq     bigint NOT NULL,
    PRIMARY KEY (account, token)
);

-- Signed checkpoints (tree heads) as published.
CREATE TABLE ledger_checkpoint (
    checkpoint_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    size          bigint NOT NULL CHECK (size >= 0),
    root          text NOT NULL CHECK (root ~ '^[0-9a-f]{64}$'),
    ts            text NOT NULL,
    key_id        text NOT NULL REFERENCES ledger_signing_key (key_id),
    sig           text NOT NULL CHECK (sig ~ '^[0-9a-f]{128}$'),
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ledger_checkpoint_size_idx ON ledger_checkpoint (size);

CREATE FUNCTION ledger_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% on % refused: the ledger is append-only', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege',
              HINT = 'corrections are new entries: circulo ledger correct SEQ --why ...';
END
$$;
"""

TRIGGERS = """
CREATE TRIGGER {table}_no_update_delete BEFORE UPDATE OR DELETE ON {table}
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table}
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();
"""

GRANTS = """
REVOKE ALL ON ledger_entry, ledger_signing_key, ledger_key_rotation, ledger_checkpoint, ledger_head,
    ledger_balance FROM PUBLIC;
GRANT SELECT, INSERT ON ledger_entry, ledger_signing_key, ledger_key_rotation, ledger_checkpoint
    TO circulo_rewards;
GRANT SELECT, UPDATE ON ledger_head TO circulo_rewards;
GRANT SELECT, INSERT, UPDATE ON ledger_balance TO circulo_rewards;
"""


def upgrade() -> None:
    """Create the ledger tables, their append-only triggers and the rewards role's grants."""
    op.execute(DDL)
    for table in APPEND_ONLY_TABLES:
        op.execute(TRIGGERS.format(table=table))
    op.execute(GRANTS)


def downgrade() -> None:
    """Forward-only: Circulo never downgrades a schema that may hold ledger data."""
    raise NotImplementedError("forward-only migrations")
