"""The hidden-from-nobody check: a verifier written from docs/ledger.md alone agrees with ours.

``tests/ledger/independent_verifier.py`` was written by someone who read only the guide and
the SPEC, never this implementation. A format-2 export with every kind of entry (format-1
entries from before the upgrade, reward mints, an operator's and a member's transfer, a
dividend, a correction, a record) must verify under it, the CLI's verifier and the stand-alone
script alike; exports tampered with — even re-signed by the key holder — must fail all of them
on the right entry.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from tests.ledger.independent_verifier import verify_export
from tests.ledger.ledger_factories import write_v1_ledger
from tests.ledger.test_moves_db import reward

from circulo.ledger import journal
from circulo.ledger.entries import NewEntry, entry_hash, idempotency_key, key_id, signed_body
from circulo.ledger.export import export_lines
from circulo.ledger.keys import Signer
from circulo.ledger.requests import TransferRequest, new_nonce, sign_transfer
from circulo.ledger.standalone_verify import verify as standalone_verify
from circulo.ledger.verify import verify_entries
from circulo.rewards import moves
from circulo.store import migrate
from circulo.store.db import connect

MICRO = 1_000_000


@pytest.fixture
def rich_export(v1_database: str) -> tuple[list[str], Signer]:
    """Format-1 history, upgraded, then one of every format-2 kind of entry."""
    signer = Signer(Ed25519PrivateKey.generate())
    write_v1_ledger(v1_database, signer, 3)
    migrate.upgrade(v1_database)
    member_key = Ed25519PrivateKey.generate()
    public = member_key.public_key().public_bytes_raw()
    operator = moves.operator(signer)
    now = datetime.now(UTC)
    with connect(v1_database) as conn:
        conn.execute("INSERT INTO coop (coop_id, name) VALUES ('coop1', 'Co-op 1')")
        conn.execute("INSERT INTO member (coop_id, account, shares) VALUES "
                     "('coop1', 'alice@coop1', 1), ('coop1', 'bob@coop1', 3)")  # fmt: skip
        conn.execute("INSERT INTO member_key (key_id, coop_id, account, public_key) VALUES (%s, 'coop1', "
                     "'alice@coop1', %s)", (key_id(public), public.hex()))  # fmt: skip
        conn.commit()
        with conn.transaction():
            rewards = [reward("treasury@coop1", 50 * MICRO, 1), reward("alice@coop1", 8 * MICRO, 2)]
            journal.append_entries(conn, rewards, signer)
        moves.treasury_transfer(conn, operator, coop_id="coop1", to_account="bob@coop1", token="GRN",
                                amount_micro=5 * MICRO)  # fmt: skip
        genesis = journal.genesis_hash(conn) or ""
        request = TransferRequest(genesis, "coop1", "alice@coop1", "bob@coop1", "GRN", 3 * MICRO, new_nonce(),
                                  now + timedelta(hours=1))  # fmt: skip
        moves.submit_request(conn, sign_transfer(request, member_key), operator)
        moves.pay_dividend(conn, coop_id="coop1", token="GRN", amount_micro=10 * MICRO + 1, dividend_id="q4",
                           operator=operator, now=now)  # fmt: skip
        with conn.transaction():
            record = NewEntry(kind="record", token=None, account="alice@coop1", amount_micro=0,
                              reason="governance.note", settlement_id="governance:coop1:note",
                              sources=({"coop_id": "coop1"},), policy="ledger-v2")  # fmt: skip
            journal.append_entries(conn, [record], signer)
        with conn.transaction():
            [mint] = [e for e in journal.history(conn, "alice@coop1") if e.reason == "green.energy"]
            correction = NewEntry(kind="burn", token="GRN", account="alice@coop1", amount_micro=2 * MICRO,
                                  reason="correction", settlement_id=f"correction:{mint.seq}",
                                  sources=({"corrects_seq": mint.seq, "corrects_hash": mint.hash,
                                            "why": "double-counted"},), policy="rewards-v1",
                                  corrects_seq=mint.seq)  # fmt: skip
            journal.append_entries(conn, [correction], signer)
        lines = list(export_lines(conn, signer))
    return lines, signer


def all_verdicts(lines: list[str], signer: Signer) -> tuple[list[str], Any, str]:
    """The independent verifier's problems, our verifier's result, the stand-alone script's line."""
    entries = [json.loads(line) for line in lines[:-1]]
    ours = verify_entries(entries, {signer.key_id: signer.public_key_hex})
    return (
        verify_export(lines, [signer.public_key_hex]),
        ours,
        standalone_verify(lines, [signer.public_key_hex]),
    )


def test_a_rich_format_2_export_verifies_under_three_independent_verifiers(
    rich_export: tuple[list[str], Signer],
) -> None:
    lines, signer = rich_export
    reasons = [json.loads(line)["reason"] for line in lines[:-1]]
    assert reasons == [
        "green.energy", "green.energy", "correction",  # format 1, from before the upgrade
        "green.energy", "green.energy", "transfer", "transfer", "transfer", "transfer",
        "dividend", "dividend", "dividend", "governance.note", "correction",
    ]  # fmt: skip
    independent, ours, standalone = all_verdicts(lines, signer)
    assert independent == []
    assert ours.ok, ours.findings
    assert standalone.startswith(f"OK {len(lines) - 1} entries")


def resign(
    lines: list[str], start: int, signer: Signer, change: Callable[[dict[str, Any]], None]
) -> list[str]:
    """What a key holder rewriting history would produce: entry ``start`` changed, the chain re-sealed."""
    entries = [json.loads(line) for line in lines[:-1]]
    change(entries[start])
    prev = entries[start - 1]["hash"] if start else "0" * 64
    for entry in entries[start:]:
        entry["prev_hash"] = prev
        entry["hash"] = entry_hash(prev, signed_body(entry))
        entry["sig"] = signer.sign(bytes.fromhex(entry["hash"])).hex()
        prev = entry["hash"]
    trailer = json.loads(lines[-1])
    trailer["checkpoint"] = None
    return [json.dumps(e) for e in entries] + [json.dumps(trailer)]


def test_a_changed_amount_is_a_hash_mismatch_for_every_verifier(
    rich_export: tuple[list[str], Signer],
) -> None:
    lines, signer = rich_export
    entries = [json.loads(line) for line in lines[:-1]]
    entries[9]["amount_micro"] += 1
    tampered = [json.dumps(e) for e in entries] + [lines[-1]]
    independent, ours, standalone = all_verdicts(tampered, signer)
    assert any(p.startswith("entry 10: hash mismatch") for p in independent), independent
    assert (ours.first_bad.seq, ours.first_bad.problem) == (10, "hash mismatch")
    assert standalone == "FAIL entry 10: hash mismatch"


def test_a_re_signed_unbalanced_move_is_caught_even_with_valid_signatures(
    rich_export: tuple[list[str], Signer],
) -> None:
    lines, signer = rich_export

    def inflate(entry: dict[str, Any]) -> None:  # entry 11: a dividend mint paying one µ more
        entry["amount_micro"] += 1

    tampered = resign(lines, 10, signer, inflate)
    independent, ours, standalone = all_verdicts(tampered, signer)
    assert any(p.startswith("move dividend:coop1:GRN:q4") and "unbalanced move" in p for p in independent)
    assert ours.first_bad.problem == "unbalanced move"
    assert standalone == "FAIL move dividend:coop1:GRN:q4: burns and mints differ"


def test_a_re_signed_transfer_that_strays_from_its_request_is_caught(
    rich_export: tuple[list[str], Signer],
) -> None:
    lines, signer = rich_export

    def redirect(entry: dict[str, Any]) -> None:  # entry 9: alice's transfer credited to the treasury
        entry["account"] = "treasury@coop1"
        entry["idempotency_key"] = idempotency_key(entry["reason"], entry["settlement_id"], entry["account"])

    tampered = resign(lines, 8, signer, redirect)
    _, ours, _ = all_verdicts(tampered, signer)
    assert (ours.first_bad.seq, ours.first_bad.problem) == (9, "bad transfer")


def test_an_unknown_format_is_unsupported_for_every_verifier(rich_export: tuple[list[str], Signer]) -> None:
    lines, signer = rich_export
    entries = [json.loads(line) for line in lines[:-1]]
    entries[4]["format"] = 3
    tampered = [json.dumps(e) for e in entries] + [lines[-1]]
    independent, ours, standalone = all_verdicts(tampered, signer)
    assert any(p.startswith("entry 5: unsupported format") for p in independent), independent
    assert (ours.first_bad.seq, ours.first_bad.problem) == (5, "unsupported format")
    assert standalone == "FAIL entry 5: unsupported format 3"


def test_an_overdrawn_burn_is_caught_even_when_re_signed(rich_export: tuple[list[str], Signer]) -> None:
    lines, signer = rich_export

    def overdraw(entry: dict[str, Any]) -> None:  # entry 14: the correction burns more than alice holds
        entry["amount_micro"] = 7_900_000  # alice holds 7.5 GRN; the mint it corrects was 8
        entry["sources"][0]["why"] = "overdraw"

    tampered = resign(lines, 13, signer, overdraw)
    independent, ours, standalone = all_verdicts(tampered, signer)
    assert any(p.startswith("entry 14: overdrawn") for p in independent), independent
    assert (ours.first_bad.seq, ours.first_bad.problem) == (14, "overdrawn")
    assert standalone.startswith("FAIL entry 14: overdrawn")
