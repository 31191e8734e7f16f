"""`circulo pki`: the directory it makes, what each operation changes, and bad input changing nothing."""

from __future__ import annotations

import hashlib
import json
import os
import stat
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from click.testing import CliRunner, Result
from cryptography import x509

from circulo.cli import cli
from circulo.pki import authority, certs, crl, files
from circulo.pki.authority import ExistingCa, InitRequest, ServerNames
from circulo.pki.errors import PkiError
from circulo.pki.layout import PkiLayout
from circulo.pki.settings import PkiSettings

NAMES = ServerNames(("mqtt.example.org", "mosquitto"), ("127.0.0.1",))


def new_pki(tmp_path: Path, **settings: object) -> PkiSettings:
    pki = PkiSettings(pki_dir=str(tmp_path / "pki"), **settings)
    authority.init(pki, InitRequest("Sunny Co-op", NAMES, key_type="ec"))
    return pki


def tree(root: Path) -> dict[str, str]:
    """Every file under ``root`` by relative path: content hash and mode (what 'changes nothing' means)."""
    found = {}
    for path in sorted(root.rglob("*")):
        if path.is_file() and path.name != ".lock":
            digest = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
            found[str(path.relative_to(root))] = f"{digest} {stat.S_IMODE(path.stat().st_mode):o}"
    return found


def test_init_lays_out_the_pki_keys_readable_by_the_owner_only(tmp_path: Path) -> None:
    pki = new_pki(tmp_path)
    layout = pki.layout()
    modes = {name: mode.split()[1] for name, mode in tree(layout.root).items()}
    for key in ("root/ca.key", "issuing/ca.key", "servers/broker/key.pem", "broker/server.key"):
        assert modes[key] == "600", key
    for public in ("ca.pem", "broker-ca.pem", "issuing/chain.pem", "broker/server.pem", "broker/crl.pem"):
        assert modes[public] == "644", public
    assert stat.S_IMODE(layout.root.stat().st_mode) == 0o711  # the broker's user can reach broker/ by name
    config = json.loads(layout.config_file.read_text())
    assert config == {"version": 1, "organisation": "Sunny Co-op", "mutual_tls": False, "server_ca": "own",
                      "key_type": "ec"}  # fmt: skip
    served = files.read_cert(layout.broker_files["certfile"], "broker")
    assert certs.san_entries(served) == (["mqtt.example.org", "mosquitto"], ["127.0.0.1"])
    assert (
        layout.trust_anchor.read_bytes() == layout.broker_anchor.read_bytes() == layout.root_cert.read_bytes()
    )


def test_the_root_key_can_go_straight_to_offline_media(tmp_path: Path) -> None:
    pki = PkiSettings(pki_dir=str(tmp_path / "pki"))
    offline = tmp_path / "usb" / "root.key"
    offline.parent.mkdir()
    authority.init(pki, InitRequest("Co-op", NAMES, key_type="ec", root_key_out=offline))
    assert not pki.layout().root_key.exists()
    key = files.read_key(offline, "root key")
    assert certs.key_matches(files.read_cert(pki.layout().root_cert, "root"), key)
    assert stat.S_IMODE(offline.stat().st_mode) == 0o600


def test_the_co_ops_own_ca_is_used_as_the_issuing_ca(tmp_path: Path) -> None:
    own = new_pki(tmp_path / "own").layout()
    pki = PkiSettings(pki_dir=str(tmp_path / "pki"))
    existing = ExistingCa(own.issuing_cert, own.issuing_key, own.root_cert)
    authority.init(pki, InitRequest("Co-op", NAMES, key_type="ec", existing_ca=existing))
    issued = files.read_cert(pki.layout().broker_files["certfile"], "broker")
    assert certs.signed_by(issued, files.read_cert(own.issuing_cert, "own CA"))
    assert pki.layout().trust_anchor.read_bytes() == own.root_cert.read_bytes()


def test_a_revocation_puts_the_serial_on_a_new_crl_for_the_broker(tmp_path: Path) -> None:
    pki = new_pki(tmp_path)
    issued, _ = authority.issue_device(pki, "m-1")
    changes = authority.revoke(pki, device_id="m-1", reason="superseded")
    assert [c.serial for c in changes.certificates] == [issued.facts.serial]
    assert changes.crl is not None and changes.crl.number == 2 and changes.broker_files
    published = x509.load_pem_x509_crl(pki.layout().broker_files["crlfile"].read_bytes())
    entry = published.get_revoked_certificate_by_serial_number(issued.facts.serial_int)
    assert entry is not None
    assert (
        entry.extensions.get_extension_for_class(x509.CRLReason).value.reason == x509.ReasonFlags.superseded
    )
    assert files.load_index(pki.layout()).find(issued.facts.serial).sessions_cut is False  # type: ignore[union-attr]


def test_two_revocations_in_one_second_get_crls_whose_this_update_strictly_increases(tmp_path: Path) -> None:
    pki = new_pki(tmp_path)
    first, _ = authority.issue_device(pki, "m-1")
    second, _ = authority.issue_device(pki, "m-2")
    a = authority.revoke(pki, serials=[first.facts.serial]).crl
    b = authority.revoke(pki, serials=[second.facts.serial]).crl
    assert a is not None and b is not None
    assert b.this_update > a.this_update and b.number == a.number + 1
    assert b.this_update <= datetime.now(UTC) and b.revoked == 2


def test_the_crl_is_re_issued_only_when_due_or_forced(tmp_path: Path) -> None:
    pki = new_pki(tmp_path)
    assert authority.renew_crl(pki).crl is None
    forced = authority.renew_crl(pki, force=True).crl
    assert forced is not None and forced.number == 2
    due = PkiSettings(pki_dir=pki.pki_dir, crl_renew_after_hours=1)
    stale = crl.current_facts(due.layout())
    assert stale is not None and not crl.is_due(stale, datetime.now(UTC), timedelta(hours=1))
    assert crl.is_due(stale, datetime.now(UTC) + timedelta(hours=2), timedelta(hours=1))


def test_renewal_re_issues_a_server_certificate_close_to_expiry_with_the_same_names(tmp_path: Path) -> None:
    pki = new_pki(tmp_path, server_days=20)  # within the 30 days' renewal margin from the start
    before = files.read_cert(pki.layout().server_cert("broker"), "broker")
    changes = authority.renew_due(pki)
    after = files.read_cert(pki.layout().server_cert("broker"), "broker")
    assert [c.kind for c in changes.certificates] == ["server"] and changes.broker_files
    assert after.serial_number != before.serial_number
    assert certs.san_entries(after) == certs.san_entries(before)


def test_a_public_cas_certificate_is_imported_for_the_broker(tmp_path: Path) -> None:
    pki = new_pki(tmp_path)
    public = new_pki(tmp_path / "public").layout()  # stands in for a public CA's chain
    authority.issue_server(
        PkiSettings(pki_dir=str(public.root)), "broker", ServerNames(("mqtt.example.org",))
    )
    changes = authority.import_server(
        pki, public.server_cert("broker"), public.server_key("broker"), public.root_cert
    )
    assert changes.broker_files
    assert files.load_config(pki.layout()).server_ca == "public"
    assert pki.layout().broker_anchor.read_bytes() == public.root_cert.read_bytes()
    assert (
        pki.layout().trust_anchor.read_bytes() != public.root_cert.read_bytes()
    )  # own root stays for PostgreSQL
    with pytest.raises(PkiError, match="public CA"):
        authority.issue_server(pki, "broker", NAMES)


# --- every bad input: one clear line, nothing changed ----------------------------------------------
def run(pki_dir: Path, *args: str, database_url: str | None = None) -> Result:
    """``circulo pki …`` (revocations are audited: they need the database)."""
    env = {"CIRCULO_PKI_DIR": str(pki_dir)} | ({"CIRCULO_DATABASE_URL": database_url} if database_url else {})
    return CliRunner().invoke(cli, ["pki", *args], env=env, catch_exceptions=False)


def other_key(tmp_path: Path) -> Path:
    path = tmp_path / "other.key"
    files.write_key(path, certs.new_key("ec"))
    return path


BAD_INPUTS: dict[str, Callable[[PkiLayout, Path], list[str]]] = {
    "init twice": lambda layout, tmp: ["init", "--org", "X", "--host", "a.example"],
    "no host or ip": lambda layout, tmp: ["server", "issue", "postgres", "--ip", "not-an-ip"],
    "a CA file that does not exist": lambda layout, tmp: [
        "server", "import", "--cert", str(tmp / "missing.pem"), "--key", str(layout.issuing_key),
        "--root", str(layout.root_cert)],
    "a key that is not the certificate's": lambda layout, tmp: [
        "server", "import", "--cert", str(layout.server_cert("broker")), "--key", str(other_key(tmp)),
        "--root", str(layout.root_cert)],
    "an unreadable file (a directory)": lambda layout, tmp: [
        "server", "import", "--cert", str(tmp), "--key", str(layout.issuing_key),
        "--root", str(layout.root_cert)],
    "a certificate that is not PEM": lambda layout, tmp: [
        "server", "import", "--cert", str(layout.index_file), "--key", str(layout.issuing_key),
        "--root", str(layout.root_cert)],
    "a chain to another root": lambda layout, tmp: [
        "server", "import", "--cert", str(layout.server_cert("broker")),
        "--key", str(layout.server_key("broker")),
        "--root", str(new_pki(tmp / "stranger").layout().root_cert)],
    "an unknown serial": lambda layout, tmp: ["revoke", "0123abcd"],
    "a CA's serial": lambda layout, tmp: ["revoke", files.load_index(layout).entries[0].serial],
}  # fmt: skip


@pytest.mark.parametrize("case", BAD_INPUTS)
def test_every_bad_input_is_one_clear_error_line_and_changes_nothing(
    tmp_path: Path, case: str, db_url: str
) -> None:
    pki = new_pki(tmp_path)
    layout = pki.layout()
    argv = BAD_INPUTS[case](layout, tmp_path / "work")
    (tmp_path / "work").mkdir(exist_ok=True)
    before = tree(layout.root)
    result = run(layout.root, *argv, database_url=db_url)  # revocations are audited
    assert result.exit_code == 2, result.stdout + result.stderr
    assert result.stdout == ""
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1, result.stderr
    assert tree(layout.root) == before


def test_without_a_pki_every_command_says_how_to_create_one(tmp_path: Path, db_url: str) -> None:
    for argv in (
        ["status"],
        ["crl", "renew"],
        ["server", "issue", "postgres", "--host", "db"],
        ["revoke", "ab"],
    ):
        result = run(tmp_path / "nothing", *argv, database_url=db_url)
        assert result.exit_code == 2
        assert (
            result.stderr.strip()
            == f"error: no PKI in {tmp_path / 'nothing'}: run `circulo pki init` (or set pki_dir)"
        )


def test_importing_a_ca_with_a_wrong_key_creates_no_pki(tmp_path: Path) -> None:
    own = new_pki(tmp_path / "own").layout()
    target = tmp_path / "pki"
    args = ["init", "--org", "X", "--host", "a.example", "--ca-cert", str(own.issuing_cert), "--ca-key",
            str(other_key(tmp_path)), "--ca-root", str(own.root_cert)]  # fmt: skip
    result = run(target, *args)
    assert result.exit_code == 2 and "not the key of" in result.stderr
    assert not target.exists() or tree(target) == {}


def test_status_mirrors_every_certificate_and_the_crl_into_the_database(tmp_path: Path, db_url: str) -> None:
    pki = new_pki(tmp_path)
    authority.issue_device(pki, "m-1")
    env = {"CIRCULO_PKI_DIR": pki.pki_dir or "", "CIRCULO_DATABASE_URL": db_url}
    result = CliRunner().invoke(cli, ["pki", "status", "--record", "--json"], env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["recorded"] == 5  # root, issuing, broker, m-1 and the CRL
    with psycopg.connect(db_url) as conn:
        kinds = conn.execute(
            "SELECT kind, name FROM dashboards.pki_certificate ORDER BY kind, name"
        ).fetchall()
        crl_row = conn.execute(
            "SELECT crl_number, age_s < 60, seconds_left > 6 * 86400 FROM dashboards.pki_crl"
        )
        assert crl_row.fetchone() == (1, True, True)
    assert [k for k, _ in kinds] == ["device", "issuing", "root", "server"]
    assert os.environ.get("CIRCULO_PKI_DIR") is None  # nothing leaks into the rest of the session
