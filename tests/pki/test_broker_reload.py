"""What Mosquitto 2.0.11 does with a CRL on SIGHUP (docs/deployment.md relies on it; a newer broker
that behaves otherwise fails here first).

With ``require_certificate true`` and a ``crlfile``, the reload rebuilds the listener's TLS
context: the new CRL replaces the old one (two CRLs with the same ``thisUpdate`` are not
ambiguous there), and a CRL past its ``nextUpdate`` refuses every client certificate.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography.hazmat.primitives import serialization

from circulo.pki import authority, certs
from circulo.pki.certs import Revocation
from circulo.pki.settings import PkiSettings
from circulo_schemas.broker import ClientCertificate
from tests.conftest import BrokerAccounts
from tests.registry.mqtt_probe import Probe


def device_certificate(pki: PkiSettings, device_id: str, folder: Path) -> tuple[int, ClientCertificate]:
    """A client certificate of the broker's PKI, as files (no password needed for the handshake)."""
    issued, _ = authority.issue_device(pki, device_id)
    (folder / f"{device_id}.pem").write_bytes(issued.chain_pem)
    (folder / f"{device_id}.key").write_bytes(certs.private_pem(issued.key))
    return issued.facts.serial_int, ClientCertificate(
        str(folder / f"{device_id}.pem"), str(folder / f"{device_id}.key")
    )


def handshake_passes(accounts: BrokerAccounts, client: ClientCertificate) -> bool:
    """Whether the TLS handshake (client certificate checked) gets as far as a CONNACK."""
    with Probe.at(accounts.broker, "nobody", "wrong", client=client) as probe:
        return probe.connect() is not None  # refused in TLS: no CONNACK at all


def publish_crl(
    accounts: BrokerAccounts, revoked: list[int], this_update: datetime, next_update: datetime
) -> None:
    """Write a CRL straight into the broker's crlfile and reload the broker."""
    issuer = authority.load_issuer(accounts.pki.layout())
    entries = [Revocation(serial, this_update) for serial in revoked]
    number = int(this_update.timestamp()) + len(revoked)
    crl = certs.build_crl(
        issuer.cert, issuer.key, entries, number=number, this_update=this_update, next_update=next_update
    )
    crl_file = accounts.pki.layout().broker_files["crlfile"]
    crl_file.write_bytes(crl.public_bytes(serialization.Encoding.PEM))
    accounts.broker.reload()


def test_a_reloaded_crl_replaces_the_old_one_even_within_the_same_second(
    mtls_broker_accounts: BrokerAccounts, tmp_path: Path
) -> None:
    a_serial, a = device_certificate(mtls_broker_accounts.pki, "a", tmp_path)
    b_serial, b = device_certificate(mtls_broker_accounts.pki, "b", tmp_path)
    second = datetime.now(UTC).replace(microsecond=0)
    week = second + timedelta(days=7)
    publish_crl(mtls_broker_accounts, [a_serial], second, week)
    assert not handshake_passes(mtls_broker_accounts, a) and handshake_passes(mtls_broker_accounts, b)
    publish_crl(mtls_broker_accounts, [b_serial], second, week)  # same thisUpdate, A no longer listed
    assert handshake_passes(mtls_broker_accounts, a), "the first CRL is still in force: CRLs accumulated"
    assert not handshake_passes(mtls_broker_accounts, b)


def test_an_expired_crl_refuses_every_client_certificate_until_a_fresh_one_is_loaded(
    mtls_broker_accounts: BrokerAccounts, tmp_path: Path
) -> None:
    _, device = device_certificate(mtls_broker_accounts.pki, "d", tmp_path)
    past = datetime.now(UTC).replace(microsecond=0) - timedelta(days=8)
    publish_crl(mtls_broker_accounts, [], past, past + timedelta(days=7))
    assert not handshake_passes(mtls_broker_accounts, device), "an expired CRL let a device in"
    changes = authority.renew_crl(mtls_broker_accounts.pki, force=True)  # what the renewal timer does
    assert changes.broker_files
    mtls_broker_accounts.broker.reload()
    assert handshake_passes(mtls_broker_accounts, device)
