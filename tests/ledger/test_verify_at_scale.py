"""Verification at scale gives the verdict of the plain one: signatures in worker processes,
entries streamed from the database, checkpoints mode, the fast form check.

The reference is the verifier checking each signature in place (``workers=0``): with worker
processes the first finding, the verified count, the head and the balances must be the same
whatever goes wrong, and wherever.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.ledger.conftest import LedgerCli, seed
from tests.ledger.ledger_factories import T0, build_chain, new_entry
from tests.ledger.test_fast_jcs import entry_text, entry_value, json_value

from circulo.ledger import audit, journal, log, merkle, standalone_verify
from circulo.ledger.checkpoint import sign_checkpoint
from circulo.ledger.entries import (
    LedgerEntry,
    entry_hash,
    json_safe,
    normalise_sources,
    plain_json,
    signed_body,
)
from circulo.ledger.keys import Signer
from circulo.ledger.verify import VerifyResult, verify_entries
from circulo.store.db import connect

COUNT = 60


@pytest.fixture(scope="module")
def long_chain() -> tuple[list[LedgerEntry], Signer]:
    signer = Signer(Ed25519PrivateKey.generate())
    return build_chain([new_entry(i) for i in range(COUNT)], signer), signer


def keys(signer: Signer) -> dict[str, str]:
    return {signer.key_id: signer.public_key_hex}


def outcome(result: VerifyResult) -> tuple[Any, ...]:
    return result.first_bad, result.verified, result.head_hash, dict(result.balances)


def named(result: VerifyResult) -> tuple[int | None, str] | None:
    """The first bad entry's seq and problem."""
    first = result.first_bad
    return None if first is None else (first.seq, first.problem)


def bad_signature(entry: dict[str, Any]) -> None:
    entry["sig"] = ("0" if entry["sig"][0] != "0" else "1") + entry["sig"][1:]


def changed_amount(entry: dict[str, Any]) -> None:
    entry["amount_micro"] += 1


def test_an_untouched_chain_verifies_the_same_with_worker_processes(
    long_chain: tuple[list[LedgerEntry], Signer],
) -> None:
    chain, signer = long_chain
    entries = [e.to_dict() for e in chain]
    parallel = verify_entries(entries, keys(signer), workers=2)
    assert parallel.ok
    assert outcome(parallel) == outcome(verify_entries(entries, keys(signer), workers=0))


@pytest.mark.parametrize(
    ("sig_at", "other_at", "other"),
    [
        (17, None, None),  # a bad signature alone
        (17, 40, changed_amount),  # before another problem: the signature is the finding
        (40, 17, changed_amount),  # after one: the other problem is
        (17, 17, changed_amount),  # a hash mismatch is found before the signature is looked at
        (1, None, None),
        (COUNT, None, None),
        (17, 18, bad_signature),  # two bad signatures: the first
    ],
)
def test_worker_processes_name_the_same_first_bad_entry_and_state(
    long_chain: tuple[list[LedgerEntry], Signer], sig_at: int, other_at: int | None, other: Any
) -> None:
    chain, signer = long_chain
    entries = [e.to_dict() for e in chain]
    bad_signature(entries[sig_at - 1])
    if other_at is not None:
        other(entries[other_at - 1])
    serial = verify_entries(entries, keys(signer), workers=0)
    parallel = verify_entries(entries, keys(signer), workers=2)
    assert not serial.ok
    assert outcome(parallel) == outcome(serial)


def checkpoint_over(chain: list[LedgerEntry], size: int, signer: Signer) -> Any:
    root = merkle.root_of_hashes([merkle.leaf_hash(bytes.fromhex(e.hash)) for e in chain[:size]]).hex()
    return sign_checkpoint(size, root, T0, signer)


def test_checkpoints_mode_trusts_a_signed_checkpoint_for_the_entries_under_it(
    long_chain: tuple[list[LedgerEntry], Signer],
) -> None:
    chain, signer = long_chain
    entries = [e.to_dict() for e in chain]
    bad_signature(entries[9])  # under the checkpoint: authenticated by it, not by its own sig
    checkpoints = [checkpoint_over(chain, 40, signer)]
    every = verify_entries(entries, keys(signer), checkpoints=checkpoints)
    assert every.first_bad is not None and (every.first_bad.seq, every.first_bad.problem) == (
        10,
        "bad signature",
    )
    trusting = verify_entries(entries, keys(signer), checkpoints=checkpoints, signatures="checkpoints")
    assert trusting.ok and trusting.verified == COUNT


def test_checkpoints_mode_checks_every_signature_after_the_last_checkpoint(
    long_chain: tuple[list[LedgerEntry], Signer],
) -> None:
    chain, signer = long_chain
    entries = [e.to_dict() for e in chain]
    bad_signature(entries[44])
    for workers in (0, 2):
        result = verify_entries(
            entries, keys(signer), checkpoints=[checkpoint_over(chain, 40, signer)], signatures="checkpoints",
            workers=workers,
        )  # fmt: skip
        assert result.first_bad is not None
        assert (result.first_bad.seq, result.first_bad.problem) == (45, "bad signature")


def test_a_history_the_key_holder_rewrote_under_the_checkpoint_fails_in_both_modes(
    long_chain: tuple[list[LedgerEntry], Signer],
) -> None:
    chain, signer = long_chain
    entries = [e.to_dict() for e in chain]
    entries[9]["amount_micro"] += 1  # rewritten from entry 10 on, re-hashed and re-signed
    prev = entries[8]["hash"]
    for entry in entries[9:]:
        entry["prev_hash"] = prev
        entry["hash"] = prev = entry_hash(prev, signed_body(entry))
        entry["sig"] = signer.sign(bytes.fromhex(prev)).hex()
    checkpoints = [checkpoint_over(chain, 40, signer)]
    for mode in ("every", "checkpoints"):
        result = verify_entries(entries, keys(signer), checkpoints=checkpoints, signatures=mode)  # type: ignore[arg-type]
        assert result.first_bad is not None and result.first_bad.problem == "history rewritten"


def test_checkpoints_mode_ignores_a_checkpoint_no_trusted_key_signed(
    long_chain: tuple[list[LedgerEntry], Signer], other_signer: Signer
) -> None:
    chain, signer = long_chain
    entries = [e.to_dict() for e in chain]
    bad_signature(entries[9])
    checkpoints = [checkpoint_over(chain, 40, other_signer)]
    result = verify_entries(entries, keys(signer), checkpoints=checkpoints, signatures="checkpoints")
    assert result.first_bad is not None and (result.first_bad.seq, result.first_bad.problem) == (
        10,
        "bad signature",
    )


def test_the_database_verifies_the_same_streamed_and_with_workers(db_url: str, signer: Signer) -> None:
    seed(db_url, signer, 30)
    with connect(db_url) as conn:
        serial = audit.verify_database(conn, workers=0)
        parallel = audit.verify_database(conn, workers=2)
        exported = [entry.to_dict() for entry in journal.iter_entries(conn)]
        streamed = list(journal.stream_export_entries(conn))
    assert serial.ok and serial.verified == 30
    assert outcome(parallel) == outcome(serial)
    assert streamed == exported  # the streamed form is the export form, field for field


def test_a_bad_signature_in_the_database_is_named_with_workers(db_url: str, signer: Signer) -> None:
    seed(db_url, signer, 30)
    with connect(db_url) as conn, conn.transaction():
        conn.execute("ALTER TABLE ledger_entry DISABLE TRIGGER USER")
        conn.execute("UPDATE ledger_entry SET sig = repeat('0', 128) WHERE seq = 12")
        conn.execute("ALTER TABLE ledger_entry ENABLE TRIGGER USER")
    with connect(db_url) as conn:
        serial = audit.verify_database(conn, workers=0)
        parallel = audit.verify_database(conn, workers=2)
    assert serial.first_bad is not None and (serial.first_bad.seq, serial.first_bad.problem) == (
        12,
        "bad signature",
    )
    assert outcome(parallel) == outcome(serial)


def test_checkpoints_mode_in_the_database_uses_the_recorded_checkpoints(db_url: str, signer: Signer) -> None:
    seed(db_url, signer, 30)
    with connect(db_url) as conn, conn.transaction():
        log.create_checkpoint(conn, signer)
    with connect(db_url) as conn:
        result = audit.verify_database(conn, signatures="checkpoints")
    assert result.ok and result.verified == 30


@settings(max_examples=600, deadline=None)
@given(
    st.one_of(
        json_value,
        st.lists(
            st.dictionaries(st.text(max_size=3), st.one_of(st.floats(), st.just("\x00"), st.just("\ud800")))
        ),
    )
)
def test_the_quick_form_walk_accepts_only_what_json_safe_accepts(value: Any) -> None:
    if plain_json(value):
        json_safe(value, "value")  # does not raise


def test_the_cli_verifies_with_workers_and_in_checkpoints_mode(
    ledger_cli: LedgerCli, db_url: str, signer: Signer
) -> None:
    seed(db_url, signer, 30)
    with connect(db_url) as conn, conn.transaction():
        log.create_checkpoint(conn, signer)
    for options in (("--workers", "2"), ("--signatures", "checkpoints"), ("--workers", "0", "--progress")):
        assert "ledger OK: 30 entries" in ledger_cli.ok("verify", *options).stdout
    assert ledger_cli.json("verify", "--signatures", "checkpoints")["verified_entries"] == 30


def export_of(entries: list[dict[str, Any]], chain: list[LedgerEntry], signer: Signer) -> list[str]:
    trailer = {
        "public_keys": keys(signer),
        "checkpoint": checkpoint_over(chain, len(chain), signer).to_dict(),
    }
    return [json.dumps(entry) for entry in entries] + [json.dumps({**trailer, "rotations": []})]


@pytest.mark.parametrize("sig_at", [None, 1, 17, COUNT])
@pytest.mark.parametrize("other_at", [None, 5, 17, 40])
def test_the_standalone_script_names_the_same_entry_with_worker_processes(
    long_chain: tuple[list[LedgerEntry], Signer],
    monkeypatch: pytest.MonkeyPatch,
    sig_at: int | None,
    other_at: int | None,
) -> None:
    chain, signer = long_chain
    entries = [e.to_dict() for e in chain]
    if sig_at is not None:
        bad_signature(entries[sig_at - 1])
    if other_at is not None:
        changed_amount(entries[other_at - 1])
    lines = export_of(entries, chain, signer)
    serial = standalone_verify.verify(lines, [signer.public_key_hex])
    monkeypatch.setattr(standalone_verify, "PARALLEL_FROM", 1)
    assert standalone_verify.verify(lines, [signer.public_key_hex]) == serial
    assert serial.startswith("OK") == (sig_at is None and other_at is None)


@settings(max_examples=400, deadline=None)
@given(st.lists(st.dictionaries(entry_text, entry_value, max_size=5), min_size=1, max_size=3))
def test_sources_normalise_the_same_on_the_quick_path(sources: list[dict[str, Any]]) -> None:
    slow = [{key: json_safe(value, "source") for key, value in source.items()} for source in sources]
    assert normalise_sources(sources) == slow
    assert normalise_sources(tuple(sources)) == slow
