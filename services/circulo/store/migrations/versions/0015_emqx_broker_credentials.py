"""Broker credentials in the registry, served to EMQX (docs/deployment.md, "A clustered broker").

Revision ID: 0015
Revises: 0014

- ``broker_credential``: one row per broker account (a device or a service account) with its
  password hash in the form EMQX's ``pbkdf2`` algorithm checks and Mosquitto's dynamic
  security stores: ``password_hash`` = lowercase hex of PBKDF2-HMAC(``mac_fun``, password,
  ``salt``, ``iterations``), ``salt`` the raw bytes. Never a password. Written in the same
  transaction as the registry change (an issue of credentials, a service account's add or
  rotation); a retired device's row is deleted with its retirement.
- ``broker_role_acl``: the ordered rules of each service role, translated from the broker
  roles the registry gives Mosquitto (written whenever an account of the role is written).
- Schema ``emqx``: the two views EMQX's PostgreSQL authenticator and authorizer query,
  readable by group role ``circulo_emqx`` and nothing else. ``emqx.mqtt_user`` serves only
  the rows of the hash parameters the EMQX configuration names (deploy/emqx/emqx.conf);
  ``emqx.mqtt_acl`` gives a device exactly: deny publishing to its firmware's command
  topics (SPEC §10) and to any command topic (``circulo/cmd/#``), allow publishing under
  ``circulo/v1/{kind}/{id}/#`` (SPEC §1, §6), allow subscribing to
  ``circulo/cmd/v1/{kind}/{id}`` (SPEC §11); rows are in ``position`` order, the first
  match decides, and whatever no row matches is denied (``no_match``).
  A retired device has no row in either view.
"""

from __future__ import annotations

from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

DDL = r"""
DO $$ BEGIN CREATE ROLE circulo_emqx NOLOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$;

CREATE TABLE broker_credential (
    username       text PRIMARY KEY CHECK (username ~ '^[A-Za-z0-9][A-Za-z0-9@._-]{0,63}$'),
    device_id      text UNIQUE REFERENCES device (device_id) ON DELETE CASCADE,
    service_role   text,
    password_hash  text NOT NULL CHECK (password_hash ~ '^([0-9a-f]{2})+$'),
    salt           bytea NOT NULL CHECK (octet_length(salt) BETWEEN 8 AND 64),
    mac_fun        text NOT NULL CHECK (mac_fun IN ('sha256', 'sha512')),
    iterations     integer NOT NULL CHECK (iterations > 0),
    source         text NOT NULL CHECK (source IN ('registry', 'dynsec')),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT device_or_service CHECK ((device_id IS NULL) <> (service_role IS NULL)),
    CONSTRAINT device_username CHECK (device_id IS NULL OR username = device_id)
);
COMMENT ON TABLE broker_credential IS
    'Password hashes of broker accounts (PBKDF2, hex, raw salt), never a password; served to EMQX';

CREATE TABLE broker_role_acl (
    role        text NOT NULL,
    position    integer NOT NULL CHECK (position > 0),
    permission  text NOT NULL CHECK (permission IN ('allow', 'deny')),
    action      text NOT NULL CHECK (action IN ('publish', 'subscribe', 'all')),
    topic       text NOT NULL CHECK (topic <> ''),
    PRIMARY KEY (role, position)
);

CREATE SCHEMA emqx;

-- The hash parameters here are the EMQX configuration's password_hash_algorithm
-- (pbkdf2, mac_fun sha512, iterations 101, dk_length 64: 128 hex digits).
CREATE VIEW emqx.mqtt_user AS
SELECT c.username, c.password_hash, c.salt, false AS is_superuser
FROM broker_credential c
LEFT JOIN device d ON d.device_id = c.device_id
WHERE c.mac_fun = 'sha512' AND c.iterations = 101 AND length(c.password_hash) = 128
  AND (c.service_role IS NOT NULL OR d.status <> 'retired');

CREATE VIEW emqx.mqtt_acl AS
SELECT d.device_id AS username, r.position, r.permission, r.action,
       COALESCE(r.tree || d.kind || '/' || d.device_id || r.suffix, r.suffix) AS topic
FROM device d
JOIN broker_credential c ON c.device_id = d.device_id
CROSS JOIN (VALUES
    (1, 'deny',  'publish',   'circulo/v1/',     '/cmnd/#'),
    (2, 'deny',  'publish',   'circulo/v1/',     '/command/#'),
    (3, 'deny',  'publish',   'circulo/v1/',     '/rpc/#'),
    (4, 'deny',  'publish',   NULL,              'circulo/cmd/#'),
    (5, 'allow', 'publish',   'circulo/v1/',     '/#'),
    (6, 'allow', 'subscribe', 'circulo/cmd/v1/', '')
) AS r (position, permission, action, tree, suffix)
WHERE d.status <> 'retired'
UNION ALL
SELECT c.username, a.position, a.permission, a.action, a.topic
FROM broker_credential c
JOIN broker_role_acl a ON a.role = c.service_role;
"""

GRANTS = """
GRANT SELECT, INSERT, UPDATE, DELETE ON broker_credential, broker_role_acl TO circulo_registry;
GRANT USAGE ON SCHEMA emqx TO circulo_emqx;
GRANT SELECT ON emqx.mqtt_user, emqx.mqtt_acl TO circulo_emqx;
"""


def upgrade() -> None:
    """Create the credential tables, the EMQX views and the read-only role."""
    op.execute(DDL)
    op.execute(GRANTS)


def downgrade() -> None:
    """Forward-only: Circulo never downgrades a schema that may hold ledger data."""
    raise NotImplementedError("forward-only migrations")
