"""Pure parts of statements: link tokens, the secret, settings, the vendored library, the Python checks."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import re
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from tests.statements.conftest import Coop
from tests.statements.site_helpers import statement_of

from circulo.errors import ConfigError
from circulo.ledger.keys import Signer
from circulo.settings import load_settings
from circulo.statements import links
from circulo.statements.check import check_statement
from circulo.statements.model import PinnedKey
from circulo.statements.page import NOBLE_SHA256, asset, json_block, noble_script
from circulo.statements.settings import StatementsSettings
from circulo.statements.words import shown_sources, source_words


def test_tokens_are_128_bits_stable_and_separated_by_purpose_and_secret() -> None:
    secret = bytes(range(32))
    member = links.member_path(secret, "alice@riverside")
    assert re.fullmatch(r"m/[0-9a-f]{32}/", member)
    assert member == links.member_path(secret, "alice@riverside")
    assert member != links.member_path(secret, "alice@riverside2")
    assert member != links.member_path(bytes(32), "alice@riverside")
    assert member[2:] != links.index_path(secret, "alice@riverside")[2:]  # a co-op named like an account
    with pytest.raises(ConfigError):
        links.token(secret, "a\x00b")


def test_the_link_secret_is_created_once_0600_and_refused_when_others_can_read_it(tmp_path: Path) -> None:
    path = tmp_path / "state" / "statements-link.key"
    first = links.load_or_create_secret(path)
    assert len(first) == 32 and path.stat().st_mode & 0o777 == 0o600
    assert links.load_or_create_secret(path) == first
    os.chmod(path, 0o644)
    with pytest.raises(ConfigError, match="readable by other users"):
        links.load_or_create_secret(path)
    os.chmod(path, 0o600)
    path.write_text("not hex\n", encoding="ascii")
    with pytest.raises(ConfigError, match="not 64 hex digits"):
        links.load_or_create_secret(path)


def test_the_pinned_key_comes_from_configuration_a_hex_value_or_a_pub_file(tmp_path: Path) -> None:
    signer = Signer(Ed25519PrivateKey.generate())
    (tmp_path / "ledger-signing.key.pub").write_text(signer.public_key_hex + "\n", encoding="ascii")
    by_default = load_settings(StatementsSettings, flags={"state_dir": str(tmp_path)}, environ={})
    assert by_default.pinned_key() == PinnedKey(signer.public_key_hex)
    assert by_default.link_secret_path == tmp_path / "statements-link.key"
    by_value = load_settings(StatementsSettings, environ={"CIRCULO_LEDGER_PUBLIC_KEY": signer.public_key_hex})
    assert by_value.pinned_key().key_id == signer.key_id
    missing = load_settings(StatementsSettings, flags={"state_dir": str(tmp_path / "empty")}, environ={})
    with pytest.raises(ConfigError, match="no ledger public key to pin"):
        missing.pinned_key()


def test_the_vendored_noble_ed25519_is_the_recorded_file_with_its_licence() -> None:
    source = asset("vendor", "noble-ed25519", "index.js")
    assert hashlib.sha256(source.encode()).hexdigest() == NOBLE_SHA256
    assert "The MIT License" in asset("vendor", "noble-ed25519", "LICENSE")
    script = noble_script()
    assert "export {" not in script and 'return { version: "3.2.0", verifyAsync }' in script


def test_a_json_block_cannot_be_closed_by_its_content() -> None:
    block = json_block("x", {"a": "</script><script>alert(1)</script>&"})
    assert block.count("</script>") == 1
    assert "\\u003c/script\\u003e" in block and "\\u0026" in block


def test_evidence_about_other_members_is_withheld_and_the_rest_in_words() -> None:
    sources = [
        {"type": "split", "coop_id": "c", "credited_wh": 100, "grn_per_kwh": "1", "amount_micro": 100_000,
         "treasury_micro": 10_000, "account_shares": 1, "total_shares": 4},
        {"type": "meter_hour", "device_id": "m-neighbour", "from_wh": 1, "to_wh": 101},
    ]  # fmt: skip
    shown, withheld = shown_sources(sources)
    assert (shown, withheld) == (sources[:1], 1)
    assert source_words(shown[0]) == (
        "c credited 100 Wh at 1 GRN/kWh: 0.100000 GRN, of which the treasury 0.010000 GRN; your 1 of 4 shares"
    )
    assert source_words({"type": "new.thing", "a": 1, "b": "x"}) == "a 1, b x, type new.thing"


def test_the_python_checks_agree_with_the_page_on_tampering(riverside: Coop) -> None:
    statement = statement_of(riverside, "alice@riverside")
    pinned = riverside.pinned
    assert check_statement(statement, pinned)["failed"] == 0
    first = statement.entries[0]
    changed = dataclasses.replace(
        first, entry={**first.entry, "amount_micro": first.entry["amount_micro"] + 1}
    )
    tampered = dataclasses.replace(statement, entries=[changed, *statement.entries[1:]])
    checks = check_statement(tampered, pinned)
    assert checks["failed"] == 1 and checks["balances"] is False
    assert checks["entries"][0] == {"seq": first.seq, "verdict": "fail", "problems": ["hash mismatch"]}
    stranger = PinnedKey(Signer(Ed25519PrivateKey.generate()).public_key_hex)
    assert check_statement(statement, stranger)["checkpoint"] is False
    assert check_statement(statement, stranger)["failed"] == len(statement.entries)
