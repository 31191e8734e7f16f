"""The payload models (SPEC §2), one frozen model per message type; field names are wire names.

Validate raw bytes with :func:`circulo_schemas.validate.parse_payload`, which reads JSON
numbers as exact decimals; the models' own ``model_validate_json`` would round them through
binary floats and therefore refuses them.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, GetCoreSchemaHandler, ValidationInfo, field_validator
from pydantic_core import CoreSchema, PydanticCustomError
from pydantic_core import core_schema as cs

from circulo_schemas.ords import EARLIEST_YEAR, END_OF_LIFE, RepairBarrier
from circulo_schemas.repair_categories import CATEGORIES
from circulo_schemas.topics import ACCOUNT_PATTERN
from circulo_schemas.wire_types import (
    LINE_PATTERN,
    MAX_BIGINT,
    MAX_INT,
    TEXT_PATTERN,
    Epoch,
    Seq,
    Timestamp,
    Version,
    VersionTwo,
    WireNumber,
)

MAX_WEIGHT_KG = Decimal(100_000)  # 100 t: far above any bin, truck or repaired item
MAX_DEPOSIT_G = 50_000
MAX_MEASUREMENT = Decimal(1_000_000_000)
MEASUREMENT_PLACES = 6  # informational readings are kept to 6 decimal places

Material = Literal[
    "pet", "hdpe", "pp", "glass", "aluminium", "steel", "paper", "cardboard", "textile", "ewaste",
    "organic", "mixed",
]  # fmt: skip
MATERIALS: tuple[str, ...] = get_args(Material)
RepairStatus = Literal["fixed", "repairable", "end_of_life"]
DeviceState = Literal["online", "offline"]


class _RepairCategoryName:
    """``Annotated`` metadata: one of the factor table's category names, exactly."""

    @staticmethod
    def __get_pydantic_core_schema__(source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        return cs.literal_schema(sorted(CATEGORIES))


Kilograms = Annotated[
    Decimal,
    WireNumber(ge=Decimal(0), le=MAX_WEIGHT_KG, places=3),
    Field(description="Kilograms, at most 3 decimal places (handled as integer grams)."),
]
PositiveKilograms = Annotated[
    Decimal,
    WireNumber(gt=Decimal(0), le=MAX_WEIGHT_KG, places=3),
    Field(description="Kilograms > 0, at most 3 decimal places (handled as integer grams)."),
]
Percent = Annotated[Decimal, WireNumber(ge=Decimal(0), le=Decimal(100), round_places=MEASUREMENT_PLACES)]
Celsius = Annotated[
    Decimal, WireNumber(ge=Decimal("-273.15"), le=Decimal(1000), round_places=MEASUREMENT_PLACES)
]
Measurement = Annotated[
    Decimal, WireNumber(ge=-MAX_MEASUREMENT, le=MAX_MEASUREMENT, round_places=MEASUREMENT_PLACES)
]
NonNegativeMeasurement = Annotated[
    Decimal, WireNumber(ge=Decimal(0), le=MAX_MEASUREMENT, round_places=MEASUREMENT_PLACES)
]
Account = Annotated[str, Field(pattern=ACCOUNT_PATTERN, description="An account id.")]
EventId = Annotated[
    str,
    Field(min_length=1, max_length=64, pattern=LINE_PATTERN, description="Unique per device, forever."),
]
Line = Annotated[str, Field(max_length=200, pattern=LINE_PATTERN)]
RequestId = Annotated[
    str,
    Field(min_length=1, max_length=64, pattern=LINE_PATTERN, description="The replay request's id."),
]
BootEpoch = Annotated[
    Epoch | None,
    Field(
        description="Boot epoch (SPEC §11): sent by devices that keep a replay buffer, so a seq restart "
        "after a reboot is told from a gap; absent on firmware without one.",
    ),
]


def _grams(kilograms: Decimal) -> int:
    # exact: validation allowed at most 3 decimal places, and scaleb only moves the exponent
    return int(kilograms.scaleb(3))


class WireModel(BaseModel):
    """Base of every payload: frozen, strict types, unknown fields rejected."""

    model_config = ConfigDict(strict=True, frozen=True, extra="forbid", regex_engine="rust-regex")

    v: Version


class MeterTelemetry(WireModel):
    """``meter/telemetry``: the lifetime generated-energy register and instant power."""

    model_config = ConfigDict(title="meter-telemetry")

    ts: Timestamp
    seq: Seq
    epoch: BootEpoch = None
    energy_wh: int = Field(ge=0, le=MAX_BIGINT, description="Lifetime generated energy register, Wh.")
    power_w: NonNegativeMeasurement = Field(description="Instant power, W.")
    voltage_v: Measurement | None = Field(default=None, description="Voltage, V.")
    frequency_hz: NonNegativeMeasurement | None = Field(default=None, description="Grid frequency, Hz.")
    temp_c: Celsius | None = Field(default=None, description="Temperature, °C.")


class BinTelemetry(WireModel):
    """``bin/telemetry``: how full and how heavy a bin is now."""

    model_config = ConfigDict(title="bin-telemetry")

    ts: Timestamp
    seq: Seq
    epoch: BootEpoch = None
    fill_pct: Percent = Field(description="How full the bin is, 0-100 %.")
    weight_kg: Kilograms
    temp_c: Celsius | None = Field(default=None, description="Temperature, °C.")
    battery_pct: Percent | None = Field(default=None, description="Battery charge, 0-100 %.")
    rssi_dbm: Measurement | None = Field(default=None, description="Radio signal strength, dBm.")

    @property
    def weight_g(self) -> int:
        """The current contents in integer grams."""
        return _grams(self.weight_kg)


class DepositEvent(WireModel):
    """``bin/event`` of type ``deposit``: material dropped into a bin."""

    model_config = ConfigDict(title="deposit")

    ts: Timestamp
    seq: Seq
    epoch: BootEpoch = None
    type: Literal["deposit"]
    event_id: EventId
    material: Material
    weight_g: int = Field(ge=1, le=MAX_DEPOSIT_G, description="Weight of the deposit, integer grams.")
    account: Account | None = Field(default=None, description="Who deposited; absent = anonymous.")
    items: int | None = Field(default=None, ge=1, le=MAX_INT, description="Number of items.")
    contaminated: bool = Field(default=False, description="The bin's sensor found the deposit contaminated.")


class CollectionEvent(WireModel):
    """``bin/event`` of type ``collection``: a bin emptied and weighed at pickup."""

    model_config = ConfigDict(title="collection")

    ts: Timestamp
    seq: Seq
    epoch: BootEpoch = None
    type: Literal["collection"]
    event_id: EventId
    weight_kg: PositiveKilograms
    collector: Line | None = Field(default=None, description="Who collected (free text).")

    @property
    def weight_g(self) -> int:
        """The collected weight in integer grams."""
        return _grams(self.weight_kg)


class RepairEvent(WireModel):
    """``repair/event``: an item brought to a repair station, and the outcome."""

    # JSON Schema says what the field validator checks: a barrier needs status end_of_life.
    model_config = ConfigDict(
        title="repair-event",
        json_schema_extra={
            "if": {"required": ["barrier"], "properties": {"barrier": {"type": "string"}}},
            "then": {"properties": {"status": {"const": END_OF_LIFE}}},
        },
    )

    ts: Timestamp
    seq: Seq
    epoch: BootEpoch = None
    type: Literal["repair"]
    event_id: EventId
    category: Annotated[str, _RepairCategoryName()] = Field(
        description="An Open Repair Data Standard product category."
    )
    status: RepairStatus = Field(description="fixed, repairable (not yet fixed) or end_of_life.")
    weight_kg: PositiveKilograms
    owner: Account | None = Field(default=None, description="The item's owner (an account).")
    repairer: Account | None = Field(default=None, description="Who repaired it (an account).")
    age_years: NonNegativeMeasurement | None = Field(default=None, description="The item's age, years.")
    problem: Annotated[str, Field(max_length=500, pattern=TEXT_PATTERN)] | None = Field(
        default=None, description="What was wrong, free text."
    )
    brand: Annotated[str, Field(min_length=1, max_length=100, pattern=LINE_PATTERN)] | None = Field(
        default=None, description="The item's brand (free text, one line)."
    )
    year_of_manufacture: int | None = Field(
        default=None,
        ge=EARLIEST_YEAR,
        le=9999,
        description="The year the item was made (YYYY); not after the year of ts (UTC).",
    )
    barrier: RepairBarrier | None = Field(
        default=None,
        description="Why an end-of-life item could not be repaired (an ORDS repair barrier); "
        "only with status end_of_life.",
    )

    @field_validator("year_of_manufacture")
    @classmethod
    def made_before_the_repair(cls, year: int | None, info: ValidationInfo) -> int | None:
        """An item cannot be made after the year it was repaired in."""
        ts = info.data.get("ts")
        if year is not None and ts is not None and year > ts.year:
            raise PydanticCustomError("value_error", "after the year of ts ({ts_year})", {"ts_year": ts.year})
        return year

    @field_validator("barrier")
    @classmethod
    def barrier_only_at_end_of_life(cls, barrier: str | None, info: ValidationInfo) -> str | None:
        """ORDS: a repair barrier is only relevant where the status is end of life."""
        status = info.data.get("status")
        if barrier is not None and status is not None and status != END_OF_LIFE:
            raise PydanticCustomError("value_error", "only with status end_of_life")
        return barrier

    @property
    def weight_g(self) -> int:
        """The item's weight in integer grams."""
        return _grams(self.weight_kg)


class StatusMessage(WireModel):
    """``{kind}/status``, retained; ``{"v":1,"state":"offline"}`` is the Last Will."""

    model_config = ConfigDict(title="status")

    state: DeviceState = Field(description="online, or offline (the Last Will).")
    ts: Timestamp | None = None
    seq: Seq | None = None
    epoch: BootEpoch = None
    fw: Annotated[str, Field(max_length=64, pattern=LINE_PATTERN)] | None = Field(
        default=None, description="Firmware version."
    )
    uptime_s: int | None = Field(default=None, ge=0, le=MAX_BIGINT, description="Seconds since boot.")
    reason: Line | None = Field(default=None, description="Why the state changed (free text).")


class ReplayUnavailable(BaseModel):
    """``{kind}/event``, ``v: 2``: the device no longer holds the messages a replay asked for (SPEC §11).

    ``from_seq``..``to_seq`` is inclusive and may wrap (``from_seq > to_seq`` runs through 2^32 - 1
    to 0); the loss of that range in ``epoch`` is then final.
    """

    model_config = ConfigDict(
        strict=True, frozen=True, extra="forbid", regex_engine="rust-regex", title="replay-unavailable"
    )

    v: VersionTwo
    ts: Timestamp
    seq: Seq
    type: Literal["replay_unavailable"]
    id: RequestId
    epoch: Epoch
    from_seq: Seq = Field(description="First seq not held (inclusive).")
    to_seq: Seq = Field(description="Last seq not held (inclusive).")


class ReplayCommand(WireModel):
    """A command on ``circulo/cmd/v1/{kind}/{device_id}``: republish ``from_seq``..``to_seq`` of ``epoch``.

    Published by the ingest's replay role only (QoS 1); the range is inclusive and may wrap.
    """

    model_config = ConfigDict(title="replay-command")

    cmd: Literal["replay"]
    id: RequestId
    epoch: Epoch
    from_seq: Seq = Field(description="First seq to republish (inclusive).")
    to_seq: Seq = Field(description="Last seq to republish (inclusive).")


BinEvent = Annotated[DepositEvent | CollectionEvent | ReplayUnavailable, Field(discriminator="type")]
RepairEventMessage = Annotated[RepairEvent | ReplayUnavailable, Field(discriminator="type")]
EventMessage = DepositEvent | CollectionEvent | RepairEvent | ReplayUnavailable
TelemetryMessage = MeterTelemetry | BinTelemetry
