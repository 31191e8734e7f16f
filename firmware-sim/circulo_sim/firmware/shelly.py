"""An emulated Shelly Gen2+ energy meter, publishing what the firmware publishes (pure).

Set up as docs/installers.md says (``topic_prefix`` ``circulo/v1/meter/{id}``, status and
RPC notifications on), a Shelly publishes each minute's register twice: its component's
whole status on ``status/{component}:0`` and a NotifyStatus on ``events/rpc`` — different
bytes, one reading. The formats follow captured devices (the sources are in
``tests/ingest/firmware_examples.py``): the status topic prints fixed decimals with a
space after some commas, a notification the shortest numbers with its keys sorted, energy
is float Wh (three decimals), ``aenergy.minute_ts`` the minute in whole Unix seconds and
``params.ts`` the notification's time with two decimals. Three families are emulated, by
device: a 1PM Mini Gen3 (``switch:0``), a PM Mini Gen3 (``pm1:0``) and a Pro 3EM
(``emdata:0``, whose readings come only as notifications).
"""

from __future__ import annotations

import hashlib
import json
from collections import deque
from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal
from itertools import pairwise

from circulo_schemas.profiles import device_prefix
from circulo_sim.firmware.common import (
    COPY,
    INFO,
    Companion,
    FirmwareMessage,
    device_mac,
    fixed,
    shortest,
    unix,
)
from circulo_sim.physics.records import MeterReading

FAMILIES = ("switch", "pm1", "emdata")
MODELS = {"switch": "shelly1pmminig3", "pm1": "shellypmminig3", "emdata": "shellypro3em"}
POWER_ONLY_EVERY = 5  # a power-only notification (no register: ignored) every n readings
FIRMWARE = "1.4.4"
Render = Callable[[datetime], bytes]


def family_of(device_id: str) -> str:
    """Which family a simulated Shelly is (stable per device id)."""
    return FAMILIES[hashlib.sha256(device_id.encode()).digest()[0] % len(FAMILIES)]


class ShellyMeter:
    """One Shelly's messages, reading by reading (keeps the last minutes for ``by_minute``)."""

    def __init__(self, device_id: str) -> None:
        self.device_id = device_id
        self.family = family_of(device_id)
        self.src = f"{MODELS[self.family]}-{device_mac(device_id).lower()}"
        self._registers: deque[int] = deque(maxlen=4)  # mWh at the last minutes
        self._count = 0

    def reading(self, record: MeterReading, seq: int) -> tuple[FirmwareMessage, tuple[Companion, ...]]:
        """The primary message of a reading and its companions."""
        self._registers.appendleft(record.register_mwh)
        by_minute = self._by_minute()
        self._count += 1
        if self.family == "emdata":
            primary = self._message("events/rpc", record, seq, lambda ts: self._emdata_notify(record, ts))
            data = self._message("status/emdata:0", record, seq, lambda _: _emdata_status(record))
            power_status = self._message("status/em:0", record, seq, lambda _: _em_status(record))
            return primary, (Companion(data, INFO), Companion(power_status, INFO))
        primary = self._message(
            f"status/{self.family}:0", record, seq, lambda ts: self._status(record, ts, by_minute)
        )
        copy = self._message("events/rpc", record, seq, lambda ts: self._notify(record, ts, by_minute))
        if self._count % POWER_ONLY_EVERY:
            return primary, (Companion(copy, COPY),)
        power = self._message("events/rpc", record, seq, lambda ts: self._power_notify(record, ts))
        return primary, (Companion(copy, COPY), Companion(power, INFO))

    def _message(self, subtopic: str, record: MeterReading, seq: int, render: Render) -> FirmwareMessage:
        return FirmwareMessage(
            self.device_id, "meter", _type(subtopic, self.family), record.ts, seq, subtopic, render,
            lambda ts: _broken(render(ts)),
        )  # fmt: skip

    def _by_minute(self) -> list[int]:
        registers = list(self._registers)
        return [max(0, a - b) for a, b in pairwise(registers)] + [0] * (4 - len(registers))

    # --- payloads ------------------------------------------------------------------------
    def _status(self, record: MeterReading, ts: datetime, by_minute: list[int]) -> bytes:
        """The whole component status, as a 1PM Mini prints it (captured: ioBroker.shelly #813)."""
        current = record.power_w / record.voltage_v if record.voltage_v else 0.0
        aenergy = (
            f'{{"total":{fixed(record.register_mwh / 1000, 3)},'
            f'"by_minute":[{",".join(fixed(m, 3) for m in by_minute[:3])}],"minute_ts":{unix(ts)}}}'
        )
        switch_only = ['"source":"init"', '"output":true'] if self.family == "switch" else []
        fields = [
            '"id":0', *switch_only, f'"apower":{fixed(record.power_w, 1)}',
            f'"voltage":{fixed(record.voltage_v, 1)}', f'"freq":{fixed(record.frequency_hz, 1)}',
            f'"current":{fixed(current, 3)}', f'"aenergy":{aenergy}',
        ]  # fmt: skip
        text = "{" + ", ".join(fields)
        if self.family == "switch":
            temp_f = record.temp_c * 9 / 5 + 32
            text += f',"temperature":{{"tC":{fixed(record.temp_c, 1)}, "tF":{fixed(temp_f, 1)}}}'
        return (text + "}").encode()

    def _notify(self, record: MeterReading, ts: datetime, by_minute: list[int]) -> bytes:
        component = {
            "aenergy": {
                "by_minute": [_num(m) for m in by_minute[:3]],
                "minute_ts": unix(ts),
                "total": _num(fixed(record.register_mwh / 1000, 3)),
            },
            "apower": _num(fixed(record.power_w, 1)),
            "current": _num(fixed(record.power_w / record.voltage_v if record.voltage_v else 0, 3)),
            "freq": _num(fixed(record.frequency_hz, 2)),
            "voltage": _num(fixed(record.voltage_v, 1)),
        }
        return self._frame(ts, {f"{self.family}:0": component})

    def _power_notify(self, record: MeterReading, ts: datetime) -> bytes:
        later = ts + timedelta(seconds=31)
        return self._frame(later, {f"{self.family}:0": {"apower": _num(fixed(record.power_w, 1)), "id": 0}})

    def _emdata_notify(self, record: MeterReading, ts: datetime) -> bytes:
        total = _num(fixed(record.register_mwh // 10 / 100, 2))  # two decimals, truncated
        emdata = {
            "id": 0, "a_total_act_energy": total, "a_total_act_ret_energy": 0, "b_total_act_energy": 0,
            "b_total_act_ret_energy": 0, "c_total_act_energy": 0, "c_total_act_ret_energy": 0,
            "total_act": total, "total_act_ret": 0,
        }  # fmt: skip
        return self._frame(ts, {"emdata:0": emdata}, fraction=21)

    def _frame(self, ts: datetime, components: dict[str, object], fraction: int | None = None) -> bytes:
        hundredths = fraction if fraction is not None else 1 + unix(ts) % 47
        frame = {
            "src": self.src,
            "dst": f"{device_prefix(self.device_id)}/events",
            "method": "NotifyStatus",
            "params": {"ts": _Raw(f"{unix(ts)}.{hundredths:02d}"), **components},
        }
        return _dumps(frame).encode()


def _emdata_status(record: MeterReading) -> bytes:
    total = fixed(record.register_mwh // 10 / 100, 2)
    return (
        f'{{"id":0,"a_total_act_energy":{total},"a_total_act_ret_energy":0.00,"b_total_act_energy":0.00,'
        f'"b_total_act_ret_energy":0.00,"c_total_act_energy":0.00,"c_total_act_ret_energy":0.00,'
        f'"total_act":{total},"total_act_ret":0.00}}'
    ).encode()


def _em_status(record: MeterReading) -> bytes:
    power = fixed(record.power_w, 1)
    current = fixed(record.power_w / record.voltage_v if record.voltage_v else 0, 3)
    return (
        f'{{"id":0,"a_current":{current},"a_voltage":{fixed(record.voltage_v, 1)},"a_act_power":{power},'
        f'"a_freq":{fixed(record.frequency_hz, 1)},"n_current":null,"total_act_power":{power}}}'
    ).encode()


def boot_messages(device_id: str) -> list[tuple[str, bytes, str]]:
    """What a Shelly publishes when it connects: (subtopic, payload, role)."""
    mac = device_mac(device_id)
    sys_status = (
        f'{{"mac":"{mac}","restart_required":false,"time":null,"unixtime":null,"uptime":2,"ram_size":259400,'
        f'"ram_free":96416,"fs_size":1048576,"fs_free":712704,"cfg_rev":13,"kvs_rev":3,"schedule_rev":0,'
        f'"webhook_rev":0,"available_updates":{{}},"reset_reason":3}}'
    )
    wifi = '{"sta_ip":"192.168.1.14","status":"got ip","ssid":"circulo-site","rssi":-61}'
    return [("status/sys", sys_status.encode(), INFO), ("status/wifi", wifi.encode(), INFO)]


ONLINE, OFFLINE = b"true", b"false"


class _Raw(str):
    """A number already formatted (a notification's ``ts`` keeps its two decimals)."""


def _num(value: float | int | str) -> _Raw:
    return _Raw(shortest(Decimal(value) if isinstance(value, str) else value))


def _dumps(value: object) -> str:
    if isinstance(value, _Raw):
        return str(value)
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(k)}:{_dumps(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ",".join(_dumps(v) for v in value) + "]"
    return json.dumps(value)


def _broken(payload: bytes) -> bytes:
    """The register as a string (``"total":"12.5"``): a firmware bug the ingest must name."""
    text = payload.decode()
    for key in ('"total":', '"total_act":'):
        at = text.find(key)
        if at >= 0:
            start = at + len(key)
            end = start
            while end < len(text) and text[end] in "0123456789.-":
                end += 1
            return (text[:start] + '"' + text[start:end] + '"' + text[end:]).encode()
    return payload


def _type(subtopic: str, family: str) -> str:
    if subtopic == "events/rpc":
        return "firmware_telemetry" if family == "emdata" else "firmware_copy_telemetry"
    if subtopic in ("status/switch:0", "status/pm1:0"):
        return "firmware_telemetry"
    return "firmware_info"


__all__ = ["FIRMWARE", "OFFLINE", "ONLINE", "ShellyMeter", "boot_messages", "family_of"]
