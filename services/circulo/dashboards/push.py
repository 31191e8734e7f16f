"""Push the folder, the data source and the dashboards to a Grafana server, idempotently.

Uses ``grafana-client`` (the maintained client; ``grafana-api`` is archived). Each object
is read first and written only when missing or different, so a second push changes
nothing: the folder by uid, the data source by uid (its password is write-only in
Grafana, so it is sent only when the data source is created or ``rotate_password`` is
set), each dashboard by uid, compared on its JSON model without the server's ``id`` and
``version``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from grafana_client.api import GrafanaApi
from grafana_client.client import GrafanaClientError, GrafanaException

from circulo.dashboards.boards.common import FOLDER_TITLE
from circulo.dashboards.build import render_all
from circulo.dashboards.query import DATASOURCE_NAME, DATASOURCE_TYPE, DATASOURCE_UID
from circulo.errors import CirculoError, ServiceUnavailable

FOLDER_UID = "circulo"
NOT_FOUND = 404
SERVER_FIELDS = ("id", "version")


@dataclass(frozen=True)
class DatabaseAccess:
    """How Grafana reaches TimescaleDB: the read-only login role (member of circulo_reader)."""

    host: str
    database: str
    user: str
    password: str
    sslmode: str = "disable"


@dataclass(frozen=True)
class PushReport:
    """What a push created, updated or left as it was."""

    created: tuple[str, ...] = ()
    updated: tuple[str, ...] = ()
    unchanged: tuple[str, ...] = ()


@dataclass
class Changes:
    """Accumulates what each step did."""

    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)

    def report(self) -> PushReport:
        return PushReport(tuple(self.created), tuple(self.updated), tuple(self.unchanged))


def datasource_model(access: DatabaseAccess) -> dict[str, Any]:
    """The PostgreSQL data source as Grafana's API takes it, TimescaleDB mode on."""
    return {
        "uid": DATASOURCE_UID,
        "name": DATASOURCE_NAME,
        "type": DATASOURCE_TYPE,
        "access": "proxy",
        "url": access.host,
        "user": access.user,
        "isDefault": False,
        "jsonData": {
            "database": access.database,
            "sslmode": access.sslmode,
            "timescaledb": True,
            "postgresVersion": 1500,
            "maxOpenConns": 10,
            "connMaxLifetime": 14400,
        },
    }


def differs(current: Any, wanted: Any) -> bool:
    """True when any field we set has another value on the server (fields it adds are ignored)."""
    if isinstance(wanted, dict):
        return not isinstance(current, dict) or any(differs(current.get(k), v) for k, v in wanted.items())
    return bool(current != wanted)


# grafana-client ships no type hints for its endpoints: the API is handled as Any here.
def client(url: str, token: str, *, timeout: float = 10.0) -> Any:
    """A Grafana API client authenticated with a service-account token."""
    return GrafanaApi.from_url(url, credential=token, timeout=timeout)


def ensure_folder(api: Any, changes: Changes) -> None:
    """The Circulo folder, by uid."""
    try:
        current = api.folder.get_folder(FOLDER_UID)
    except GrafanaClientError as e:
        if e.status_code != NOT_FOUND:
            raise
        api.folder.create_folder(FOLDER_TITLE, uid=FOLDER_UID)
        changes.created.append(f"folder {FOLDER_UID}")
        return
    if current.get("title") != FOLDER_TITLE:
        api.folder.update_folder(FOLDER_UID, title=FOLDER_TITLE, overwrite=True)
        changes.updated.append(f"folder {FOLDER_UID}")
    else:
        changes.unchanged.append(f"folder {FOLDER_UID}")


def ensure_datasource(api: Any, access: DatabaseAccess, changes: Changes, *, rotate_password: bool) -> None:
    """The TimescaleDB data source, by uid; the password only on create or rotation."""
    wanted = datasource_model(access)
    secret = {"secureJsonData": {"password": access.password}}
    try:
        current = api.datasource.get_datasource_by_uid(DATASOURCE_UID)
    except GrafanaClientError as e:
        if e.status_code != NOT_FOUND:
            raise
        api.datasource.create_datasource({**wanted, **secret})
        changes.created.append(f"datasource {DATASOURCE_UID}")
        return
    if differs(current, wanted) or rotate_password:
        api.datasource.update_datasource_by_uid(
            DATASOURCE_UID, {**wanted, **(secret if rotate_password else {})}
        )
        changes.updated.append(f"datasource {DATASOURCE_UID}")
    else:
        changes.unchanged.append(f"datasource {DATASOURCE_UID}")


def comparable(model: dict[str, Any]) -> dict[str, Any]:
    """A dashboard model without the fields the server owns."""
    return {key: value for key, value in model.items() if key not in SERVER_FIELDS}


def ensure_dashboard(api: Any, uid: str, model: dict[str, Any], changes: Changes) -> None:
    """One dashboard in the folder, by uid; written only when its model differs."""
    try:
        current = api.dashboard.get_dashboard(uid)
    except GrafanaClientError as e:
        if e.status_code != NOT_FOUND:
            raise
        current = None
    same_folder = current is not None and current.get("meta", {}).get("folderUid") == FOLDER_UID
    if current is not None and same_folder and comparable(current.get("dashboard", {})) == comparable(model):
        changes.unchanged.append(f"dashboard {uid}")
        return
    api.dashboard.update_dashboard(
        {
            "dashboard": comparable(model),
            "folderUid": FOLDER_UID,
            "overwrite": True,
            "message": "circulo dashboards push",
        }
    )
    (changes.created if current is None else changes.updated).append(f"dashboard {uid}")


def push(url: str, token: str, access: DatabaseAccess, *, rotate_password: bool = False) -> PushReport:
    """Create or update the folder, the data source and every dashboard."""
    api = client(url, token)
    changes = Changes()
    try:
        ensure_folder(api, changes)
        ensure_datasource(api, access, changes, rotate_password=rotate_password)
        for uid, model in render_all().items():
            ensure_dashboard(api, uid, model, changes)
    except GrafanaClientError as e:
        raise CirculoError(f"grafana {url}: HTTP {e.status_code}: {e.message}") from e
    except GrafanaException as e:
        raise ServiceUnavailable(f"grafana {url}: {e.message}") from e
    except OSError as e:
        raise ServiceUnavailable(f"grafana {url}: {e}") from e
    return changes.report()
