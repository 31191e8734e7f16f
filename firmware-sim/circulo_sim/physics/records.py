"""What a device measured or saw, before it becomes a payload (plain frozen dataclasses)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class MeterReading:
    """One meter telemetry sample: the lifetime register and the instant power.

    ``energy_mwh`` is the register in mWh (a Shelly shows three decimals of Wh); always
    ``energy_wh * 1000 <= energy_mwh < (energy_wh + 1) * 1000`` (0: no finer register).
    """

    ts: datetime
    energy_wh: int
    power_w: float
    voltage_v: float
    frequency_hz: float
    temp_c: float
    energy_mwh: int = 0

    @property
    def register_mwh(self) -> int:
        """The register in mWh, consistent with ``energy_wh`` (whatever changed it since)."""
        if self.energy_wh * 1000 <= self.energy_mwh < (self.energy_wh + 1) * 1000:
            return self.energy_mwh
        return self.energy_wh * 1000


@dataclass(frozen=True, slots=True)
class BinReading:
    """One bin telemetry sample: how full and how heavy the bin is."""

    ts: datetime
    fill_pct: float
    weight_g: int
    temp_c: float
    battery_pct: float
    rssi_dbm: int


@dataclass(frozen=True, slots=True)
class Deposit:
    """Material dropped into a bin."""

    ts: datetime
    event_id: str
    material: str
    weight_g: int
    items: int
    account: str | None
    contaminated: bool


@dataclass(frozen=True, slots=True)
class Collection:
    """A bin emptied and weighed at pickup."""

    ts: datetime
    event_id: str
    weight_g: int
    collector: str


@dataclass(frozen=True, slots=True)
class Repair:
    """An item brought to a repair station, and the outcome."""

    ts: datetime
    event_id: str
    category: str
    status: str
    weight_g: int
    owner: str | None
    repairer: str | None
    age_years: float
    problem: str
    brand: str | None = None
    year_of_manufacture: int | None = None
    barrier: str | None = None


Record = MeterReading | BinReading | Deposit | Collection | Repair
