"""Registry operations on devices: add, import, update, retire, rotate credentials, sync.

Each runs its database step in one transaction first and its broker step after, so a
device can never publish before it is registered. Re-running ``add`` or ``import`` after an
interruption finishes the broker step (a device row without a broker client gets one, with
fresh credentials); it never silently replaces credentials that were already issued: that
is ``rotate-credentials``, on purpose.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import psycopg

from circulo.errors import Conflict, ServiceUnavailable
from circulo.registry import store
from circulo.registry.bundle import IssuedCredentials
from circulo.registry.certificates import DeviceCerts
from circulo.registry.dynsec import SERVICE_ROLES, DynsecAdmin
from circulo.registry.errors import BrokerStepFailed, InvalidInput
from circulo.registry.model import Device, DeviceSpec, ReplayState, spec_differences
from circulo.registry.provision import (
    OnIssued,
    SyncContext,
    apply_sync,
    broker_admin,
    disable_device_client,
    issue_credentials,
)
from circulo.registry.reconcile import STEP_ORDER, SyncAction, owns_client, plan_certificates, plan_sync
from circulo.registry.settings import RegistrySettings
from circulo.registry.survey import ImportPlan, SurveyRow, plan_import
from circulo.registry.validation import spec_problems

# what `device update` may change: kind and id are the device's topic and broker identity
UPDATABLE = (
    "coop_id", "lat", "lon", "location_name", "rated_power_w", "capacity_kg", "installer", "notes", "profile",
)  # fmt: skip


@dataclass(frozen=True)
class Provisioned:
    """A device after ``add``: its registry row and the credentials just issued."""

    device: Device
    credentials: IssuedCredentials
    created: bool


@dataclass(frozen=True)
class ImportResult:
    """What an import did: registered rows, rows already there, broker clients issued or failed."""

    added: tuple[str, ...]
    unchanged: tuple[str, ...]
    issued: tuple[str, ...] = ()
    failed: Mapping[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "added": list(self.added),
            "unchanged": list(self.unchanged),
            "issued": list(self.issued),
            "failed": dict(self.failed),
        }


@dataclass(frozen=True)
class Retired:
    """A device after ``retire``."""

    device: Device
    newly_retired: bool
    had_client: bool


@contextmanager
def broker_step(device_ids: str) -> Iterator[None]:
    """Say that the registry is updated and how to finish when the broker cannot be reached."""
    try:
        yield
    except ServiceUnavailable as e:
        raise BrokerStepFailed(
            f"{device_ids}: registry updated, but the broker step failed ({e}); "
            "run the same command again, or `circulo device sync`"
        ) from e


def add_device(settings: RegistrySettings, spec: DeviceSpec) -> Provisioned:
    """Register a device and issue its broker credentials (see the module doc for re-runs)."""
    problems = spec_problems(spec)
    if problems:
        raise InvalidInput(f"device {spec.device_id}", problems)
    with store.database(settings.database_url) as conn:
        created = _register(conn, spec)
        with broker_step(spec.device_id), broker_admin(settings) as admin:
            if not created:
                _refuse_reissue(admin, store.require_device(conn, spec.device_id))
            credentials = issue_credentials(admin, conn, spec, DeviceCerts(settings))
        return Provisioned(store.require_device(conn, spec.device_id), credentials, created)


def _register(conn: psycopg.Connection, spec: DeviceSpec) -> bool:
    """Insert the device; False when it is registered already with exactly these details."""
    with conn.transaction():
        existing = store.get_device(conn, spec.device_id, for_update=True)
        if existing is None:
            store.require_coop(conn, spec.coop_id)
            store.insert_device(conn, spec)
            return True
    if existing.retired:
        raise Conflict(f"device {spec.device_id} is retired; a retired id is not reused")
    differences = spec_differences(existing.spec, spec)
    if differences:
        raise Conflict(
            f"device {spec.device_id} is registered with other details ({', '.join(differences)}); "
            "change them with `circulo device update`"
        )
    return False


def _refuse_reissue(admin: DynsecAdmin, device: Device) -> None:
    """A registered device that has a broker client keeps its credentials: adding it again changes nothing."""
    client = admin.get_client(device.device_id)
    if client is not None and owns_client(client, device.device_id):
        raise Conflict(
            f"device {device.device_id} is already registered and has credentials (issue "
            f"{device.credentials_version}); they are shown only once: `circulo device rotate-credentials "
            f"{device.device_id}` issues new ones (the old stop working)"
        )


def import_survey(
    settings: RegistrySettings,
    rows: Sequence[SurveyRow],
    source: str,
    on_issued: OnIssued,
    *,
    dry_run: bool = False,
) -> ImportResult:
    """Register every row of a checked survey in one transaction, then give each a broker client."""
    ids = [r.spec.device_id for r in rows]
    with store.database(settings.database_url) as conn:
        with conn.transaction():
            registered = store.lock_devices(conn, ids)
            coops = store.existing_coops(conn, sorted({r.spec.coop_id for r in rows}))
            plan = plan_import(rows, registered, coops, source)
            if not dry_run:
                for row in plan.new:
                    store.insert_device(conn, row.spec)
        if dry_run:
            return _import_result(plan)
        what = f"{len(plan.new)} device(s) registered from {source}"
        with broker_step(what), broker_admin(settings) as admin:
            issued, failed = _issue_missing(admin, conn, plan, on_issued, DeviceCerts(settings))
    return _import_result(plan, issued, failed)


def _import_result(
    plan: ImportPlan, issued: Sequence[str] = (), failed: Mapping[str, str] | None = None
) -> ImportResult:
    return ImportResult(
        tuple(r.spec.device_id for r in plan.new),
        tuple(r.spec.device_id for r in plan.unchanged),
        tuple(issued),
        dict(failed or {}),
    )


def _issue_missing(
    admin: DynsecAdmin, conn: psycopg.Connection, plan: ImportPlan, on_issued: OnIssued, certs: DeviceCerts
) -> tuple[list[str], dict[str, str]]:
    """Credentials for new rows, and for unchanged rows whose broker client is missing (a repair)."""
    clients = admin.list_clients()
    wanted = [r.spec for r in plan.new] + [r.spec for r in plan.unchanged if r.spec.device_id not in clients]
    issued, failed = [], {}
    for spec in wanted:
        try:
            on_issued(issue_credentials(admin, conn, spec, certs))
        except Conflict as e:  # one foreign client must not stop the others
            failed[spec.device_id] = e.message
            continue
        issued.append(spec.device_id)
    return issued, failed


def update_device(settings: RegistrySettings, device_id: str, changes: Mapping[str, Any]) -> Device:
    """Change what an installer may change (location, rating, notes, co-op); kind and id are fixed."""
    unknown = set(changes) - set(UPDATABLE)
    if unknown:
        raise InvalidInput(f"device {device_id}", [f"{', '.join(sorted(unknown))} cannot be changed"])
    with store.database(settings.database_url) as conn, conn.transaction():
        device = store.require_device(conn, device_id, for_update=True)
        if device.retired:
            raise Conflict(f"device {device_id} is retired; it cannot be changed")
        spec = dataclasses.replace(device.spec, **changes)
        problems = spec_problems(spec)
        if problems:
            raise InvalidInput(f"device {device_id}", problems)
        if spec.coop_id != device.spec.coop_id:
            store.require_coop(conn, spec.coop_id)
        store.update_device(conn, spec)
        return store.require_device(conn, device_id)


def retire_device(settings: RegistrySettings, device_id: str) -> Retired:
    """Mark the device retired (its messages are quarantined from now on) and disable its client."""
    with store.database(settings.database_url) as conn:
        with conn.transaction():
            store.require_device(conn, device_id, for_update=True)
            newly_retired = store.retire_device(conn, device_id)
        with broker_step(f"device {device_id} retired"), broker_admin(settings) as admin:
            had_client = disable_device_client(admin, conn, device_id, DeviceCerts(settings))
        return Retired(store.require_device(conn, device_id), newly_retired, had_client)


def rotate_credentials(settings: RegistrySettings, device_id: str) -> IssuedCredentials:
    """New credentials for a device; the old password stops working at once."""
    with store.database(settings.database_url) as conn:
        device = store.require_device(conn, device_id)
        if device.retired:
            raise Conflict(f"device {device_id} is retired; it gets no new credentials")
        with broker_admin(settings) as admin:
            return issue_credentials(admin, conn, device.spec, DeviceCerts(settings))


def sync_broker(
    settings: RegistrySettings, on_issued: OnIssued, *, dry_run: bool = False
) -> list[SyncAction]:
    """Reconcile the broker's clients and roles with the registry; return the plan (applied unless dry)."""
    certs = DeviceCerts(settings)
    with store.database(settings.database_url) as conn, broker_admin(settings) as admin:
        devices = store.all_devices(conn)
        plan = plan_sync(devices, admin.list_clients(), admin.list_roles(), SERVICE_ROLES)
        index = certs.index()
        if index is not None:
            plan += plan_certificates(devices, index, certs.crl_pending())
        plan.sort(key=lambda a: STEP_ORDER[a.step])
        if not dry_run:
            by_id = {d.device_id: d for d in devices}
            apply_sync(SyncContext(admin, conn, by_id, certs, on_issued), plan)
        return plan


def show_device(settings: RegistrySettings, device_id: str) -> Device:
    with store.database(settings.database_url) as conn:
        return store.require_device(conn, device_id)


def show_device_replay(settings: RegistrySettings, device_id: str) -> tuple[Device, ReplayState]:
    """The device and its replay gaps (SPEC §11): what is pending, what was lost for good."""
    with store.database(settings.database_url) as conn:
        return store.require_device(conn, device_id), store.replay_state(conn, device_id)


def list_devices(settings: RegistrySettings, **filters: str | None) -> list[Device]:
    with store.database(settings.database_url) as conn:
        return store.list_devices(conn, **filters)
