"""Faults on demand: what each one does to a message, and the outcome the contract demands.

Every fault has a rate: the probability that an eligible message gets it (at most one
fault per message). Meter faults change the register itself (a replaced meter starts
again from zero; an implausible jump reports more than the panels can make); delivery faults change
how a message travels (sent twice, late, with a wrong clock, garbled, buffered behind an
outage, or on another device's topic). A glitch (SPEC §10) misreads the register as 0 for
one reading, which the meter comes back from at the next.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import timedelta
from typing import Any

import numpy as np

from circulo_sim.errors import ConfigError
from circulo_sim.wire import Message, WireMessage, encode_document

METER_FAULTS = ("counter_reset", "implausible", "glitch")
DELIVERY_FAULTS = (
    "duplicate",
    "out_of_order",
    "clock_ahead",
    "clock_behind",
    "malformed",
    "offline",
    "impersonate",
    "reboot",  # last: a rate of 0 leaves every other fault's draws as they were
)
FAULTS = (*DELIVERY_FAULTS, *METER_FAULTS)

# What the ingest must do with a message that carries each fault (SPEC §3; "refused" is
# the broker's MQTT v5 0x87, so such a message never reaches the ingest).
EXPECTED_OUTCOME = {
    None: "stored",
    "duplicate": "stored",  # the first copy; the second is "duplicate"
    "out_of_order": "stored",
    "clock_ahead": "quarantined:clock_skew",
    "clock_behind": "stored",
    "offline": "stored",
    "impersonate": "stored",  # the device's own message; the copy on another's topic is "refused"
    "reboot": "stored",  # the last message before the reboot; then a new epoch, seq from the start
    "counter_reset": "stored",  # rewards flag counter_reset
    "implausible": "stored",  # rewards flag implausible
    "glitch": "stored",  # rewards flag glitch (policy v2): the span is credited
}
CLOCK_AHEAD = timedelta(days=365)  # an RTC that came up a year ahead: always beyond the skew limit
CLOCK_BEHIND_RANGE_S = (120.0, 3 * 3600.0)
OUT_OF_ORDER_DEPTH = (1, 3)  # a late message arrives after 1 to 3 later ones


@dataclass(frozen=True)
class FaultRates:
    """Per-message probability of each fault, and the mean length of an offline period."""

    duplicate: float = 0.0
    out_of_order: float = 0.0
    clock_ahead: float = 0.0
    clock_behind: float = 0.0
    malformed: float = 0.0
    offline: float = 0.0
    impersonate: float = 0.0
    reboot: float = 0.0
    counter_reset: float = 0.0
    implausible: float = 0.0
    glitch: float = 0.0
    offline_minutes: float = 20.0

    def __post_init__(self) -> None:
        for name in FAULTS:
            rate = getattr(self, name)
            if not 0.0 <= rate <= 1.0:
                raise ConfigError(f"fault rate {name.replace('_', '-')}: {rate} is not between 0 and 1")
        for group in (DELIVERY_FAULTS, METER_FAULTS):
            if sum(getattr(self, n) for n in group) > 1.0:
                raise ConfigError(f"fault rates {', '.join(group)} add up to more than 1")
        if self.offline_minutes <= 0:
            raise ConfigError("offline minutes must be positive")

    def rates(self) -> dict[str, float]:
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name in FAULTS}

    def any(self) -> bool:
        return any(self.rates().values())


def draw_fault(rng: np.random.Generator, rates: FaultRates, names: tuple[str, ...]) -> str | None:
    """At most one of ``names`` for the next message."""
    draw = rng.random()
    for name in names:
        rate = getattr(rates, name)
        if draw < rate:
            return name
        draw -= rate
    return None


def clock_behind_by(rng: np.random.Generator) -> timedelta:
    """How far behind a lagging clock is; odd milliseconds keep ``ts`` clear of regular readings."""
    seconds = rng.uniform(*CLOCK_BEHIND_RANGE_S)
    return timedelta(seconds=int(seconds), milliseconds=int(rng.integers(1, 1000)))


def offline_period(rng: np.random.Generator, rates: FaultRates) -> timedelta:
    """How long an outage lasts (exponential, at least a minute)."""
    return timedelta(minutes=max(1.0, float(rng.exponential(rates.offline_minutes))))


# --- malformed payloads -------------------------------------------------------------------
# A firmware bug in each message type that the schema must catch (field, bad value).
SCHEMA_BREAKS: dict[str, tuple[str, Any]] = {
    "meter_telemetry": ("energy_wh", "12345"),  # a number sent as a string
    "bin_telemetry": ("fill_pct", 140),  # above 100 %
    "deposit": ("material", "plastic"),  # not a material of the contract
    "collection": ("weight_kg", 0),  # must be > 0
    "repair": ("category", "Smartphone"),  # not an ORDS category name
}


def malformed(message: WireMessage, rng: np.random.Generator) -> tuple[bytes, str]:
    """A garbled payload for ``message`` and the quarantine reason it must get."""
    if rng.random() < 0.5:
        whole = message.payload()
        return whole[: len(whole) // 2], "not_json"  # cut off mid-transmission
    if not isinstance(message, Message):
        return message.schema_break(), "schema"  # type: ignore[attr-defined]
    field, value = SCHEMA_BREAKS[message.message_type]
    document = message.document()
    document[field] = value
    return encode_document(document), "schema"
