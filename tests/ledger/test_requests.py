"""Signed transfer requests: the domain-separated message, the file form, and what is refused."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from tests.ledger.ledger_factories import build_chain, new_entry

from circulo.ledger.describe import describe_entry
from circulo.ledger.entries import canonical_json
from circulo.ledger.keys import Signer
from circulo.ledger.requests import (
    InvalidRequest,
    TransferRequest,
    sign_transfer,
    signed_transfer_from_dict,
    transfer_from_document,
)
from circulo.rewards.plans.moves import DividendPlan, dividend_settlement, transfer_settlement

GENESIS = "cd" * 32
EXPIRES = datetime(2026, 12, 3, tzinfo=UTC)


def request(**overrides: Any) -> TransferRequest:
    values: dict[str, Any] = {
        "ledger": GENESIS, "coop": "coop1", "from_account": "alice@coop1", "to_account": "bob@coop1",
        "token": "GRN", "amount_micro": 1_000_000, "nonce": "ab" * 16, "expires": EXPIRES,
    }  # fmt: skip
    values.update(overrides)
    return TransferRequest(**values)


def test_the_member_signs_a_domain_separated_message_over_the_jcs_of_the_request() -> None:
    r = request()
    assert r.message() == b"circulo/transfer/v1\x00" + canonical_json(r.document())
    assert r.document()["expires"] == "2026-12-03T00:00:00.000000Z"
    key = Ed25519PrivateKey.generate()
    signed = sign_transfer(r, key)
    public = key.public_key().public_bytes_raw().hex()
    assert signed.signed_by(public)
    assert not signed.signed_by(Ed25519PrivateKey.generate().public_key().public_bytes_raw().hex())


def test_the_request_hash_names_the_settlement_and_changes_with_every_field() -> None:
    base = request()
    assert base.settlement_id == f"transfer:{base.request_hash}"
    changed = [
        request(nonce="cd" * 16), request(amount_micro=1_000_001), request(to_account="carol@coop1"),
        request(ledger="ef" * 32), request(coop="coop2"), request(token="RCY"),
    ]  # fmt: skip
    assert len({base.request_hash, *(c.request_hash for c in changed)}) == 1 + len(changed)


def test_a_signature_over_the_request_does_not_verify_a_tampered_copy() -> None:
    key = Ed25519PrivateKey.generate()
    signed = sign_transfer(request(), key)
    public = key.public_key().public_bytes_raw().hex()
    tampered = dataclasses.replace(signed, request=request(amount_micro=9_000_000))
    assert not tampered.signed_by(public)


def test_the_request_file_round_trips() -> None:
    signed = sign_transfer(request(), Ed25519PrivateKey.generate())
    again = signed_transfer_from_dict(signed.to_dict())
    assert again == signed


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"from_account": "bob@coop1"}, "two different accounts"),
        ({"amount_micro": 0}, "amount_micro"),
        ({"amount_micro": -1}, "amount_micro"),
        ({"amount_micro": 2**53}, "amount_micro"),
        ({"token": "BTC"}, "token"),
        ({"ledger": "00"}, "genesis hash"),
        ({"nonce": "short"}, "nonce"),
        ({"to_account": "not an account"}, "account id"),
        ({"coop": "co op"}, "co-op"),
    ],
)
def test_a_transfer_that_breaks_a_rule_is_refused_with_the_field_named(
    overrides: dict[str, Any], message: str
) -> None:
    with pytest.raises(InvalidRequest, match=message):
        request(**overrides)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d.pop("nonce"), "missing \\['nonce'\\]"),
        (lambda d: d.update(extra=1), "unexpected \\['extra'\\]"),
        (lambda d: d.update(v=2), "version-1"),
        (lambda d: d.update(expires="tomorrow"), "expires"),
        (lambda d: d.update(amount_micro=1.5), "amount_micro"),
        (lambda d: d.update(amount_micro=True), "amount_micro"),
    ],
)
def test_a_malformed_request_document_is_one_clear_error(mutate: Any, message: str) -> None:
    document = request().document()
    mutate(document)
    with pytest.raises(InvalidRequest, match=message):
        transfer_from_document(document)


def test_a_request_file_with_a_bad_signature_field_is_refused() -> None:
    data = sign_transfer(request(), Ed25519PrivateKey.generate()).to_dict()
    with pytest.raises(InvalidRequest, match="sig"):
        signed_transfer_from_dict({**data, "sig": "zz"})
    with pytest.raises(InvalidRequest, match="key_id"):
        signed_transfer_from_dict({**data, "key_id": "ABC"})


def test_every_kind_of_entry_reads_in_plain_words() -> None:
    signer = Signer(Ed25519PrivateKey.generate())
    transfer = transfer_settlement(request(), {"by": "operator", "operator": "op@h"}, policy="ledger-v2")
    dividend = dividend_settlement(DividendPlan("coop1", "GRN", "Q4", 10, {"a@c": 1, "b@c": 3}), policy="x")
    record = new_entry(kind="record", token=None, amount_micro=0, reason="governance.proposal")
    correction = new_entry(
        kind="burn", reason="correction", corrects_seq=1, sources=({"why": "meter double-counted"},)
    )
    chain = build_chain([new_entry(0), correction, *transfer.entries, *dividend.entries, record], signer)
    words = [describe_entry(e) for e in chain]
    assert words == [
        "received 1.000000 GRN: green energy (coop1:2025-03-01T00#0)",
        "paid 1.000000 GRN: correction of entry 1: meter double-counted",
        "paid 1.000000 GRN: transfer to bob@coop1",
        "received 1.000000 GRN: transfer from alice@coop1",
        "paid 0.000010 GRN: dividend Q4 to the members",
        "received 0.000003 GRN: dividend Q4 (1 of 4 shares)",
        "received 0.000007 GRN: dividend Q4 (3 of 4 shares)",
        "recorded governance proposal (green:coop1:2025-03-01T00#0)",
    ]
