"""Registry rows in and out of the database (psycopg; the SQL is in queries.py)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import psycopg

from circulo.errors import CirculoError, NotFound, ServiceUnavailable
from circulo.registry import emqx, queries
from circulo.registry.model import Coop, Device, DeviceSpec, Member, OpenData, ReplayGap, ReplayState
from circulo.store.db import connect, first_line


@contextmanager
def database(url: str) -> Iterator[psycopg.Connection]:
    """An autocommit connection whose database errors become one clear CirculoError line.

    Steps of more than one statement run in ``conn.transaction()`` blocks.
    """
    try:
        with connect(url, autocommit=True, application_name="circulo-registry") as conn:
            yield conn
    except psycopg.OperationalError as e:
        raise ServiceUnavailable(f"database: {first_line(e)}") from e
    except psycopg.Error as e:
        raise CirculoError(f"database: {first_line(e)}") from e


def device_from_row(row: Sequence[Any]) -> Device:
    """A Device from the columns of queries.DEVICE_COLUMNS."""
    spec = DeviceSpec(*row[:11])
    return Device(spec, *row[11:])


def get_device(conn: psycopg.Connection, device_id: str, *, for_update: bool = False) -> Device | None:
    sql = queries.SELECT_DEVICE_FOR_UPDATE if for_update else queries.SELECT_DEVICE
    row = conn.execute(sql, (device_id,)).fetchone()
    return device_from_row(row) if row else None


def require_device(conn: psycopg.Connection, device_id: str, *, for_update: bool = False) -> Device:
    """The device, or NotFound naming it."""
    device = get_device(conn, device_id, for_update=for_update)
    if device is None:
        raise NotFound(f"device {device_id} is not registered (see `circulo device list`)")
    return device


def replay_state(conn: psycopg.Connection, device_id: str) -> ReplayState:
    """The device's pending replay gaps and its closed ones counted (final loss per reason)."""
    pending = tuple(ReplayGap(*row) for row in conn.execute(queries.SELECT_PENDING_GAPS, (device_id,)))
    lost: dict[str, int] = {}
    lost_gaps = recovered = 0
    for state, reason, gaps, missing in conn.execute(queries.SELECT_CLOSED_GAPS, (device_id,)):
        if state == "lost":
            lost[reason] = int(missing)
            lost_gaps += gaps
        else:
            recovered += gaps
    return ReplayState(pending, lost, lost_gaps, recovered)


def lock_devices(conn: psycopg.Connection, device_ids: Sequence[str]) -> dict[str, Device]:
    """The registered devices among ``device_ids``, locked until the transaction ends."""
    rows = conn.execute(queries.SELECT_DEVICES_FOR_UPDATE, (list(device_ids),)).fetchall()
    return {d.device_id: d for d in map(device_from_row, rows)}


def list_devices(conn: psycopg.Connection, **filters: str | None) -> list[Device]:
    """Devices, optionally of one ``coop_id``, ``kind`` or ``status``."""
    params = {"coop_id": None, "kind": None, "status": None, **filters}
    return [device_from_row(r) for r in conn.execute(queries.SELECT_DEVICES, params).fetchall()]


def all_devices(conn: psycopg.Connection) -> list[Device]:
    return [device_from_row(r) for r in conn.execute(queries.SELECT_ALL_DEVICES).fetchall()]


def insert_device(conn: psycopg.Connection, spec: DeviceSpec) -> None:
    """A new device row and its credential state (pending until the broker confirms)."""
    conn.execute(queries.INSERT_DEVICE, spec.as_dict())
    conn.execute(queries.INSERT_CREDENTIALS_STATE, (spec.device_id,))


def update_device(conn: psycopg.Connection, spec: DeviceSpec) -> None:
    conn.execute(queries.UPDATE_DEVICE, spec.as_dict())


def retire_device(conn: psycopg.Connection, device_id: str) -> bool:
    """Mark the device retired and drop its password hash (EMQX refuses it from now on);
    False when it already was retired. Run it inside the caller's transaction."""
    emqx.delete_device_hash(conn, device_id)
    return conn.execute(queries.RETIRE_DEVICE, (device_id,)).rowcount == 1


def record_issue(
    conn: psycopg.Connection, device_id: str, issued_at: datetime, hashed: emqx.PasswordHash
) -> int:
    """Count one more issue of credentials (the broker has them) and keep the new password's
    hash for EMQX, in one transaction; return the issue's version."""
    with conn.transaction():
        row = conn.execute(queries.RECORD_ISSUE, {"device_id": device_id, "issued_at": issued_at}).fetchone()
        assert row is not None  # noqa: S101 - INSERT … ON CONFLICT DO UPDATE RETURNING always returns
        emqx.write_device_hash(conn, device_id, hashed)
    return int(row[0])


def set_broker_state(conn: psycopg.Connection, device_id: str, state: str) -> None:
    conn.execute(queries.SET_BROKER_STATE, (device_id, state))


def record_commissioned(conn: psycopg.Connection, device_id: str) -> datetime | None:
    """Mark a registered device active; its commissioning time, or None when it was not 'registered'."""
    row = conn.execute(queries.RECORD_COMMISSIONED, (device_id,)).fetchone()
    return row[0] if row else None


# --- co-ops and members ---------------------------------------------------------------------
def insert_coop(conn: psycopg.Connection, coop_id: str, name: str) -> Coop | None:
    """The new co-op, or None when one with this id exists."""
    row = conn.execute(queries.INSERT_COOP, (coop_id, name)).fetchone()
    return Coop(*row) if row else None


def get_coop(conn: psycopg.Connection, coop_id: str) -> Coop | None:
    row = conn.execute(queries.SELECT_COOP, (coop_id,)).fetchone()
    return Coop(*row) if row else None


def require_coop(conn: psycopg.Connection, coop_id: str) -> Coop:
    coop = get_coop(conn, coop_id)
    if coop is None:
        hint = f"add it with `circulo coop add {coop_id} --name …`"
        raise NotFound(f"co-op {coop_id} is not registered ({hint})")
    return coop


def list_coops(conn: psycopg.Connection) -> list[Coop]:
    return [Coop(*r) for r in conn.execute(queries.SELECT_COOPS).fetchall()]


def existing_coops(conn: psycopg.Connection, coop_ids: Sequence[str]) -> set[str]:
    return {r[0] for r in conn.execute(queries.SELECT_COOP_IDS, (list(coop_ids),)).fetchall()}


def insert_member(conn: psycopg.Connection, coop_id: str, account: str, shares: int) -> Member | None:
    """The new member, or None when the account is a member of this co-op already."""
    row = conn.execute(queries.INSERT_MEMBER, (coop_id, account, shares)).fetchone()
    return Member(*row) if row else None


def get_member(conn: psycopg.Connection, coop_id: str, account: str) -> Member | None:
    row = conn.execute(queries.SELECT_MEMBER, (coop_id, account)).fetchone()
    return Member(*row) if row else None


def set_shares(conn: psycopg.Connection, coop_id: str, account: str, shares: int) -> Member | None:
    row = conn.execute(queries.UPDATE_SHARES, (shares, coop_id, account)).fetchone()
    return Member(*row) if row else None


def list_members(conn: psycopg.Connection, coop_id: str | None = None) -> list[Member]:
    return [Member(*r) for r in conn.execute(queries.SELECT_MEMBERS, {"coop_id": coop_id}).fetchall()]


def get_open_data(conn: psycopg.Connection, coop_id: str) -> OpenData | None:
    """The co-op's open-data settings, if it has any."""
    row = conn.execute(queries.SELECT_OPEN_DATA, (coop_id,)).fetchone()
    return OpenData(*row) if row else None


def save_open_data(conn: psycopg.Connection, settings: OpenData) -> OpenData:
    """Insert or replace the co-op's open-data settings."""
    row = conn.execute(queries.UPSERT_OPEN_DATA, vars(settings)).fetchone()
    if row is None:
        raise CirculoError(f"co-op {settings.coop_id}: open-data settings were not saved")
    return OpenData(*row)
