"""`circulo ledger …` end to end against a real database: the SPEC §7/§8 forms."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
from pathlib import Path

from tests.ledger.conftest import LedgerCli, seed

from circulo.ledger import merkle, standalone_verify
from circulo.ledger.keys import load_signer

STANDALONE = Path(standalone_verify.__file__)


def keygen(ledger_cli: LedgerCli) -> str:
    return str(ledger_cli.json("keygen")["public_key"])


def test_keygen_creates_the_key_once_with_0600_and_prints_the_public_key(ledger_cli: LedgerCli) -> None:
    info = ledger_cli.json("keygen")
    assert Path(info["path"]) == ledger_cli.key_path
    assert stat.S_IMODE(ledger_cli.key_path.stat().st_mode) == 0o600
    assert load_signer(ledger_cli.key_path).key_id == info["key_id"]
    again = ledger_cli("keygen")
    assert again.exit_code == 2
    assert (
        again.stderr.strip()
        == f"error: a signing key already exists at {ledger_cli.key_path}; refusing to overwrite it"
    )


def test_commands_that_sign_say_how_to_create_a_missing_key(ledger_cli: LedgerCli) -> None:
    result = ledger_cli("checkpoint", "--no-publish")
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        f"error: no signing key at {ledger_cli.key_path}; run circulo ledger keygen"
    )


def test_balances_history_and_correct_in_the_spec_forms(ledger_cli: LedgerCli, db_url: str) -> None:
    keygen(ledger_cli)
    entries = seed(db_url, load_signer(ledger_cli.key_path), 4)
    assert ledger_cli.json("balances") == [
        {"account": "member-0@coop1", "token": "GRN", "amount_micro": 2_000_003},
        {"account": "member-1@coop1", "token": "GRN", "amount_micro": 1_000_001},
        {"account": "member-2@coop1", "token": "GRN", "amount_micro": 1_000_002},
    ]
    history = ledger_cli.json("history", "--account", "member-0@coop1")
    assert [e["seq"] for e in history] == [1, 4]
    assert history[0] == entries[0].to_dict()
    burn = ledger_cli.json("correct", "4", "--why", "meter m3 double-counted")
    assert (burn["seq"], burn["kind"], burn["reason"], burn["corrects_seq"]) == (5, "burn", "correction", 4)
    assert burn["sources"] == [
        {"corrects_seq": 4, "corrects_hash": entries[3].hash, "why": "meter m3 double-counted"}
    ]
    assert ledger_cli.json("balances", "--account", "member-0@coop1") == [
        {"account": "member-0@coop1", "token": "GRN", "amount_micro": 1_000_000}
    ]
    twice = ledger_cli("correct", "4", "--why", "again")
    assert twice.exit_code != 0
    assert twice.stderr.startswith("error: entry 4 was already corrected")
    assert ledger_cli.ok("verify").stdout.startswith("ledger OK: 5 entries")


def test_checkpoint_prove_and_verify_proof_agree(ledger_cli: LedgerCli, db_url: str, tmp_path: Path) -> None:
    public_key = keygen(ledger_cli)
    signer = load_signer(ledger_cli.key_path)
    entries = seed(db_url, signer, 5)
    old = ledger_cli.json("checkpoint", "--no-publish")
    kept = tmp_path / "kept-checkpoint.json"
    kept.write_text(ledger_cli.checkpoint_file.read_text())
    assert json.loads(kept.read_text()) == old
    assert old["root"] == merkle.root([bytes.fromhex(e.hash) for e in entries]).hex()
    seed(db_url, signer, 3, start=5)
    new = ledger_cli.json("checkpoint", "--no-publish")
    assert new["size"] == 8

    inclusion = ledger_cli.json("prove", "3")
    assert set(inclusion) == {"index", "size", "leaf_hash", "path", "root"}
    assert (inclusion["index"], inclusion["size"], inclusion["root"]) == (2, 8, new["root"])
    proof_file = tmp_path / "inclusion.json"
    proof_file.write_text(json.dumps(inclusion))
    ledger_cli.ok("verify-proof", str(proof_file), "--entry-hash", entries[2].hash,
                  "--checkpoint", str(ledger_cli.checkpoint_file), "--public-key", public_key)  # fmt: skip
    wrong_entry = ledger_cli("verify-proof", str(proof_file), "--entry-hash", entries[3].hash)
    assert wrong_entry.exit_code == 6

    consistency = ledger_cli.json("prove", "--consistency", "5")
    assert set(consistency) == {"old_size", "size", "path", "old_root", "root"}
    proof_file.write_text(json.dumps(consistency))
    ledger_cli.ok("verify-proof", str(proof_file), "--old-checkpoint", str(kept),
                  "--checkpoint", str(ledger_cli.checkpoint_file), "--public-key", public_key)  # fmt: skip
    at_size = ledger_cli.json("prove", "2", "--size", "5")
    assert at_size["root"] == old["root"]
    assert ledger_cli("prove", "9").exit_code == 2


def test_an_export_verifies_with_the_cli_and_the_standalone_script(
    ledger_cli: LedgerCli, db_url: str, tmp_path: Path
) -> None:
    public_key = keygen(ledger_cli)
    seed(db_url, load_signer(ledger_cli.key_path), 6)
    export = tmp_path / "ledger.jsonl"
    ledger_cli.ok("export", "--output", str(export))
    lines = export.read_text().splitlines()
    assert len(lines) == 7
    first = json.loads(lines[0])
    assert list(first) == [
        "seq", "ts", "kind", "token", "account", "amount_micro", "reason", "settlement_id", "sources",
        "policy", "idempotency_key", "key_id", "prev_hash", "corrects_seq", "format", "hash", "sig",
    ]  # fmt: skip
    assert first["format"] == 2
    trailer = json.loads(lines[-1])
    assert trailer["public_keys"] == {first["key_id"]: public_key}
    assert trailer["checkpoint"]["size"] == 6
    assert ledger_cli.ok("verify", "--export", str(export), "--public-key", public_key).stdout.startswith(
        "ledger OK: 6 entries"
    )
    standalone = subprocess.run(
        [sys.executable, str(STANDALONE), str(export), public_key],
        capture_output=True,
        text=True,
        check=False,
    )
    assert standalone.returncode == 0, standalone.stdout
    assert standalone.stdout.startswith("OK 6 entries")


def test_keygen_rotate_records_a_signed_rotation_and_the_new_key_continues(
    ledger_cli: LedgerCli, db_url: str, tmp_path: Path
) -> None:
    old_key = keygen(ledger_cli)
    old = load_signer(ledger_cli.key_path)
    seed(db_url, old, 2)
    info = ledger_cli.json("keygen", "--rotate", "--note", "yearly rotation")
    assert info["rotated_from"] == old.key_id
    new = load_signer(ledger_cli.key_path)
    assert new.key_id == info["key_id"] != old.key_id
    assert (ledger_cli.key_path.parent / f"ledger-signing.key.{old.key_id}.retired").exists()
    ledger_cli.ok("correct", "1", "--why", "test rotation")
    ledger_cli.ok("verify")
    export = tmp_path / "ledger.jsonl"
    ledger_cli.ok("export", "-o", str(export))
    ledger_cli.ok(
        "verify", "--export", str(export), "--public-key", old_key, "--public-key", info["public_key"]
    )
    only_old = ledger_cli("verify", "--export", str(export), "--public-key", old_key)
    assert only_old.exit_code == 6
    assert only_old.stderr.startswith("error: entry 3: unknown key")
