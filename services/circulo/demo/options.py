"""What a demo run simulates: the fleet, the window of the previous UTC day, the faults (pure)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

from circulo.errors import ConfigError

FULL_DAY_HOURS = 24
SUNDAY = 6
MAX_AGE_DAYS = 30  # the ingest quarantines older readings as too_old
# A shortened day is centred on the middle of the day, so its meters generate energy.
MIDDAY_HOUR = 12

# Per-message probability of each simulator fault: a few of every kind in a day of a
# 58-device fleet (about 60,000 messages), enough to show each outcome in the summary.
DEFAULT_FAULT_RATES: dict[str, float] = {
    "duplicate": 0.002,
    "out_of_order": 0.001,
    "clock_ahead": 0.0005,
    "clock_behind": 0.001,
    "malformed": 0.0008,
    "offline": 0.0003,
    "impersonate": 0.0005,
    "counter_reset": 0.0002,
    "implausible": 0.0002,
    "glitch": 0.0004,
}


# Above this the delivery faults' rates would add up to more than one per message.
MAX_FAULT_SCALE = 100.0


def scaled_fault_rates(scale: float) -> dict[str, float]:
    """The default fault rates times ``scale`` (0: no faults)."""
    if not 0 <= scale <= MAX_FAULT_SCALE:
        raise ConfigError(f"--faults must be 0 to {MAX_FAULT_SCALE:g}")
    return {name: round(rate * scale, 6) for name, rate in DEFAULT_FAULT_RATES.items() if rate * scale > 0}


@dataclass(frozen=True)
class FleetSize:
    """How many devices of each kind, and how many members the co-op has.

    ``shelly`` and ``tasmota``: how many of the meters run that firmware (SPEC §10); None
    gives a few of each (3 and 2 of 40 meters; one each of a small fleet's meters).
    """

    meters: int = 40
    bins: int = 15
    repairs: int = 3
    members: int = 12
    shelly: int | None = None
    tasmota: int | None = None

    def __post_init__(self) -> None:
        if min(self.meters, self.bins, self.repairs) < 0 or self.meters + self.bins + self.repairs == 0:
            raise ConfigError("the demo fleet needs at least one device (and no negative counts)")
        if not 1 <= self.members <= len(MEMBER_NAMES):
            raise ConfigError(f"the demo co-op has 1 to {len(MEMBER_NAMES)} members")
        if min(self.shelly or 0, self.tasmota or 0) < 0 or sum(self.profiled.values()) > self.meters:
            raise ConfigError("--shelly and --tasmota count meters: together at most --meters")

    @property
    def profiled(self) -> dict[str, int]:
        """How many meters run each third-party firmware."""
        few = self.meters >= 3
        shelly = self.shelly if self.shelly is not None else (min(3, max(1, self.meters // 10)) if few else 0)
        tasmota = (
            self.tasmota if self.tasmota is not None else (min(2, max(1, self.meters // 20)) if few else 0)
        )
        return {"shelly-gen2": shelly, "tasmota": tasmota}

    @property
    def devices(self) -> int:
        return self.meters + self.bins + self.repairs


# Member accounts of the demo co-op (account ids per SPEC §2), with their shares.
MEMBER_NAMES = (
    "amara",
    "bram",
    "chen",
    "dana",
    "emeka",
    "fleur",
    "gus",
    "hana",
    "ivo",
    "jamila",
    "kees",
    "lotte",
    "mo",
    "noor",
    "oskar",
    "pia",
    "quinn",
    "ruben",
    "sanne",
    "timo",
)


@dataclass(frozen=True)
class DemoOptions:
    """One run of ``circulo demo`` as the command line asked for it."""

    state_dir: Path
    fleet: FleetSize = field(default_factory=FleetSize)
    hours: int = FULL_DAY_HOURS
    day: date | None = None
    day_minutes: float | None = None
    seed: int = 2024
    keep: bool = False
    json_summary: Path | None = None
    fault_rates: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_FAULT_RATES))
    coop_id: str = "sunvale"
    coop_name: str = "Sunvale Energy Co-op"

    def __post_init__(self) -> None:
        if not 1 <= self.hours <= FULL_DAY_HOURS:
            raise ConfigError(f"--hours must be 1 to {FULL_DAY_HOURS}")
        if self.day_minutes is not None and self.day_minutes <= 0:
            raise ConfigError("--day-minutes must be positive")


@dataclass(frozen=True)
class DemoWindow:
    """The simulated period [start, end): within the previous UTC day, never ahead of the clock."""

    start: datetime
    end: datetime

    @property
    def hours(self) -> int:
        return int((self.end - self.start) / timedelta(hours=1))

    def describe(self) -> str:
        """The period in words: the whole day, or its hours."""
        if self.end - self.start == timedelta(days=1) and self.start.hour == 0:
            return f"the whole UTC day {self.start:%A %Y-%m-%d}"
        return f"{self.start:%A %Y-%m-%d %H:%M}-{self.end:%H:%M} UTC"

    def speed(self, day_minutes: float | None) -> float | None:
        """The simulator's pace for a window replayed in ``day_minutes`` (None: as fast as it can)."""
        if day_minutes is None:
            return None
        return (self.end - self.start) / timedelta(minutes=day_minutes)


def demo_day(now: datetime, day: date | None = None) -> date:
    """The day to simulate: ``day``, else the previous UTC day, or the Saturday before it
    when that is a Sunday (the simulated world rests on Sundays: no collection round, no
    repair café, so no RCY would be earned). Never today or later, never 30 days old."""
    today = now.astimezone(UTC).date()
    if day is None:
        day = today - timedelta(days=1)
        if day.weekday() == SUNDAY:
            day -= timedelta(days=1)
    if not today - timedelta(days=MAX_AGE_DAYS) < day < today:
        raise ConfigError(f"--day must be one of the last {MAX_AGE_DAYS - 1} days before today ({today})")
    return day


def demo_window(now: datetime, hours: int, day: date | None = None) -> DemoWindow:
    """The whole day to simulate (see :func:`demo_day`), or ``hours`` of it around midday."""
    midnight = datetime.combine(demo_day(now, day), time(), tzinfo=UTC)
    first_hour = 0 if hours >= FULL_DAY_HOURS else max(0, MIDDAY_HOUR - (hours + 1) // 2)
    start = midnight + timedelta(hours=first_hour)
    return DemoWindow(start, start + timedelta(hours=hours))


def member_accounts(coop_id: str, count: int) -> list[tuple[str, int]]:
    """The first ``count`` member accounts of the co-op and their shares (1 to 4, a fixed pattern)."""
    return [(f"{name}@{coop_id}", 1 + (index * 7) % 4) for index, name in enumerate(MEMBER_NAMES[:count])]
