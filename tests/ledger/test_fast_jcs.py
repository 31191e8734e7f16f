"""The fast canonical encoder is byte-identical to ``rfc8785`` (RFC 8785, JCS).

Entries are hashed over their JCS; a verifier that encoded one byte differently would call a
good ledger tampered with (or worse, agree with a forged one). Hypothesis draws arbitrary JSON
values with string keys — any Unicode, control characters, characters beyond U+FFFF whose
UTF-16 order differs from code-point order, integers up to and beyond 2^53 - 1, floats — and
entry bodies of every shape the project writes, and compares the bytes.
"""

from __future__ import annotations

from typing import Any

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.ledger.ledger_factories import build_chain, new_entry

from circulo.ledger.entries import (
    _NUMBER_RFC8785_ONLY,
    MAX_SAFE_INT,
    canonical_entry_json,
    entry_hash,
    fast_canonical_json,
    json_safe,
    sha256_hex,
    signed_body,
)
from circulo.ledger.keys import Signer

# Text biased towards what differs between encoders: escapes, DEL, U+2028, the BMP's top,
# surrogate-pair characters (sorted differently by UTF-16), and plain ASCII.
TRICKY = '\x00\x01\x08\t\n\x0b\x0c\r\x1f "\\/\x7f\x80é\u2028\u2029\ud7ff\ue000\uffff😀\U0010ffff'
text = st.one_of(
    st.text(alphabet=st.sampled_from(TRICKY + "abz09:,[.eE-"), max_size=12),
    st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=12),
)
safe_int = st.integers(min_value=-MAX_SAFE_INT, max_value=MAX_SAFE_INT)
scalar = st.one_of(st.none(), st.booleans(), safe_int, st.integers(-(10**20), 10**20), text)


def nested(leaves: st.SearchStrategy[Any], keys: st.SearchStrategy[str] = text) -> st.SearchStrategy[Any]:
    return st.recursive(
        leaves,
        lambda inner: st.one_of(
            st.lists(inner, max_size=5), st.tuples(inner, inner), st.dictionaries(keys, inner, max_size=6)
        ),
        max_leaves=30,
    )


json_value = nested(scalar)
# What json_safe lets into an entry: no floats, integers within 2^53 - 1, no NUL.
entry_text = text.map(lambda t: t.replace("\x00", "\x01"))
entry_value = nested(st.one_of(st.none(), st.booleans(), safe_int, entry_text), entry_text)


def reference(value: Any) -> bytes | type[Exception]:
    """rfc8785's bytes, or the kind of error it raises."""
    try:
        return bytes(rfc8785.dumps(value))
    except Exception as e:
        return type(e)


def fast(value: Any) -> bytes | type[Exception]:
    try:
        return fast_canonical_json(value)
    except Exception as e:
        return type(e)


@settings(max_examples=1500, deadline=None)
@given(json_value)
def test_any_json_value_encodes_as_rfc8785_does(value: Any) -> None:
    assert fast(value) == reference(value)


@settings(max_examples=300, deadline=None)
@given(st.floats(allow_nan=True, allow_infinity=True), st.dictionaries(text, st.floats(), max_size=3))
def test_floats_take_the_exact_path(number: float, mapping: dict[str, float]) -> None:
    assert fast(number) == reference(number)
    assert fast(mapping) == reference(mapping)
    assert fast([number, {"a": number}]) == reference([number, {"a": number}])


ts = st.builds(
    lambda s: f"2025-{s % 12 + 1:02d}-{s % 28 + 1:02d}T{s % 24:02d}:00:00.{s % 999999:06d}Z",
    st.integers(0, 10**6),
)
hex64 = st.binary(min_size=32, max_size=32).map(bytes.hex)
label = st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=40)
account = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9@._-]{0,20}", fullmatch=True)
meter_hour = st.fixed_dictionaries(
    {
        "type": st.just("meter_hour"),
        "device_id": entry_text,
        "hour": ts,
        "from_ts": ts,
        "from_wh": safe_int,
        "to_ts": ts,
        "to_wh": safe_int,
        "pairs": safe_int,
        "excluded_wh": safe_int,
    }
)
split = st.fixed_dictionaries(
    {
        "type": st.just("split"),
        "coop_id": entry_text,
        "credited_wh": safe_int,
        "grn_per_kwh": label,
        "amount_micro": safe_int,
        "treasury_bp": safe_int,
        "treasury_micro": safe_int,
        "account_shares": safe_int,
        "total_shares": safe_int,
    }
)
evidence = st.fixed_dictionaries(
    {"type": st.just("evidence"), "sha256": hex64, "sources": safe_int, "credited_wh": safe_int}
)
signed_document = st.fixed_dictionaries(
    {
        "type": st.sampled_from(["transfer_request", "member_key", "ballot"]),
        "document": st.dictionaries(
            entry_text, st.one_of(entry_text, safe_int, st.lists(entry_text, max_size=3)), max_size=8
        ),
        "key_id": hex64.map(lambda h: h[:16]),
        "sig": hex64.map(lambda h: h * 2),
    }
)
certificates = st.fixed_dictionaries(
    {
        "type": st.just("certificates"),
        "issuer": account,
        "bundles": st.lists(
            st.fixed_dictionaries(
                {"device_id": entry_text, "hour": ts, "start": safe_int, "end": safe_int, "wh": safe_int}
            ),
            max_size=5,
        ),
    }
)
any_source = st.one_of(meter_hour, split, evidence, signed_document, certificates,
                       st.dictionaries(entry_text, entry_value, min_size=1, max_size=5))  # fmt: skip
big_or_safe = st.one_of(st.integers(1, MAX_SAFE_INT), st.integers(1, 2**63 - 1))  # seq is not bounded
body = st.fixed_dictionaries(
    {"seq": big_or_safe, "ts": ts, "kind": st.sampled_from(["mint", "burn", "record"]),
     "token": st.sampled_from(["GRN", "RCY", None]), "account": account, "amount_micro": safe_int,
     "reason": st.sampled_from(["green.energy", "recycle.deposit", "transfer", "certificate.issue"]),
     "settlement_id": label, "sources": st.lists(any_source, min_size=1, max_size=4), "policy": label,
     "idempotency_key": hex64, "key_id": hex64.map(lambda h: h[:16]), "prev_hash": hex64,
     "corrects_seq": st.one_of(st.none(), big_or_safe), "format": st.sampled_from([1, 2])},
    optional={"adopted_by": label},
)  # fmt: skip


@settings(max_examples=800, deadline=None)
@given(body, hex64)
def test_every_entry_shape_hashes_as_with_rfc8785(entry: dict[str, Any], prev_hash: str) -> None:
    json_safe(entry["sources"], "sources")  # the domain: what the form check lets through
    expected = reference(entry)
    assert fast(entry) == expected
    try:
        assert canonical_entry_json(entry) == expected
        assert entry_hash(prev_hash, entry) == sha256_hex(bytes.fromhex(prev_hash) + expected)  # type: ignore[operator]
    except rfc8785.CanonicalizationError as e:
        assert type(e) is expected


def test_the_test_chain_hashes_as_with_rfc8785_on_the_fast_path(signer: Signer) -> None:
    for entry in build_chain([new_entry(i) for i in range(50)], signer):
        body = signed_body(entry.to_dict())
        assert entry_hash(entry.prev_hash, body) == entry.hash
        assert canonical_entry_json(body) == fast_canonical_json(body) == bytes(rfc8785.dumps(body))
        assert _NUMBER_RFC8785_ONLY.search(fast_canonical_json(body)) is None  # timestamps are no floats


@pytest.mark.parametrize(
    "value",
    [
        {"\ue000": 1, "😀": 2},  # UTF-16 puts the astral key first, code points the other way
        2**53,  # beyond what JCS encodes: rfc8785 refuses it
        -(2**53) + 1,
        1.5,
        [1e21],
        {"a": float("nan")},
        "\ud800",  # a lone surrogate
    ],
)
def test_the_cases_the_standard_library_gets_wrong_go_to_rfc8785(value: Any) -> None:
    assert fast(value) == reference(value)
