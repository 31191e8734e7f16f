"""SQL of the ledger tables (migration 0003), in one place, always parameterised."""

from __future__ import annotations

ENTRY_COLUMNS = (
    "seq, ts, kind, token, account, amount_micro, reason, settlement_id, sources, policy, "
    "idempotency_key, key_id, prev_hash, hash, sig, corrects_seq, format, adopted_by"
)

LOCK_HEAD = "SELECT seq, hash, key_id FROM ledger_head WHERE singleton FOR UPDATE"
READ_HEAD = "SELECT seq, hash, key_id FROM ledger_head WHERE singleton"
MOVE_HEAD = "UPDATE ledger_head SET seq = %s, hash = %s, key_id = %s, updated_at = now() WHERE singleton"

INSERT_ENTRY = (
    f"INSERT INTO ledger_entry ({ENTRY_COLUMNS}) "
    "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
)
ENTRIES_AFTER = f"SELECT {ENTRY_COLUMNS} FROM ledger_entry WHERE seq > %s ORDER BY seq LIMIT %s"
MAX_SEQ = 2**63 - 1
ENTRIES_UNTIL = f"SELECT {ENTRY_COLUMNS} FROM ledger_entry WHERE seq <= %s ORDER BY seq"
ENTRY_BY_SEQ = f"SELECT {ENTRY_COLUMNS} FROM ledger_entry WHERE seq = %s"
ENTRIES_OF_ACCOUNT = f"SELECT {ENTRY_COLUMNS} FROM ledger_entry WHERE account = %s ORDER BY seq"
CORRECTION_OF = "SELECT seq FROM ledger_entry WHERE corrects_seq = %s"
LEAF_HASHES = "SELECT hash FROM ledger_entry WHERE seq <= %s ORDER BY seq"

ADD_TO_BALANCE = (
    "INSERT INTO ledger_balance (account, token, amount_micro, last_seq) VALUES (%s, %s, %s, %s) "
    "ON CONFLICT (account, token) DO UPDATE "
    "SET amount_micro = ledger_balance.amount_micro + EXCLUDED.amount_micro, last_seq = EXCLUDED.last_seq"
)
# A burn only ever lowers a balance that exists (the journal checked it covers the burn); an
# upsert would check the never-negative constraint on the negative row it proposes.
SUBTRACT_FROM_BALANCE = """
UPDATE ledger_balance SET amount_micro = amount_micro + %s, last_seq = %s WHERE account = %s AND token = %s
"""
BALANCES = "SELECT account, token, amount_micro FROM ledger_balance ORDER BY account, token"
# Under the head lock (every append holds it), a balance read here cannot change before commit.
BALANCES_OF = (
    "SELECT account, token, amount_micro FROM ledger_balance "
    "WHERE (account, token) IN (SELECT * FROM unnest(%s::text[], %s::text[]))"
)
GENESIS_HASH = "SELECT hash FROM ledger_entry WHERE seq = 1"
# Records are few beside the mints: a partial index finds them (migration 0008).
RECORDS_OF = (
    f"SELECT {ENTRY_COLUMNS} FROM ledger_entry WHERE kind = 'record' AND reason = ANY(%s) ORDER BY seq"
)

REGISTER_KEY = (
    "INSERT INTO ledger_signing_key (key_id, public_key) VALUES (%s, %s) ON CONFLICT (key_id) DO NOTHING"
)
PUBLIC_KEYS = "SELECT key_id, public_key FROM ledger_signing_key ORDER BY registered_at, key_id"
ROTATION_EXISTS = "SELECT 1 FROM ledger_key_rotation WHERE old_key_id = %s AND new_key_id = %s"
INSERT_ROTATION = (
    "INSERT INTO ledger_key_rotation (old_key_id, new_key_id, after_seq, ts, statement_sig, note) "
    "VALUES (%s, %s, %s, %s, %s, %s)"
)
ROTATIONS = (
    "SELECT r.old_key_id, r.new_key_id, r.after_seq, r.ts, r.statement_sig, r.note, k.public_key "
    "FROM ledger_key_rotation r JOIN ledger_signing_key k ON k.key_id = r.new_key_id "
    "ORDER BY r.rotation_id"
)

INSERT_CHECKPOINT = "INSERT INTO ledger_checkpoint (size, root, ts, key_id, sig) VALUES (%s, %s, %s, %s, %s)"
CHECKPOINTS = "SELECT size, root, ts, key_id, sig FROM ledger_checkpoint ORDER BY checkpoint_id"
LATEST_CHECKPOINT = (
    "SELECT size, root, ts, key_id, sig FROM ledger_checkpoint ORDER BY checkpoint_id DESC LIMIT 1"
)
