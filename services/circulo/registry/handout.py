"""How new credentials leave the registry: bundle files (JSON and QR) and, apart, key passphrases.

With mutual TLS a bundle carries the device's key encrypted; its passphrase is shown on
the terminal or written to ``--passphrase-dir`` (never the bundle directory), so whoever
carries the bundle to the device does not also carry what opens the key.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from circulo.errors import ConfigError
from circulo.registry.bundle import (
    BundleFiles,
    IssuedCredentials,
    TrustAnchor,
    build_bundle,
    write_bundle,
    write_secret,
)
from circulo.registry.certificates import DeviceCerts
from circulo.registry.settings import RegistrySettings
from circulo.settings import MqttEndpoint


@dataclass(frozen=True)
class HandedOut:
    """One device's bundle, where it was written, and where its key's passphrase went (if anywhere)."""

    bundle: dict[str, Any]
    files: BundleFiles | None
    passphrase: str | None
    passphrase_file: Path | None

    def as_dict(self) -> dict[str, Any]:
        """``--json`` output: the bundle, its files, and the passphrase only when written nowhere."""
        out: dict[str, Any] = dict(self.bundle)
        if self.files is not None:
            out["bundle_files"] = vars(self.files)
        if self.passphrase_file is not None:
            out["passphrase_file"] = str(self.passphrase_file)
        elif self.passphrase is not None:
            out["key_passphrase"] = self.passphrase  # not part of the bundle: keep it apart
        return out


@dataclass(frozen=True)
class Handout:
    """Where bundles and passphrases go, checked before any credential is issued."""

    broker: MqttEndpoint
    trust: TrustAnchor | None
    bundle_dir: Path | None
    passphrase_dir: Path | None
    mutual_tls: bool

    @classmethod
    def prepare(
        cls, settings: RegistrySettings, bundle_dir: Path | None, passphrase_dir: Path | None = None
    ) -> Handout:
        """The handout for these settings; ConfigError when bundles could not be made (no device
        broker URL, no PKI for TLS) or a passphrase would end up beside its bundle."""
        broker = settings.device_endpoint()
        certs = DeviceCerts(settings)
        trust = certs.trust_anchor() if broker.tls else None
        if bundle_dir and passphrase_dir and bundle_dir.resolve() == passphrase_dir.resolve():
            raise ConfigError("--passphrase-dir must not be the bundle directory: the passphrase goes apart")
        return cls(broker, trust, bundle_dir, passphrase_dir, certs.mutual_tls)

    def require_passphrase_dir(self, what: str) -> None:
        """For bulk issues with mutual TLS: the passphrases must go somewhere other than a terminal."""
        if self.mutual_tls and self.passphrase_dir is None:
            raise ConfigError(
                f"{what}: mutual TLS is on; give --passphrase-dir DIR for the keys' passphrases"
            )

    def hand_out(self, credentials: IssuedCredentials) -> HandedOut:
        """Build the bundle, write its files and the passphrase where asked."""
        bundle = build_bundle(credentials, self.broker, self.trust)
        files = write_bundle(bundle, self.bundle_dir) if self.bundle_dir is not None else None
        client = credentials.client_certificate
        passphrase = client.passphrase if client is not None else None
        passphrase_file = None
        if passphrase is not None and self.passphrase_dir is not None:
            self.passphrase_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
            passphrase_file = self.passphrase_dir / f"{credentials.device_id}.passphrase"
            write_secret(passphrase_file, (passphrase + "\n").encode())
        return HandedOut(bundle, files, passphrase, passphrase_file)
