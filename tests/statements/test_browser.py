"""Member pages in a real browser (headless Chromium): every check runs, and tampering shows where it is.

The page's DOM is read after its script ran. Ed25519 runs through the browser's WebCrypto
and, with ``#ed25519=noble``, through the bundled noble-ed25519: both paths are exercised.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import rfc8785
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.statements.browser import Dom, dump_dom
from tests.statements.conftest import Coop
from tests.statements.site_helpers import build, statement_of, write_page

from circulo.ledger.checkpoint import sign_checkpoint
from circulo.ledger.entries import parse_ts
from circulo.ledger.keys import Signer
from circulo.statements.model import PinnedKey, Statement, StatementEntry
from circulo.statements.page import asset, json_block

ENGINES = ["", "#ed25519=noble"]
PROVEN = {"ok", "unproven"}


def verdicts(dom: Dom) -> dict[int, str]:
    return {seq: element.attrs["data-check"] for seq, element in dom.entries().items()}


def check_text(dom: Dom, seq: int) -> str:
    found = dom.entries()[seq].find(data_role="check")
    assert found is not None
    return found.content


def assert_done(dom: Dom) -> None:
    assert dom.body().attrs.get("data-verification") == "done", "the page's script did not finish"


@pytest.mark.parametrize("fragment", ENGINES)
def test_every_members_page_checks_out_in_the_browser(
    riverside: Coop, tmp_path: Path, secret: bytes, fragment: str
) -> None:
    report = build(riverside, tmp_path / "site", secret)
    for account, path in report.coops[0].members:
        dom = dump_dom(tmp_path / "site" / path / "index.html", fragment)
        assert_done(dom)
        assert dom.by_id["verification"].attrs["data-result"] == "ok", dom.by_id["verification"].content
        assert dom.by_id["ed25519"].attrs["data-impl"] == ("noble" if fragment else "webcrypto")
        assert dom.by_id["checkpoint"].attrs["data-check"] == "ok"
        statement = next(s for s in report.statements if s.account == account)
        assert verdicts(dom) == {e.seq: "ok" for e in statement.entries}
        for seq in verdicts(dom):
            assert check_text(dom, seq).startswith(f"Checked: unchanged, in the ledger: entry {seq} of")
        balances = [e for e in dom.iter() if "data-balance" in e.attrs]
        assert balances and all(b.attrs["data-check"] == "ok" for b in balances)


def with_entry(statement: Statement, seq: int, **changes: object) -> Statement:
    """The statement with one entry's fields (``entry`` dict keys, or ``proof``) changed."""
    proof = changes.pop("proof", ...)

    def changed(item: StatementEntry) -> StatementEntry:
        if item.seq != seq:
            return item
        new_proof = item.proof if proof is ... else proof
        return dataclasses.replace(item, entry={**item.entry, **changes}, proof=new_proof)  # type: ignore[arg-type]

    return dataclasses.replace(statement, entries=[changed(item) for item in statement.entries])


def deposit_mint(statement: Statement) -> StatementEntry:
    return next(e for e in statement.entries if e.entry["reason"] == "recycle.deposit")


@pytest.mark.parametrize("fragment", ENGINES)
def test_an_amount_changed_in_the_export_fails_on_that_entry_alone(
    riverside: Coop, tmp_path: Path, fragment: str
) -> None:
    statement = statement_of(riverside, "alice@riverside")
    target = deposit_mint(statement)
    tampered = with_entry(statement, target.seq, amount_micro=target.entry["amount_micro"] + 1_000_000)
    dom = dump_dom(write_page(tampered, riverside.pinned, tmp_path / "page.html"), fragment)
    assert_done(dom)
    found = verdicts(dom)
    assert found.pop(target.seq) == "fail"
    assert set(found.values()) == {"ok"}
    assert "its content was changed" in check_text(dom, target.seq)
    assert dom.by_id["verification"].attrs["data-result"] == "fail"
    rcy = next(e for e in dom.iter() if e.attrs.get("data-balance") == "RCY")
    assert rcy.attrs["data-check"] == "fail"  # the stated balance no longer adds up


@pytest.mark.parametrize("fragment", ENGINES)
def test_one_flipped_proof_byte_fails_on_that_entry_alone(
    riverside: Coop, tmp_path: Path, fragment: str
) -> None:
    statement = statement_of(riverside, "alice@riverside")
    target = statement.entries[1]
    assert target.proof is not None
    node = target.proof["path"][0]
    flipped = node[:10] + ("0" if node[10] != "0" else "1") + node[11:]
    tampered = with_entry(
        statement, target.seq, proof={**target.proof, "path": [flipped, *target.proof["path"][1:]]}
    )
    dom = dump_dom(write_page(tampered, riverside.pinned, tmp_path / "page.html"), fragment)
    assert_done(dom)
    found = verdicts(dom)
    assert found.pop(target.seq) == "fail"
    assert set(found.values()) == {"ok"}
    assert "the inclusion proof does not lead to the checkpoint's root" in check_text(dom, target.seq)
    assert dom.by_id["verification"].attrs["data-result"] == "fail"


@pytest.mark.parametrize("forge_key_id", [False, True])
@pytest.mark.parametrize("fragment", ENGINES)
def test_a_checkpoint_signed_by_another_key_fails_every_proven_entry(
    riverside: Coop, tmp_path: Path, fragment: str, forge_key_id: bool
) -> None:
    statement = statement_of(riverside, "alice@riverside")
    genuine = statement.checkpoint
    other = sign_checkpoint(
        genuine.size, genuine.root, parse_ts(genuine.ts), Signer(Ed25519PrivateKey.generate())
    )
    if forge_key_id:  # claims the co-op's key, signed by another
        other = dataclasses.replace(other, key_id=genuine.key_id)
    tampered = dataclasses.replace(statement, checkpoint=other)
    dom = dump_dom(write_page(tampered, riverside.pinned, tmp_path / "page.html"), fragment)
    assert_done(dom)
    assert dom.by_id["checkpoint"].attrs["data-check"] == "fail"
    assert set(verdicts(dom).values()) == {"fail"}
    expected = "does not verify under the co-op's key" if forge_key_id else "not the co-op's key"
    assert all(expected in check_text(dom, seq) for seq in verdicts(dom))
    assert dom.by_id["verification"].attrs["data-result"] == "fail"


def test_a_page_pinned_to_another_key_trusts_nothing(riverside: Coop, tmp_path: Path) -> None:
    statement = statement_of(riverside, "alice@riverside")
    stranger = Signer(Ed25519PrivateKey.generate())
    dom = dump_dom(write_page(statement, PinnedKey(stranger.public_key_hex), tmp_path / "page.html"))
    assert_done(dom)
    assert set(verdicts(dom).values()) == {"fail"}
    assert dom.by_id["verification"].attrs["data-result"] == "fail"


def test_entries_after_the_checkpoint_are_said_to_be_unproven_not_failed(
    riverside: Coop, tmp_path: Path
) -> None:
    statement = statement_of(riverside, "alice@riverside")
    last = statement.entries[-1]
    tampered = with_entry(statement, last.seq, proof=None)
    dom = dump_dom(write_page(tampered, riverside.pinned, tmp_path / "page.html"))
    assert verdicts(dom)[last.seq] == "unproven"
    assert "not provable yet" in check_text(dom, last.seq)
    assert dom.by_id["verification"].attrs["data-result"] == "ok"


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


@settings(max_examples=3, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cases=st.lists(JSON_VALUES, min_size=40, max_size=40))
def test_the_pages_canonical_json_is_rfc_8785_byte_for_byte(tmp_path: Path, cases: list[object]) -> None:
    script = (
        "const cases = JSON.parse(document.getElementById('cases').textContent);"
        "document.getElementById('out').textContent = JSON.stringify(cases.map(CirculoStatement.jcs));"
        "document.body.dataset.verification = 'done';"
    )
    page = tmp_path / "jcs.html"
    page.write_text(
        f"<!doctype html><html><body><pre id='out'></pre>{json_block('cases', cases)}"
        f"<script>{asset('statement.js')}</script><script>{script}</script></body></html>",
        encoding="utf-8",
    )
    dom = dump_dom(page)
    assert_done(dom)
    got = json.loads("".join(dom.by_id["out"].text))
    assert got == [rfc8785.dumps(case).decode("utf-8") for case in cases]
