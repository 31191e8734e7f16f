"""SQL of the PKI's tables (pki_certificate, pki_crl): upserts of the mirror, reads for checks."""

from __future__ import annotations

UPSERT_CERTIFICATE = """
INSERT INTO pki_certificate (serial, kind, name, subject, sha256, not_before, not_after,
                             revoked_at, revocation_reason)
VALUES (%(serial)s, %(kind)s, %(name)s, %(subject)s, %(sha256)s, %(not_before)s, %(not_after)s,
        %(revoked_at)s, %(reason)s)
ON CONFLICT (serial) DO UPDATE
SET revoked_at = EXCLUDED.revoked_at, revocation_reason = EXCLUDED.revocation_reason,
    recorded_at = now()
"""

UPSERT_CRL = """
INSERT INTO pki_crl (crl_number, issuer_sha256, this_update, next_update, revoked_count)
VALUES (%(number)s, %(issuer_sha256)s, %(this_update)s, %(next_update)s, %(revoked)s)
ON CONFLICT (crl_number) DO NOTHING
"""

# the current certificate of a kind and name (what device check reports)
CURRENT_CERTIFICATE = """
SELECT serial, not_before, not_after
FROM pki_certificate
WHERE kind = %(kind)s AND name = %(name)s AND revoked_at IS NULL
ORDER BY not_before DESC
LIMIT 1
"""
