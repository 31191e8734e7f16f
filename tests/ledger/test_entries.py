"""Entries: canonical encoding, hashes, ids and the validation of what the engine appends."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
import rfc8785
from tests.ledger.ledger_factories import new_entry

from circulo.ledger.entries import (
    GENESIS_PREV_HASH,
    entry_body,
    entry_from_dict,
    entry_hash,
    format_ts,
    idempotency_key,
    key_id,
    parse_ts,
)
from circulo.ledger.errors import InvalidEntry
from circulo.ledger.keys import Signer


@pytest.mark.parametrize(
    ("moment", "text"),
    [
        (datetime(2025, 1, 2, 3, 4, 5, 6, tzinfo=UTC), "2025-01-02T03:04:05.000006Z"),
        (datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC), "2025-01-02T03:04:05.000000Z"),
        (
            datetime(2025, 1, 2, 5, 4, 5, 999999, tzinfo=timezone(timedelta(hours=2))),
            "2025-01-02T03:04:05.999999Z",
        ),
    ],
)
def test_timestamps_are_utc_with_six_fraction_digits(moment: datetime, text: str) -> None:
    assert format_ts(moment) == text
    assert parse_ts(text) == moment


def test_a_naive_timestamp_is_refused() -> None:
    with pytest.raises(InvalidEntry, match="no time zone"):
        format_ts(datetime(2025, 1, 1))  # noqa: DTZ001 - the point of the test


@pytest.mark.parametrize("text", ["2025-01-02T03:04:05Z", "2025-01-02T03:04:05.000006+00:00", "2025-01-02"])
def test_parse_ts_accepts_only_the_entry_form(text: str) -> None:
    with pytest.raises(InvalidEntry):
        parse_ts(text)


def test_idempotency_key_is_sha256_of_the_three_parts_joined_by_nul() -> None:
    expected = hashlib.sha256(b"repair\x00repair:r1:e1\x00alice").hexdigest()
    assert idempotency_key("repair", "repair:r1:e1", "alice") == expected


def test_idempotency_keys_of_shifted_concatenations_differ() -> None:
    assert idempotency_key("repair", "a:b", "c") != idempotency_key("repair", "a:", "bc")


def test_idempotency_key_refuses_nul_in_a_part() -> None:
    with pytest.raises(InvalidEntry):
        idempotency_key("repair", "x\x00", "alice")


def test_key_id_is_the_first_16_hex_digits_of_sha256_of_the_raw_key(signer: Signer) -> None:
    assert key_id(signer.public_key_bytes) == hashlib.sha256(signer.public_key_bytes).hexdigest()[:16]
    assert signer.key_id == key_id(signer.public_key_bytes)


def test_entry_hash_is_sha256_of_prev_hash_bytes_and_the_jcs_body(signer: Signer) -> None:
    body = entry_body(new_entry(), seq=1, ts=datetime(2025, 1, 1, tzinfo=UTC), key_id=signer.key_id,
                      prev_hash=GENESIS_PREV_HASH)  # fmt: skip
    expected = hashlib.sha256(bytes(32) + rfc8785.dumps(body)).hexdigest()
    assert entry_hash(GENESIS_PREV_HASH, body) == expected


def test_the_body_has_the_spec_field_names_and_no_hash_or_sig(signer: Signer) -> None:
    body = entry_body(new_entry(), seq=1, ts=datetime(2025, 1, 1, tzinfo=UTC), key_id=signer.key_id,
                      prev_hash=GENESIS_PREV_HASH)  # fmt: skip
    assert set(body) == {
        "seq", "ts", "kind", "token", "account", "amount_micro", "reason", "settlement_id",
        "sources", "policy", "idempotency_key", "key_id", "prev_hash", "corrects_seq", "format",
    }  # fmt: skip
    assert body["format"] == 2


@pytest.mark.parametrize(
    ("kind", "reason"),
    [
        ("mint", "transfer"), ("mint", "dividend"), ("mint", "floor"), ("burn", "transfer"),
        ("burn", "dividend"), ("burn", "floor"), ("record", "member.key"),
        ("record", "governance.proposal"), ("record", "certificate.claim"),
    ],
)  # fmt: skip
def test_every_kind_and_reason_of_the_format_2_table_can_be_written(kind: str, reason: str) -> None:
    money = {"token": None, "amount_micro": 0} if kind == "record" else {}
    entry = new_entry(kind=kind, reason=reason, **money)
    assert (entry.kind, entry.reason) == (kind, reason)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"kind": "transfer"}, "kind"),
        ({"token": "BTC"}, "token"),
        ({"reason": "gift"}, "reason"),
        ({"account": "bad account"}, "account"),
        ({"account": ""}, "account"),
        ({"amount_micro": 0}, "amount_micro"),
        ({"amount_micro": -5}, "amount_micro"),
        ({"amount_micro": 2**53}, "amount_micro"),
        ({"amount_micro": 1.0}, "amount_micro"),
        ({"amount_micro": True}, "amount_micro"),
        ({"settlement_id": ""}, "settlement_id"),
        ({"policy": "v1\n"}, "policy"),
        ({"sources": ()}, "sources"),
        ({"sources": ({"energy_wh": 1.5},)}, "not allowed"),
        ({"sources": ({"energy_wh": 2**53},)}, "exceeds"),
        ({"sources": ({"note": "nul\x00"},)}, "NUL"),
        ({"sources": ({"note": "\ud800"},)}, "UTF-8"),
        ({"sources": ({1: "x"},)}, "not a string"),
        ({"sources": ({"when": datetime(2025, 1, 1, tzinfo=UTC)},)}, "not allowed"),
        ({"sources": ("device",)}, "object"),
        ({"kind": "burn"}, "burn"),
        ({"corrects_seq": 3}, "cannot name an entry it corrects"),
        ({"reason": "correction"}, "not one of a mint's reasons"),
        ({"kind": "burn", "reason": "correction", "corrects_seq": 0}, "positive"),
        ({"kind": "burn", "reason": "correction"}, "must name the entry it corrects"),
        ({"kind": "burn", "reason": "transfer", "corrects_seq": 2}, "cannot name an entry it corrects"),
        ({"kind": "record", "reason": "member.key", "amount_micro": 0}, "token null"),
        ({"kind": "record", "reason": "member.key", "token": None}, "token null"),
        ({"kind": "record", "reason": "transfer", "token": None, "amount_micro": 0}, "record's reasons"),
        (
            {"kind": "record", "reason": "governance.Vote", "token": None, "amount_micro": 0},
            "dotted lowercase",
        ),
        ({"kind": "mint", "reason": "member.key"}, "mint's reasons"),
        ({"kind": "mint", "token": None}, "token"),
    ],
)
def test_a_new_entry_that_breaks_a_rule_is_refused(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidEntry, match=message):
        new_entry(**overrides)


def test_a_correction_is_a_burn_naming_the_entry_it_reverses() -> None:
    entry = new_entry(kind="burn", reason="correction", corrects_seq=4)
    assert entry.corrects_seq == 4


def test_sources_may_nest_lists_objects_booleans_and_nulls() -> None:
    source = {"pair": [{"ts": "x", "wh": 1}], "contaminated": False, "owner": None, "grams": -(2**53 - 1)}
    assert new_entry(sources=(source,)).sources == (source,)


def test_a_sealed_entry_round_trips_through_json_and_back(chain: list[Any]) -> None:
    for entry in chain:
        data = json.loads(json.dumps(entry.to_dict()))
        assert entry_from_dict(data) == entry
        assert entry_hash(entry.prev_hash, entry.body()) == entry.hash
