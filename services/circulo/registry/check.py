"""The commissioning check (pure): a verdict over a plain snapshot of what the pipeline saw.

``circulo device check`` loads a :class:`CheckSnapshot` from the database (snapshot.py)
and calls :func:`evaluate`. Each check returns PASS, WARN or FAIL with one line of what it
saw and, when not PASS, what the installer should do next; the verdict is the worst of them.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from circulo.registry.brokerlog import Transport
from circulo_schemas.topics import device_topic

# The channel that proves a device of each kind delivers data. A repair station publishes
# events only when a repair is logged, so for it a missing event is a warning, not a failure.
DATA_CHANNEL = {"meter": "telemetry", "bin": "telemetry", "repair": "event"}


class Verdict(enum.IntEnum):
    """PASS < WARN < FAIL: the worst check decides."""

    PASS = 0
    WARN = 1
    FAIL = 2

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True)
class LastMessage:
    """The newest stored (valid) message of one channel."""

    channel: str
    received_at: datetime
    ts: datetime | None


@dataclass(frozen=True)
class QuarantinedMessage:
    """The newest quarantined message of the device."""

    received_at: datetime
    reason: str
    detail: str
    topic: str


@dataclass(frozen=True)
class Readings:
    """Values of the newest telemetry (None when the kind or the firmware has none)."""

    energy_wh: int | None = None
    power_w: float | None = None
    fill_pct: float | None = None
    weight_g: int | None = None
    battery_pct: float | None = None
    rssi_dbm: float | None = None


@dataclass(frozen=True)
class TlsFacts:
    """What the deployment knows of a device's TLS: the PKI's mode, the device's and the broker's
    certificates (their expiry), the listener devices are given, what the broker's log shows,
    and a bundle file left in the bundle directory."""

    mutual_tls: bool = False
    device_listener: int | None = None  # the port of device_broker_url
    transport: Transport | None = None
    log_read: bool = False  # a broker log was configured and read
    certificate_not_after: datetime | None = None
    broker_certificate_not_after: datetime | None = None
    bundle_file: str | None = None


@dataclass(frozen=True)
class CheckSnapshot:
    """Everything the verdict needs, read at ``now`` (the database's clock)."""

    device_id: str
    kind: str
    coop_id: str
    status: str
    now: datetime
    rated_power_w: int | None = None
    retired_at: datetime | None = None
    online: bool | None = None
    state_changed_at: datetime | None = None
    fw: str | None = None
    last_messages: tuple[LastMessage, ...] = ()
    last_rejection: QuarantinedMessage | None = None
    valid_last_hour: int = 0
    rejected_last_hour: int = 0
    clock_skew_ms: int | None = None  # device clock minus server clock (positive: ahead)
    seq_received: int = 0
    seq_missing: int = 0
    readings: Readings = field(default_factory=Readings)
    tls: TlsFacts = field(default_factory=TlsFacts)

    def last(self, channel: str) -> LastMessage | None:
        return next((m for m in self.last_messages if m.channel == channel), None)

    def newest_valid(self) -> LastMessage | None:
        return max(self.last_messages, key=lambda m: m.received_at, default=None)


@dataclass(frozen=True)
class CheckLimits:
    """Thresholds of the checks (the clock limit is the ingest's, SPEC §3)."""

    stale_data: timedelta = timedelta(minutes=15)
    clock_warn: timedelta = timedelta(seconds=30)
    clock_fail: timedelta = timedelta(minutes=5)
    low_battery_pct: float = 20
    weak_rssi_dbm: float = -100
    loss_warn_pct: float = 2
    loss_min_messages: int = 20
    power_margin_pct: int = 110
    renew_before: timedelta = timedelta(days=30)


@dataclass(frozen=True)
class CheckResult:
    """One line of the report."""

    name: str
    status: Verdict
    summary: str
    next_step: str = ""
    data: Mapping[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "status": str(self.status),
            "summary": self.summary,
            "next": self.next_step,
            **({"data": dict(self.data)} if self.data else {}),
        }


@dataclass(frozen=True)
class CheckReport:
    """The verdict and the checks behind it."""

    device_id: str
    verdict: Verdict
    checks: tuple[CheckResult, ...]
    next_steps: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        """SPEC §8 form: ``{device_id, verdict, checks: [...]}`` plus ``next_steps``."""
        return {
            "device_id": self.device_id,
            "verdict": str(self.verdict),
            "checks": [c.as_dict() for c in self.checks],
            "next_steps": list(self.next_steps),
        }


def evaluate(snapshot: CheckSnapshot, limits: CheckLimits | None = None) -> CheckReport:
    """Run every check that applies to the device; the verdict is the worst result."""
    limits = limits or CheckLimits()
    results = tuple(r for check in CHECKS if (r := check(snapshot, limits)) is not None)
    verdict = max((r.status for r in results), default=Verdict.PASS)
    ordered = sorted((r for r in results if r.status is not Verdict.PASS), key=lambda r: -r.status)
    steps = tuple(dict.fromkeys(r.next_step for r in ordered if r.next_step))
    if verdict is Verdict.PASS:
        steps = ("nothing to do: the device is delivering valid data",)
    return CheckReport(snapshot.device_id, verdict, results, steps)


def first_data_arrived(snapshot: CheckSnapshot) -> bool:
    """Whether the device has delivered what ``--wait`` waits for: its first valid data message."""
    if snapshot.kind == "repair":  # events come only with repairs; an online status is the first sign
        return bool(snapshot.last_messages)
    return snapshot.last(DATA_CHANNEL[snapshot.kind]) is not None


# --- the checks --------------------------------------------------------------------------
def check_registry(s: CheckSnapshot, limits: CheckLimits) -> CheckResult:
    if s.status == "retired":
        when = f" {_ago(s.now, s.retired_at)}" if s.retired_at else ""
        return CheckResult(
            "registry",
            Verdict.FAIL,
            f"retired{when}: its credentials are disabled and its messages quarantined",
            "a retired device id is not reused: register the replacement under a new id",
        )
    return CheckResult("registry", Verdict.PASS, f"{s.kind} in co-op {s.coop_id}, status {s.status}")


def check_connection(s: CheckSnapshot, limits: CheckLimits) -> CheckResult:
    fw = f" (firmware {s.fw})" if s.fw else ""
    if s.online is True:
        since = f" since {_ago(s.now, s.state_changed_at)}" if s.state_changed_at else ""
        return CheckResult("connection", Verdict.PASS, f"online{since}{fw}")
    if s.online is False:
        since = f" since {_ago(s.now, s.state_changed_at)}" if s.state_changed_at else ""
        return CheckResult(
            "connection",
            Verdict.WARN,
            f"offline{since}{fw}: its Last Will or a clean disconnect",
            "check the device's power and network; it publishes status online when it reconnects",
        )
    if not s.last_messages and s.last_rejection is None:
        return CheckResult(
            "connection",
            Verdict.FAIL,
            "no connection seen: nothing has arrived from this device",
            "power the device up and check its network; compare host, port, username and password "
            f"on the device with its bundle; watch with `circulo device check {s.device_id} --wait 120`",
        )
    return CheckResult(
        "connection",
        Verdict.WARN,
        "messages arrive but no status was seen",
        'on connect, publish retained {"v":1,"state":"online"} to '
        f'{device_topic(s.kind, s.device_id, "status")} and set {{"v":1,"state":"offline"}} as the Last Will',
    )


def check_data(s: CheckSnapshot, limits: CheckLimits) -> CheckResult:
    channel = DATA_CHANNEL[s.kind]
    ages = {m.channel: _age_s(s.now, m.received_at) for m in s.last_messages}
    seen = ", ".join(f"{c} {_ago(s.now, m.received_at)}" for c in ages if (m := s.last(c)))
    data = {"last_age_s": ages, "valid_last_hour": s.valid_last_hour}
    last = s.last(channel)
    if last is None:
        return _no_data(s, channel, data)
    age = s.now - last.received_at
    counts = f"; {s.valid_last_hour} valid message(s) in the last hour"
    if channel == "telemetry" and age > limits.stale_data:
        return CheckResult(
            "data",
            Verdict.WARN,
            f"last {channel} {_ago(s.now, last.received_at)}{counts}",
            "telemetry has stopped: check the device's power, network and publish interval",
            data,
        )
    return CheckResult("data", Verdict.PASS, f"{seen}{counts}", data=data)


def _no_data(s: CheckSnapshot, channel: str, data: Mapping[str, Any]) -> CheckResult:
    rejected = f"; the last message was quarantined ({s.last_rejection.reason})" if s.last_rejection else ""
    if s.kind == "repair" and s.last_messages:
        return CheckResult(
            "data",
            Verdict.WARN,
            "no repair event yet (status received)",
            "log a test repair on the station and check again",
            data,
        )
    # with nothing at all received, the connection check already says what to do
    step = "fix what the validation check reports" if rejected else ""
    return CheckResult("data", Verdict.FAIL, f"no valid {channel} yet{rejected}", step, data)


def check_validation(s: CheckSnapshot, limits: CheckLimits) -> CheckResult:
    rejection = s.last_rejection
    if rejection is None:
        return CheckResult("validation", Verdict.PASS, "no message quarantined")
    newest = s.newest_valid()
    data = {"reason": rejection.reason, "detail": rejection.detail, "topic": rejection.topic}
    why = f"{rejection.reason}: {rejection.detail}" if rejection.detail else rejection.reason
    if newest is None or rejection.received_at >= newest.received_at:
        summary = f"last message quarantined {_ago(s.now, rejection.received_at)}, {why}"
    elif s.rejected_last_hour:
        summary = f"{s.rejected_last_hour} message(s) quarantined in the last hour; last: {why}"
    else:
        summary = f"none quarantined in the last hour (last: {rejection.reason})"
        return CheckResult("validation", Verdict.PASS, summary, data=data)
    return CheckResult("validation", Verdict.WARN, summary, next_for_reason(rejection.reason, s), data)


NEXT_FOR_REASON = {
    "schema": "fix the firmware's payload for the fields named (docs/firmware.md, schemas/json/)",
    "not_json": "the payload must be one JSON object (docs/firmware.md)",
    "not_utf8": "the payload must be UTF-8 JSON (docs/firmware.md)",
    "too_large": "keep payloads under the size limit (8 KiB by default)",
    "topic": "publish only to circulo/v1/{kind}/{device_id}/telemetry|event|status as the bundle lists",
    "kind_mismatch": "the device publishes under another kind: flash the bundle of this device",
    "clock_skew": "the device clock is ahead: enable NTP or set its real-time clock",
    "too_old": "messages older than 30 days are refused: set the device clock, or drop the old buffer",
    "conflict": "a reused event_id or a second reading with the same ts: keep event ids unique "
    "across reboots and timestamps increasing",
    "retired_device": "the device is retired: register the replacement under a new id",
    "unknown_device": "register the device with `circulo device add` (then `circulo quarantine replay`)",
}


def next_for_reason(reason: str, s: CheckSnapshot) -> str:
    return NEXT_FOR_REASON.get(reason, f"see `circulo quarantine list` for {s.device_id}")


def check_clock(s: CheckSnapshot, limits: CheckLimits) -> CheckResult | None:
    skew_ms = measured_skew_ms(s)
    if skew_ms is None:
        return None
    skew = timedelta(milliseconds=skew_ms)
    direction = "ahead of" if skew_ms > 0 else "behind"
    summary = f"device clock {_span(abs(skew))} {direction} the server"
    data = {"skew_ms": skew_ms}
    if abs(skew) <= limits.clock_warn:
        return CheckResult("clock", Verdict.PASS, summary, data=data)
    if skew > limits.clock_fail:
        return CheckResult(
            "clock", Verdict.FAIL, summary + ": its messages are quarantined (clock_skew)", NTP_STEP, data
        )
    if -skew > limits.clock_fail:
        summary += " (a wrong clock, or it is sending buffered data)"
        return CheckResult("clock", Verdict.WARN, summary, NTP_STEP, data)
    return CheckResult("clock", Verdict.WARN, summary, NTP_STEP, data)


NTP_STEP = "enable NTP on the device (or set its real-time clock) so timestamps are true"


def measured_skew_ms(s: CheckSnapshot) -> int | None:
    """The ingest's last measurement, else ts − receipt of the newest valid message that has a ts."""
    if s.clock_skew_ms is not None:
        return s.clock_skew_ms
    stamped = [m for m in s.last_messages if m.ts is not None]
    newest = max(stamped, key=lambda m: m.received_at, default=None)
    if newest is None or newest.ts is None:
        return None
    return int((newest.ts - newest.received_at) / timedelta(milliseconds=1))


def check_battery(s: CheckSnapshot, limits: CheckLimits) -> CheckResult | None:
    battery = s.readings.battery_pct
    if s.kind != "bin" or battery is None:
        return None
    if battery < limits.low_battery_pct:
        return CheckResult(
            "battery", Verdict.WARN, f"battery {battery:g} %", "charge or replace the battery before leaving"
        )
    return CheckResult("battery", Verdict.PASS, f"battery {battery:g} %")


def check_signal(s: CheckSnapshot, limits: CheckLimits) -> CheckResult | None:
    rssi = s.readings.rssi_dbm
    if s.kind != "bin" or rssi is None:
        return None
    if rssi < limits.weak_rssi_dbm:
        return CheckResult(
            "signal",
            Verdict.WARN,
            f"weak signal {rssi:g} dBm",
            "move the antenna or the gateway; weak links lose messages",
        )
    return CheckResult("signal", Verdict.PASS, f"signal {rssi:g} dBm")


def check_energy(s: CheckSnapshot, limits: CheckLimits) -> CheckResult | None:
    energy, power = s.readings.energy_wh, s.readings.power_w
    if s.kind != "meter" or energy is None:
        return None
    rated = f" (rated {s.rated_power_w} W)" if s.rated_power_w else ""
    summary = f"register {energy} Wh" + (f", power {power:g} W{rated}" if power is not None else "")
    data = {"energy_wh": energy, "power_w": power, "rated_power_w": s.rated_power_w}
    if power is not None and s.rated_power_w and power * 100 > s.rated_power_w * limits.power_margin_pct:
        return CheckResult(
            "energy",
            Verdict.WARN,
            summary + f": above {limits.power_margin_pct} % of rated power",
            "check the rated power in the registry (`circulo device update "
            f"{s.device_id} --rated-power-w W`) and the meter's wiring: energy above it earns no credit",
            data,
        )
    return CheckResult("energy", Verdict.PASS, summary, data=data)


def check_loss(s: CheckSnapshot, limits: CheckLimits) -> CheckResult | None:
    expected = s.seq_received + s.seq_missing
    if s.seq_received < limits.loss_min_messages:
        return None
    missing_pct = 100 * s.seq_missing / expected
    summary = f"{s.seq_missing} of {expected} messages missing ({missing_pct:.1f} %)"
    data = {"seq_received": s.seq_received, "seq_missing": s.seq_missing}
    if missing_pct > limits.loss_warn_pct:
        return CheckResult(
            "loss",
            Verdict.WARN,
            summary,
            "messages are lost: check the signal and that the firmware publishes with QoS 1",
            data,
        )
    return CheckResult("loss", Verdict.PASS, summary, data=data)


def check_transport(s: CheckSnapshot, limits: CheckLimits) -> CheckResult | None:
    """The listener the device last connected on, and whether a certificate was required (SPEC §9)."""
    transport = s.tls.transport
    if not s.tls.log_read or (transport is None and not s.last_messages):
        return None  # no log to read; or nothing arrived, which the connection check covers
    if transport is None:
        return CheckResult(
            "transport", Verdict.WARN, "the broker's log (current file) has no connection of this device",
            "the listener is unknown: check broker_log_file, or wait for the device's next connect",
        )  # fmt: skip
    when = f" ({_ago(s.now, transport.connection.at)})" if transport.connection.at else ""
    summary = f"last connected {transport.words()}{when}"
    step = _transport_step(s.tls, transport)
    return CheckResult(
        "transport", Verdict.WARN if step else Verdict.PASS, summary, step, transport.as_dict()
    )


def _transport_step(tls: TlsFacts, transport: Transport) -> str:
    """What is wrong with how the device connects ('' when nothing)."""
    if transport.tls is False:
        port = tls.device_listener
        return f"move the device to TLS on port {port} (bundle: tls, ca_cert) before the window closes"
    if tls.device_listener is not None and transport.connection.port != tls.device_listener:
        return f"set the device to port {tls.device_listener}, the device listener (this one is for services)"
    if tls.mutual_tls and not transport.certificate_required:
        return "the broker's device listener must have require_certificate true (mosquitto.conf)"
    return ""


def check_certificate(s: CheckSnapshot, limits: CheckLimits) -> CheckResult | None:
    """Mutual TLS: the device's client certificate and the days it has left."""
    if not s.tls.mutual_tls or s.status == "retired":
        return None
    step = f"circulo device rotate-credentials {s.device_id}, then flash the new bundle and its key"
    return _expiry("certificate", "client certificate", s.tls.certificate_not_after, s, limits, step=step)


def check_broker_certificate(s: CheckSnapshot, limits: CheckLimits) -> CheckResult | None:
    """The broker's certificate: a device stops connecting the day it expires."""
    step = "renew the broker's certificate: circulo pki renew (or the public CA's renewal)"
    not_after = s.tls.broker_certificate_not_after
    return _expiry(
        "broker_certificate", "broker certificate", not_after, s, limits, step=step, missing_ok=True
    )


def _expiry(
    name: str, what: str, not_after: datetime | None, s: CheckSnapshot, limits: CheckLimits, *,
    step: str, missing_ok: bool = False,
) -> CheckResult | None:  # fmt: skip
    now = s.now
    if not_after is None:
        return None if missing_ok else CheckResult(name, Verdict.FAIL, f"no {what} issued", step)
    left = not_after - now
    data = {"not_after": not_after, "days_left": round(left / timedelta(days=1), 1)}
    if left <= timedelta(0):
        return CheckResult(name, Verdict.FAIL, f"{what} expired {_span(-left)} ago", step, data)
    summary = f"{what} valid {_span(left)} more (until {not_after:%Y-%m-%d})"
    if left <= limits.renew_before:
        return CheckResult(name, Verdict.WARN, summary + ": renew it now", step, data)
    return CheckResult(name, Verdict.PASS, summary, data=data)


def check_bundle_file(s: CheckSnapshot, limits: CheckLimits) -> CheckResult | None:
    """A commissioned device's bundle file should not lie around: it holds the password (and key)."""
    if s.tls.bundle_file is None or s.status != "active":
        return None
    return CheckResult(
        "bundle_file",
        Verdict.WARN,
        f"its bundle is still at {s.tls.bundle_file}: it holds the password (and the encrypted key)",
        f"delete it now that the device is flashed: shred -u {s.tls.bundle_file} (and its .png)",
    )


CHECKS: tuple[Callable[[CheckSnapshot, CheckLimits], CheckResult | None], ...] = (
    check_registry,
    check_connection,
    check_data,
    check_validation,
    check_clock,
    check_battery,
    check_signal,
    check_energy,
    check_loss,
    check_transport,
    check_certificate,
    check_broker_certificate,
    check_bundle_file,
)


# --- words for times -----------------------------------------------------------------------
def _age_s(now: datetime, then: datetime) -> float:
    return round((now - then).total_seconds(), 3)


def _ago(now: datetime, then: datetime | None) -> str:
    if then is None:
        return "never"
    age = now - then
    return "just now" if age < timedelta(seconds=1) else f"{_span(age)} ago"


def _span(span: timedelta) -> str:
    """A duration in the largest unit that keeps it readable: 850 ms, 12 s, 4 min, 3 h, 2 d."""
    seconds = abs(span.total_seconds())
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= 2 * size:
            return f"{seconds / size:.0f} {unit}"
    return f"{seconds:.0f} s"
