"""The registry's side of the PKI: device certificates, revocations that hold, the broker's CA.

With mutual TLS on (a choice of the whole PKI, ``pki.json``), every credential issue gives
the device a client certificate (CN = device id) with its password; ``rotate-credentials``
and ``retire`` revoke the old certificate, publish a new CRL and reload the broker *before*
the password changes (which cuts the live session), so the old bundle is refused at the
handshake from then on. A revocation is recorded with ``sessions_cut`` false until the
device's session has been cut; ``device sync`` finishes what an interruption left.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

import psycopg

from circulo.errors import ConfigError
from circulo.pki import authority, certs, crl, files
from circulo.pki.authority import Changes
from circulo.pki.certs import private_pem
from circulo.pki.model import CertFacts, Index
from circulo.pki.record import record
from circulo.pki.reload import reload_broker
from circulo.pki.settings import PkiSettings
from circulo.registry.access import new_passphrase
from circulo.registry.bundle import ClientCertificate, TrustAnchor
from circulo.registry.settings import RegistrySettings


class DeviceCerts:
    """The PKI as the registry uses it (no PKI configured: no certificates, nothing to revoke)."""

    def __init__(self, settings: RegistrySettings) -> None:
        self.settings = settings
        self.pki: PkiSettings | None = settings.pki_settings()

    @property
    def mutual_tls(self) -> bool:
        return self.pki is not None and files.load_config(self.pki.layout()).mutual_tls

    def trust_anchor(self) -> TrustAnchor:
        """The broker's CA for bundles; a ConfigError without a PKI (TLS bundles need one)."""
        if self.pki is None:
            raise ConfigError("no PKI: set pki_dir (`circulo pki init`); TLS bundles carry the broker's CA")
        layout = self.pki.layout()
        config = files.load_config(layout)
        anchor = files.read_cert(layout.broker_anchor, "broker CA")
        pem = files.read_bytes(layout.broker_anchor, "broker CA").decode()
        return TrustAnchor(None if config.server_ca == "public" else pem, certs.sha256_hex(anchor))

    def issue(self, conn: psycopg.Connection, device_id: str) -> ClientCertificate | None:
        """A client certificate for the device when mutual TLS is on; recorded in the database."""
        if self.pki is None or not self.mutual_tls:
            return None
        issued, changes = authority.issue_device(self.pki, device_id)
        record(conn, changes.certificates, None)
        passphrase = new_passphrase()
        return ClientCertificate(
            serial=issued.facts.serial,
            chain_pem=issued.chain_pem.decode(),
            key_pem=private_pem(issued.key, passphrase).decode(),
            passphrase=passphrase,
            sha256=issued.facts.sha256,
            not_after=issued.facts.not_after.isoformat(),
        )

    def revoke_device(
        self, conn: psycopg.Connection, device_id: str, *, keep: str | None, reason: str
    ) -> tuple[CertFacts, ...]:
        """Revoke the device's other certificates; when any, publish the CRL and reload the broker."""
        if self.pki is None or not self.pki.layout().device_cert(device_id).exists():
            return ()  # never had a certificate: nothing to revoke (and no index to read)
        changes = authority.revoke(
            self.pki, device_id=device_id, keep=keep, reason=reason, sessions_cut=False
        )
        self._publish(conn, changes)
        return changes.certificates

    def sessions_cut(self, revoked: Iterable[CertFacts]) -> None:
        """Record that the sessions of these revoked certificates' devices were cut."""
        serials = [c.serial for c in revoked]
        if self.pki is not None and serials:
            authority.mark_sessions_cut(self.pki, serials)

    def uncut(self, device_id: str) -> list[CertFacts]:
        """The device's revoked certificates whose session was not cut yet."""
        index = self.index()
        entries = index.entries if index is not None else ()
        return [e for e in entries if e.kind == "device" and e.name == device_id and not e.sessions_cut]

    def index(self) -> Index | None:
        """The PKI's index (None without a PKI)."""
        if self.pki is None:
            return None
        files.load_config(self.pki.layout())
        return files.load_index(self.pki.layout())

    def crl_pending(self) -> bool:
        """A revocation the published CRL lacks, or a CRL due for re-issue."""
        if self.pki is None:
            return False
        layout = self.pki.layout()
        now = datetime.now(UTC)
        due = crl.is_due(crl.current_facts(layout), now, self.pki.margins().crl_renew_after)
        return due or crl.pending(layout, files.load_index(layout))

    def publish_crl(self, conn: psycopg.Connection) -> None:
        """Re-issue the CRL (sync), mirror it and reload the broker."""
        if self.pki is not None:
            self._publish(conn, authority.renew_crl(self.pki, force=True))

    def reload(self) -> str:
        return reload_broker(self.settings) if self.pki is not None else ""

    def revoke_retired(self, conn: psycopg.Connection, device_id: str) -> tuple[CertFacts, ...]:
        """Revoke every certificate of a retired device (its client is disabled: no session to cut)."""
        revoked = self.revoke_device(conn, device_id, keep=None, reason="cessation_of_operation")
        self.sessions_cut(revoked)
        return revoked

    def _publish(self, conn: psycopg.Connection, changes: Changes) -> None:
        record(conn, changes.certificates, changes.crl)
        if changes.broker_files:
            reload_broker(self.settings)
