"""Mirror the PKI's public facts into the database (for device check, dashboards and alerts).

The PKI directory is the authority; the tables follow it. A failed mirror is reported and
repaired by the next change or by ``circulo pki status --record``, which writes everything.
"""

from __future__ import annotations

from collections.abc import Iterable

import psycopg

from circulo.pki import queries
from circulo.pki.model import CertFacts, CrlFacts


def record(conn: psycopg.Connection, certificates: Iterable[CertFacts], crl: CrlFacts | None) -> int:
    """Upsert certificates and the CRL in one transaction; how many rows were written."""
    rows = [c.as_json() | {"not_before": c.not_before, "not_after": c.not_after,
                           "revoked_at": c.revoked_at} for c in certificates]  # fmt: skip
    with conn.transaction(), conn.cursor() as cur:
        if rows:
            cur.executemany(queries.UPSERT_CERTIFICATE, rows)
        if crl is not None:
            cur.execute(queries.UPSERT_CRL, crl.as_json() | {"this_update": crl.this_update,
                                                             "next_update": crl.next_update})  # fmt: skip
    return len(rows) + (crl is not None)
