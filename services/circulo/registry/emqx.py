"""What the registry keeps for EMQX: password hashes and service role rules (pure, apart from SQL).

EMQX's PostgreSQL authenticator and authorizer read the registry's views (migration 0015)
with the queries of deploy/emqx/emqx.conf, so the registry is the broker's only source of
accounts. The hash is the one Mosquitto's dynamic-security plugin stores (PBKDF2-HMAC-SHA512,
101 iterations, 64 bytes, a 12-byte salt), in the form EMQX's ``pbkdf2`` algorithm checks
(lowercase hex, raw salt): one configuration serves the hashes the registry writes and the
ones imported from a dynsec file, so devices move to EMQX with the passwords they have.

101 iterations is Mosquitto's choice, and enough here: every password is 192 random bits
(access.new_password), which no amount of stretching makes harder or easier to guess.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg

from circulo.errors import Conflict
from circulo.registry import queries
from circulo.registry.access import DEVICE_ROLE_PREFIX, device_acls
from circulo.registry.dynsec import SERVICE_ROLES, Acl, service_roles
from circulo_schemas.topics import command_topic

# The password_hash_algorithm of deploy/emqx/emqx.conf (and migration 0015's emqx.mqtt_user).
MAC_FUN = "sha512"
ITERATIONS = 101
DK_LENGTH = 64
SALT_BYTES = 12

# The queries of deploy/emqx/emqx.conf; EMQX replaces each ${…} by a statement parameter.
AUTHN_QUERY = (
    "SELECT password_hash, salt, is_superuser FROM emqx.mqtt_user WHERE username = ${username} LIMIT 1"
)
AUTHZ_QUERY = (
    "SELECT permission, action, topic FROM emqx.mqtt_acl WHERE username = ${username} ORDER BY position"
)

SHARE_PREFIX = "$share/+/"


@dataclass(frozen=True)
class PasswordHash:
    """A broker password's hash, as broker_credential keeps it."""

    password_hash: str
    salt: bytes
    mac_fun: str = MAC_FUN
    iterations: int = ITERATIONS

    def served(self) -> bool:
        """Whether EMQX, as configured, checks passwords against this hash."""
        served = (MAC_FUN, ITERATIONS, 2 * DK_LENGTH)
        return (self.mac_fun, self.iterations, len(self.password_hash)) == served


@dataclass(frozen=True)
class AclRow:
    """One authorization rule as EMQX reads it from emqx.mqtt_acl."""

    permission: str
    action: str
    topic: str


def hash_password(password: str, salt: bytes | None = None) -> PasswordHash:
    """The hash EMQX checks ``password`` against (a fresh random salt unless one is given)."""
    salt = secrets.token_bytes(SALT_BYTES) if salt is None else salt
    derived = hashlib.pbkdf2_hmac(MAC_FUN, password.encode(), salt, ITERATIONS, DK_LENGTH)
    return PasswordHash(derived.hex(), salt)


def dynsec_hash(client: Mapping[str, Any]) -> PasswordHash | None:
    """A dynsec client's stored hash in EMQX's form, or None when it has none.

    The plugin keeps ``password`` = base64(PBKDF2-HMAC-SHA512(password, salt, iterations, 64))
    and ``salt`` = base64 of the raw salt, with the ``iterations`` used.
    """
    try:
        derived = base64.b64decode(client["password"], validate=True)
        salt = base64.b64decode(client["salt"], validate=True)
        iterations = int(client["iterations"])
    except (KeyError, TypeError, ValueError, binascii.Error):
        return None
    if not derived or not salt or iterations <= 0:
        return None
    return PasswordHash(derived.hex(), salt, MAC_FUN, iterations)


def role_rows(acls: Iterable[Acl]) -> list[AclRow]:
    """A dynsec role's ACLs as EMQX rules, in the order the plugin decides them.

    The plugin checks higher priorities first; EMQX takes rows in order, so rows are sorted by
    priority, denials first within one. ``publishClientReceive`` has no counterpart (EMQX
    authorises subscriptions, not deliveries), and EMQX checks a shared subscription's real
    topic filter, so ``$share/+/…`` patterns are their filter.
    """
    rows: list[AclRow] = []
    for acl in sorted(acls, key=lambda a: (-a.priority, a.allow)):
        if acl.acltype == "publishClientSend":
            action = "publish"
        elif acl.acltype in ("subscribePattern", "subscribeLiteral"):
            action = "subscribe"
        else:
            continue
        topic = acl.topic.removeprefix(SHARE_PREFIX)
        row = AclRow("allow" if acl.allow else "deny", action, topic)
        if row not in rows:
            rows.append(row)
    return rows


def service_role_rows(role: str) -> list[AclRow]:
    """The EMQX rules of a service role and its companions (the ingest's replay role, SPEC §11)."""
    return role_rows(tuple(acl for name in service_roles(role) for acl in SERVICE_ROLES[name]))


def device_rows(kind: str, device_id: str) -> list[AclRow]:
    """The rules migration 0015's emqx.mqtt_acl gives a device (what the tests compare it with)."""
    rows = role_rows(device_acls(kind, device_id))
    commands = AclRow("allow", "subscribe", command_topic(kind, device_id))  # SPEC §11
    return rows if commands in rows else [*rows, commands]


# --- the database ------------------------------------------------------------------------------
def _params(username: str, hashed: PasswordHash, source: str) -> dict[str, Any]:
    return {
        "username": username,
        "password_hash": hashed.password_hash,
        "salt": hashed.salt,
        "mac_fun": hashed.mac_fun,
        "iterations": hashed.iterations,
        "source": source,
    }


def write_device_hash(
    conn: psycopg.Connection, device_id: str, hashed: PasswordHash, *, source: str = "registry"
) -> None:
    """The device's hash, replacing the one before (its old password stops verifying)."""
    if conn.execute(queries.UPSERT_DEVICE_HASH, _params(device_id, hashed, source)).rowcount != 1:
        raise Conflict(f"broker account {device_id} is a service account's, not this device's")


def delete_device_hash(conn: psycopg.Connection, device_id: str) -> None:
    conn.execute(queries.DELETE_DEVICE_HASH, (device_id,))


def write_service_hash(
    conn: psycopg.Connection, username: str, role: str, hashed: PasswordHash, *, source: str = "registry"
) -> None:
    """A service account's hash and its role's rules, in one transaction."""
    with conn.transaction():
        write_role_rows(conn, role)
        params = {**_params(username, hashed, source), "role": role}
        if conn.execute(queries.UPSERT_SERVICE_HASH, params).rowcount != 1:
            raise Conflict(f"broker account {username} is a device's, not a service account")


def write_role_rows(conn: psycopg.Connection, role: str) -> None:
    """Bring a service role's rules to exactly service_role_rows(role)."""
    with conn.transaction():
        conn.execute(queries.DELETE_ROLE_ACL, (role,))
        for position, row in enumerate(service_role_rows(role), start=1):
            conn.execute(queries.INSERT_ROLE_ACL, (role, position, row.permission, row.action, row.topic))


# --- importing Mosquitto's hashes --------------------------------------------------------------
@dataclass(frozen=True)
class HashImport:
    """What an import of a dynsec file did, by username."""

    imported: tuple[str, ...]
    kept: tuple[str, ...]  # the registry has a hash already (newer than any file)
    skipped: Mapping[str, str]  # not imported, and why

    def as_dict(self) -> dict[str, Any]:
        return {"imported": list(self.imported), "kept": list(self.kept), "skipped": dict(self.skipped)}


@dataclass(frozen=True)
class _Candidate:
    username: str
    hashed: PasswordHash
    device_id: str | None
    role: str | None


def import_dynsec(conn: psycopg.Connection, document: Mapping[str, Any]) -> HashImport:
    """Copy the hashes of a dynsec file's device and service clients into the registry.

    Only rows the registry lacks are written (a hash it has is newer than any copy of the
    file); disabled clients, clients of retired or unknown devices and hashes EMQX is not
    configured for are skipped, so the import never lets in anyone Mosquitto would refuse.
    """
    devices = {
        device_id: status for device_id, status in conn.execute(queries.SELECT_DEVICE_STATUSES).fetchall()
    }
    candidates, skipped = [], {}
    for client in document.get("clients", []):
        username = str(client.get("username", ""))
        roles = [r.get("rolename", "") for r in client.get("roles", [])]
        candidate, why = _candidate(client, username, roles, devices)
        if candidate is None:
            skipped[username] = why
        else:
            candidates.append(candidate)
    imported: list[str] = []
    kept: list[str] = []
    with conn.transaction():
        for c in candidates:
            params = _params(c.username, c.hashed, "dynsec")
            if c.role is None:
                written = conn.execute(queries.INSERT_DEVICE_HASH, params).rowcount
            else:
                write_role_rows(conn, c.role)
                written = conn.execute(queries.INSERT_SERVICE_HASH, {**params, "role": c.role}).rowcount
            (imported if written == 1 else kept).append(c.username)
    return HashImport(tuple(imported), tuple(kept), skipped)


def _candidate(
    client: Mapping[str, Any],
    username: str,
    roles: Sequence[str],
    devices: Mapping[str, str],
) -> tuple[_Candidate | None, str]:
    """The row one dynsec client becomes, or None and the reason it is skipped."""
    hashed = dynsec_hash(client)
    if client.get("disabled"):
        why = "disabled on the broker"
    elif hashed is None:
        why = "no password hash"
    elif not hashed.served():
        why = f"hash with {hashed.iterations} iterations; EMQX is configured for {ITERATIONS}"
    elif roles == [DEVICE_ROLE_PREFIX + username]:
        why = {None: "not a registered device", "retired": "retired"}.get(devices.get(username), "")
        if not why:
            return _Candidate(username, hashed, username, None), ""
    elif (
        len(service := [r for r in roles if r in SERVICE_ROLES and set(roles) <= set(service_roles(r))]) == 1
    ):
        return _Candidate(username, hashed, None, service[0]), ""  # its own role (and its companions)
    else:
        why = "neither a device nor a service account"
    return None, why
