"""Where every file of the PKI lives: one directory, the same layout everywhere (backups rely on it).

::

    {pki_dir}/                      0711: traversable by the broker, listable by the owner only
      pki.json                      the PKI's settings (mutual TLS on or off, who signed the broker)
      ca.pem                        the PKI's root: what clients verify PostgreSQL (and the broker) with
      broker-ca.pem                 the root the broker's certificate chains to (ca.pem, or a public CA's)
      root/ca.pem                   the root CA certificate
      root/ca.key                   the root key, 0600: only until it is moved offline
      issuing/ca.pem                the issuing CA certificate
      issuing/ca.key                the issuing CA key, 0600
      issuing/chain.pem             issuing CA + root: what the broker trusts for client certificates
      issuing/index.json            every certificate issued, and every revocation
      issuing/crl.pem               the latest CRL
      servers/{name}/cert.pem       a server's certificate, then the chain up to (not including) the root
      servers/{name}/key.pem        its key, 0600 (``broker``, ``postgres``, …)
      devices/{device_id}.pem       each device's current client certificate (public)
      broker/                       what the broker reads (mount it; ``broker_group`` may read the key):
        server.pem, server.key, clients-ca.pem, crl.pem

A backup of the PKI is a copy of this directory (its keys make the backup a secret);
the root key belongs on offline media, not in it (docs/deployment.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

BROKER_SERVER = "broker"


@dataclass(frozen=True)
class PkiLayout:
    """The paths of one PKI directory."""

    root: Path

    @property
    def config_file(self) -> Path:
        return self.root / "pki.json"

    @property
    def lock_file(self) -> Path:
        return self.root / ".lock"

    @property
    def trust_anchor(self) -> Path:
        """The PKI's own root (PostgreSQL's ``sslrootcert``; the broker's too unless it is public)."""
        return self.root / "ca.pem"

    @property
    def broker_anchor(self) -> Path:
        """The root the broker's certificate chains to (``ca.pem``'s copy, or a public CA's root)."""
        return self.root / "broker-ca.pem"

    @property
    def root_cert(self) -> Path:
        return self.root / "root" / "ca.pem"

    @property
    def root_key(self) -> Path:
        return self.root / "root" / "ca.key"

    @property
    def issuing_cert(self) -> Path:
        return self.root / "issuing" / "ca.pem"

    @property
    def issuing_key(self) -> Path:
        return self.root / "issuing" / "ca.key"

    @property
    def chain(self) -> Path:
        return self.root / "issuing" / "chain.pem"

    @property
    def index_file(self) -> Path:
        return self.root / "issuing" / "index.json"

    @property
    def crl_file(self) -> Path:
        return self.root / "issuing" / "crl.pem"

    def server_cert(self, server: str) -> Path:
        return self.root / "servers" / server / "cert.pem"

    def server_key(self, server: str) -> Path:
        return self.root / "servers" / server / "key.pem"

    def device_cert(self, device_id: str) -> Path:
        return self.root / "devices" / f"{device_id}.pem"

    @property
    def broker_dir(self) -> Path:
        return self.root / "broker"

    @property
    def broker_files(self) -> dict[str, Path]:
        """The files of ``broker/`` by role (mosquitto.conf names them)."""
        return {
            "certfile": self.broker_dir / "server.pem",
            "keyfile": self.broker_dir / "server.key",
            "cafile": self.broker_dir / "clients-ca.pem",
            "crlfile": self.broker_dir / "crl.pem",
        }
