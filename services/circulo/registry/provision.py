"""Device credentials on the broker: issue (create or reset), disable, apply a sync plan.

The database and the broker cannot change in one transaction. Every operation here runs
after the registry row is committed and records what the broker confirmed afterwards, so an
interrupted step leaves a row whose broker state is ``pending`` or out of date, which
``circulo device sync`` (or re-running the same command) repairs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

import psycopg

from circulo.errors import Conflict
from circulo.logs import get_logger
from circulo.registry import emqx, store
from circulo.registry.access import device_acls, device_role, device_textname, new_password
from circulo.registry.bundle import IssuedCredentials
from circulo.registry.certificates import DeviceCerts
from circulo.registry.dynsec import SERVICE_ROLES, DynsecAdmin
from circulo.registry.emqx_broker import RegistryBroker
from circulo.registry.model import Device, DeviceSpec
from circulo.registry.reconcile import Step, SyncAction, owns_client
from circulo.registry.settings import RegistrySettings

log = get_logger("registry")

OnIssued = Callable[[IssuedCredentials], None]


@contextmanager
def broker_admin(settings: RegistrySettings) -> Iterator[DynsecAdmin]:
    """An admin connection to the broker's dynamic-security plugin; with EMQX, the database."""
    if settings.broker == "emqx":
        with RegistryBroker(settings.database_url) as registry:
            yield registry
        return
    with DynsecAdmin(settings.admin_endpoint()) as admin:
        yield admin


def issue_credentials(
    admin: DynsecAdmin, conn: psycopg.Connection, spec: DeviceSpec, certs: DeviceCerts
) -> IssuedCredentials:
    """A new password (and, with mutual TLS, a new certificate) put on the broker, then recorded.

    The device's older certificates are revoked and the broker reloaded *before* the password
    changes, so when the change cuts the live session the old bundle cannot come back.
    """
    password = new_password()
    issued_at = datetime.now(UTC)
    client = certs.issue(conn, spec.device_id)
    keep = client.serial if client else None
    revoked = certs.revoke_device(conn, spec.device_id, keep=keep, reason="superseded")
    put_device_client(admin, spec, password)  # a new password disconnects the device
    certs.sessions_cut(revoked)
    version = store.record_issue(conn, spec.device_id, issued_at, emqx.hash_password(password))
    log.info("credentials_issued", device_id=spec.device_id, credentials_version=version,
             certificate=keep, revoked=[c.serial for c in revoked])  # fmt: skip
    return IssuedCredentials(spec.device_id, spec.kind, spec.coop_id, password, version, issued_at, client,
                             profile=spec.profile)  # fmt: skip


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


def disable_device_client(
    admin: DynsecAdmin, conn: psycopg.Connection, device_id: str, certs: DeviceCerts
) -> bool:
    """Disable the device's client (its logins refused, its connection closed) and revoke its
    certificates; False when it had no client."""
    client = admin.get_client(device_id)
    present = client is not None and owns_client(client, device_id)
    if present and client is not None and not client.disabled:
        admin.disable_client(device_id)
    certs.revoke_retired(conn, device_id)
    store.set_broker_state(conn, device_id, "disabled")
    log.info("device_client_disabled", device_id=device_id, had_client=present)
    return present


def cut_session(admin: DynsecAdmin, device: Device) -> None:
    """Disconnect an active device (disable its client, enable it again): a revoked certificate's
    session would otherwise live on. A retired device's client is disabled: nothing to cut."""
    if device.retired:
        return
    admin.execute([{"command": "disableClient", "username": device.device_id}], ignore=("not found",))
    admin.execute([{"command": "enableClient", "username": device.device_id}], ignore=("not found",))


@dataclass(frozen=True)
class SyncContext:
    """What applying a sync plan works with."""

    admin: DynsecAdmin
    conn: psycopg.Connection
    devices: Mapping[str, Device]
    certs: DeviceCerts
    on_issued: OnIssued


def apply_sync(context: SyncContext, plan: list[SyncAction]) -> None:
    """Carry out a sync plan (reconcile.plan_sync and plan_certificates), in its order; conflicts
    are left as reported."""
    for action in plan:
        if action.step in CERTIFICATE_STEPS:
            apply_certificate_action(context, action)
        else:
            apply_action(context, action)
        log.info("sync_step", step=str(action.step), target=action.target)


CERTIFICATE_STEPS = (Step.REVOKE_CERT, Step.PUBLISH_CRL, Step.CUT_SESSION)


def apply_certificate_action(context: SyncContext, action: SyncAction) -> None:
    certs, conn = context.certs, context.conn
    if action.step is Step.REVOKE_CERT:
        certs.revoke_retired(conn, action.target)
    elif action.step is Step.PUBLISH_CRL:
        certs.publish_crl(conn)
    elif action.step is Step.CUT_SESSION:
        cut_session(context.admin, context.devices[action.target])
        certs.sessions_cut(certs.uncut(action.target))


def apply_action(context: SyncContext, action: SyncAction) -> None:
    admin, conn, devices, target = context.admin, context.conn, context.devices, action.target
    if action.step is Step.SET_ROLE:
        ensure_any_role(admin, devices, target)
    elif action.step is Step.CREATE_CLIENT:
        context.on_issued(issue_credentials(admin, conn, devices[target].spec, context.certs))
    elif action.step is Step.SET_CLIENT_ROLES:
        admin.set_client_roles(target, [device_role(target)])
    elif action.step is Step.GRANT_ROLE:
        admin.add_client_role(target, action.detail)
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
