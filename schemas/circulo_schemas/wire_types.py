"""Field types of the wire (SPEC §2): exact decimal numbers, timestamps, bounded texts.

Payloads are decoded by :mod:`circulo_schemas.validate` with every JSON number that has a
fraction or exponent read as a :class:`~decimal.Decimal`, so the types here validate Python
values: ``int`` for JSON integers, ``Decimal`` for the other numbers, never ``float``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import Field, GetCoreSchemaHandler, GetJsonSchemaHandler, PlainValidator, WithJsonSchema
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, PydanticCustomError
from pydantic_core import core_schema as cs

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MAX_EPOCH_MS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z
# RFC 3339 date-time (section 5.6); fractions up to nanoseconds, kept to microseconds.
RFC3339_PATTERN = r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$"
_RFC3339_RE = re.compile(RFC3339_PATTERN)
_NAIVE_RE = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?")

# One line of text: no control characters (they break logs, CSV exports and PostgreSQL).
LINE_PATTERN = r"^[^\x00-\x1f\x7f]*$"
# Free text: tabs and line breaks allowed, other control characters not.
TEXT_PATTERN = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"

MAX_SEQ = 2**32 - 1
MAX_BIGINT = 2**63 - 1  # what a PostgreSQL bigint holds
MAX_INT = 2**31 - 1  # what a PostgreSQL integer holds


def _refuse_json_mode(value: Any) -> Any:
    raise PydanticCustomError(
        "number_type",
        "JSON numbers must be read as exact decimals: use circulo_schemas.parse_payload",
    )


# A JSON integer (a Python int, never a bool) or a JSON number with a fraction (a Decimal).
_NUMBER_INPUT = cs.union_schema(
    [cs.int_schema(strict=True), cs.is_instance_schema(Decimal)],
    custom_error_type="number_type",
    custom_error_message="must be a number",
)


def _json_bound(value: Decimal) -> int | float:
    """A bound as JSON Schema writes it (bounds are short, so a float prints exactly)."""
    return int(value) if value == value.to_integral_value() else float(value)


@dataclass(frozen=True, slots=True)
class WireNumber:
    """``Annotated`` metadata: a JSON number validated as an exact ``Decimal``.

    ``places`` rejects more decimal places (amounts such as ``weight_kg``); ``round_places``
    rounds beyond them instead (measurements that reach no amount, e.g. ``temp_c``).
    """

    ge: Decimal | None = None
    gt: Decimal | None = None
    le: Decimal | None = None
    places: int | None = None
    round_places: int | None = None

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        """Accept int or Decimal input (no float, bool or string), then check the bounds."""
        steps: list[CoreSchema] = [
            _NUMBER_INPUT,
            cs.decimal_schema(  # lax: the input is already an int or a Decimal, never a string
                ge=self.ge,
                gt=self.gt,
                le=self.le,
                decimal_places=self.places,
                allow_inf_nan=False,
                strict=False,
            ),
        ]
        if self.round_places is not None:
            steps.append(cs.no_info_plain_validator_function(_rounder(self.round_places)))
        return cs.json_or_python_schema(
            json_schema=cs.no_info_plain_validator_function(_refuse_json_mode),
            python_schema=cs.chain_schema(steps),
        )

    def __get_pydantic_json_schema__(
        self, core: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        """Describe the wire: a JSON number with its bounds."""
        schema: dict[str, Any] = {"type": "number"}
        for keyword, bound in (("minimum", self.ge), ("exclusiveMinimum", self.gt), ("maximum", self.le)):
            if bound is not None:
                schema[keyword] = _json_bound(bound)
        return schema


def _rounder(places: int) -> Any:
    quantum = Decimal(1).scaleb(-places)

    def round_measurement(value: Decimal) -> Decimal:
        exponent = value.as_tuple().exponent
        if isinstance(exponent, int) and exponent >= -places:
            return value
        return value.quantize(quantum)

    return round_measurement


@dataclass(frozen=True, slots=True)
class ExactInt:
    """``Annotated`` metadata: only a JSON integer, even where the type is a ``Literal``."""

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        """Check the int type first: ``Literal[1]`` alone would take ``true`` or ``1.0``."""
        return cs.chain_schema([cs.int_schema(strict=True), handler(source)])

    def __get_pydantic_json_schema__(
        self, core: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        """Describe the literal integer."""
        steps = core.get("steps")
        literal = steps[1] if isinstance(steps, list) else core
        return {"type": "integer", "const": literal["expected"][0]}


def parse_timestamp(value: object) -> datetime:
    """``ts``: an RFC 3339 string with offset or int epoch milliseconds, as an aware UTC datetime."""
    if type(value) is int:
        if not 0 <= value <= MAX_EPOCH_MS:
            raise ValueError("epoch milliseconds out of range")
        return EPOCH + timedelta(milliseconds=value)
    if type(value) is str:
        return _parse_rfc3339(value)
    if isinstance(value, datetime) and value.tzinfo is not None:
        return _to_utc(value)
    raise ValueError("must be an RFC 3339 string with offset or integer epoch milliseconds")


def _parse_rfc3339(text: str) -> datetime:
    if _RFC3339_RE.fullmatch(text) is None:
        if _NAIVE_RE.fullmatch(text):
            raise ValueError("needs a UTC offset (Z or ±hh:mm)")
        raise ValueError("must be an RFC 3339 string with offset or integer epoch milliseconds")
    try:
        return _to_utc(datetime.fromisoformat(text.upper()))
    except ValueError as e:
        raise ValueError("not a valid date-time") from e


def _to_utc(moment: datetime) -> datetime:
    try:
        return moment.astimezone(UTC)
    except OverflowError as e:  # year 1 or 9999 pushed over the edge by the offset
        raise ValueError("date-time out of range") from e


_TIMESTAMP_JSON_SCHEMA: JsonSchemaValue = {
    "anyOf": [
        {"type": "string", "format": "date-time", "pattern": RFC3339_PATTERN},
        {"type": "integer", "minimum": 0, "maximum": MAX_EPOCH_MS},
    ],
    "description": "RFC 3339 date-time with offset (Z or ±hh:mm), or integer epoch milliseconds.",
}

Timestamp = Annotated[datetime, PlainValidator(parse_timestamp), WithJsonSchema(_TIMESTAMP_JSON_SCHEMA)]
Version = Annotated[Literal[1], ExactInt()]
VersionTwo = Annotated[Literal[2], ExactInt()]
Seq = Annotated[
    int, Field(ge=0, le=MAX_SEQ, description="Per-device counter, +1 per message, wraps at 2^32.")
]
Epoch = Annotated[
    int,
    Field(
        ge=0,
        le=MAX_SEQ,
        description="Boot epoch: a counter the device keeps across reboots, +1 per boot (SPEC §11).",
    ),
]
Line = Annotated[str, Field(pattern=LINE_PATTERN)]
