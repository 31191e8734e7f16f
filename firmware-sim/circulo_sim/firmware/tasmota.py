"""An emulated Tasmota energy monitor, publishing what the firmware publishes (pure).

Set up as docs/installers.md says (``Topic {id}``, ``FullTopic
circulo/v1/meter/%topic%/%prefix%/``, ``Timezone 0``, ``TelePeriod 60``), a Tasmota
publishes every period ``tele/SENSOR`` (the energy monitor: ``ENERGY.Total`` in kWh with
three decimals, rounded; ``Today``, ``Yesterday``, ``Period`` in Wh) and ``tele/STATE``,
both stamped with ``Time``, its local time without an offset. At connect it publishes the
retained ``tele/LWT Online``, an empty ``cmnd/POWER`` (the broker refuses it), and after
a boot ``tele/INFO1``–``INFO3``; then ``stat/RESULT`` and ``stat/POWER``. The formats are
those of Tasmota's documentation (``docs/devices/Sonoff-Pow-R2.md``, ``docs/API.md``,
``docs/DeepSleep.md``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal

from circulo_sim.firmware.common import (
    INFO,
    STATUS,
    Companion,
    FirmwareMessage,
    device_mac,
    fixed,
    local_time,
)
from circulo_sim.physics.records import MeterReading

FIRMWARE = "14.3.0(release-tasmota)"
MODULE = "Sonoff Pow R2"
TOTAL_START = "2026-01-01T00:00:00"
POWER_FACTOR = 0.99
ONLINE, OFFLINE = b"Online", b"Offline"
Render = Callable[[datetime], bytes]


def total_wh(record: MeterReading) -> int:
    """The register Tasmota shows: its Wh, rounded (``EnergyRes 3`` prints whole Wh of kWh)."""
    return int((Decimal(record.register_mwh) / 1000).quantize(Decimal(1), ROUND_HALF_UP))


def kwh(wh: int) -> str:
    return fixed(Decimal(wh) / 1000, 3)


class TasmotaMeter:
    """One Tasmota's messages, period by period (it keeps its day's start and last total)."""

    def __init__(self, device_id: str) -> None:
        self.device_id = device_id
        self._day: date | None = None
        self._day_start_wh = 0
        self._yesterday_wh = 0
        self._last_wh: int | None = None
        self._boot: datetime | None = None

    def reading(self, record: MeterReading, seq: int) -> tuple[FirmwareMessage, tuple[Companion, ...]]:
        """``tele/SENSOR`` (the primary) and ``tele/STATE`` (a status) of one TelePeriod."""
        wh = total_wh(record)
        self._boot = self._boot or record.ts
        day = record.ts.date()
        if day != self._day:
            if self._day is not None:
                self._yesterday_wh = (self._last_wh or wh) - self._day_start_wh
            self._day, self._day_start_wh = day, self._last_wh if self._last_wh is not None else wh
        period = max(0, wh - (self._last_wh if self._last_wh is not None else wh))
        today, yesterday, boot = max(0, wh - self._day_start_wh), self._yesterday_wh, self._boot
        self._last_wh = wh

        def sensor(ts: datetime) -> bytes:
            return _sensor(record, ts, wh, (today, yesterday, period))

        def state(ts: datetime) -> bytes:
            return _state(ts, int((ts - boot).total_seconds()))

        primary = self._message("tele/SENSOR", "firmware_telemetry", record, seq, sensor)
        return primary, (Companion(self._message("tele/STATE", "status", record, seq, state), STATUS),)

    def _message(
        self, subtopic: str, kind: str, record: MeterReading, seq: int, render: Render
    ) -> FirmwareMessage:
        return FirmwareMessage(
            self.device_id, "meter", kind, record.ts, seq, subtopic, render, lambda ts: _broken(render(ts))
        )


def _sensor(record: MeterReading, ts: datetime, wh: int, days: tuple[int, int, int]) -> bytes:
    """``tele/SENSOR`` (``days``: today's, yesterday's and this period's Wh)."""
    today, yesterday, period = days
    power = round(record.power_w)
    apparent = round(power / POWER_FACTOR) if power else 0
    reactive = round(math.sqrt(max(0, apparent * apparent - power * power)))
    voltage = round(record.voltage_v)
    current = apparent / voltage if voltage else 0.0
    factor = fixed(POWER_FACTOR if power else 0, 2)
    return (
        f'{{"Time":"{local_time(ts)}","ENERGY":{{"TotalStartTime":"{TOTAL_START}","Total":{kwh(wh)},'
        f'"Yesterday":{kwh(yesterday)},"Today":{kwh(today)},"Period":{period},"Power":{power},'
        f'"ApparentPower":{apparent},"ReactivePower":{reactive},"Factor":{factor},"Voltage":{voltage},'
        f'"Current":{fixed(current, 3)}}}}}'
    ).encode()


def _state(ts: datetime, uptime_s: int) -> bytes:
    days, rest = divmod(max(0, uptime_s), 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    return (
        f'{{"Time":"{local_time(ts)}","Uptime":"{days}T{hours:02d}:{minutes:02d}:{seconds:02d}",'
        f'"UptimeSec":{max(0, uptime_s)},"Heap":26,"SleepMode":"Dynamic","Sleep":50,"LoadAvg":19,'
        f'"MqttCount":1,"POWER":"ON","Wifi":{{"AP":1,"SSId":"circulo-site","BSSId":"30:B5:C2:5D:70:72",'
        f'"Channel":1,"Mode":"11n","RSSI":86,"Signal":-57,"LinkCount":1,"Downtime":"0T00:00:07"}}}}'
    ).encode()


def boot_messages(device_id: str, *, first: bool) -> list[tuple[str, bytes, str]]:
    """What Tasmota publishes after the retained ``LWT Online``: (subtopic, payload, role).

    ``cmnd/POWER`` (empty) is Tasmota's own quirk at every connect; the broker refuses it,
    as it refuses every command topic (role ``command``). INFO1–3 follow only a boot.
    """
    fallback = f"DVES_{device_mac(device_id)[-6:]}_fb"
    boot = [
        ("tele/INFO1", (
            f'{{"Info1":{{"Module":"{MODULE}","Version":"{FIRMWARE}","FallbackTopic":"cmnd/{fallback}/",'
            f'"GroupTopic":"cmnd/tasmotas/"}}}}'
        ).encode(), INFO),
        ("tele/INFO2", (
            f'{{"Info2":{{"WebServerMode":"Admin","Hostname":"{device_id[:24]}-{device_mac(device_id)[-4:]}",'
            f'"IPAddress":"192.168.1.50"}}}}'
        ).encode(), INFO),
        ("tele/INFO3", b'{"Info3":{"RestartReason":"Power On","BootCount":3}}', INFO),
    ]  # fmt: skip
    return [
        ("cmnd/POWER", b"", "command"),
        *(boot if first else []),
        ("stat/RESULT", b'{"POWER":"ON"}', INFO),
        ("stat/POWER", b"ON", INFO),
    ]


def _broken(payload: bytes) -> bytes:
    """``ENERGY.Total`` as a string: a firmware bug the ingest must name."""
    text = payload.decode()
    at = text.find('"Total":')
    if at < 0:
        return payload
    start = at + len('"Total":')
    end = start
    while end < len(text) and text[end] in "0123456789.":
        end += 1
    return (text[:start] + '"' + text[start:end] + '"' + text[end:]).encode()


__all__ = ["FIRMWARE", "OFFLINE", "ONLINE", "TasmotaMeter", "boot_messages", "total_wh"]
