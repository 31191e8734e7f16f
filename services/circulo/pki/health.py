"""How healthy the PKI is (pure): days left of every certificate in use, the CRL's age.

``circulo pki status`` prints it and the fleet dashboard shows the same numbers from the
database; thresholds come from the settings (renew 30 days before expiry; the CRL is due
after a day and expires after seven).
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from circulo.pki.model import CertFacts, CrlFacts, Index


class Health(enum.IntEnum):
    """OK < RENEW < EXPIRED: the worst finding decides ``pki status``'s exit."""

    OK = 0
    RENEW = 1
    EXPIRED = 2

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True)
class Finding:
    """One line of the status: a certificate or the CRL, and what to do."""

    what: str
    health: Health
    summary: str
    next_step: str = ""
    expires_at: datetime | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "what": self.what,
            "health": str(self.health),
            "summary": self.summary,
            "next": self.next_step,
            "expires_at": self.expires_at.isoformat() if self.expires_at else None,
        }


@dataclass(frozen=True)
class Margins:
    """When something is due."""

    renew_before: timedelta = timedelta(days=30)
    crl_renew_after: timedelta = timedelta(hours=24)


RENEW_STEP = {
    "root": "make a new root and re-flash every device's CA in time (docs/deployment.md)",
    "issuing": "renew the issuing CA with the offline root (docs/deployment.md)",
    "server": "circulo pki server issue {name} (or renew it at the public CA and import it)",
    "device": "circulo device rotate-credentials {name} and flash the new bundle",
}


def certificate_finding(cert: CertFacts, now: datetime, margins: Margins) -> Finding:
    """Days left of one certificate, and whether it is due."""
    days = cert.days_left(now)
    what = f"{cert.kind} {cert.name}"
    step = RENEW_STEP[cert.kind].format(name=cert.name)
    if days <= 0:
        return Finding(what, Health.EXPIRED, f"expired {-days:.0f} days ago", step, cert.not_after)
    summary = f"{days:.0f} days left (until {cert.not_after:%Y-%m-%d})"
    if cert.not_after - now <= margins.renew_before:
        return Finding(what, Health.RENEW, summary, step, cert.not_after)
    return Finding(what, Health.OK, summary, expires_at=cert.not_after)


def crl_finding(crl: CrlFacts | None, now: datetime, margins: Margins) -> Finding:
    """The CRL's age against its renewal period and its nextUpdate."""
    step = "circulo pki crl renew (the circulo-pki-renew timer should do this daily)"
    if crl is None:
        return Finding("crl", Health.EXPIRED, "no CRL issued", step)
    age_h = crl.age_s(now) / 3600
    summary = (
        f"number {crl.number}, {crl.revoked} revoked, {age_h:.1f} h old, "
        f"next update {crl.next_update:%Y-%m-%d %H:%M} UTC"
    )
    if crl.next_update <= now:
        return Finding("crl", Health.EXPIRED, summary + ": expired, client certificates are refused", step,
                       crl.next_update)  # fmt: skip
    if now - crl.this_update > margins.crl_renew_after * 2:
        return Finding("crl", Health.RENEW, summary + ": overdue for re-issue", step, crl.next_update)
    return Finding("crl", Health.OK, summary, expires_at=crl.next_update)


def in_use(index: Index) -> list[CertFacts]:
    """The current certificate of every CA and server (devices are reported by ``device check``)."""
    names = dict.fromkeys((e.kind, e.name) for e in index.entries if e.kind != "device")
    current = (index.current(kind, name) for kind, name in names)
    return [c for c in current if c is not None]


def evaluate(index: Index, crl: CrlFacts | None, now: datetime, margins: Margins) -> list[Finding]:
    """Every finding: CAs and servers in use, devices due, and the CRL."""
    findings = [certificate_finding(c, now, margins) for c in in_use(index)]
    devices = {e.name for e in index.entries if e.kind == "device"}
    due = [d for name in sorted(devices) if (d := index.current("device", name)) is not None]
    findings += [f for c in due if (f := certificate_finding(c, now, margins)).health is not Health.OK]
    return [*findings, crl_finding(crl, now, margins)]


def worst(findings: Sequence[Finding]) -> Health:
    return max((f.health for f in findings), default=Health.OK)
