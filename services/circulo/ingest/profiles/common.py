"""What every profile translator shares (pure): its results, value readers, canonical messages.

A translator turns one firmware message (the topic's parts after the device prefix, and
the payload bytes) into a :class:`Translated` canonical message, or a :class:`NonData`
verdict for a known non-data message (SPEC §10's ``ignored``), or raises
:class:`~circulo_schemas.errors.Rejection` (``topic``, ``not_utf8``, ``not_json``,
``schema`` with the field named). Numbers are read as exact decimals (the JSON decoder of
:mod:`circulo_schemas.validate`); the lifetime register is floored to whole Wh.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_FLOOR, Decimal
from typing import Any, Literal

from circulo_schemas.encode import format_timestamp
from circulo_schemas.errors import Rejection
from circulo_schemas.payloads import MAX_MEASUREMENT, MEASUREMENT_PLACES, MeterTelemetry, StatusMessage
from circulo_schemas.validate import decode_json_object
from circulo_schemas.wire_types import MAX_BIGINT

_QUANTUM = Decimal(1).scaleb(-MEASUREMENT_PLACES)
_MAX_SHOWN = 40
# Before its clock is set a firmware stamps seconds since boot (Shelly ``"ts":1.33``) or
# 1970: no real reading is older than this.
CLOCK_SET_AFTER = datetime(2000, 1, 1, tzinfo=UTC)
CLOCK_NOT_SET = "the device's clock is not set (check its time server, SNTP/NTP)"


@dataclass(frozen=True, slots=True)
class Translated:
    """A firmware message as a canonical one, and the SHA-256 its dedup compares."""

    message: MeterTelemetry | StatusMessage
    channel: str  # the canonical channel: telemetry or status
    digest: bytes


@dataclass(frozen=True, slots=True)
class NonData:
    """A known non-data message of the profile; ``what`` is a short label from a fixed set."""

    what: str


Translation = Translated | NonData


def text_of(payload: bytes, field: str) -> str:
    """The payload as UTF-8 text (``not_utf8`` otherwise)."""
    try:
        return payload.decode("utf-8")
    except UnicodeDecodeError as e:
        raise Rejection("not_utf8", f"{field}: invalid UTF-8 at byte {e.start}") from e


def json_object(payload: bytes) -> dict[str, Any]:
    """The payload as one JSON object with exact decimals (``not_utf8`` / ``not_json``)."""
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError as e:
        raise Rejection("not_utf8", f"invalid UTF-8 at byte {e.start}") from e
    return decode_json_object(text)


def schema_error(path: str, problem: str) -> Rejection:
    """A ``schema`` rejection naming the firmware field (dotted path)."""
    shown = path if len(path) <= _MAX_SHOWN else path[: _MAX_SHOWN - 1] + "…"
    return Rejection("schema", f"{shown}: {problem}")


def member(document: Mapping[str, Any], path: str) -> Any:
    """The value at a dotted ``path`` (``aenergy.total``), or None when any part is absent."""
    value: Any = document
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


def obj(document: Mapping[str, Any], path: str, *, label: str | None = None) -> Mapping[str, Any] | None:
    """An object member (or None when absent); anything else is a ``schema`` rejection."""
    value = member(document, path)
    if value is not None and not isinstance(value, Mapping):
        raise schema_error(label or path, "must be an object")
    return value


def decimal_of(value: Any, path: str) -> Decimal:
    """A JSON number as an exact decimal (a boolean or a string is not a number)."""
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        raise schema_error(path, "must be a number")
    number = Decimal(value)
    if not number.is_finite():
        raise schema_error(path, "must be a finite number")
    return number


def number(document: Mapping[str, Any], path: str, *, label: str | None = None) -> Decimal | None:
    """An optional number at ``path``; JSON null counts as absent (Shelly writes ``"tC": null``)."""
    value = member(document, path)
    return None if value is None else decimal_of(value, label or path)


def required_number(document: Mapping[str, Any], path: str, *, label: str | None = None) -> Decimal:
    """A number that must be there."""
    value = number(document, path, label=label)
    if value is None:
        raise schema_error(label or path, "required")
    return value


def number_or_sum(document: Mapping[str, Any], path: str) -> Decimal | None:
    """A number, or the sum of an array of numbers (Tasmota's per-channel values)."""
    value = member(document, path)
    if isinstance(value, list):
        return sum((decimal_of(v, f"{path}[{i}]") for i, v in enumerate(value)), Decimal(0))
    return None if value is None else decimal_of(value, path)


def first_of(document: Mapping[str, Any], path: str) -> Decimal | None:
    """A number, or the first of an array of numbers (a voltage per phase: the first phase)."""
    value = member(document, path)
    if isinstance(value, list):
        return decimal_of(value[0], f"{path}[0]") if value else None
    return None if value is None else decimal_of(value, path)


def whole_wh(register: Decimal, path: str, *, scale: int = 0) -> int:
    """The lifetime register in whole Wh: ``floor(register × 10^scale)``, exactly, ≥ 0."""
    if register < 0:
        raise schema_error(path, "must be >= 0 (a lifetime energy register)")
    wh = int(register.scaleb(scale).to_integral_value(rounding=ROUND_FLOOR))
    if wh > MAX_BIGINT:
        raise schema_error(path, f"must be <= {MAX_BIGINT} Wh")
    return wh


def measurement(value: Decimal | None, path: str, *, floor_zero: bool = False) -> Decimal | None:
    """An informational reading kept to 6 decimals, within the contract's bounds.

    ``floor_zero``: generated power is never negative here; a meter wired for generation
    shows the inverter's standby draw as negative power, which is 0 W generated.
    """
    if value is None:
        return None
    if floor_zero and value < 0:
        value = Decimal(0)
    if abs(value) > MAX_MEASUREMENT:
        raise schema_error(path, f"must be within ±{MAX_MEASUREMENT}")
    exponent = value.as_tuple().exponent
    return value.quantize(_QUANTUM) if isinstance(exponent, int) and exponent < -MEASUREMENT_PLACES else value


def unix_seconds(value: Decimal, path: str) -> datetime:
    """A Unix time in seconds (with a fraction) as an aware UTC datetime, to the microsecond."""
    if not Decimal(0) <= value < Decimal(253402300800):  # year 1970 to 9999
        raise schema_error(path, "must be a Unix time in seconds")
    micros = int(value.scaleb(6).to_integral_value(rounding=ROUND_FLOOR))
    seconds, fraction = divmod(micros, 1_000_000)
    return clock_set(datetime.fromtimestamp(seconds, UTC).replace(microsecond=fraction), path)


def clock_set(moment: datetime, path: str) -> datetime:
    """``moment``, unless it says the firmware's clock was never set."""
    if moment < CLOCK_SET_AFTER:
        raise schema_error(path, f"{format_timestamp(moment)}: {CLOCK_NOT_SET}")
    return moment


_LOCAL_TIME = re.compile(r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d{1,6})?(Z|[+-]\d{2}:\d{2})?$")


def iso_time(value: Any, path: str) -> datetime:
    """An ISO 8601 time; without an offset it is read as UTC (the profile requires a UTC clock)."""
    if not isinstance(value, str) or not _LOCAL_TIME.fullmatch(value):
        raise schema_error(path, "must be a time like 2025-06-01T12:00:00")
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as e:
        raise schema_error(path, "is not a valid date and time") from e
    return clock_set(moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC), path)


def reading(
    ts: datetime,
    energy_wh: int,
    *,
    power_w: Decimal | None = None,
    voltage_v: Decimal | None = None,
    frequency_hz: Decimal | None = None,
    temp_c: Decimal | None = None,
) -> Translated:
    """A canonical meter reading (no ``seq``: a firmware has none) and its canonical digest.

    The digest covers the time and the register only: two messages of one reading (a
    Shelly's status topic and its RPC notification) are the same reading even when one of
    them carries a fresher power value; the same time with another register is a conflict.
    """
    # The native contract requires seq and power on the wire; a firmware has no seq and a
    # Shelly EM may report no power with its register: the canonical row allows both to be
    # absent (nullable columns), so the message is built without the wire validator.
    message = MeterTelemetry.model_construct(
        v=1,
        ts=ts,
        seq=None,  # type: ignore[arg-type]
        energy_wh=energy_wh,
        power_w=power_w,  # type: ignore[arg-type]
        voltage_v=voltage_v,
        frequency_hz=frequency_hz,
        temp_c=temp_c,
    )
    canonical = f"meter-reading\x00{format_timestamp(ts)}\x00{energy_wh}".encode()
    return Translated(message, "telemetry", hashlib.sha256(canonical).digest())


def status(
    state: Literal["online", "offline"],
    payload: bytes,
    *,
    ts: datetime | None = None,
    uptime_s: int | None = None,
    fw: str | None = None,
) -> Translated:
    """A canonical status (online / offline); statuses are stored on change, not by key."""
    message = StatusMessage.model_construct(
        v=1, state=state, ts=ts, seq=None, fw=fw, uptime_s=uptime_s, reason=None
    )
    return Translated(message, "status", hashlib.sha256(payload).digest())


def show_parts(parts: Sequence[str]) -> str:
    """Topic parts for a detail line, quoted and bounded."""
    shown = repr("/".join(parts))
    return shown if len(shown) <= 60 else shown[:59] + "…"
