"""The ``shelly-gen2`` translator (pure): Shelly Gen2, Gen3 and Gen4 devices with energy metering.

Topics after the device prefix (Shelly's MQTT component, docs/installers.md cites it):
``status/{component}:{id}`` (status notifications: the component's whole status),
``events/rpc`` (RPC notifications: NotifyStatus carries only what changed, NotifyFullStatus
everything, NotifyEvent events) and ``online`` (``true``/``false``, retained, the Last
Will). ``rpc`` and ``command/…`` are commands *to* the device (closed at the broker).

Which field is the lifetime register, per device family (channel 0 only: one Circulo
meter is one measured channel):

========================================  ============================  =====================
family (component)                        register (Wh)                 time of the reading
========================================  ============================  =====================
Plus/Pro xPM, 1PM Gen3/Gen4, Plug (switch)  ``switch:0.aenergy.total``  ``aenergy.minute_ts``
PM Mini Gen3, Plus PM Mini (pm1)          ``pm1:0.aenergy.total``       ``aenergy.minute_ts``
Pro EM, EM Gen3 (em1data)                 ``em1data:0.total_act_energy``  NotifyStatus ``ts``
Pro 3EM, 3EM-63 Gen3 (emdata)             ``emdata:0.total_act``        NotifyStatus ``ts``
========================================  ============================  =====================

A switch or PM counts energy per minute: ``minute_ts`` dates the register, and the same
reading arrives on ``status/switch:0`` and in a NotifyStatus with different bytes (a
duplicate, compared on its canonical values). The EM families' ``*data`` status carries
no time of its own, so their readings come from RPC notifications only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from circulo.ingest.profiles.common import (
    NonData,
    Translated,
    Translation,
    json_object,
    measurement,
    number,
    obj,
    reading,
    required_number,
    schema_error,
    show_parts,
    status,
    unix_seconds,
    whole_wh,
)
from circulo_schemas.errors import Rejection
from circulo_schemas.topics import Address

NOTIFY_METHODS = ("NotifyStatus", "NotifyFullStatus")


@dataclass(frozen=True)
class Family:
    """Where one device family keeps its register, power and time."""

    component: str  # the register's component type
    register: str  # its field, Wh
    minute_ts: bool  # dated by ``aenergy.minute_ts`` (else by the notification's ``ts``)
    power: tuple[str, str] | None  # (component type, field) of active power, W
    voltage: tuple[str, str] | None
    frequency: tuple[str, str] | None
    temperature: tuple[str, str] | None = None


FAMILIES: Mapping[str, Family] = {
    "switch": Family(
        "switch", "aenergy.total", True, ("switch", "apower"), ("switch", "voltage"), ("switch", "freq"),
        ("switch", "temperature.tC"),
    ),
    "pm1": Family("pm1", "aenergy.total", True, ("pm1", "apower"), ("pm1", "voltage"), ("pm1", "freq")),
    "em1data": Family(
        "em1data", "total_act_energy", False, ("em1", "act_power"), ("em1", "voltage"), ("em1", "freq")
    ),
    "emdata": Family("emdata", "total_act", False, ("em", "total_act_power"), None, None),
}  # fmt: skip

# Components whose status is no reading of ours: acknowledged and counted as `ignored`.
# (em1/em carry power only; their register is in em1data/emdata.)
NON_DATA_COMPONENTS = frozenset(
    {
        "sys", "wifi", "eth", "ble", "cloud", "mqtt", "ws", "input", "em", "em1", "temperature",
        "humidity", "voltmeter", "devicepower", "script", "ui", "plugs_ui", "matter", "knx",
        "bthome", "bthomedevice", "bthomesensor", "modbus", "zigbee", "illuminance", "smoke",
        "cover", "light", "rgb", "rgbw", "cct", "pm1_ui", "boolean", "number", "text", "enum",
        "group", "button", "presence", "pro_output", "service", "wd", "ffs",
    }
)  # fmt: skip


def translate(address: Address, payload: bytes) -> Translation:
    """One Shelly message: a reading, a status, a known non-data message, or a rejection."""
    rest = address.rest
    if rest == ("online",):
        return online(payload)
    if len(rest) == 2 and rest[0] == "status":
        return component_status(rest[1], payload)
    if rest == ("events", "rpc"):
        return notification(payload)
    if rest and rest[0] in ("rpc", "command"):
        return NonData(rest[0])  # a command to the device, not from it
    raise Rejection("topic", f"not a Shelly Gen2 topic: {show_parts(rest)}")


def online(payload: bytes) -> Translated:
    """``online``: ``true`` on connect, ``false`` as the Last Will (retained)."""
    if payload == b"true":
        return status("online", payload)
    if payload == b"false":
        return status("offline", payload)
    raise schema_error("online", "must be true or false")


def component_key(name: str) -> tuple[str, int | None]:
    """``switch:0`` → (``switch``, 0); ``sys`` → (``sys``, None)."""
    kind, _, index = name.partition(":")
    if index and not (index.isdigit() and len(index) <= 3):
        raise Rejection("topic", f"not a Shelly component: {name[:40]!r}")
    return kind, int(index) if index else None


def component_status(name: str, payload: bytes) -> Translation:
    """``status/{component}``: the whole status of one component."""
    kind, index = component_key(name)
    family = FAMILIES.get(kind)
    if family is None:
        if kind in NON_DATA_COMPONENTS:
            return NonData(f"status/{kind}")
        raise Rejection("topic", f"unknown Shelly component {name[:40]!r} (status/{{component}}:{{id}})")
    if index != 0:
        return NonData(f"status/{kind}:other-channel")
    if not family.minute_ts:
        return NonData(f"status/{kind}")  # carries no time: its readings come from events/rpc
    document = json_object(payload)
    return family_reading(family, {f"{kind}:0": document}, None, label_prefix="")


def notification(payload: bytes) -> Translation:
    """``events/rpc``: a NotifyStatus carries only what changed, so the register only sometimes."""
    document = json_object(payload)
    method = document.get("method")
    if method == "NotifyEvent":
        return NonData("events/rpc:NotifyEvent")
    if method not in NOTIFY_METHODS:
        raise schema_error("method", "must be NotifyStatus, NotifyFullStatus or NotifyEvent")
    params = obj(document, "params")
    if params is None:
        raise schema_error("params", "required")
    for family in FAMILIES.values():
        component = obj(params, f"{family.component}:0", label=f"params.{family.component}:0")
        if component is not None and _has(component, family.register):
            sent_at = unix_seconds(required_number(params, "ts", label="params.ts"), "params.ts")
            return family_reading(family, params, sent_at, label_prefix="params.")
    return NonData(f"events/rpc:{method}:no-register")


def family_reading(
    family: Family, components: Mapping[str, Any], sent_at: datetime | None, *, label_prefix: str
) -> Translated:
    """The canonical reading of one family from its components (a status or a notification)."""
    own = components[f"{family.component}:0"]
    if not isinstance(own, Mapping):
        raise schema_error(f"{label_prefix}{family.component}:0", "must be an object")
    where = f"{label_prefix}{family.component}:0." if label_prefix else ""
    register = required_number(own, family.register, label=f"{where}{family.register}")
    ts = reading_time(family, own, sent_at, where)
    return reading(
        ts,
        whole_wh(register, f"{where}{family.register}"),
        power_w=measurement(_value(components, family.power, label_prefix), "power", floor_zero=True),
        voltage_v=measurement(_value(components, family.voltage, label_prefix), "voltage"),
        frequency_hz=measurement(_value(components, family.frequency, label_prefix), "freq"),
        temp_c=measurement(_value(components, family.temperature, label_prefix), "temperature.tC"),
    )


def reading_time(family: Family, own: Mapping[str, Any], sent_at: datetime | None, where: str) -> datetime:
    """When the register was read: its minute (switch, pm1), else the notification's time."""
    if family.minute_ts:
        minute = number(own, "aenergy.minute_ts", label=f"{where}aenergy.minute_ts")
        if minute is not None:
            return unix_seconds(minute, f"{where}aenergy.minute_ts")
    if sent_at is None:
        raise schema_error(f"{where}aenergy.minute_ts", "required")
    return sent_at


def _value(components: Mapping[str, Any], where: tuple[str, str] | None, label_prefix: str) -> Decimal | None:
    if where is None:
        return None
    component = components.get(f"{where[0]}:0")
    if not isinstance(component, Mapping):
        return None
    return number(component, where[1], label=f"{label_prefix}{where[0]}:0.{where[1]}")


def _has(component: Mapping[str, Any], path: str) -> bool:
    value: Any = component
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return False
        value = value[part]
    return True
