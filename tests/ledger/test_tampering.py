"""Tampering by a superuser who bypasses the triggers: `ledger verify` names the entry, and the
stand-alone verifier agrees on the export; a history rewritten by the key holder is caught by
the consistency proof from a checkpoint a member kept."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from tests.ledger.conftest import LedgerCli, seed
from tests.ledger.ledger_factories import new_entry

from circulo.ledger import journal, standalone_verify
from circulo.ledger.keys import Signer, load_signer
from circulo.store.db import connect

STANDALONE = Path(standalone_verify.__file__)
FORGER = Signer(Ed25519PrivateKey.generate())


def as_superuser(db_url: str, *statements: str, replica: bool = False) -> None:
    """Run statements with the triggers out of the way, as an attacker with superuser rights would."""
    with psycopg.connect(db_url, autocommit=True) as conn:
        if replica:
            conn.execute("SET session_replication_role = replica")
        else:
            conn.execute("ALTER TABLE ledger_entry DISABLE TRIGGER ALL")
        for statement in statements:
            conn.execute(statement)
        conn.execute("ALTER TABLE ledger_entry ENABLE TRIGGER ALL")


def forged_sig(db_url: str, seq: int) -> str:
    with connect(db_url) as conn:
        digest = journal.entry_by_seq(conn, seq).hash
    return FORGER.sign(bytes.fromhex(digest)).hex()


TAMPERINGS = {
    "changed amount": (5, "hash mismatch", [
        "UPDATE ledger_entry SET amount_micro = amount_micro + 1 WHERE seq = 5"
    ], False),
    "deleted row": (3, "seq gap", ["DELETE FROM ledger_entry WHERE seq = 3"], True),
    "reordered rows": (4, "broken link", [
        "UPDATE ledger_entry SET seq = 1000 WHERE seq = 4",
        "UPDATE ledger_entry SET seq = 4 WHERE seq = 5",
        "UPDATE ledger_entry SET seq = 5 WHERE seq = 1000",
    ], False),
    "forged signature": (6, "bad signature", [
        "UPDATE ledger_entry SET sig = '{forged}' WHERE seq = 6"
    ], False),
    "changed source value": (2, "hash mismatch", [
        "UPDATE ledger_entry SET sources = jsonb_set(sources, '{0,energy_wh_later}', '99999') WHERE seq = 2"
    ], False),
}  # fmt: skip


@pytest.fixture
def public_key(ledger_cli: LedgerCli, db_url: str) -> str:
    """A ledger of eight entries with a recorded checkpoint; returns the public key."""
    info = ledger_cli.json("keygen")
    seed(db_url, load_signer(ledger_cli.key_path), 8)
    ledger_cli.ok("checkpoint", "--no-publish")
    ledger_cli.ok("verify")
    return str(info["public_key"])


def standalone(export: Path, public_key: str) -> str:
    done = subprocess.run(
        [sys.executable, str(STANDALONE), str(export), public_key],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == (0 if done.stdout.startswith("OK") else 1)
    return done.stdout.strip()


@pytest.mark.parametrize("name", sorted(TAMPERINGS))
def test_verify_names_the_tampered_entry_and_the_standalone_verifier_agrees(
    ledger_cli: LedgerCli, db_url: str, public_key: str, tmp_path: Path, name: str
) -> None:
    seq, problem, statements, replica = TAMPERINGS[name]
    forged = forged_sig(db_url, 6)
    as_superuser(db_url, *(s.replace("{forged}", forged) for s in statements), replica=replica)

    result = ledger_cli("verify")
    assert result.exit_code == 6
    assert result.stderr.startswith(f"error: entry {seq}: {problem}")
    as_json = ledger_cli("verify", "--json")
    assert as_json.exit_code == 6
    report = json.loads(as_json.stdout)
    assert (report["ok"], report["first_bad_seq"], report["findings"][0]["problem"]) == (False, seq, problem)

    export = tmp_path / "tampered.jsonl"
    ledger_cli.ok("export", "--no-sign", "-o", str(export))
    assert standalone(export, public_key).startswith(f"FAIL entry {seq}:")
    offline = ledger_cli("verify", "--export", str(export), "--public-key", public_key)
    assert offline.stderr.startswith(f"error: entry {seq}: {problem}")


def test_a_deleted_last_entry_is_named_from_the_chain_head_and_the_checkpoint(
    ledger_cli: LedgerCli, db_url: str, public_key: str, tmp_path: Path
) -> None:
    as_superuser(db_url, "DELETE FROM ledger_entry WHERE seq = 8", replica=True)
    assert ledger_cli("verify").stderr.startswith("error: entry 8: seq gap")
    export = tmp_path / "truncated.jsonl"
    ledger_cli.ok("export", "--no-sign", "-o", str(export))
    assert standalone(export, public_key).startswith("FAIL checkpoint")
    assert ledger_cli("verify", "--export", str(export), "--public-key", public_key).stderr.startswith(
        "error: entry 8: entries missing"
    )


def test_a_changed_balance_row_is_reported(ledger_cli: LedgerCli, db_url: str, public_key: str) -> None:
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute(
            "UPDATE ledger_balance SET amount_micro = amount_micro + 5 WHERE account = 'member-1@coop1'"
        )
    result = ledger_cli("verify")
    assert result.exit_code == 6
    assert "balance mismatch: member-1@coop1 GRN" in result.stderr


def test_a_history_rewritten_below_an_old_checkpoint_is_caught_by_the_consistency_proof(
    ledger_cli: LedgerCli, db_url: str, public_key: str, tmp_path: Path
) -> None:
    kept = tmp_path / "kept.json"
    kept.write_text(ledger_cli.checkpoint_file.read_text())  # a member keeps the size-8 checkpoint
    signer = load_signer(ledger_cli.key_path)
    with connect(db_url) as conn:
        entry_2 = journal.entry_by_seq(conn, 2)
    # The key holder rewrites entries 3.. with other amounts and covers every other trace.
    as_superuser(
        db_url,
        "DELETE FROM ledger_entry WHERE seq >= 3",
        "ALTER TABLE ledger_checkpoint DISABLE TRIGGER ALL",
        "DELETE FROM ledger_checkpoint",
        f"UPDATE ledger_head SET seq = 2, hash = '{entry_2.hash}'",
        "ALTER TABLE ledger_checkpoint ENABLE TRIGGER ALL",
        "DELETE FROM ledger_balance",
    )
    with connect(db_url) as conn, conn.transaction():
        journal.append_entries(
            conn, [new_entry(0, settlement_id="x0"), new_entry(1, settlement_id="x1")], signer
        )
        journal.append_entries(conn, [new_entry(i, amount_micro=7) for i in range(2, 10)], signer)
        conn.execute("DELETE FROM ledger_balance")  # rebuild from the rewritten journal
        conn.execute(
            "INSERT INTO ledger_balance SELECT account, token, sum(amount_micro), max(seq) "
            "FROM ledger_entry GROUP BY account, token"
        )
    ledger_cli.ok("verify")  # the forgery is internally consistent ...
    proof = tmp_path / "consistency.json"
    proof.write_text(json.dumps(ledger_cli.json("prove", "--consistency", "8")))
    ledger_cli.ok("checkpoint", "--no-publish")
    new_checkpoint = str(ledger_cli.checkpoint_file)
    result = ledger_cli("verify-proof", str(proof), "--old-checkpoint", str(kept),
                        "--checkpoint", new_checkpoint, "--public-key", public_key)  # fmt: skip
    assert result.exit_code == 6  # ... but not consistent with what the member kept
    assert "proof does not hold" in result.stderr
