"""``circulo device check``: read a snapshot of what the pipeline saw of a device, judge it.

The judging is check.evaluate (pure); this module reads the database at one moment and,
on the first PASS, records the device as commissioned (status ``active``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg

from circulo.errors import CirculoError
from circulo.pki import queries as pki_queries
from circulo.pki.layout import BROKER_SERVER
from circulo.registry import queries, store
from circulo.registry.brokerlog import broker_view
from circulo.registry.certificates import DeviceCerts
from circulo.registry.check import (
    CheckLimits,
    CheckReport,
    CheckSnapshot,
    LastMessage,
    QuarantinedMessage,
    Readings,
    TlsFacts,
    Verdict,
    evaluate,
    first_data_arrived,
)
from circulo.registry.model import Device
from circulo.registry.settings import RegistrySettings
from circulo.settings import MqttEndpoint

# table -> channel, per kind
TABLES = {
    "meter": {"meter_reading": "telemetry", "device_status": "status"},
    "bin": {"bin_reading": "telemetry", "bin_event": "event", "device_status": "status"},
    "repair": {"repair_event": "event", "device_status": "status"},
}


@dataclass(frozen=True)
class CheckOutcome:
    """A report, and when the device was commissioned (now, on its first PASS, or earlier)."""

    report: CheckReport
    snapshot: CheckSnapshot
    commissioned_at: datetime | None
    newly_commissioned: bool

    def as_dict(self) -> dict[str, Any]:
        return {
            **self.report.as_dict(),
            "kind": self.snapshot.kind,
            "coop_id": self.snapshot.coop_id,
            "checked_at": self.snapshot.now,
            "commissioned_at": self.commissioned_at,
        }


@dataclass(frozen=True)
class TlsSources:
    """Where the TLS facts of a check come from: the PKI, the broker's log and config, bundles."""

    settings: RegistrySettings

    def facts(self, conn: psycopg.Connection, device_id: str) -> TlsFacts:
        """Read them now (the log is read again at every poll of ``--wait``)."""
        settings = self.settings
        view = broker_view(settings.broker_log_file, settings.broker_config_file)
        listener = (
            MqttEndpoint.from_url(settings.device_broker_url).port if settings.device_broker_url else None
        )
        bundle = Path(settings.bundle_dir) / f"{device_id}.json" if settings.bundle_dir else None
        return TlsFacts(
            mutual_tls=DeviceCerts(settings).mutual_tls,
            device_listener=listener,
            transport=view.transport(device_id) if view else None,
            log_read=view is not None,
            certificate_not_after=_not_after(conn, "device", device_id),
            broker_certificate_not_after=_not_after(conn, "server", BROKER_SERVER),
            bundle_file=str(bundle) if bundle is not None and bundle.exists() else None,
        )


def _not_after(conn: psycopg.Connection, kind: str, name: str) -> datetime | None:
    row = conn.execute(pki_queries.CURRENT_CERTIFICATE, {"kind": kind, "name": name}).fetchone()
    return row[2] if row else None


def load_snapshot(conn: psycopg.Connection, device: Device, tls: TlsSources | None = None) -> CheckSnapshot:
    """What the database (and the broker's log) knows of the device now (the database's clock)."""
    device_id = device.device_id
    now = _scalar(conn, queries.NOW, ())
    last: list[LastMessage] = []
    readings = Readings()
    valid_last_hour = 0
    for table, channel in TABLES[device.kind].items():
        row = conn.execute(queries.LAST_MESSAGE[table], (device_id,)).fetchone()
        if row:
            last.append(LastMessage(channel, row[0], row[1]))
            if channel == "telemetry":
                readings = Readings(*row[2:])
        valid_last_hour += int(_scalar(conn, queries.COUNT_RECENT[table], (device_id,)))
    state = conn.execute(queries.DEVICE_STATE, (device_id,)).fetchone()
    rejection = conn.execute(queries.LAST_REJECTION, (device_id,)).fetchone()
    return CheckSnapshot(
        device_id=device_id,
        kind=device.kind,
        coop_id=device.spec.coop_id,
        status=device.status,
        now=now,
        rated_power_w=device.spec.rated_power_w,
        retired_at=device.retired_at,
        last_messages=tuple(last),
        last_rejection=QuarantinedMessage(*rejection) if rejection else None,
        valid_last_hour=valid_last_hour,
        rejected_last_hour=int(_scalar(conn, queries.COUNT_RECENT_REJECTIONS, (device_id,))),
        readings=readings,
        tls=tls.facts(conn, device_id) if tls is not None else TlsFacts(),
        **_state_fields(state, conn, device_id),
    )


def _state_fields(state: tuple[Any, ...] | None, conn: psycopg.Connection, device_id: str) -> dict[str, Any]:
    """Online state and statistics from device_state; without it, the newest stored status."""
    if state is not None:
        online, changed_at, _seen, fw, received, missing, skew = state
        return {
            "online": online,
            "state_changed_at": changed_at,
            "fw": fw,
            "seq_received": received,
            "seq_missing": missing,
            "clock_skew_ms": skew,
        }
    status = conn.execute(queries.LAST_MESSAGE["device_status"], (device_id,)).fetchone()
    if status is None:
        return {}
    received_at, ts, state_name, fw = status
    return {"online": state_name == "online", "state_changed_at": ts or received_at, "fw": fw}


def _scalar(conn: psycopg.Connection, sql: str, params: tuple[Any, ...]) -> Any:
    row = conn.execute(sql, params).fetchone()
    if row is None:
        raise CirculoError("database: no answer to a commissioning-check query")
    return row[0]


def check_device(
    settings: RegistrySettings,
    device_id: str,
    *,
    wait_s: float = 0,
    poll_s: float = 2.0,
    limits: CheckLimits | None = None,
    on_poll: Callable[[CheckSnapshot], None] | None = None,
) -> CheckOutcome:
    """The commissioning report; with ``wait_s``, first poll until the first valid data arrives."""
    deadline = time.monotonic() + wait_s
    tls = TlsSources(settings)
    with store.database(settings.database_url) as conn:
        device = store.require_device(conn, device_id)
        snapshot = load_snapshot(conn, device, tls)
        while wait_s and not first_data_arrived(snapshot) and time.monotonic() < deadline:
            if on_poll:
                on_poll(snapshot)
            time.sleep(min(poll_s, max(0.0, deadline - time.monotonic())))
            snapshot = load_snapshot(conn, store.require_device(conn, device_id), tls)
        report = evaluate(snapshot, limits)
        newly = store.record_commissioned(conn, device_id) if report.verdict is Verdict.PASS else None
        commissioned_at = newly or store.require_device(conn, device_id).commissioned_at
        return CheckOutcome(report, snapshot, commissioned_at, newly is not None)
