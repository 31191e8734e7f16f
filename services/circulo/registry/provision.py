"""Device credentials on the broker: issue (create or reset), disable, apply a sync plan.

The database and the broker cannot change in one transaction. Every operation here runs
after the registry row is committed and records what the broker confirmed afterwards, so an
interrupted step leaves a row whose broker state is ``pending`` or out of date, which
``circulo device sync`` (or re-running the same command) repairs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime

import psycopg

from circulo.errors import Conflict
from circulo.logs import get_logger
from circulo.registry import store
from circulo.registry.access import device_acls, device_role, device_textname, new_password
from circulo.registry.bundle import IssuedCredentials
from circulo.registry.dynsec import SERVICE_ROLES, DynsecAdmin
from circulo.registry.model import Device, DeviceSpec
from circulo.registry.reconcile import Step, SyncAction, owns_client
from circulo.registry.settings import RegistrySettings

log = get_logger("registry")

OnIssued = Callable[[IssuedCredentials], None]


@contextmanager
def broker_admin(settings: RegistrySettings) -> Iterator[DynsecAdmin]:
    """An admin connection to the broker's dynamic-security plugin."""
    with DynsecAdmin(settings.admin_endpoint()) as admin:
        yield admin


def issue_credentials(admin: DynsecAdmin, conn: psycopg.Connection, spec: DeviceSpec) -> IssuedCredentials:
    """A new password for the device, put on the broker (client created, or reset), then recorded."""
    password = new_password()
    issued_at = datetime.now(UTC)
    put_device_client(admin, spec, password)
    version = store.record_issue(conn, spec.device_id, issued_at)
    log.info("credentials_issued", device_id=spec.device_id, credentials_version=version)
    return IssuedCredentials(
        spec.device_id, spec.kind, spec.coop_id, password, version, issued_at, profile=spec.profile
    )


def put_device_client(admin: DynsecAdmin, spec: DeviceSpec, password: str) -> None:
    """The device's role and an enabled client with exactly that role and this password."""
    role = device_role(spec.device_id)
    admin.ensure_role(role, device_acls(spec.kind, spec.device_id))
    client = admin.get_client(spec.device_id)
    if client is None:
        textname = device_textname(spec.kind, spec.coop_id)
        admin.create_client(spec.device_id, password, [role], textname=textname)
        return
    if not owns_client(client, spec.device_id):
        raise Conflict(
            f"the broker has a client named {spec.device_id} that is not this device's "
            f"(roles: {', '.join(client.roles) or 'none'}); remove or rename it, then `circulo device sync`"
        )
    admin.set_client_password(spec.device_id, password)
    admin.set_client_roles(spec.device_id, [role])
    admin.enable_client(spec.device_id)


def disable_device_client(admin: DynsecAdmin, conn: psycopg.Connection, device_id: str) -> bool:
    """Disable the device's client (its logins refused, its connection closed); False when it had none."""
    client = admin.get_client(device_id)
    present = client is not None and owns_client(client, device_id)
    if present and client is not None and not client.disabled:
        admin.disable_client(device_id)
    store.set_broker_state(conn, device_id, "disabled")
    log.info("device_client_disabled", device_id=device_id, had_client=present)
    return present


def apply_sync(
    admin: DynsecAdmin,
    conn: psycopg.Connection,
    devices: Mapping[str, Device],
    plan: list[SyncAction],
    on_issued: OnIssued,
) -> None:
    """Carry out a sync plan (reconcile.plan_sync), in its order; conflicts are left as reported."""
    for action in plan:
        apply_action(admin, conn, devices, action, on_issued)
        log.info("sync_step", step=str(action.step), target=action.target)


def apply_action(
    admin: DynsecAdmin,
    conn: psycopg.Connection,
    devices: Mapping[str, Device],
    action: SyncAction,
    on_issued: OnIssued,
) -> None:
    target = action.target
    if action.step is Step.SET_ROLE:
        ensure_any_role(admin, devices, target)
    elif action.step is Step.CREATE_CLIENT:
        on_issued(issue_credentials(admin, conn, devices[target].spec))
    elif action.step is Step.SET_CLIENT_ROLES:
        admin.set_client_roles(target, [device_role(target)])
    elif action.step is Step.ENABLE_CLIENT:
        admin.enable_client(target)
    elif action.step in (Step.DISABLE_CLIENT, Step.DISABLE_ORPHAN):
        admin.disable_client(target)
    elif action.step is Step.RECORD_STATE:
        store.set_broker_state(conn, target, action.detail)


def ensure_any_role(admin: DynsecAdmin, devices: Mapping[str, Device], rolename: str) -> None:
    """Bring a service role or a device role to its ACLs."""
    if rolename in SERVICE_ROLES:
        admin.ensure_role(rolename, SERVICE_ROLES[rolename])
        return
    device = next(d for d in devices.values() if device_role(d.device_id) == rolename)
    admin.ensure_role(rolename, device_acls(device.kind, device.device_id))
