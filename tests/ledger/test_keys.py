"""Signing keys: created once, 0600 in a 0700 folder, refused when missing or exposed."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from circulo.ledger.errors import SigningKeyError
from circulo.ledger.keys import generate_key, load_signer, public_key_path, signature_holds


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_keygen_writes_a_0600_key_in_a_0700_folder_and_a_public_key_beside_it(tmp_path: Path) -> None:
    path = tmp_path / "state" / "ledger-signing.key"
    signer = generate_key(path)
    assert mode(path) == 0o600
    assert mode(path.parent) == 0o700
    assert public_key_path(path).read_text().strip() == signer.public_key_hex


def test_a_loaded_key_is_the_generated_one_and_signs_verifiably(key_file: tuple[Path, object]) -> None:
    path, generated = key_file
    loaded = load_signer(path)
    assert loaded.key_id == generated.key_id  # type: ignore[attr-defined]
    assert signature_holds(loaded.public_key_hex, loaded.sign(b"message").hex(), b"message")
    assert not signature_holds(loaded.public_key_hex, loaded.sign(b"message").hex(), b"massage")


def test_keygen_refuses_to_overwrite_an_existing_key(key_file: tuple[Path, object]) -> None:
    path, _ = key_file
    before = path.read_bytes()
    with pytest.raises(SigningKeyError, match="refusing to overwrite"):
        generate_key(path)
    assert path.read_bytes() == before


def test_a_missing_key_names_its_path_and_the_command_that_creates_it(tmp_path: Path) -> None:
    path = tmp_path / "nope.key"
    with pytest.raises(SigningKeyError, match=f"no signing key at {path}; run circulo ledger keygen"):
        load_signer(path)


@pytest.mark.parametrize("exposed_mode", [0o640, 0o604, 0o660, 0o644])
def test_a_key_readable_by_others_is_refused(key_file: tuple[Path, object], exposed_mode: int) -> None:
    path, _ = key_file
    path.chmod(exposed_mode)
    with pytest.raises(SigningKeyError, match="accessible to other users"):
        load_signer(path)


def test_a_file_that_is_not_a_key_is_refused_with_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "garbage.key"
    path.write_text("not a key")
    path.chmod(0o600)
    with pytest.raises(SigningKeyError, match="cannot read signing key"):
        load_signer(path)


def test_signature_check_is_false_for_malformed_keys_or_signatures() -> None:
    assert not signature_holds("zz", "00" * 64, b"m")
    assert not signature_holds("00" * 32, "nothex", b"m")
