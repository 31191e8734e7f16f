"""The issuing CA's CRL: issued on every revocation, re-issued well before its nextUpdate.

An expired CRL locks every device out (OpenSSL refuses a client certificate whose issuer's
CRL is past ``nextUpdate``), so ``circulo pki crl renew`` runs on a timer and re-issues it
once it is older than ``crl_renew_after_hours`` (default: daily, valid 7 days).

``thisUpdate`` has one-second resolution. OpenSSL, given two CRLs of one issuer, keeps the
one with the later ``thisUpdate`` and, on a tie, the first it found; and a CRL whose
``thisUpdate`` is in the future does not count. So each CRL's ``thisUpdate`` is strictly
later than the previous one's and never ahead of the clock: a second revocation within
the same second waits for the next one (:func:`next_this_update`).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from cryptography import x509

from circulo.pki import certs, files
from circulo.pki.certs import PrivateKey, Revocation
from circulo.pki.errors import PkiError
from circulo.pki.layout import PkiLayout
from circulo.pki.model import CrlFacts, Index, crl_facts


def next_this_update(previous: datetime | None, now: datetime) -> datetime:
    """The next CRL's thisUpdate: ``now`` to the second, and at least a second after ``previous``."""
    candidate = now.replace(microsecond=0)
    if previous is not None and candidate <= previous:
        return previous + timedelta(seconds=1)
    return candidate


def is_due(current: CrlFacts | None, now: datetime, renew_after: timedelta) -> bool:
    """Whether a CRL of this age should be re-issued."""
    return current is None or now - current.this_update >= renew_after


def revocations(index: Index) -> list[Revocation]:
    """The CRL's entries: every revoked leaf."""
    return [
        Revocation(e.serial_int, e.revoked_at or e.not_before, e.reason or "unspecified")
        for e in index.revoked_leaves()
    ]


def read_crl(layout: PkiLayout) -> x509.CertificateRevocationList | None:
    """The current CRL, or None before the first."""
    if not layout.crl_file.exists():
        return None
    try:
        return x509.load_pem_x509_crl(files.read_bytes(layout.crl_file, "CRL"))
    except ValueError as e:
        raise PkiError(f"CRL {layout.crl_file}: not a PEM CRL") from e


def current_facts(layout: PkiLayout) -> CrlFacts | None:
    """The current CRL's facts (None before the first)."""
    crl = read_crl(layout)
    if crl is None:
        return None
    return crl_facts(crl, files.read_cert(layout.issuing_cert, "issuing CA certificate"))


def pending(layout: PkiLayout, index: Index) -> bool:
    """Whether a revocation is recorded that the current CRL does not list yet (an interrupted revoke)."""
    crl = read_crl(layout)
    listed = {entry.serial_number for entry in crl} if crl is not None else set()
    return any(e.serial_int not in listed for e in index.revoked_leaves())


def wait_until(moment: datetime) -> None:
    """Sleep until the wall clock reaches ``moment`` (at most a second, by construction)."""
    delay = (moment - datetime.now(UTC)).total_seconds()
    if delay > 0:
        time.sleep(delay)


def issue(
    layout: PkiLayout, index: Index, issuer: x509.Certificate, issuer_key: PrivateKey, *, valid_days: int
) -> tuple[x509.CertificateRevocationList, Index]:
    """Build the next CRL (waiting for its second to come, when needed); the index with its number."""
    previous = current_facts(layout)
    this_update = next_this_update(previous.this_update if previous else None, datetime.now(UTC))
    wait_until(this_update)
    number = max(index.crl_number, previous.number if previous else 0) + 1
    crl = certs.build_crl(
        issuer, issuer_key, revocations(index), number=number, this_update=this_update,
        next_update=this_update + timedelta(days=valid_days),
    )  # fmt: skip
    return crl, Index(index.entries, number)
