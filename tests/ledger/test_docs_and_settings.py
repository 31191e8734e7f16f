"""The auditor's guide prints the shipped stand-alone verifier; ledger settings resolve their paths."""

from __future__ import annotations

from pathlib import Path

from circulo.ledger import standalone_verify
from circulo.ledger.settings import LedgerSettings
from circulo.settings import load_settings

DOC = Path(__file__).resolve().parents[2] / "docs" / "ledger.md"


def test_the_guide_prints_the_standalone_verifier_exactly_as_shipped() -> None:
    script = Path(standalone_verify.__file__).read_text(encoding="utf-8")
    assert f"```python\n{script}```" in DOC.read_text(encoding="utf-8")


def test_the_standalone_verifier_imports_only_stdlib_cryptography_and_rfc8785() -> None:
    script = Path(standalone_verify.__file__).read_text(encoding="utf-8")
    imports = {
        line.split()[1].split(".")[0] for line in script.splitlines() if line.startswith(("import ", "from "))
    }
    assert imports == {
        "hashlib",
        "json",
        "multiprocessing",
        "os",
        "re",
        "sys",
        "typing",
        "rfc8785",
        "cryptography",
    }


def test_the_key_and_checkpoint_default_to_the_state_folder(tmp_path: Path) -> None:
    settings = load_settings(LedgerSettings, section="ledger", environ={"CIRCULO_STATE_DIR": str(tmp_path)})
    assert settings.signing_key_path == tmp_path / "ledger-signing.key"
    assert settings.checkpoint_file == tmp_path / "ledger-checkpoint.json"


def test_without_a_state_folder_the_key_lives_under_the_users_config(tmp_path: Path) -> None:
    settings = load_settings(LedgerSettings, section="ledger", environ={})
    assert settings.signing_key_path == Path.home() / ".config" / "circulo" / "ledger-signing.key"


def test_an_explicit_key_path_wins_and_is_expanded() -> None:
    settings = load_settings(
        LedgerSettings,
        section="ledger",
        flags={"signing_key_path": "~/keys/ledger.key"},
        environ={"CIRCULO_SIGNING_KEY_PATH": "/elsewhere.key"},
    )
    assert settings.signing_key_path == Path.home() / "keys" / "ledger.key"
