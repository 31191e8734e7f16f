"""Transfers, dividends and corrections after them, on the real database, through the CLI."""

from __future__ import annotations

import json
import random
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from click.testing import CliRunner, Result
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from tests.ledger.conftest import LedgerCli

from circulo.cli import cli
from circulo.ledger import audit, journal
from circulo.ledger.entries import NewEntry, key_id
from circulo.ledger.errors import InsufficientFunds
from circulo.ledger.export import export_lines, read_export
from circulo.ledger.keys import load_signer
from circulo.ledger.requests import TransferRequest, new_nonce, sign_transfer
from circulo.ledger.standalone_verify import verify as standalone_verify
from circulo.ledger.verify import verify_entries
from circulo.rewards import moves
from circulo.store.db import connect

MICRO = 1_000_000


def run(ledger_cli: LedgerCli, *args: str) -> Result:
    """Any ``circulo`` command with the test's environment."""
    return CliRunner(env=ledger_cli.env).invoke(cli, list(args), catch_exceptions=False)


def reward(account: str, amount: int, n: int) -> NewEntry:
    """A reward mint standing in for a settlement's."""
    return NewEntry(
        kind="mint",
        token="GRN",
        account=account,
        amount_micro=amount,
        reason="green.energy",
        settlement_id=f"green:coop1:2026-11-01T{n:02d}:00Z",
        sources=({"type": "test", "n": n},),
        policy="rewards-v1",
    )


@pytest.fixture
def funded(ledger_cli: LedgerCli, db_url: str) -> LedgerCli:
    """coop1 with alice (1 share), bob (2) and carol (0); the treasury holds 90 GRN, alice 10."""
    ledger_cli.ok("keygen")
    signer = load_signer(ledger_cli.key_path)
    with connect(db_url) as conn, conn.transaction():
        conn.execute("INSERT INTO coop (coop_id, name) VALUES ('coop1', 'Co-op 1'), ('coop2', 'Co-op 2')")
        conn.execute(
            "INSERT INTO member (coop_id, account, shares) VALUES "
            "('coop1', 'alice@coop1', 1), ('coop1', 'bob@coop1', 2), ('coop1', 'carol@coop1', 0), "
            "('coop2', 'dave@coop2', 1)"
        )
        journal.append_entries(
            conn, [reward("treasury@coop1", 90 * MICRO, 1), reward("alice@coop1", 10 * MICRO, 2)], signer
        )
    return ledger_cli


def balances(ledger_cli: LedgerCli) -> dict[str, int]:
    return {b["account"]: b["amount_micro"] for b in ledger_cli.json("balances", "--token", "GRN")}


def entry_count(db_url: str) -> int:
    with psycopg.connect(db_url) as conn:
        row = conn.execute("SELECT count(*) FROM ledger_entry").fetchone()
        return int(row[0]) if row else 0


def register_member_key(db_url: str, account: str, coop_id: str = "coop1") -> Ed25519PrivateKey:
    """A member key registered directly (the governance issue adds the attested member.key record)."""
    key = Ed25519PrivateKey.generate()
    public = key.public_key().public_bytes_raw()
    with psycopg.connect(db_url) as conn:
        conn.execute(
            "INSERT INTO member_key (key_id, coop_id, account, public_key) VALUES (%s, %s, %s, %s)",
            (key_id(public), coop_id, account, public.hex()),
        )
    return key


def write_key(key: Ed25519PrivateKey, path: Path) -> Path:
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    path.write_bytes(pem)
    path.chmod(0o600)
    return path


def genesis(ledger_cli: LedgerCli) -> str:
    return str(ledger_cli.json("genesis")["genesis"])


def verified(db_url: str, key_path: Path) -> None:
    """The database verifies, and so does its export, with the CLI's verifier and the standalone one."""
    signer = load_signer(key_path)
    lines: list[str] = []
    with connect(db_url) as conn:
        result = audit.verify_database(conn)
        assert result.ok, result.findings
        lines = list(export_lines(conn, signer))
    export = read_export(lines)
    assert verify_entries(export.entries, export.public_keys).ok
    assert standalone_verify(lines, [signer.public_key_hex]).startswith("OK")


def test_an_operator_transfers_from_the_treasury_to_a_member(funded: LedgerCli, db_url: str) -> None:
    moved = funded.json(
        "transfer", "--coop", "coop1", "--to", "bob@coop1", "--token", "GRN", "--amount", "12.5"
    )
    burn, credit = moved["entries"]
    assert (burn["kind"], burn["account"], burn["amount_micro"], burn["reason"]) == (
        "burn", "treasury@coop1", 12_500_000, "transfer",
    )  # fmt: skip
    assert (credit["kind"], credit["account"], credit["amount_micro"]) == ("mint", "bob@coop1", 12_500_000)
    assert moved["settlement_id"].startswith("transfer:")
    assert balances(funded) == {
        "alice@coop1": 10 * MICRO,
        "bob@coop1": 12_500_000,
        "treasury@coop1": 77_500_000,
    }
    verified(db_url, funded.key_path)


def test_the_same_operator_nonce_never_pays_twice(funded: LedgerCli, db_url: str) -> None:
    args = ("transfer", "--coop", "coop1", "--to", "bob@coop1", "--token", "GRN", "--amount", "1")
    # an operator's request expires an hour after it is made, so the nonce alone names it: the
    # same nonce at another moment is another request — the settlement id includes the expiry.
    nonce = new_nonce()
    funded.ok(*args, "--nonce", nonce)
    before = entry_count(db_url)
    with connect(db_url) as conn:
        signer = load_signer(funded.key_path)
        op = moves.operator(signer)
        at = datetime(2026, 12, 2, tzinfo=UTC)
        moves.treasury_transfer(conn, op, coop_id="coop1", to_account="bob@coop1", token="GRN",
                                amount_micro=MICRO, nonce=nonce, now=at)  # fmt: skip
        with pytest.raises(moves.AlreadySettled, match="settled already"):
            moves.treasury_transfer(conn, op, coop_id="coop1", to_account="bob@coop1", token="GRN",
                                    amount_micro=MICRO, nonce=nonce, now=at)  # fmt: skip
    assert entry_count(db_url) == before + 2


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--to", "mallory@elsewhere", "--token", "GRN", "--amount", "1"), "is not a member of co-op coop1"),
        (("--to", "dave@coop2", "--token", "GRN", "--amount", "1"), "is not a member of co-op coop1"),
        (("--to", "bob@coop1", "--token", "GRN", "--amount", "100"), "shortfall 10000000 µGRN"),
        (("--to", "bob@coop1", "--token", "RCY", "--amount", "1"), "holds 0 µRCY"),
        (("--to", "treasury@coop1", "--token", "GRN", "--amount", "1"), "two different accounts"),
        (("--to", "bob@coop1", "--token", "GRN", "--amount", "0"), "greater than 0"),
        (("--to", "bob@coop1", "--token", "GRN", "--amount", "-3"), "greater than 0"),
        (("--to", "bob@coop1", "--token", "GRN", "--amount", "0.0000001"), "at most 6 decimals"),
        (
            ("--to", "bob@coop1", "--token", "GRN", "--amount", "9007199254.740992"),
            "9007199254740991 µ",
        ),
        (("--to", "bob@coop1", "--token", "GRN"), "needs --amount"),
    ],
)
def test_a_bad_operator_transfer_is_one_clear_line_and_writes_nothing(
    funded: LedgerCli, db_url: str, args: tuple[str, ...], message: str
) -> None:
    before = entry_count(db_url)
    result = funded("transfer", "--coop", "coop1", *args)
    assert result.exit_code != 0
    assert result.stderr.count("\n") == 1 and message in result.stderr, result.stderr
    assert "Traceback" not in result.output
    assert entry_count(db_url) == before


def test_a_transfer_for_an_unknown_coop_says_so(funded: LedgerCli) -> None:
    result = funded("transfer", "--coop", "nope", "--to", "bob@coop1", "--token", "GRN", "--amount", "1")
    assert result.exit_code == 4
    assert result.stderr.strip() == "error: co-op nope is not registered"


def sign(ledger_cli: LedgerCli, key_file: Path, out: Path, *args: str) -> Path:
    common = (
        "--key",
        str(key_file),
        "--ledger",
        genesis(ledger_cli),
        "--coop",
        "coop1",
        "--from",
        "alice@coop1",
    )
    result = run(ledger_cli, "member", "sign-transfer", *common, "-o", str(out), *args)
    assert result.exit_code == 0, result.output
    return out


def test_a_member_signs_a_transfer_offline_and_a_replay_of_it_mints_nothing(
    funded: LedgerCli, db_url: str, tmp_path: Path
) -> None:
    key = write_key(register_member_key(db_url, "alice@coop1"), tmp_path / "alice.key")
    request = sign(funded, key, tmp_path / "req.json", "--to", "bob@coop1", "--token", "GRN", "--amount", "4")
    document = json.loads(request.read_text())
    assert set(document) == {"request", "key_id", "sig"}
    assert "PRIVATE" not in request.read_text()
    moved = funded.json("transfer", "--request", str(request))
    assert [e["account"] for e in moved["entries"]] == ["alice@coop1", "bob@coop1"]
    assert balances(funded)["alice@coop1"] == 6 * MICRO
    before = entry_count(db_url)
    again = funded("transfer", "--request", str(request))
    assert again.exit_code == 5
    assert "was settled already" in again.stderr and "nothing written" in again.stderr
    assert entry_count(db_url) == before
    with connect(db_url) as conn:
        sources = journal.history(conn, "bob@coop1")[-1].sources[0]
    assert sources["authorised_by"] == {"by": "member", "key_id": document["key_id"], "sig": document["sig"]}
    verified(db_url, funded.key_path)


def test_a_member_request_that_fails_a_check_is_refused_and_writes_nothing(
    funded: LedgerCli, db_url: str, tmp_path: Path
) -> None:
    alice = register_member_key(db_url, "alice@coop1")
    forger = write_key(Ed25519PrivateKey.generate(), tmp_path / "forger.key")
    alice_key = write_key(alice, tmp_path / "a.key")
    to_bob = ("--to", "bob@coop1", "--token", "GRN", "--amount")
    cases: dict[str, tuple[Path, str]] = {
        "forged": (sign(funded, forger, tmp_path / "f.json", *to_bob, "1"), "bad signature"),
        "too much": (sign(funded, alice_key, tmp_path / "m.json", *to_bob, "10.000001"), "shortfall 1 µGRN"),
    }
    ledger, soon = genesis(funded), datetime.now(UTC) + timedelta(hours=1)
    past = datetime.now(UTC) - timedelta(seconds=1)

    def to_bob_from(sender: str, at: datetime, on: str = ledger) -> TransferRequest:
        return TransferRequest(on, "coop1", sender, "bob@coop1", "GRN", MICRO, new_nonce(), at)

    for name, request, message in (
        ("expired", to_bob_from("alice@coop1", past), "expired"),
        ("other ledger", to_bob_from("alice@coop1", soon, "0" * 63 + "1"), "not this one"),
        ("no key", to_bob_from("carol@coop1", soon), "carol@coop1 has no registered key"),
    ):
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(sign_transfer(request, alice).to_dict()))
        cases[name] = (path, message)
    garbage = tmp_path / "garbage.json"
    garbage.write_text("{not json")
    cases["garbage"] = (garbage, "garbage.json")
    before = entry_count(db_url)
    for name, (path, message) in cases.items():
        result = funded("transfer", "--request", str(path))
        assert result.exit_code != 0, name
        assert message in result.stderr and result.stderr.count("\n") == 1, (name, result.stderr)
    assert entry_count(db_url) == before


def test_two_transfers_racing_for_the_last_tokens_exactly_one_succeeds(
    funded: LedgerCli, db_url: str
) -> None:
    key = register_member_key(db_url, "alice@coop1")
    ledger, soon = genesis(funded), datetime.now(UTC) + timedelta(hours=1)
    signer = load_signer(funded.key_path)
    requests = [
        sign_transfer(
            TransferRequest(ledger, "coop1", "alice@coop1", to, "GRN", 10 * MICRO, new_nonce(), soon), key
        )
        for to in ("bob@coop1", "carol@coop1")
    ]
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def submit(signed: Any) -> None:
        with connect(db_url) as conn:
            barrier.wait()
            try:
                moves.submit_request(conn, signed, moves.operator(signer))
                outcomes.append("ok")
            except InsufficientFunds as e:
                outcomes.append(f"refused: {e.message}")

    threads = [threading.Thread(target=submit, args=(r,)) for r in requests]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(o.split(":")[0] for o in outcomes) == ["ok", "refused"], outcomes
    assert balances(funded)["alice@coop1"] == 0
    verified(db_url, funded.key_path)


def test_a_dividend_shares_the_treasury_by_shares_exactly_once_per_id(funded: LedgerCli, db_url: str) -> None:
    paid = run(funded, "treasury", "dividend", "--coop", "coop1", "--token", "GRN", "--amount", "10.000001",
               "--id", "2026-Q4", "--json")  # fmt: skip
    assert paid.exit_code == 0, paid.output
    entries = json.loads(paid.stdout)["entries"]
    assert [(e["kind"], e["account"], e["amount_micro"]) for e in entries] == [
        ("burn", "treasury@coop1", 10_000_001),
        ("mint", "alice@coop1", 3_333_334),  # 1 of 3 shares: 3,333,333.67 → the remainder unit
        ("mint", "bob@coop1", 6_666_667),  # 2 of 3: 6,666,667.33
    ]
    before = entry_count(db_url)
    again = run(funded, "treasury", "dividend", "--coop", "coop1", "--token", "GRN", "--amount", "1",
                "--id", "2026-Q4")  # fmt: skip
    assert again.exit_code == 5 and "dividend:coop1:GRN:2026-Q4 was settled already" in again.stderr
    assert entry_count(db_url) == before
    everything = run(
        funded, "treasury", "dividend", "--coop", "coop1", "--token", "GRN", "--all", "--id", "all"
    )
    assert everything.exit_code == 0, everything.output
    assert balances(funded)["treasury@coop1"] == 0
    empty = run(funded, "treasury", "dividend", "--coop", "coop1", "--token", "GRN", "--all", "--id", "more")
    assert empty.exit_code == 5 and "treasury@coop1 holds 0 µGRN" in empty.stderr
    verified(db_url, funded.key_path)


def test_a_coop_without_members_pays_no_dividend_and_says_so(funded: LedgerCli, db_url: str) -> None:
    with connect(db_url) as conn, conn.transaction():
        conn.execute("INSERT INTO coop (coop_id, name) VALUES ('lonely', 'Lonely')")
        journal.append_entries(conn, [reward("treasury@lonely", MICRO, 7)], load_signer(funded.key_path))
    before = entry_count(db_url)
    result = run(funded, "treasury", "dividend", "--coop", "lonely", "--token", "GRN", "--all")
    assert result.exit_code == 0
    assert result.stdout.strip() == "co-op lonely has no members holding shares: nothing paid"
    assert entry_count(db_url) == before


def test_a_correction_after_a_transfer_is_refused_with_the_shortfall_named(
    funded: LedgerCli, db_url: str, tmp_path: Path
) -> None:
    key = write_key(register_member_key(db_url, "alice@coop1"), tmp_path / "alice.key")
    request = sign(funded, key, tmp_path / "r.json", "--to", "bob@coop1", "--token", "GRN", "--amount", "7")
    funded.ok("transfer", "--request", str(request))
    before = entry_count(db_url)
    refused = funded("correct", "2", "--why", "meter double-counted")
    assert refused.exit_code == 5
    assert refused.stderr.strip() == (
        "error: the correction of entry 2 is refused: alice@coop1 holds 3000000 µGRN, "
        "10000000 µGRN are needed (shortfall 7000000 µGRN)"
    )
    assert entry_count(db_url) == before
    partial = funded.json("correct", "2", "--why", "meter double-counted", "--amount-micro", "3000000")
    assert (partial["kind"], partial["amount_micro"]) == ("burn", 3_000_000)
    moved_mint = funded("correct", "4", "--why", "a transfer is not corrected")
    assert moved_mint.exit_code == 2 and "reversed by another move" in moved_mint.stderr


def test_a_dividend_killed_at_any_moment_is_paid_exactly_once(funded: LedgerCli, db_url: str) -> None:
    command = [sys.executable, "-m", "circulo", "treasury", "dividend", "--coop", "coop1", "--token", "GRN",
               "--amount", "30", "--id", "crash-test"]  # fmt: skip
    rng = random.Random(7)
    for _ in range(12):
        proc = subprocess.Popen(command, env=funded.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.05, 1.2))
        proc.kill()
        proc.wait(timeout=30)
        with psycopg.connect(db_url) as conn:
            rows = conn.execute(
                "SELECT count(*) FROM ledger_entry WHERE settlement_id = 'dividend:coop1:GRN:crash-test'"
            ).fetchone()
        assert rows is not None and rows[0] in (0, 3)  # all of it, or nothing
    final = subprocess.run(command, env=funded.env, capture_output=True, text=True, check=False)
    assert final.returncode in (0, 5), final.stderr
    with psycopg.connect(db_url) as conn:
        rows = conn.execute(
            "SELECT kind, account, amount_micro FROM ledger_entry "
            "WHERE settlement_id = 'dividend:coop1:GRN:crash-test' ORDER BY seq"
        ).fetchall()
    assert rows == [("burn", "treasury@coop1", 30 * MICRO), ("mint", "alice@coop1", 10 * MICRO),
                    ("mint", "bob@coop1", 20 * MICRO)]  # fmt: skip
    verified(db_url, funded.key_path)
