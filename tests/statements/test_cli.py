"""`circulo statements build` and `circulo member statement` on the command line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from tests.statements.conftest import Coop

from circulo.cli import cli
from circulo.ledger.keys import public_key_path


def circulo(coop: Coop, tmp_path: Path, *args: str, key: str | None = None) -> Result:
    env = {
        "CIRCULO_LEDGER_PUBLIC_KEY": key
        if key is not None
        else str(public_key_path(coop.settings.signing_key_path)),
        "CIRCULO_LINK_SECRET_PATH": str(tmp_path / "state" / "statements-link.key"),
        "CIRCULO_CONFIG": "",
    }
    return CliRunner(env=env).invoke(cli, ["--database-url", coop.db_url, *args], catch_exceptions=False)


def test_member_statement_json_is_the_pages_data_with_checks_that_hold(
    riverside: Coop, tmp_path: Path
) -> None:
    result = circulo(riverside, tmp_path, "member", "statement", "alice@riverside", "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["format"] == "circulo-statement/1"
    assert doc["account"] == "alice@riverside" and doc["coops"] == ["riverside"]
    assert doc["pinned_key"]["public_key"] == riverside.signer.public_key_hex
    assert doc["checks"]["checkpoint"] is True and doc["checks"]["balances"] is True
    assert {c["verdict"] for c in doc["checks"]["entries"]} == {"ok"}
    assert all(item["proof"]["root"] == doc["checkpoint"]["root"] for item in doc["entries"])
    assert {p["status"] for p in doc["pending"]} == {
        "awaiting_collection",
        "awaiting_watermark",
        "ready",
        "hour_open",
    }
    assert all(p["why"] for p in doc["pending"])
    assert doc["page"] is None and not (tmp_path / "state").exists()  # a read creates no secret
    circulo(riverside, tmp_path, "statements", "build", "--out", str(tmp_path / "site"))
    again = json.loads(
        circulo(riverside, tmp_path, "member", "statement", "alice@riverside", "--json").stdout
    )
    assert (tmp_path / "site" / again["page"] / "index.html").is_file()
    assert (tmp_path / "state" / "statements-link.key").stat().st_mode & 0o777 == 0o600


def test_member_statement_in_words(riverside: Coop, tmp_path: Path) -> None:
    result = circulo(riverside, tmp_path, "member", "statement", "carol@riverside")
    assert result.exit_code == 0, result.output
    assert "balance 9.000000 RCY" in result.stdout
    assert "[ok] received 9.000000 RCY: recycling deposits (bin-1:c-1)" in result.stdout
    assert "checkpoint signature holds under the pinned key" in result.stdout


def test_statements_build_writes_the_site_and_lists_every_page(riverside: Coop, tmp_path: Path) -> None:
    result = circulo(riverside, tmp_path, "statements", "build", "--out", str(tmp_path / "site"), "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["pages"] == 3 and doc["failed_entries"] == 0 and doc["root_matches"] is True
    (coop,) = doc["coops"]
    for member in coop["members"]:
        assert (tmp_path / "site" / member["page"] / "index.html").is_file()
    text = circulo(riverside, tmp_path, "statements", "build", "--out", str(tmp_path / "site"))
    assert text.stdout.splitlines()[0].startswith(f"3 member pages in {tmp_path / 'site'}")


@pytest.mark.parametrize(
    ("args", "key", "message"),
    [
        (("member", "statement", "nobody@riverside"), None, "error: nobody@riverside is no co-op's member"),
        (
            ("member", "statement", "alice@riverside"),
            "/nowhere/key.pub",
            "error: no ledger public key to pin",
        ),
        (("member", "statement", "alice@riverside"), "ab" * 31, "is not 64 lowercase hex digits"),
        (
            ("statements", "build", "--out", "site", "--coop", "nowhere"),
            None,
            "error: co-op nowhere is not registered",
        ),
    ],
)
def test_bad_input_is_one_error_line(
    riverside: Coop, tmp_path: Path, args: tuple[str, ...], key: str | None, message: str
) -> None:
    result = circulo(riverside, tmp_path, *args, key=key)
    assert result.exit_code != 0
    assert message in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert "Traceback" not in result.output
