"""The sync plan (pure): what the broker must change to agree with the registry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from circulo.pki.model import CertFacts, Index
from circulo.registry.access import device_acls, device_role, device_textname
from circulo.registry.dynsec import SERVICE_ROLES, Acl, ClientInfo, RoleInfo
from circulo.registry.model import Device, DeviceSpec
from circulo.registry.reconcile import Step, plan_certificates, plan_sync

AT = datetime(2025, 6, 1, tzinfo=UTC)


def device(device_id: str, *, retired: bool = False, broker_state: str = "provisioned") -> Device:
    spec = DeviceSpec("meter", device_id, "c1", rated_power_w=5000)
    status = "retired" if retired else "active"
    return Device(spec, status, AT, None, AT if retired else None, AT, 1, AT, broker_state)


def client(username: str, *roles: str, disabled: bool = False, textname: str = "") -> ClientInfo:
    return ClientInfo(username, tuple(roles), disabled, textname)


def role(device_id: str, acls: tuple[Acl, ...] | None = None) -> RoleInfo:
    return RoleInfo(device_role(device_id), frozenset(acls or device_acls("meter", device_id)))


SERVICE = {name: RoleInfo(name, frozenset(acls)) for name, acls in SERVICE_ROLES.items()}


def plan(
    devices: list[Device], clients: list[ClientInfo], roles: list[RoleInfo]
) -> list[tuple[str, str, str]]:
    by_name = {**SERVICE, **{r.rolename: r for r in roles}}
    actions = plan_sync(devices, {c.username: c for c in clients}, by_name, SERVICE_ROLES)
    return [(str(a.step), a.target, a.detail) for a in actions]


def steps(devices: list[Device], clients: list[ClientInfo], roles: list[RoleInfo]) -> list[tuple[str, str]]:
    return [(step, target) for step, target, _ in plan(devices, clients, roles)]


def test_a_broker_that_agrees_with_the_registry_needs_nothing() -> None:
    assert plan([device("m1")], [client("m1", device_role("m1"))], [role("m1")]) == []


@pytest.mark.parametrize(
    ("devices", "clients", "roles", "expected"),
    [
        # half-done add: the row exists, the broker client does not
        ([device("m1", broker_state="pending")], [], [],
         [("set_role", "circulo-device-m1"), ("create_client", "m1"), ("record_state", "m1")]),
        # the client exists but the registry never recorded it (crash after the broker step)
        ([device("m1", broker_state="pending")], [client("m1", device_role("m1"))], [role("m1")],
         [("record_state", "m1")]),
        # the role's ACLs were widened by hand: put back
        ([device("m1")], [client("m1", device_role("m1"))], [role("m1", (Acl("publishClientSend", "#"),))],
         [("set_role", "circulo-device-m1")]),
        # an extra role on the device's client is taken away; a disabled client of a live device enabled
        ([device("m1")], [client("m1", device_role("m1"), "circulo-operator", disabled=True)], [role("m1")],
         [("set_client_roles", "m1"), ("enable_client", "m1")]),
        # retired: its client is disabled, and that is recorded
        ([device("m1", retired=True)], [client("m1", device_role("m1"))], [role("m1")],
         [("disable_client", "m1"), ("record_state", "m1")]),
        ([device("m1", retired=True, broker_state="disabled")],
         [client("m1", device_role("m1"), disabled=True)], [role("m1")], []),
        ([device("m1", retired=True, broker_state="disabled")], [], [], []),
        # a device client the registry does not know is disabled
        ([], [client("ghost", device_role("ghost"))], [], [("disable_orphan", "ghost")]),
        ([], [client("ghost", device_role("ghost"), disabled=True)], [], []),
        # a client of the device's name that is not a device client is never touched
        ([device("m1")], [client("m1", "circulo-ingest")], [role("m1")], [("conflict", "m1")]),
        # a device client stripped of its roles is still the device's
        ([device("m1")], [client("m1", textname=device_textname("meter", "c1"))], [role("m1")],
         [("set_client_roles", "m1")]),
    ],
)  # fmt: skip
def test_sync_plans_from_a_table(
    devices: list[Device], clients: list[ClientInfo], roles: list[RoleInfo], expected: list[tuple[str, str]]
) -> None:
    assert steps(devices, clients, roles) == expected


def test_service_roles_in_use_that_are_missing_or_changed_are_set_and_unused_ones_left_alone() -> None:
    changed = RoleInfo("circulo-rewards", frozenset({Acl("publishClientSend", "#")}))
    clients = {"svc": client("svc", "circulo-ingest")}
    actions = plan_sync([], clients, {"circulo-rewards": changed}, SERVICE_ROLES)
    set_roles = {a.target for a in actions if a.step is Step.SET_ROLE}
    assert set_roles == {"circulo-ingest", "circulo-replay", "circulo-rewards"}


def test_an_ingest_account_without_the_replay_role_is_granted_it_and_no_other_account_is() -> None:
    clients = {
        "svc": client("svc", "circulo-ingest"),
        "sim": client("sim", "circulo-simulator"),
        "ops": client("ops", "circulo-operator"),
        "done": client("done", "circulo-ingest", "circulo-replay"),
    }
    actions = plan_sync([], clients, SERVICE, SERVICE_ROLES)
    assert [(a.step, a.target, a.detail) for a in actions] == [(Step.GRANT_ROLE, "svc", "circulo-replay")]


def test_a_device_role_lets_it_subscribe_to_its_own_command_topic_and_publish_no_command() -> None:
    acls = set(device_acls("bin", "b1"))
    assert Acl("subscribeLiteral", "circulo/cmd/v1/bin/b1") in acls
    assert Acl("publishClientSend", "circulo/cmd/#", allow=False, priority=10) in acls
    assert not any(a.acltype.startswith("subscribe") and a.topic != "circulo/cmd/v1/bin/b1" for a in acls)


def test_roles_come_before_clients_and_recorded_state_last() -> None:
    actions = plan_sync(
        [device("m1", broker_state="pending"), device("m0", retired=True, broker_state="provisioned")],
        {"m0": client("m0", device_role("m0"))},
        SERVICE,
        SERVICE_ROLES,
    )
    order = [a.step for a in actions]
    assert order == sorted(order, key=list(Step).index)
    assert order[0] is Step.SET_ROLE and order[-1] is Step.RECORD_STATE


def test_a_conflict_says_what_the_foreign_client_is() -> None:
    [(step, _, detail)] = plan([device("m1")], [client("m1", "circulo-ingest")], [role("m1")])
    assert step == "conflict" and "circulo-ingest" in detail


# --- certificates (mutual TLS) ----------------------------------------------------------------------
def cert(name: str, serial: str, *, revoked: bool = False, cut: bool = True) -> CertFacts:
    facts = CertFacts(serial, "device", name, f"CN={name}", "0" * 64, AT, AT + timedelta(days=1095))
    return facts.revoke(AT, "superseded", sessions_cut=cut) if revoked else facts


@pytest.mark.parametrize(
    ("devices", "entries", "crl_pending", "expected"),
    [
        ([device("m1")], [cert("m1", "a1")], False, []),
        ([device("m1", retired=True)], [cert("m1", "a1")], False,
         [("revoke_certificate", "m1"), ("publish_crl", "crl")]),
        ([device("m1")], [cert("m1", "a1", revoked=True, cut=False), cert("m1", "a2")], False,
         [("cut_session", "m1")]),
        ([device("m1", retired=True)], [cert("m1", "a1", revoked=True, cut=True)], False, []),
        ([device("m1")], [cert("m1", "a1")], True, [("publish_crl", "crl")]),
        ([device("m1"), device("m2", retired=True)],
         [cert("m1", "a1", revoked=True, cut=False), cert("m2", "b1")], False,
         [("revoke_certificate", "m2"), ("publish_crl", "crl"), ("cut_session", "m1")]),
    ],
)  # fmt: skip
def test_sync_revokes_what_retired_devices_hold_publishes_the_crl_then_cuts_sessions(
    devices: list[Device], entries: list[CertFacts], crl_pending: bool, expected: list[tuple[str, str]]
) -> None:
    actions = plan_certificates(devices, Index(tuple(entries)), crl_pending)
    assert [(str(a.step), a.target) for a in actions] == expected
