"""The registry's broker step when EMQX is the broker (``broker = "emqx"``): the database is the broker.

EMQX reads accounts and rules from the registry's views (registry.emqx), so there is nothing to
push: the hash is written with the registry's own change (store.record_issue, emqx.write_service_hash)
and the rules are the views'. This stands in for the dynamic-security admin the registry's
operations talk to, answering from the database and changing nothing: clients are the rows of
broker_credential, roles are exactly what the registry gives them (so ``device sync`` repairs only
what is really missing: a device without a hash gets fresh credentials).

What EMQX would do that this cannot: disconnect a live session. A retired device's hash and rules
are gone, so it cannot log in again and its next publish is refused once EMQX's authorisation cache
(1 minute) expires; to cut it at once, kick it (`emqx ctl clients kick <clientid>`, docs/deployment.md).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Any

import psycopg

from circulo.logs import get_logger
from circulo.registry import queries
from circulo.registry.access import device_acls, device_role, device_textname
from circulo.registry.dynsec import SERVICE_ROLES, ClientInfo, DynsecAdmin, RoleInfo
from circulo.store.db import connect

log = get_logger("registry")


class RegistryBroker(DynsecAdmin):
    """A broker admin whose broker is the registry's database (use as a context manager)."""

    def __init__(self, database_url: str) -> None:  # no MQTT connection: nothing to send
        self._database_url = database_url
        self._conn: psycopg.Connection | None = None

    def __enter__(self) -> RegistryBroker:
        self.connect()
        return self

    def __exit__(self, *_: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.close()

    def connect(self) -> None:
        self._conn = connect(self._database_url, autocommit=True, application_name="circulo-registry")

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _rows(self, sql: str = queries.SELECT_BROKER_ACCOUNTS) -> list[tuple[Any, ...]]:
        if self._conn is None:
            self.connect()
        assert self._conn is not None  # noqa: S101 - connect() set it
        return self._conn.execute(sql).fetchall()

    def execute(
        self, commands: Sequence[Mapping[str, Any]], *, ignore: Sequence[str] = ()
    ) -> list[dict[str, Any]]:
        """Nothing to send: every command is answered without an error."""
        return [{"command": c.get("command")} for c in commands]

    def list_clients(self) -> dict[str, ClientInfo]:
        clients = {}
        for username, device_id, kind, coop_id, role in self._rows():
            if device_id is not None:
                client = ClientInfo(
                    username, (device_role(device_id),), False, device_textname(kind, coop_id)
                )
            else:
                client = ClientInfo(username, (role,), False, f"Circulo service ({role})")
            clients[username] = client
        return clients

    def list_roles(self) -> dict[str, RoleInfo]:
        roles = {name: RoleInfo(name, frozenset(acls)) for name, acls in SERVICE_ROLES.items()}
        for device_id, kind in self._rows(queries.SELECT_DEVICE_KINDS):  # every device's rules are the view's
            roles[device_role(device_id)] = RoleInfo(
                device_role(device_id), frozenset(device_acls(kind, device_id))
            )
        return roles

    def get_client(self, username: str) -> ClientInfo | None:
        return self.list_clients().get(username)

    def ensure_role(self, rolename: str, acls: Sequence[Any]) -> None:
        """The views give every role its rules."""

    def ensure_client(
        self, username: str, password: str, roles: Sequence[str], *, textname: str = ""
    ) -> None:
        """The hash is written with the registry's change, not here."""

    def create_client(
        self, username: str, password: str, roles: Sequence[str], *, textname: str = ""
    ) -> None:
        """The hash is written with the registry's change, not here."""

    def set_client_password(self, username: str, password: str) -> None:
        """The hash is written with the registry's change, not here."""

    def set_client_roles(self, username: str, roles: Sequence[str]) -> None:
        """A device's rules follow from its row; a service account's from its role."""

    def disable_client(self, username: str) -> None:
        log.info("emqx_session_not_cut", username=username, hint="emqx ctl clients kick <clientid>")

    def enable_client(self, username: str) -> None:
        """An account with a hash is enabled."""
