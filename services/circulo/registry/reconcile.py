"""What the broker must change to match the registry (pure): the plan of ``device sync``.

The registry (database) is the truth about which devices exist and which are retired; the
broker is made to agree with it. Service roles that exist, or that a client holds, are kept
at the ACLs of dynsec.SERVICE_ROLES; a service account missing a companion role of its own
(the ingest's replay role, SPEC §11) is granted it. A device that is not retired has a role allowing only its
own topics and an enabled client holding exactly that role; a retired device's client is
disabled; a client holding a device role with no registered device behind it (an orphan)
is disabled; a client that has a device's name but is not a device client (a service
account, a hand-made client) is reported, never changed.

Certificates (mutual TLS, :func:`plan_certificates`): a retired device's certificates are
revoked; a CRL that lacks a revocation, or is due, is published and the broker reloaded;
the live session of an active device whose certificate was revoked is cut (the broker
never re-checks a session it accepted).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from circulo.pki.model import Index
from circulo.registry.access import DEVICE_TEXTNAME_PREFIX, device_acls, device_role, is_device_role
from circulo.registry.dynsec import COMPANION_ROLES, Acl, ClientInfo, RoleInfo
from circulo.registry.model import Device


class Step(enum.StrEnum):
    """The kinds of change, in the order they are applied."""

    SET_ROLE = "set_role"
    CREATE_CLIENT = "create_client"
    SET_CLIENT_ROLES = "set_client_roles"
    GRANT_ROLE = "grant_role"
    ENABLE_CLIENT = "enable_client"
    DISABLE_CLIENT = "disable_client"
    DISABLE_ORPHAN = "disable_orphan"
    REVOKE_CERT = "revoke_certificate"
    PUBLISH_CRL = "publish_crl"
    CUT_SESSION = "cut_session"
    RECORD_STATE = "record_state"
    CONFLICT = "conflict"


STEP_ORDER = {step: index for index, step in enumerate(Step)}


@dataclass(frozen=True)
class SyncAction:
    """One change: ``target`` is a role name, a username or a device id."""

    step: Step
    target: str
    detail: str = ""

    def as_dict(self) -> dict[str, str]:
        return {"step": str(self.step), "target": self.target, "detail": self.detail}


def owns_client(client: ClientInfo, device_id: str) -> bool:
    """Whether a broker client is this device's (its role, or a device client stripped of roles)."""
    if device_role(device_id) in client.roles:
        return True
    return not client.roles and client.textname.startswith(DEVICE_TEXTNAME_PREFIX)


def role_matches(role: RoleInfo | None, acls: Iterable[Acl]) -> bool:
    return role is not None and role.acls == frozenset(acls)


def plan_sync(
    devices: Sequence[Device],
    clients: Mapping[str, ClientInfo],
    roles: Mapping[str, RoleInfo],
    service_roles: Mapping[str, Sequence[Acl]],
    companions: Mapping[str, Sequence[str]] = COMPANION_ROLES,
) -> list[SyncAction]:
    """Every change that brings the broker (and the recorded broker state) in line with the registry."""
    registered = {d.device_id for d in devices}
    grants = plan_companions(clients, companions, registered)
    in_use = {role for client in clients.values() for role in client.roles} | {a.detail for a in grants}
    actions = [
        SyncAction(Step.SET_ROLE, name, "service role")
        for name, acls in service_roles.items()
        if (name in roles or name in in_use) and not role_matches(roles.get(name), acls)
    ]
    actions += grants
    for device in devices:
        role = roles.get(device_role(device.device_id))
        actions += plan_device(device, clients.get(device.device_id), role)
    actions += [
        SyncAction(Step.DISABLE_ORPHAN, client.username, ORPHAN)
        for client in clients.values()
        if client.username not in registered and not client.disabled and _has_device_role(client)
    ]
    return sorted(actions, key=lambda a: STEP_ORDER[a.step])


def plan_companions(
    clients: Mapping[str, ClientInfo], companions: Mapping[str, Sequence[str]], registered: set[str]
) -> list[SyncAction]:
    """Service accounts missing a role their service role comes with (``detail`` names it).

    A client named like a registered device is that device's conflict, never changed here.
    """
    return [
        SyncAction(Step.GRANT_ROLE, client.username, companion)
        for client in clients.values()
        if client.username not in registered
        for role in client.roles
        for companion in companions.get(role, ())
        if companion not in client.roles
    ]


ORPHAN = "holds a device role but no such device is registered"


def _has_device_role(client: ClientInfo) -> bool:
    return any(is_device_role(role) for role in client.roles)


def plan_device(device: Device, client: ClientInfo | None, role: RoleInfo | None) -> list[SyncAction]:
    """The changes one device needs."""
    device_id = device.device_id
    if client is not None and not owns_client(client, device_id):
        detail = f"a broker client named {device_id} exists that is not this device's (roles: "
        detail += ", ".join(client.roles) or "none"
        return [SyncAction(Step.CONFLICT, device_id, detail + "); rename or remove it, then sync again")]
    if device.retired:
        return _plan_retired(device, client)
    actions = []
    if not role_matches(role, device_acls(device.kind, device_id)):
        topics = f"may publish only to its own topics ({device.kind})"
        actions.append(SyncAction(Step.SET_ROLE, device_role(device_id), topics))
    if client is None:
        actions.append(SyncAction(Step.CREATE_CLIENT, device_id, "no broker client: new credentials"))
    else:
        if client.roles != (device_role(device_id),):
            roles = ", ".join(client.roles) or "none"
            actions.append(SyncAction(Step.SET_CLIENT_ROLES, device_id, f"had roles: {roles}"))
        if client.disabled:
            actions.append(SyncAction(Step.ENABLE_CLIENT, device_id, "disabled, yet not retired"))
    if device.broker_state != "provisioned":
        actions.append(SyncAction(Step.RECORD_STATE, device_id, "provisioned"))
    return actions


def _plan_retired(device: Device, client: ClientInfo | None) -> list[SyncAction]:
    actions = []
    if client is not None and not client.disabled:
        actions.append(SyncAction(Step.DISABLE_CLIENT, device.device_id, "the device is retired"))
    if device.broker_state != "disabled":
        actions.append(SyncAction(Step.RECORD_STATE, device.device_id, "disabled"))
    return actions


def plan_certificates(devices: Sequence[Device], index: Index, crl_pending: bool) -> list[SyncAction]:
    """The certificate steps of a sync: revoke what retired devices hold, publish the CRL, cut sessions."""
    actions = [action for device in devices for action in _device_certificate_steps(device, index)]
    if crl_pending or any(a.step is Step.REVOKE_CERT for a in actions):
        actions.append(SyncAction(Step.PUBLISH_CRL, "crl", CRL_DUE))
    return sorted(actions, key=lambda a: STEP_ORDER[a.step])


CRL_DUE = "a revocation not in the CRL yet, or the CRL is due; the broker is reloaded"


def _device_certificate_steps(device: Device, index: Index) -> list[SyncAction]:
    device_id, actions = device.device_id, []
    live = index.live_of("device", device_id)
    if device.retired and live:
        actions.append(SyncAction(Step.REVOKE_CERT, device_id, f"retired; {len(live)} live certificate(s)"))
    uncut = [e for e in index.entries if e.kind == "device" and e.name == device_id and not e.sessions_cut]
    if uncut:
        why = "its client is disabled" if device.retired else "its session may still be live"
        actions.append(SyncAction(Step.CUT_SESSION, device_id, f"{len(uncut)} revoked; {why}"))
    return actions
