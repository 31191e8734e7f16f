"""Service accounts on the broker: ingest, simulator, rewards engine, operator tools.

Each gets its own client with one of the service roles of dynsec.SERVICE_ROLES (and that
role's companions: the ingest's account also holds the replay role, SPEC §11). Their
passwords are shown once; the database keeps only their hash and role for EMQX (registry.emqx),
written after the broker took the password (the command line always passes the database).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import quote

import psycopg

from circulo.errors import Conflict, NotFound
from circulo.registry import emqx
from circulo.registry.access import new_password
from circulo.registry.dynsec import SERVICE_ROLES, ClientInfo, DynsecAdmin, service_roles
from circulo.registry.errors import InvalidInput
from circulo.settings import MqttEndpoint

# --role name -> broker role
SERVICE_ACCOUNT_ROLES = {
    "ingest": "circulo-ingest",
    "simulator": "circulo-simulator",
    "rewards": "circulo-rewards",
    "operator": "circulo-operator",
    "monitor": "circulo-monitor",
    # may send commands to device firmware (SPEC §10): create one only on purpose
    "firmware-operator": "circulo-firmware-operator",
}
USERNAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9@._-]{0,63}$")


@dataclass(frozen=True)
class ServiceCredentials:
    """A service account's freshly issued password (shown once)."""

    username: str
    role: str
    password: str

    def url(self, broker: MqttEndpoint) -> str:
        """``mqtts://user:password@host:port?cafile=…`` for the service's settings."""
        scheme = "mqtts" if broker.tls else "mqtt"
        auth = f"{quote(self.username, safe='')}:{quote(self.password, safe='')}"
        query = f"?cafile={quote(broker.cafile)}" if broker.cafile else ""
        return f"{scheme}://{auth}@{broker.host}:{broker.port}{query}"


def add_service_account(
    admin: DynsecAdmin, username: str, role: str, database: psycopg.Connection | None = None
) -> ServiceCredentials:
    """Create a service client; an existing one is left alone (rotate it instead)."""
    if not USERNAME_RE.fullmatch(username):
        raise InvalidInput(f"service account {username!r}", ["1-64 letters, digits, '@', '.', '_' or '-'"])
    rolename = SERVICE_ACCOUNT_ROLES[role]
    if admin.get_client(username) is not None:
        raise Conflict(
            f"the broker already has a client named {username}; "
            f"`circulo service-account rotate {username}` gives it a new password"
        )
    roles = service_roles(rolename)  # the ingest also gets the replay role (SPEC §11)
    for name in roles:
        admin.ensure_role(name, SERVICE_ROLES[name])
    password = new_password()
    admin.create_client(username, password, roles, textname=f"Circulo service ({role})")
    if database is not None:
        emqx.write_service_hash(database, username, rolename, emqx.hash_password(password))
    return ServiceCredentials(username, role, password)


def rotate_service_account(
    admin: DynsecAdmin, username: str, database: psycopg.Connection | None = None
) -> ServiceCredentials:
    """A new password for a service account (the old one stops working)."""
    client = admin.get_client(username)
    role = service_role_of(client) if client else None
    if client is None or role is None:
        raise NotFound(f"{username} is not a service account (see `circulo service-account list`)")
    password = new_password()
    admin.set_client_password(username, password)
    admin.enable_client(username)
    if database is not None:
        emqx.write_service_hash(database, username, SERVICE_ACCOUNT_ROLES[role], emqx.hash_password(password))
    return ServiceCredentials(username, role, password)


def service_role_of(client: ClientInfo) -> str | None:
    """The --role name of a service client, or None when it has no service role."""
    return next((name for name, role in SERVICE_ACCOUNT_ROLES.items() if role in client.roles), None)


def list_service_accounts(admin: DynsecAdmin) -> list[tuple[ClientInfo, str]]:
    """Every service client and its --role name."""
    found = ((c, service_role_of(c)) for c in admin.list_clients().values())
    return sorted(((c, r) for c, r in found if r), key=lambda pair: pair[0].username)
