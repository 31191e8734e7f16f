"""Frozen records of the PKI: its settings file, the index of certificates, the CRL (no secret here)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from cryptography import x509

from circulo.pki import certs

CONFIG_VERSION = 1
KINDS = ("root", "issuing", "server", "device")
SERVER_CA = ("own", "public")  # who signed the broker's certificate


@dataclass(frozen=True)
class PkiConfig:
    """``pki.json``: what the PKI is (changed only by ``circulo pki`` commands)."""

    organisation: str
    mutual_tls: bool = False
    server_ca: str = "own"
    key_type: str = "rsa"
    version: int = CONFIG_VERSION

    def as_json(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "organisation": self.organisation,
            "mutual_tls": self.mutual_tls,
            "server_ca": self.server_ca,
            "key_type": self.key_type,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PkiConfig:
        return cls(
            organisation=str(data["organisation"]),
            mutual_tls=bool(data["mutual_tls"]),
            server_ca=str(data["server_ca"]),
            key_type=str(data["key_type"]),
            version=int(data["version"]),
        )


@dataclass(frozen=True)
class CertFacts:
    """What the index and the database know of one certificate (public facts only)."""

    serial: str  # lowercase hex
    kind: str
    name: str  # device id, server name, or the CA's CN
    subject: str
    sha256: str
    not_before: datetime
    not_after: datetime
    revoked_at: datetime | None = None
    reason: str | None = None
    # a revoked device certificate: whether the device's live session was cut since (the
    # broker never re-checks a session it has accepted); `device sync` cuts the rest
    sessions_cut: bool = True

    @property
    def serial_int(self) -> int:
        return int(self.serial, 16)

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None

    def revoke(self, at: datetime, reason: str, *, sessions_cut: bool = True) -> CertFacts:
        return replace(self, revoked_at=at, reason=reason, sessions_cut=sessions_cut)

    def days_left(self, now: datetime) -> float:
        return (self.not_after - now).total_seconds() / 86400

    def as_json(self) -> dict[str, Any]:
        return {
            "serial": self.serial,
            "kind": self.kind,
            "name": self.name,
            "subject": self.subject,
            "sha256": self.sha256,
            "not_before": self.not_before.isoformat(),
            "not_after": self.not_after.isoformat(),
            "revoked_at": self.revoked_at.isoformat() if self.revoked_at else None,
            "reason": self.reason,
            "sessions_cut": self.sessions_cut,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CertFacts:
        revoked = data.get("revoked_at")
        return cls(
            serial=str(data["serial"]),
            kind=str(data["kind"]),
            name=str(data["name"]),
            subject=str(data["subject"]),
            sha256=str(data["sha256"]),
            not_before=datetime.fromisoformat(data["not_before"]),
            not_after=datetime.fromisoformat(data["not_after"]),
            revoked_at=datetime.fromisoformat(revoked) if revoked else None,
            reason=data.get("reason"),
            sessions_cut=bool(data.get("sessions_cut", True)),
        )


def facts_of(cert: x509.Certificate, kind: str, name: str | None = None) -> CertFacts:
    """The index entry of a certificate."""
    return CertFacts(
        serial=format(cert.serial_number, "x"),
        kind=kind,
        name=name or certs.common_name(cert),
        subject=cert.subject.rfc4514_string(),
        sha256=certs.sha256_hex(cert),
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
    )


@dataclass(frozen=True)
class CrlFacts:
    """The published CRL."""

    number: int
    this_update: datetime
    next_update: datetime
    revoked: int
    issuer_sha256: str

    def age_s(self, now: datetime) -> float:
        return (now - self.this_update).total_seconds()

    def as_json(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "this_update": self.this_update.isoformat(),
            "next_update": self.next_update.isoformat(),
            "revoked": self.revoked,
            "issuer_sha256": self.issuer_sha256,
        }


def crl_facts(crl: x509.CertificateRevocationList, issuer: x509.Certificate) -> CrlFacts:
    """What a CRL says about itself."""
    number = crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
    next_update = crl.next_update_utc
    if next_update is None:
        raise ValueError("a CRL without nextUpdate")
    return CrlFacts(number, crl.last_update_utc, next_update, len(crl), certs.sha256_hex(issuer))


@dataclass(frozen=True)
class Index:
    """Every certificate the issuing CA (and the root) issued, in issue order."""

    entries: tuple[CertFacts, ...] = ()
    crl_number: int = 0

    def add(self, facts: CertFacts) -> Index:
        return replace(self, entries=(*self.entries, facts))

    def find(self, serial: str) -> CertFacts | None:
        return next((e for e in self.entries if e.serial == serial), None)

    def replace_entry(self, facts: CertFacts) -> Index:
        return replace(self, entries=tuple(facts if e.serial == facts.serial else e for e in self.entries))

    def current(self, kind: str, name: str) -> CertFacts | None:
        """The newest unrevoked certificate of that kind and name."""
        live = [e for e in self.entries if e.kind == kind and e.name == name and not e.revoked]
        return max(live, key=lambda e: e.not_before, default=None)

    def live_of(self, kind: str, name: str) -> list[CertFacts]:
        return [e for e in self.entries if e.kind == kind and e.name == name and not e.revoked]

    def revoked_leaves(self) -> list[CertFacts]:
        """What the issuing CA's CRL lists (the root's own certificates are not on it)."""
        return [e for e in self.entries if e.revoked and e.kind in ("server", "device")]

    def as_json(self) -> dict[str, Any]:
        return {"crl_number": self.crl_number, "certificates": [e.as_json() for e in self.entries]}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Index:
        return cls(tuple(CertFacts.from_json(e) for e in data["certificates"]), int(data["crl_number"]))
