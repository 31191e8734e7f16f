"""The journal in a real PostgreSQL: append, head lock, balances, keys, corrections, privileges."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import psycopg
import pytest
from tests.ledger.ledger_factories import new_entry

from circulo.errors import NotFound
from circulo.ledger import journal
from circulo.ledger.audit import verify_database
from circulo.ledger.entries import entry_hash
from circulo.ledger.errors import DuplicateEntry, InvalidEntry, KeyMismatch
from circulo.ledger.keys import Signer
from circulo.ledger.log import create_checkpoint
from circulo.store.db import connect


@pytest.fixture
def conn(db_url: str) -> Iterator[psycopg.Connection]:
    with connect(db_url) as connection:
        yield connection


def append(conn: psycopg.Connection, signer: Signer, *indexes: int) -> list[journal.LedgerEntry]:
    with conn.transaction():
        return journal.append_entries(conn, [new_entry(i) for i in indexes], signer)


def test_appends_get_gapless_seqs_from_one_and_move_head_and_balances(
    conn: psycopg.Connection, signer: Signer
) -> None:
    first = append(conn, signer, 0, 1, 2)
    second = append(conn, signer, 3)
    assert [e.seq for e in first + second] == [1, 2, 3, 4]
    assert second[0].prev_hash == first[-1].hash
    assert journal.read_head(conn) == journal.Head(4, second[0].hash, signer.key_id)
    assert journal.balances(conn) == [
        journal.Balance("member-0@coop1", "GRN", 1_000_000 + 1_000_003),
        journal.Balance("member-1@coop1", "GRN", 1_000_001),
        journal.Balance("member-2@coop1", "GRN", 1_000_002),
    ]
    assert [e.seq for e in journal.history(conn, "member-0@coop1")] == [1, 4]
    assert list(journal.iter_entries(conn, from_seq=2)) == [first[2], second[0]]
    assert verify_database(conn).ok


def test_append_runs_inside_the_callers_transaction_and_does_not_commit(
    conn: psycopg.Connection, signer: Signer
) -> None:
    journal.append_entries(conn, [new_entry(0)], signer)
    conn.rollback()
    assert list(journal.iter_entries(conn)) == []
    assert journal.read_head(conn).seq == 0
    assert journal.balances(conn) == []


def test_a_repeated_idempotency_key_fails_the_whole_transaction(
    conn: psycopg.Connection, signer: Signer
) -> None:
    append(conn, signer, 0)
    with pytest.raises(DuplicateEntry, match="idempotency_key"), conn.transaction():
        journal.append_entries(conn, [new_entry(1), new_entry(0, amount_micro=5)], signer)
    assert journal.read_head(conn).seq == 1
    assert len(journal.balances(conn)) == 1


def test_concurrent_writers_queue_on_the_head_and_never_fork_the_chain(db_url: str, signer: Signer) -> None:
    errors: list[BaseException] = []

    def writer(offset: int) -> None:
        try:
            with connect(db_url) as own:
                for i in range(10):
                    with own.transaction():
                        journal.append_entries(
                            own, [new_entry(offset + 2 * i), new_entry(offset + 2 * i + 1)], signer
                        )
        except BaseException as e:  # reported by the main thread
            errors.append(e)

    threads = [threading.Thread(target=writer, args=(1000 * t,)) for t in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with connect(db_url) as conn:
        entries = list(journal.iter_entries(conn))
        assert [e.seq for e in entries] == list(range(1, 81))
        assert verify_database(conn).ok


def test_sources_hash_the_same_after_the_jsonb_round_trip(conn: psycopg.Connection, signer: Signer) -> None:
    source = {
        "z_last": 1, "a_first": -(2**53 - 1), "nested": {"b": [3, 2, 1], "a": {"y": True, "x": None}},
        "unicode": "Grüße, 電力 ☀ \u2028 \"quoted\" \\", "big": 2**53 - 1, "empty": "", "list": [],
        "1": "digit key", "Z": "upper", "é": "accent key",
    }  # fmt: skip
    with conn.transaction():
        [written] = journal.append_entries(conn, [new_entry(0, sources=(source, {"k": 0}))], signer)
    [read] = list(journal.iter_entries(conn))
    assert read.sources == (source, {"k": 0})
    assert isinstance(read.sources[0]["big"], int)
    assert entry_hash(read.prev_hash, read.body()) == written.hash == read.hash
    assert verify_database(conn).ok


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE ledger_entry SET amount_micro = amount_micro + 1",
        "DELETE FROM ledger_entry",
        "TRUNCATE ledger_entry CASCADE",
        "UPDATE ledger_signing_key SET public_key = repeat('0', 64)",
        "DELETE FROM ledger_checkpoint",
        "TRUNCATE ledger_key_rotation",
    ],
)
def test_the_database_refuses_to_change_the_append_only_tables(
    conn: psycopg.Connection, signer: Signer, statement: str
) -> None:
    append(conn, signer, 0, 1)
    with conn.transaction():
        create_checkpoint(conn, signer)
    with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"), conn.transaction():
        conn.execute(statement)


def test_the_rewards_role_appends_but_cannot_update_and_the_reader_reads_nothing_raw(
    conn: psycopg.Connection, signer: Signer
) -> None:
    with conn.transaction():
        conn.execute("SET LOCAL ROLE circulo_rewards")
        journal.append_entries(conn, [new_entry(0)], signer)
        assert len(list(journal.iter_entries(conn))) == 1
    for statement, refusal in (
        ("UPDATE ledger_entry SET amount_micro = 1", "permission denied"),
        ("DELETE FROM ledger_entry", "permission denied"),
        ("ALTER TABLE ledger_entry DISABLE TRIGGER ALL", "must be owner"),
    ):
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match=refusal), conn.transaction():
            conn.execute("SET LOCAL ROLE circulo_rewards")
            conn.execute(statement)
    for table in ("ledger_entry", "ledger_balance", "ledger_head", "ledger_checkpoint"):
        with (
            pytest.raises(psycopg.errors.InsufficientPrivilege, match="permission denied"),
            conn.transaction(),
        ):
            conn.execute("SET LOCAL ROLE circulo_reader")
            conn.execute(f"SELECT * FROM {table}")
    for role in ("circulo_ingest", "circulo_registry"):
        with pytest.raises(psycopg.errors.InsufficientPrivilege), conn.transaction():
            conn.execute(f"SET LOCAL ROLE {role}")
            journal.append_entries(conn, [new_entry(1)], signer)


def test_another_key_is_refused_until_a_signed_rotation_is_recorded(
    conn: psycopg.Connection, signer: Signer, other_signer: Signer
) -> None:
    append(conn, signer, 0)
    with pytest.raises(KeyMismatch, match="no rotation is recorded"):
        journal.ensure_signer_matches(conn, other_signer)
    with pytest.raises(KeyMismatch), conn.transaction():
        journal.append_entries(conn, [new_entry(1)], other_signer)
    with conn.transaction():
        rotation = journal.record_key_rotation(conn, signer, other_signer, note="scheduled")
    assert rotation.after_seq == 1
    assert rotation.statement_sig is not None
    journal.ensure_signer_matches(conn, other_signer)
    append(conn, other_signer, 1)
    result = verify_database(conn)
    assert result.ok, result.findings
    entries = list(journal.iter_entries(conn))
    assert [e.key_id for e in entries] == [signer.key_id, other_signer.key_id]


def test_a_rotation_from_a_lost_key_is_recorded_unsigned(
    conn: psycopg.Connection, signer: Signer, other_signer: Signer
) -> None:
    append(conn, signer, 0)
    with conn.transaction():
        rotation = journal.record_key_rotation(conn, signer.key_id, other_signer)
    assert rotation.statement_sig is None
    append(conn, other_signer, 1)
    assert verify_database(conn).ok


def test_a_rotation_must_start_from_the_key_of_the_latest_entry(
    conn: psycopg.Connection, signer: Signer, other_signer: Signer
) -> None:
    append(conn, signer, 0)
    with pytest.raises(KeyMismatch, match="latest entry is signed by"), conn.transaction():
        journal.record_key_rotation(conn, other_signer, signer)


def test_a_correction_burns_the_entry_once_and_balances_follow(
    conn: psycopg.Connection, signer: Signer
) -> None:
    [mint] = append(conn, signer, 0)
    burn = new_entry(0, kind="burn", reason="correction", corrects_seq=1, settlement_id="correction:1")
    with conn.transaction():
        journal.append_entries(conn, [burn], signer)
    assert journal.balances(conn) == [journal.Balance(mint.account, "GRN", 0)]
    with pytest.raises(DuplicateEntry, match="already corrected"), conn.transaction():
        journal.append_entries(conn, [new_entry(0, kind="burn", reason="correction", corrects_seq=1,
                                                settlement_id="correction:1b")], signer)  # fmt: skip
    assert verify_database(conn).ok


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"account": "member-1@coop1"}, "is not a GRN mint of member-1@coop1"),
        ({"token": "RCY"}, "is not a RCY mint"),
        ({"amount_micro": 10**9}, "cannot exceed"),
        ({"corrects_seq": 2}, "is not a GRN mint of member-0@coop1"),
        ({"corrects_seq": 99}, "no ledger entry 99"),
    ],
)
def test_a_correction_that_does_not_match_its_entry_is_refused(
    conn: psycopg.Connection, signer: Signer, overrides: dict[str, object], message: str
) -> None:
    append(conn, signer, 0, 1)
    values = {"kind": "burn", "reason": "correction", "corrects_seq": 1, "account": "member-0@coop1",
              "settlement_id": "correction:x", **overrides}  # fmt: skip
    with pytest.raises((InvalidEntry, NotFound), match=message), conn.transaction():
        journal.append_entries(conn, [new_entry(0, **values)], signer)
