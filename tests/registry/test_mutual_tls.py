"""Mutual TLS on a real broker (SPEC §9): a certificate of this PKI, not revoked, AND the password.

Each test has a broker of its own with ``require_certificate true`` and its own PKI. The
registry issues a client certificate with the credentials; rotation and retirement revoke
it, publish a CRL and reload the broker before the password changes; the live session of a
revoked device is cut (the broker never re-checks a session it accepted).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from circulo.pki import authority, certs, files
from circulo.registry import devices, members
from circulo.registry.bundle import IssuedCredentials, compact_bundle, qr_payload
from circulo.registry.check import Verdict
from circulo.registry.commissioning import check_device
from circulo.registry.handout import Handout
from circulo.registry.model import DeviceSpec
from circulo.registry.settings import RegistrySettings
from circulo_schemas.broker import ClientCertificate
from tests.conftest import BrokerAccounts
from tests.factories import unique_id
from tests.registry.mqtt_probe import NOT_AUTHORIZED, Probe

TELEMETRY = b'{"v":1,"ts":"2025-06-01T12:00:00Z","seq":1,"energy_wh":10,"power_w":5}'


@pytest.fixture
def settings(db_url: str, mtls_broker_accounts: BrokerAccounts) -> RegistrySettings:
    configured = mtls_broker_accounts.registry_settings(db_url)
    members.add_coop(configured, "coop1", "Co-op One")
    return configured


def add_meter(settings: RegistrySettings) -> IssuedCredentials:
    spec = DeviceSpec("meter", unique_id("m"), "coop1", rated_power_w=5000)
    return devices.add_device(settings, spec).credentials


def accepted(code: int) -> bool:
    """A PUBACK that is a success (0, or 0x10: accepted, no subscriber yet)."""
    return code < 0x80


def cert_files(credentials: IssuedCredentials, folder: Path) -> ClientCertificate:
    """What an installer flashes: the bundle's certificate and its (still encrypted) key."""
    client = credentials.client_certificate
    assert client is not None, "mutual TLS is on: the credentials carry a certificate"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{credentials.device_id}-{client.serial}.pem").write_text(client.chain_pem)
    (folder / f"{credentials.device_id}-{client.serial}.key").write_text(client.key_pem)
    stem = folder / f"{credentials.device_id}-{client.serial}"
    return ClientCertificate(f"{stem}.pem", f"{stem}.key", client.passphrase)


def device(accounts: BrokerAccounts, username: str, password: str, client: ClientCertificate | None) -> Probe:
    return Probe.at(accounts.broker, username, password, client=client)


def connects(probe: Probe) -> bool:
    probe.connect()
    probe.answered.wait(10)
    return probe.connected.is_set()


def test_a_device_with_its_certificate_and_password_connects_and_the_bundle_keeps_the_key_apart(
    settings: RegistrySettings, mtls_broker_accounts: BrokerAccounts, tmp_path: Path
) -> None:
    meter = add_meter(settings)
    out = Handout.prepare(settings, tmp_path / "bundles", tmp_path / "passphrases").hand_out(meter)
    bundle = json.loads((tmp_path / "bundles" / f"{meter.device_id}.json").read_text())
    assert bundle["client_key"].startswith("-----BEGIN ENCRYPTED PRIVATE KEY-----")
    assert meter.client_certificate is not None
    passphrase = meter.client_certificate.passphrase
    assert passphrase not in json.dumps(bundle) and passphrase not in qr_payload(bundle)
    assert (tmp_path / "passphrases" / f"{meter.device_id}.passphrase").read_text().strip() == passphrase
    assert out.passphrase_file is not None and "key_passphrase" not in out.as_dict()
    qr = compact_bundle(bundle)
    assert "client_key" not in qr and "client_cert" not in qr and qr["ca_sha256"] == bundle["ca_sha256"]
    cert = certs.x509.load_pem_x509_certificate(bundle["client_cert"].encode())
    assert certs.common_name(cert) == meter.device_id
    with device(mtls_broker_accounts, meter.device_id, meter.password, cert_files(meter, tmp_path)) as probe:
        assert connects(probe)
        assert accepted(probe.publish(f"circulo/v1/meter/{meter.device_id}/telemetry", TELEMETRY))


def test_without_a_certificate_a_device_gets_no_connection(
    settings: RegistrySettings, mtls_broker_accounts: BrokerAccounts
) -> None:
    meter = add_meter(settings)
    with device(mtls_broker_accounts, meter.device_id, meter.password, None) as probe:
        assert not connects(probe)


def test_a_valid_certificate_with_a_wrong_password_is_refused(
    settings: RegistrySettings, mtls_broker_accounts: BrokerAccounts, tmp_path: Path
) -> None:
    meter = add_meter(settings)
    with device(
        mtls_broker_accounts, meter.device_id, "not-the-password", cert_files(meter, tmp_path)
    ) as probe:
        code = probe.connect()
        probe.answered.wait(10)
    assert code is not None and code.is_failure  # the TLS handshake passed; MQTT said no
    assert not probe.connected.is_set()


def test_another_devices_certificate_with_this_devices_password_stays_within_this_devices_topics(
    settings: RegistrySettings, mtls_broker_accounts: BrokerAccounts, tmp_path: Path
) -> None:
    """A certificate proves "a device of this deployment, not revoked"; the password proves which."""
    mine, theirs = add_meter(settings), add_meter(settings)
    borrowed = cert_files(theirs, tmp_path)
    with device(mtls_broker_accounts, mine.device_id, mine.password, borrowed) as probe:
        assert connects(probe)  # Mosquitto 2.0 never compares the CN with the username
        assert accepted(probe.publish(f"circulo/v1/meter/{mine.device_id}/telemetry", TELEMETRY))
        assert probe.publish(f"circulo/v1/meter/{theirs.device_id}/telemetry", TELEMETRY) == NOT_AUTHORIZED


def test_after_rotation_the_old_certificate_is_refused_at_the_handshake_even_with_the_new_password(
    settings: RegistrySettings, mtls_broker_accounts: BrokerAccounts, tmp_path: Path
) -> None:
    meter = add_meter(settings)
    old = cert_files(meter, tmp_path / "old")
    rotated = devices.rotate_credentials(settings, meter.device_id)
    new = cert_files(rotated, tmp_path / "new")
    log_start = mtls_broker_accounts.broker.log_file.stat().st_size
    with device(mtls_broker_accounts, meter.device_id, rotated.password, old) as probe:
        assert not connects(probe)
    with device(mtls_broker_accounts, meter.device_id, rotated.password, new) as probe:
        assert connects(probe)
    log = mtls_broker_accounts.broker.log_file.read_bytes()[log_start:]
    assert b"certificate verify failed" in log  # refused by TLS, before any MQTT CONNECT was read


def test_two_revocations_in_a_row_both_hold_after_the_reload(
    settings: RegistrySettings, mtls_broker_accounts: BrokerAccounts, tmp_path: Path
) -> None:
    first, second = add_meter(settings), add_meter(settings)
    first_cert, second_cert = cert_files(first, tmp_path), cert_files(second, tmp_path)
    # back to back: the second CRL is issued within a second of the first
    first_new = devices.rotate_credentials(settings, first.device_id)
    second_new = devices.rotate_credentials(settings, second.device_id)
    for credentials, old in ((first_new, first_cert), (second_new, second_cert)):
        with device(mtls_broker_accounts, credentials.device_id, credentials.password, old) as probe:
            assert not connects(probe), f"{credentials.device_id}'s old certificate still gets in"
    index = files.load_index(settings.pki_settings().layout())  # type: ignore[union-attr]
    assert index.crl_number >= 3


def test_a_revoked_devices_live_session_is_cut_and_it_cannot_come_back(
    settings: RegistrySettings, mtls_broker_accounts: BrokerAccounts, tmp_path: Path
) -> None:
    meter = add_meter(settings)
    old = cert_files(meter, tmp_path)
    with device(mtls_broker_accounts, meter.device_id, meter.password, old) as probe:
        assert connects(probe)
        devices.retire_device(settings, meter.device_id)
        assert probe.disconnected.wait(10), "the retired device's session is still open"
    with device(mtls_broker_accounts, meter.device_id, meter.password, old) as again:
        assert not connects(again)
    index = files.load_index(settings.pki_settings().layout())  # type: ignore[union-attr]
    revoked = [e for e in index.entries if e.name == meter.device_id]
    assert [(e.reason, e.sessions_cut) for e in revoked] == [("cessation_of_operation", True)]


def test_a_revocation_by_serial_leaves_the_session_live_until_sync_cuts_it(
    settings: RegistrySettings, mtls_broker_accounts: BrokerAccounts, tmp_path: Path
) -> None:
    """What Mosquitto 2.0.11 does: SIGHUP reloads the CRL for new handshakes and never re-checks
    a session it accepted, so `circulo device sync` cuts it."""
    meter = add_meter(settings)
    assert meter.client_certificate is not None
    client = cert_files(meter, tmp_path)
    pki = settings.pki_settings()
    assert pki is not None
    with device(mtls_broker_accounts, meter.device_id, meter.password, client) as probe:
        assert connects(probe)
        authority.revoke(pki, serials=[meter.client_certificate.serial])
        mtls_broker_accounts.broker.reload()
        assert not probe.disconnected.wait(2), "2.0.11 does not re-check a live session on SIGHUP"
        plan = devices.sync_broker(settings, lambda _: None)
        assert ("cut_session", meter.device_id) in [(str(a.step), a.target) for a in plan]
        assert probe.disconnected.wait(10)
    with device(mtls_broker_accounts, meter.device_id, meter.password, client) as again:
        assert not connects(again)
    assert devices.sync_broker(settings, lambda _: None, dry_run=True) == []


def test_an_expired_certificate_is_refused(
    settings: RegistrySettings, mtls_broker_accounts: BrokerAccounts, tmp_path: Path
) -> None:
    meter = add_meter(settings)
    pki = settings.pki_settings()
    assert pki is not None
    issuer = authority.load_issuer(pki.layout())
    key = certs.new_key("ec")
    past = datetime.now(UTC) - timedelta(days=40)
    expired = certs.build_device(key.public_key(), meter.device_id, issuer=issuer.cert, issuer_key=issuer.key,
                                 now=past, days=30)  # fmt: skip
    (tmp_path / "expired.pem").write_bytes(certs.pem(expired) + issuer.chain_pem)
    (tmp_path / "expired.key").write_bytes(certs.private_pem(key, "pw"))
    client = ClientCertificate(str(tmp_path / "expired.pem"), str(tmp_path / "expired.key"), "pw")
    with device(mtls_broker_accounts, meter.device_id, meter.password, client) as probe:
        assert not connects(probe)


def test_device_check_warns_before_the_certificate_expires_and_reports_the_listener(
    db_url: str, mtls_broker_accounts: BrokerAccounts, tmp_path: Path
) -> None:
    short = mtls_broker_accounts.registry_settings(db_url, device_cert_days=10)
    members.add_coop(short, "coop1", "Co-op One")
    meter = add_meter(short)
    with device(mtls_broker_accounts, meter.device_id, meter.password, cert_files(meter, tmp_path)) as probe:
        assert connects(probe)
        topic = f"circulo/v1/meter/{meter.device_id}/status"
        assert accepted(probe.publish(topic, b'{"v":1,"state":"online"}'))
    report = check_device(short, meter.device_id).report
    by_name = {c.name: c for c in report.checks}
    assert by_name["certificate"].status is Verdict.WARN
    assert "renew it now" in by_name["certificate"].summary
    assert "rotate-credentials" in by_name["certificate"].next_step
    transport = by_name["transport"]
    assert transport.status is Verdict.PASS
    assert transport.summary.startswith(
        f"last connected TLS on port {mtls_broker_accounts.broker.port}, client certificate required"
    )


def test_the_simulator_connects_each_device_with_its_bundle_certificate_and_passphrase(
    settings: RegistrySettings, mtls_broker_accounts: BrokerAccounts, tmp_path: Path
) -> None:
    from circulo_sim.fleet import DeviceSpec as SimDevice  # noqa: PLC0415 - the simulator stands alone
    from circulo_sim.sources import load_bundle_endpoints  # noqa: PLC0415

    meter = add_meter(settings)
    Handout.prepare(settings, tmp_path / "bundles", tmp_path / "passphrases").hand_out(meter)
    spec = SimDevice(device_id=meter.device_id, kind="meter", rated_power_w=5000)
    endpoint = load_bundle_endpoints(tmp_path / "bundles", [spec], tmp_path / "passphrases")[meter.device_id]
    assert endpoint.tls_context is not None
    probe = Probe(
        "127.0.0.1", endpoint.port, endpoint.username, endpoint.password, context=endpoint.tls_context
    )
    with probe:
        assert connects(probe)
        assert accepted(probe.publish(f"circulo/v1/meter/{meter.device_id}/telemetry", TELEMETRY))
