"""A format-1 ledger upgraded in place (migration 0007) keeps verifying, and format 2 continues it."""

from __future__ import annotations

import json

import psycopg
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from tests.ledger.ledger_factories import new_entry, write_v1_ledger

from circulo.ledger import audit, journal
from circulo.ledger.entries import (
    NewEntry,
)
from circulo.ledger.export import export_lines, read_export
from circulo.ledger.keys import Signer
from circulo.ledger.standalone_verify import verify as standalone_verify
from circulo.ledger.verify import verify_entries
from circulo.store import migrate
from circulo.store.db import connect


def test_a_format_1_ledger_upgrades_in_place_and_a_format_2_chain_continues_it(v1_database: str) -> None:
    signer = Signer(Ed25519PrivateKey.generate())
    old = write_v1_ledger(v1_database, signer, 5)
    migrate.upgrade(v1_database)
    with connect(v1_database) as conn:
        assert [e.format for e in journal.iter_entries(conn)] == [1] * 5
        result = audit.verify_database(conn)
        assert result.ok, result.findings
        assert result.head_hash == old[-1].hash
        with conn.transaction():
            [mint] = journal.append_entries(conn, [new_entry(10)], signer)
        with conn.transaction():
            record = NewEntry(kind="record", token=None, account="member-1@coop1", amount_micro=0,
                              reason="governance.note", settlement_id="governance:coop1:note",
                              sources=({"coop_id": "coop1"},), policy="rewards-v1")  # fmt: skip
            [recorded] = journal.append_entries(conn, [record], signer)
        assert (mint.format, mint.prev_hash, recorded.format) == (2, old[-1].hash, 2)
        assert audit.verify_database(conn).ok
        lines = list(export_lines(conn, signer))
    exported = [json.loads(line) for line in lines[:-1]]
    assert [e["format"] for e in exported] == [1, 1, 1, 1, 1, 2, 2]
    assert exported[-1]["token"] is None and exported[-1]["amount_micro"] == 0
    export = read_export(lines)
    assert verify_entries(export.entries, export.public_keys).ok
    assert standalone_verify(lines, [signer.public_key_hex]).startswith("OK 7 entries")


def test_an_export_from_before_the_upgrade_still_verifies(v1_database: str) -> None:
    signer = Signer(Ed25519PrivateKey.generate())
    old = write_v1_ledger(v1_database, signer, 4)
    entries = [{k: v for k, v in e.to_dict().items() if k != "format"} for e in old]  # no format at all
    assert verify_entries(entries, {signer.key_id: signer.public_key_hex}).ok


def test_an_unknown_format_is_unsupported_not_malformed(v1_database: str) -> None:
    signer = Signer(Ed25519PrivateKey.generate())
    old = write_v1_ledger(v1_database, signer, 3)
    entries = [e.to_dict() for e in old]
    entries[1]["format"] = 3
    result = verify_entries(entries, {signer.key_id: signer.public_key_hex})
    assert result.first_bad is not None
    assert (result.first_bad.seq, result.first_bad.problem) == (2, "unsupported format")
    lines = [json.dumps(e) for e in entries] + [json.dumps({"public_keys": {}, "checkpoint": None})]
    assert standalone_verify(lines, [signer.public_key_hex]) == "FAIL entry 2: unsupported format 3"


def test_a_format_1_entry_claiming_format_2_fails_its_hash(v1_database: str) -> None:
    signer = Signer(Ed25519PrivateKey.generate())
    entries = [e.to_dict() for e in write_v1_ledger(v1_database, signer, 2)]
    entries[0]["format"] = 2
    result = verify_entries(entries, {signer.key_id: signer.public_key_hex})
    assert result.first_bad is not None and result.first_bad.problem == "hash mismatch"


def test_the_upgraded_database_refuses_what_format_2_forbids(v1_database: str) -> None:
    signer = Signer(Ed25519PrivateKey.generate())
    write_v1_ledger(v1_database, signer, 2)
    migrate.upgrade(v1_database)
    with psycopg.connect(v1_database) as conn:
        insert = (
            "INSERT INTO ledger_entry (seq, ts, kind, token, account, amount_micro, reason, "
            "settlement_id, sources, policy, idempotency_key, key_id, prev_hash, hash, sig, format) "
            "VALUES (99, now(), %(kind)s, 'GRN', 'a', %(amount)s, %(reason)s, 's', '[]', 'p', "
            "repeat('1', 64), %(k)s, repeat('2', 64), repeat('3', 64), repeat('4', 128), %(format)s)"
        )
        for statement, values in (
            ("UPDATE ledger_balance SET amount_micro = -1", {}),  # never negative
            (insert, {"kind": "record", "amount": 0, "reason": "member.key", "format": 2}),  # with a token
            (insert, {"kind": "mint", "amount": 5, "reason": "transfer", "format": 1}),  # a move in format 1
            (insert, {"kind": "burn", "amount": 5, "reason": "correction", "format": 2}),  # names no entry
        ):
            with pytest.raises(psycopg.errors.CheckViolation), conn.transaction():
                conn.execute(statement, {**values, "k": signer.key_id})
