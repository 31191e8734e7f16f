"""The PKI's public facts: certificates (with expiry and revocation) and the published CRL.

Revision ID: 0012
Revises: 0011

``circulo pki`` and the registry mirror what the PKI directory holds (its index of
certificates and the current CRL) into these tables after every change, so ``device
check``, the fleet dashboard and the alert rules can read expiry dates and the CRL's age.
No key and nothing secret is stored: serials, names, fingerprints and dates are public.

Views for Grafana and alert rules (schema ``dashboards``, role ``circulo_reader``):

- ``dashboards.pki_certificate``: the current certificate of each CA, server and device in
  service (the newest unrevoked one of its kind and name) with ``days_left``;
- ``dashboards.pki_crl``: the latest CRL with ``age_s`` and ``seconds_left`` until its
  ``nextUpdate`` (an expired CRL locks every device out when mutual TLS is on);
- ``dashboards.certificate_expiry`` ``(subject, kind, expires_at)``: both in the form the
  alert rule ``certificate_expiry`` reads (kind ``ca``, ``broker``, ``server``, ``device``
  or ``crl``; a CRL "expires" at its ``nextUpdate``).
"""

from __future__ import annotations

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

DDL = r"""
CREATE TABLE pki_certificate (
    serial             text PRIMARY KEY CHECK (serial ~ '^[0-9a-f]+$'),
    kind               text NOT NULL CHECK (kind IN ('root', 'issuing', 'server', 'device')),
    name               text NOT NULL,
    subject            text NOT NULL,
    sha256             text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    not_before         timestamptz NOT NULL,
    not_after          timestamptz NOT NULL CHECK (not_after > not_before),
    revoked_at         timestamptz,
    revocation_reason  text,
    recorded_at        timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT revocation_has_reason CHECK ((revoked_at IS NULL) = (revocation_reason IS NULL))
);
CREATE INDEX pki_certificate_name_idx ON pki_certificate (kind, name, not_before DESC);

CREATE TABLE pki_crl (
    crl_number     bigint PRIMARY KEY CHECK (crl_number > 0),
    issuer_sha256  text NOT NULL CHECK (issuer_sha256 ~ '^[0-9a-f]{64}$'),
    this_update    timestamptz NOT NULL,
    next_update    timestamptz NOT NULL CHECK (next_update > this_update),
    revoked_count  integer NOT NULL CHECK (revoked_count >= 0),
    recorded_at    timestamptz NOT NULL DEFAULT now()
);

CREATE VIEW dashboards.pki_certificate AS
SELECT DISTINCT ON (c.kind, c.name)
       c.kind, c.name, c.serial, c.sha256, c.not_before, c.not_after,
       round((extract(epoch FROM c.not_after - now()) / 86400)::numeric, 1) AS days_left,
       d.coop_id
FROM pki_certificate c
LEFT JOIN device d ON c.kind = 'device' AND d.device_id = c.name
WHERE c.revoked_at IS NULL AND (c.kind <> 'device' OR d.status IS DISTINCT FROM 'retired')
ORDER BY c.kind, c.name, c.not_before DESC;

CREATE VIEW dashboards.pki_crl AS
SELECT crl_number, this_update, next_update, revoked_count,
       extract(epoch FROM now() - this_update)::bigint AS age_s,
       extract(epoch FROM next_update - now())::bigint AS seconds_left
FROM pki_crl
ORDER BY crl_number DESC
LIMIT 1;

CREATE VIEW dashboards.certificate_expiry (subject, kind, expires_at) AS
SELECT name,
       CASE WHEN kind IN ('root', 'issuing') THEN 'ca'
            WHEN kind = 'server' AND name = 'broker' THEN 'broker'
            ELSE kind END,
       not_after
FROM dashboards.pki_certificate
UNION ALL
SELECT 'CRL ' || crl_number, 'crl', next_update FROM dashboards.pki_crl;
"""

GRANTS = """
GRANT SELECT, INSERT, UPDATE ON pki_certificate, pki_crl TO circulo_registry;
GRANT SELECT ON dashboards.pki_certificate, dashboards.pki_crl, dashboards.certificate_expiry
    TO circulo_reader;
"""


def upgrade() -> None:
    """Create the PKI tables and their dashboard views."""
    op.execute(DDL)
    op.execute(GRANTS)


def downgrade() -> None:
    """Forward-only: Circulo never downgrades a schema that may hold ledger data."""
    raise NotImplementedError("forward-only migrations")
