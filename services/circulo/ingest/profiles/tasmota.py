"""The ``tasmota`` translator (pure): Tasmota firmware with an energy monitor.

With ``FullTopic circulo/v1/meter/%topic%/%prefix%/`` and ``Topic {device_id}`` a Tasmota
publishes ``tele/SENSOR`` (telemetry, every ``TelePeriod``), ``tele/STATE`` (device state,
with uptime), ``tele/LWT`` (``Online`` / ``Offline``, retained: the Last Will),
``tele/INFO1``–``INFO3`` at boot, and ``stat/…`` answers to commands; it listens on
``cmnd/…``. docs/installers.md cites Tasmota's documentation for each.

The register is ``ENERGY.Total`` in kWh (three decimals by default, ``EnergyRes``),
floored to whole Wh. ``Time`` is the device's local time with no offset (unless
``SetOption52 1`` adds one): the profile requires ``Timezone 0``, so a time without an
offset is read as UTC. ``ENERGY.Power`` is a number, or one number per channel (summed).
"""

from __future__ import annotations

from typing import Any, Literal

from circulo.ingest.profiles.common import (
    NonData,
    Translated,
    Translation,
    first_of,
    iso_time,
    json_object,
    measurement,
    member,
    number_or_sum,
    obj,
    reading,
    required_number,
    schema_error,
    show_parts,
    status,
    text_of,
    whole_wh,
)
from circulo_schemas.errors import Rejection
from circulo_schemas.topics import Address

# Known telemetry and status topics that carry nothing Circulo reads.
NON_DATA_TELE = frozenset(
    {"INFO1", "INFO2", "INFO3", "RESULT", "UPTIME", "MARGINS", "POWER_LOW", "POWER_HIGH"}
)
NON_DATA_STAT = frozenset(
    {"RESULT", "POWER", "UPGRADE", "LOGGING", *(f"POWER{n}" for n in range(1, 9)), "STATUS",
     *(f"STATUS{n}" for n in range(0, 14))}
)  # fmt: skip
LWT_STATES: dict[bytes, Literal["online", "offline"]] = {b"Online": "online", b"Offline": "offline"}
MAX_UPTIME_S = 2**31 - 1


def translate(address: Address, payload: bytes) -> Translation:
    """One Tasmota message: a reading, a status, a known non-data message, or a rejection."""
    rest = address.rest
    if len(rest) == 2 and rest[0] == "tele":
        return telemetry(rest[1], payload)
    if len(rest) == 2 and rest[0] == "stat" and rest[1] in NON_DATA_STAT:
        return NonData(f"stat/{_family(rest[1])}")
    if rest and rest[0] == "cmnd":
        return NonData("cmnd")  # a command to the device, not from it
    raise Rejection("topic", f"not a Tasmota topic: {show_parts(rest)}")


def telemetry(name: str, payload: bytes) -> Translation:
    """``tele/{name}``."""
    if name == "SENSOR":
        return sensor(payload)
    if name == "STATE":
        return state(payload)
    if name == "LWT":
        return lwt(payload)
    if name in NON_DATA_TELE:
        return NonData(f"tele/{name}")
    raise Rejection("topic", f"unknown Tasmota telemetry topic tele/{name[:40]!r}")


def sensor(payload: bytes) -> Translated:
    """``tele/SENSOR``: the energy monitor's reading."""
    document = json_object(payload)
    energy = obj(document, "ENERGY")
    if energy is None:
        raise schema_error("ENERGY", "required (no energy monitor in this SENSOR message)")
    ts = iso_time(_required(document, "Time"), "Time")
    return reading(
        ts,
        whole_wh(required_number(energy, "Total", label="ENERGY.Total"), "ENERGY.Total", scale=3),
        power_w=measurement(number_or_sum(energy, "Power"), "ENERGY.Power", floor_zero=True),
        voltage_v=measurement(first_of(energy, "Voltage"), "ENERGY.Voltage"),
        frequency_hz=measurement(first_of(energy, "Frequency"), "ENERGY.Frequency"),
    )


def state(payload: bytes) -> Translated:
    """``tele/STATE``: the device is up (it reports every TelePeriod), with its uptime."""
    document = json_object(payload)
    ts = iso_time(_required(document, "Time"), "Time")
    uptime = member(document, "UptimeSec")
    if uptime is not None and (
        isinstance(uptime, bool) or not isinstance(uptime, int) or not 0 <= uptime <= MAX_UPTIME_S
    ):
        raise schema_error("UptimeSec", "must be a whole number of seconds")
    return status("online", payload, ts=ts, uptime_s=uptime)


def lwt(payload: bytes) -> Translated:
    """``tele/LWT``: ``Online`` on connect, ``Offline`` as the Last Will (retained)."""
    state_name = LWT_STATES.get(payload)
    if state_name is None:
        text_of(payload, "LWT")
        raise schema_error("LWT", "must be Online or Offline")
    return status(state_name, payload)


def _required(document: dict[str, Any], name: str) -> Any:
    value = document.get(name)
    if value is None:
        raise schema_error(name, "required")
    return value


def _family(name: str) -> str:
    """``STATUS10`` → ``STATUS``, ``POWER2`` → ``POWER`` (a bounded metrics label)."""
    return name.rstrip("0123456789") or name
