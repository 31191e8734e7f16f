"""Message to wire bytes: the inverse of :func:`circulo_schemas.validate.parse_payload`.

Decimals are written as exact JSON numbers (pydantic's JSON output would write them as
strings, which the strict wire refuses), timestamps as RFC 3339 UTC strings, and absent
optional fields are left out.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

from pydantic import BaseModel


def encode_payload(message: BaseModel) -> bytes:
    """The compact JSON bytes a device publishes for ``message``."""
    members = (f"{json.dumps(name)}:{encode_value(value)}" for name, value in message if value is not None)
    return ("{" + ",".join(members) + "}").encode("utf-8")


def encode_value(value: object) -> str:
    """One JSON value: exact decimals, RFC 3339 UTC timestamps, everything else as JSON does."""
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, datetime):
        return json.dumps(format_timestamp(value))
    return json.dumps(value, ensure_ascii=False)


def format_timestamp(moment: datetime) -> str:
    """``2025-06-01T12:00:00.250Z``: UTC, milliseconds, or microseconds when they are not zero."""
    utc = moment.astimezone(UTC)
    text = utc.isoformat(timespec="microseconds" if utc.microsecond % 1000 else "milliseconds")
    return text.replace("+00:00", "Z")
