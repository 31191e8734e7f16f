"""Invariants (hypothesis): a survey row reads back as written; sync reaches agreement in one pass."""

from __future__ import annotations

import csv
import io
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from circulo.registry.access import device_acls, device_role, device_textname, is_device_role
from circulo.registry.dynsec import SERVICE_ROLES, ClientInfo, RoleInfo
from circulo.registry.model import SPEC_FIELDS, Device, DeviceSpec
from circulo.registry.reconcile import Step, SyncAction, plan_sync
from circulo.registry.survey import read_survey
from circulo.registry.validation import spec_problems

IDS = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_-]{0,20}", fullmatch=True)
PRINTABLE = st.characters(min_codepoint=32, max_codepoint=0x2FF, exclude_characters="\x7f")
TEXT = st.none() | st.text(PRINTABLE, min_size=1, max_size=40).map(str.strip).filter(bool)
AT = datetime(2025, 6, 1, tzinfo=UTC)


@st.composite
def device_specs(draw: st.DrawFn, device_id: str | None = None) -> DeviceSpec:
    kind = draw(st.sampled_from(["meter", "bin", "repair"]))
    located = draw(st.booleans())
    return DeviceSpec(
        kind=kind,
        device_id=device_id or draw(IDS),
        coop_id=draw(IDS),
        lat=draw(st.floats(-90, 90)) if located else None,
        lon=draw(st.floats(-180, 180)) if located else None,
        location_name=draw(TEXT),
        rated_power_w=draw(st.integers(1, 10**6)) if kind == "meter" else None,
        capacity_kg=draw(st.none() | st.decimals("0.001", "99999.999", places=3)) if kind == "bin" else None,
        installer=draw(TEXT),
        notes=draw(TEXT),
    )


def as_csv(spec: DeviceSpec) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(SPEC_FIELDS)
    writer.writerow(["" if getattr(spec, f) is None else repr_cell(getattr(spec, f)) for f in SPEC_FIELDS])
    return out.getvalue()


def repr_cell(value: object) -> str:
    return repr(value) if isinstance(value, float) else str(value)


@given(device_specs())
def test_a_valid_device_written_as_a_survey_row_reads_back_the_same(spec: DeviceSpec) -> None:
    assert spec_problems(spec) == []
    [row] = read_survey(as_csv(spec))
    assert row.line == 2
    assert row.spec == spec


# --- sync: a model broker to which the plan is applied --------------------------------------
def apply(
    plan: list[SyncAction],
    devices: dict[str, Device],
    clients: dict[str, ClientInfo],
    roles: dict[str, RoleInfo],
) -> None:
    """What provision.apply_sync does to a broker, on plain dictionaries."""
    for action in plan:
        target, step = action.target, action.step
        if step is Step.SET_ROLE:
            owner = next((d for d in devices.values() if device_role(d.device_id) == target), None)
            acls = device_acls(owner.kind, owner.device_id) if owner else SERVICE_ROLES[target]
            roles[target] = RoleInfo(target, frozenset(acls))
        elif step is Step.CREATE_CLIENT:
            clients[target] = ClientInfo(target, (device_role(target),), False, device_textname("meter", "c"))
        elif step is Step.SET_CLIENT_ROLES:
            clients[target] = replace(clients[target], roles=(device_role(target),))
        elif step is Step.GRANT_ROLE:
            clients[target] = replace(clients[target], roles=(*clients[target].roles, action.detail))
        elif step is Step.ENABLE_CLIENT:
            clients[target] = replace(clients[target], disabled=False)
        elif step in (Step.DISABLE_CLIENT, Step.DISABLE_ORPHAN):
            clients[target] = replace(clients[target], disabled=True)
        elif step is Step.RECORD_STATE:
            devices[target] = replace(devices[target], broker_state=action.detail)


@st.composite
def worlds(draw: st.DrawFn) -> tuple[dict[str, Device], dict[str, ClientInfo], dict[str, RoleInfo]]:
    ids = draw(st.lists(IDS, max_size=6, unique=True))
    devices, clients, roles = {}, {}, {}
    for device_id in ids:
        retired = draw(st.booleans())
        state = draw(st.sampled_from(["pending", "provisioned", "disabled"]))
        spec = DeviceSpec("meter", device_id, "c", rated_power_w=100)
        status, retired_at = ("retired", AT) if retired else ("active", None)
        devices[device_id] = Device(spec, status, AT, None, retired_at, AT, 1, AT, state)
        if draw(st.booleans()):
            role = draw(st.sampled_from(["own", "none", "service", "extra"]))
            held = {"own": (device_role(device_id),), "none": (), "service": ("circulo-ingest",),
                    "extra": (device_role(device_id), "circulo-operator")}[role]  # fmt: skip
            text = device_textname("meter", "c") if draw(st.booleans()) else ""
            clients[device_id] = ClientInfo(device_id, held, draw(st.booleans()), text)
        if draw(st.booleans()):
            acls = device_acls("meter", device_id) if draw(st.booleans()) else device_acls("bin", device_id)
            roles[device_role(device_id)] = RoleInfo(device_role(device_id), frozenset(acls))
    for orphan in draw(st.lists(IDS.map(lambda i: "orphan-" + i), max_size=3, unique=True)):
        clients[orphan] = ClientInfo(orphan, (device_role(orphan),), draw(st.booleans()))
    return devices, clients, roles


@given(worlds())
def test_after_one_sync_a_second_sync_finds_only_the_conflicts(
    world: tuple[dict[str, Device], dict[str, ClientInfo], dict[str, RoleInfo]],
) -> None:
    devices, clients, roles = world
    first = plan_sync(list(devices.values()), clients, roles, SERVICE_ROLES)
    apply(first, devices, clients, roles)
    second = plan_sync(list(devices.values()), clients, roles, SERVICE_ROLES)
    assert second == [a for a in first if a.step is Step.CONFLICT]
    for device in devices.values():
        client = clients.get(device.device_id)
        if client is None or (not any(map(is_device_role, client.roles)) and not client.textname):
            continue
        assert client.disabled is device.retired or any(a.target == device.device_id for a in second)


def test_capacities_compare_by_value() -> None:
    assert DeviceSpec("bin", "b", "c", capacity_kg=Decimal("240.500")) == DeviceSpec(
        "bin", "b", "c", capacity_kg=Decimal("240.5")
    )
