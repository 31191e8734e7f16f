"""Chain verification from entries alone: every tampering is caught and the entry named."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from tests.ledger.ledger_factories import T0, build_chain, new_entry

from circulo.ledger import merkle
from circulo.ledger.checkpoint import checkpoint_from_dict, sign_checkpoint
from circulo.ledger.entries import LedgerEntry, entry_hash
from circulo.ledger.keys import Signer
from circulo.ledger.verify import Finding, verify_entries


def export_form(chain: list[LedgerEntry]) -> list[dict[str, Any]]:
    return [entry.to_dict() for entry in chain]


def keys_of(*signers: Signer) -> dict[str, str]:
    return {s.key_id: s.public_key_hex for s in signers}


def first_bad(entries: list[dict[str, Any]], signer: Signer, **kwargs: Any) -> Finding | None:
    return verify_entries(entries, keys_of(signer), **kwargs).first_bad


def test_an_untouched_chain_verifies(chain: list[LedgerEntry], signer: Signer) -> None:
    result = verify_entries(export_form(chain), keys_of(signer))
    assert result.ok
    assert result.verified == 8
    assert result.head_hash == chain[-1].hash
    assert result.balances[("member-0@coop1", "GRN")] == 1_000_000 * 3 + 0 + 3 + 6


def test_the_first_entry_links_to_64_zeros(chain: list[LedgerEntry]) -> None:
    assert chain[0].prev_hash == "0" * 64
    assert [e.prev_hash for e in chain[1:]] == [e.hash for e in chain[:-1]]


def test_a_changed_amount_is_a_hash_mismatch_at_that_entry(chain: list[LedgerEntry], signer: Signer) -> None:
    entries = export_form(chain)
    entries[4]["amount_micro"] += 1
    found = first_bad(entries, signer)
    assert found is not None
    assert (found.seq, found.problem) == (5, "hash mismatch")


def test_a_deleted_entry_is_a_seq_gap_naming_the_missing_one(
    chain: list[LedgerEntry], signer: Signer
) -> None:
    entries = export_form(chain)
    del entries[2]
    found = first_bad(entries, signer)
    assert found is not None
    assert (found.seq, found.problem) == (3, "seq gap")


def test_two_swapped_entries_are_caught_at_the_first(chain: list[LedgerEntry], signer: Signer) -> None:
    entries = export_form(chain)
    entries[3], entries[4] = entries[4], entries[3]
    found = first_bad(entries, signer)
    assert found is not None
    assert (found.seq, found.problem) == (4, "seq gap")


def test_swapped_entries_renumbered_are_a_broken_link(chain: list[LedgerEntry], signer: Signer) -> None:
    entries = export_form(chain)
    entries[3], entries[4] = entries[4], entries[3]
    entries[3]["seq"], entries[4]["seq"] = 4, 5
    found = first_bad(entries, signer)
    assert found is not None
    assert (found.seq, found.problem) == (4, "broken link")


def test_a_forged_signature_is_caught(chain: list[LedgerEntry], signer: Signer, other_signer: Signer) -> None:
    entries = export_form(chain)
    entries[6]["sig"] = other_signer.sign(bytes.fromhex(entries[6]["hash"])).hex()
    found = first_bad(entries, signer)
    assert found is not None
    assert (found.seq, found.problem) == (7, "bad signature")


def test_a_rehashed_forgery_under_another_key_is_an_unknown_key(
    chain: list[LedgerEntry], signer: Signer, other_signer: Signer
) -> None:
    forged = build_chain([new_entry(i, amount_micro=10**12) for i in range(8)], other_signer)
    found = first_bad(export_form(forged), signer)
    assert found is not None
    assert (found.seq, found.problem) == (1, "unknown key")


def test_a_key_change_without_a_recorded_rotation_is_refused(signer: Signer, other_signer: Signer) -> None:
    first = build_chain([new_entry(i) for i in range(3)], signer)
    rest = build_chain([new_entry(i) for i in range(3, 5)], other_signer)
    # continue the first chain with the second key
    entries = export_form(first)
    prev = first[-1].hash
    for i, entry in enumerate(rest):
        body = {**entry.body(), "seq": 4 + i, "prev_hash": prev}
        digest = entry_hash(prev, body)
        entries.append({**body, "hash": digest, "sig": other_signer.sign(bytes.fromhex(digest)).hex()})
        prev = digest
    both = keys_of(signer, other_signer)
    found = verify_entries(entries, both, rotations=set()).first_bad
    assert found is not None
    assert (found.seq, found.problem) == (4, "unrecorded key change")
    assert verify_entries(entries, both, rotations={(signer.key_id, other_signer.key_id)}).ok


def test_a_float_anywhere_in_an_entry_is_malformed(chain: list[LedgerEntry], signer: Signer) -> None:
    entries = export_form(chain)
    entries[1]["sources"][0]["energy_wh_later"] = 2001.0
    found = first_bad(entries, signer)
    assert found is not None
    assert (found.seq, found.problem) == (2, "malformed")


def test_a_correction_must_reverse_an_earlier_mint_of_the_same_account(signer: Signer) -> None:
    burn = {"kind": "burn", "reason": "correction", "corrects_seq": 1, "amount_micro": 1_000_000}
    good = build_chain([new_entry(0), new_entry(1, **burn, account="member-0@coop1")], signer)
    assert verify_entries(export_form(good), keys_of(signer)).ok
    wrong = build_chain([new_entry(0), new_entry(1, **burn, account="member-1@coop1")], signer)
    found = first_bad(export_form(wrong), signer)
    assert found is not None
    assert (found.seq, found.problem) == (2, "bad correction")


def test_a_checkpoint_over_a_rewritten_history_is_caught(chain: list[LedgerEntry], signer: Signer) -> None:
    leaves = [bytes.fromhex(e.hash) for e in chain]
    checkpoint = sign_checkpoint(8, merkle.root(leaves).hex(), T0, signer)
    assert verify_entries(export_form(chain), keys_of(signer), checkpoints=[checkpoint]).ok
    rewritten = build_chain([new_entry(i, amount_micro=5) for i in range(8)], signer)
    found = first_bad(export_form(rewritten), signer, checkpoints=[checkpoint])
    assert found is not None
    assert found.problem == "history rewritten"


def test_a_checkpoint_covering_more_than_the_entries_names_the_first_missing(
    chain: list[LedgerEntry], signer: Signer
) -> None:
    checkpoint = sign_checkpoint(8, merkle.root([bytes.fromhex(e.hash) for e in chain]).hex(), T0, signer)
    found = first_bad(export_form(chain[:6]), signer, checkpoints=[checkpoint])
    assert found is not None
    assert (found.seq, found.problem) == (7, "entries missing")


def test_a_checkpoint_round_trips_and_its_signature_covers_size_root_and_ts(signer: Signer) -> None:
    checkpoint = sign_checkpoint(3, "ab" * 32, T0, signer)
    assert checkpoint_from_dict(checkpoint.to_dict()) == checkpoint
    forged = checkpoint_from_dict({**checkpoint.to_dict(), "size": 4})
    found = verify_entries([], keys_of(signer), checkpoints=[forged]).first_bad
    assert found is not None
    assert found.problem == "bad checkpoint signature"


def test_a_public_key_listed_under_the_wrong_id_is_reported(signer: Signer, other_signer: Signer) -> None:
    result = verify_entries([], {signer.key_id: other_signer.public_key_hex})
    assert not result.ok
    assert result.findings[0].problem == "bad public key"


FIELD_CHANGES = {
    "seq": lambda v: v + 1,
    "ts": lambda v: v.replace("12:00", "12:01"),
    "kind": lambda v: "burn",
    "token": lambda v: "RCY" if v == "GRN" else "GRN",
    "account": lambda v: v + "x",
    "amount_micro": lambda v: v + 1,
    "reason": lambda v: "repair",
    "settlement_id": lambda v: v + "x",
    "sources": lambda v: [{**v[0], "energy_wh_later": v[0]["energy_wh_later"] + 1}],
    "policy": lambda v: v + "x",
    "idempotency_key": lambda v: ("0" if v[0] != "0" else "1") + v[1:],
    "key_id": lambda v: ("0" if v[0] != "0" else "1") + v[1:],
    "prev_hash": lambda v: ("0" if v[0] != "0" else "1") + v[1:],
    "corrects_seq": lambda v: 1,
    "hash": lambda v: ("0" if v[0] != "0" else "1") + v[1:],
    "sig": lambda v: ("0" if v[0] != "0" else "1") + v[1:],
}


@given(index=st.integers(min_value=0, max_value=7), field=st.sampled_from(sorted(FIELD_CHANGES)))
def test_any_single_field_change_of_any_entry_is_detected_at_that_entry(
    chain: list[LedgerEntry], signer: Signer, index: int, field: str
) -> None:
    entries = copy.deepcopy(export_form(chain))
    entries[index][field] = FIELD_CHANGES[field](entries[index][field])
    found = first_bad(entries, signer)
    assert found is not None
    assert found.seq == index + 1
