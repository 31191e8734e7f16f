"""After a PKI change: mirror it into the database, and tell the broker when its files changed."""

from __future__ import annotations

from dataclasses import dataclass, field

import psycopg

from circulo.errors import ServiceUnavailable
from circulo.logs import get_logger
from circulo.pki import authority, crl, reload
from circulo.pki.authority import Changes
from circulo.pki.record import record
from circulo.pki.settings import PkiSettings
from circulo.store.db import connect, first_line

log = get_logger("pki")


@dataclass(frozen=True)
class Applied:
    """What followed a change: rows mirrored, how the broker was told, and warnings."""

    recorded: int = 0
    broker: str = ""
    warnings: tuple[str, ...] = field(default=())


def apply(settings: PkiSettings, changes: Changes, *, database_url: str | None) -> Applied:
    """Mirror ``changes`` (when there is a database) and reload the broker when its files changed.

    A mirror that fails is a warning (the files are the authority; ``pki status --record``
    repairs it); a broker that cannot be told is an error, since a revocation would not hold.
    """
    recorded, warnings = _mirror(changes, database_url)
    told = reload.reload_broker(settings) if changes.broker_files else ""
    for cert in changes.certificates:
        log.info("pki_certificate", kind=cert.kind, name=cert.name, serial=cert.serial,
                 revoked=cert.revoked, not_after=cert.not_after.isoformat())  # fmt: skip
    if changes.crl is not None:
        log.info("pki_crl", number=changes.crl.number, revoked=changes.crl.revoked)
    return Applied(recorded, told, warnings)


def _mirror(changes: Changes, database_url: str | None) -> tuple[int, tuple[str, ...]]:
    if database_url is None or not (changes.certificates or changes.crl):
        return 0, ()
    try:
        with connect(database_url, application_name="circulo-pki") as conn:
            return record(conn, changes.certificates, changes.crl), ()
    except ServiceUnavailable as e:
        why = e.message
    except psycopg.Error as e:  # e.g. a database not migrated to 0012 yet
        why = f"database: {first_line(e)}"
    return 0, (f"not mirrored to the database ({why}); `circulo pki status --record` retries",)


def mirror_everything(settings: PkiSettings, database_url: str) -> int:
    """Write every certificate of the index and the current CRL into the database."""
    _, index = authority.index_of(settings)
    facts = crl.current_facts(settings.layout())
    with connect(database_url, application_name="circulo-pki") as conn:
        return record(conn, index.entries, facts)
