"""Raw payload bytes to a validated message (SPEC §2-3): the ingest hot path.

Checks run in the order of the quarantine reasons: ``too_large``, ``not_utf8``,
``not_json``, then ``schema`` with a short detail naming the fields. JSON is decoded by the
standard library with every number that has a fraction or exponent read as a
:class:`~decimal.Decimal` (pydantic's own JSON reader goes through binary floats), then
validated by pydantic validators compiled once at import.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal
from typing import Any, cast

from pydantic import TypeAdapter, ValidationError
from pydantic_core import ErrorDetails

from circulo_schemas.errors import Rejection
from circulo_schemas.payloads import (
    BinEvent,
    BinTelemetry,
    CollectionEvent,
    DepositEvent,
    MeterTelemetry,
    RepairEvent,
    RepairEventMessage,
    ReplayUnavailable,
    StatusMessage,
)
from circulo_schemas.topics import KINDS, Topic

DEFAULT_MAX_PAYLOAD_BYTES = 8192
MAX_DETAIL_CHARS = 300
_MAX_ERRORS_SHOWN = 6
_MAX_NAME_CHARS = 40
_MAX_EXPECTED_CHARS = 120

Message = (
    MeterTelemetry
    | BinTelemetry
    | DepositEvent
    | CollectionEvent
    | RepairEvent
    | ReplayUnavailable
    | StatusMessage
)


class _DuplicateKey(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # Two values for one key would be read differently by different parsers; refuse both.
    document = dict(pairs)
    if len(document) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _DuplicateKey(key)
            seen.add(key)
    return document


_DECODER = json.JSONDecoder(
    parse_float=Decimal, parse_constant=_refuse_constant, object_pairs_hook=_unique_keys
)


def _validator(model: Any) -> Callable[[Any], Message]:
    return cast(Callable[[Any], Message], TypeAdapter(model).validator.validate_python)


# One compiled validator per defined (kind, channel) pair; bin events are a tagged union.
_VALIDATORS: dict[tuple[str, str], Callable[[Any], Message]] = {
    ("meter", "telemetry"): _validator(MeterTelemetry),
    ("bin", "telemetry"): _validator(BinTelemetry),
    ("meter", "event"): _validator(ReplayUnavailable),
    ("bin", "event"): _validator(BinEvent),
    ("repair", "event"): _validator(RepairEventMessage),
    **{(kind, "status"): _validator(StatusMessage) for kind in KINDS},
}
_TAGGED_PAIRS = frozenset({("bin", "event"), ("repair", "event")})


def parse_payload(topic: Topic, raw: bytes, *, max_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES) -> Message:
    """Validate ``raw`` as the message type of ``topic``; raise :class:`Rejection` if it is not one."""
    validate = _VALIDATORS.get(topic.pair)
    if validate is None:
        raise Rejection("topic", f"no {topic.channel} messages are defined for kind {topic.kind}")
    if len(raw) > max_bytes:
        raise Rejection("too_large", f"{len(raw)} bytes, limit {max_bytes}")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise Rejection("not_utf8", f"invalid UTF-8 at byte {e.start}") from e
    document = decode_json_object(text)
    try:
        return validate(document)
    except ValidationError as e:
        detail = describe_errors(e.errors(include_url=False), tagged=topic.pair in _TAGGED_PAIRS)
        raise Rejection("schema", detail) from e


def decode_json_object(text: str) -> dict[str, Any]:
    """Decode one JSON object with exact decimals; raise ``not_json`` (or ``schema`` for a repeated key)."""
    if text.startswith("\ufeff"):
        raise Rejection("not_json", "starts with a byte order mark (BOM)")
    try:
        document = _DECODER.decode(text)
    except _DuplicateKey as e:
        raise Rejection("schema", f"{_name(e.key, quoted=False)}: repeated key") from e
    except json.JSONDecodeError as e:
        raise Rejection("not_json", f"{e.msg} at char {e.pos}") from e
    except ValueError as e:  # NaN/Infinity, or an integer beyond Python's digit limit
        raise Rejection("not_json", _bounded(str(e))) from e
    except RecursionError as e:
        raise Rejection("not_json", "nested too deeply") from e
    if type(document) is not dict:
        raise Rejection("not_json", f"a JSON {_json_kind(document)}, not an object")
    return document


def describe_errors(errors: list[ErrorDetails], *, tagged: bool = False) -> str:
    """One short line naming each failing field, e.g. ``weight_kg: at most 3 decimal places``."""
    parts: list[str] = []
    for error in errors:
        part = _describe(error, tagged=tagged)
        if part not in parts:
            parts.append(part)
    shown: list[str] = []
    budget = MAX_DETAIL_CHARS - len("; and 99 more")
    for part in parts:
        if len(shown) == _MAX_ERRORS_SHOWN or sum(len(p) + 2 for p in shown) + len(part) > budget:
            break
        shown.append(part)
    if not shown:  # one very long part: cut it rather than say nothing
        return _bounded(parts[0]) if parts else "invalid"
    if len(parts) > len(shown):
        shown.append(f"and {len(parts) - len(shown)} more")
    return "; ".join(shown)


def _describe(error: ErrorDetails, *, tagged: bool) -> str:
    kind = error["type"]
    loc = (
        error["loc"][1:]
        if tagged and kind not in ("union_tag_invalid", "union_tag_not_found")
        else error["loc"]
    )
    field = ".".join(str(part) for part in loc) or "type"
    ctx = error.get("ctx") or {}
    if kind == "extra_forbidden":
        return f"extra field {_name(field)} not allowed"
    if kind == "union_tag_invalid":
        return f"type: must be one of {ctx.get('expected_tags', '')}"
    if kind == "literal_error" and len(str(ctx.get("expected", ""))) > _MAX_EXPECTED_CHARS:
        return f"{_name(field, quoted=False)}: {_name(str(error['input']))} is not an allowed value"
    return f"{_name(field, quoted=False)}: {_problem(kind, ctx, error['msg'])}"


_PROBLEMS = {
    "missing": "required",
    "union_tag_not_found": "required",
    "int_type": "must be an integer",
    "bool_type": "must be true or false",
    "string_type": "must be a string",
    "string_unicode": "must be a valid Unicode string",
    "string_pattern_mismatch": "invalid characters or format",
    "finite_number": "must be a finite number",
    "decimal_max_places": "at most {decimal_places} decimal places",
    "greater_than_equal": "must be >= {ge}",
    "greater_than": "must be > {gt}",
    "less_than_equal": "must be <= {le}",
    "less_than": "must be < {lt}",
    "string_too_short": "at least {min_length} characters",
    "string_too_long": "at most {max_length} characters",
}


def _problem(kind: str, ctx: dict[str, Any], message: str) -> str:
    if kind == "literal_error":
        return f"must be {ctx.get('expected', '')}"
    if kind == "value_error":
        return message.removeprefix("Value error, ")
    template = _PROBLEMS.get(kind)
    if template is None:
        return message[:1].lower() + message[1:]
    return template.format(**ctx)


def _name(text: str, *, quoted: bool = True) -> str:
    """A field name from the payload: escaped, quoted if asked, bounded."""
    shown = repr(text) if quoted or not text.isidentifier() else text
    return shown if len(shown) <= _MAX_NAME_CHARS else shown[: _MAX_NAME_CHARS - 1] + "…"


def _bounded(text: str) -> str:
    return text if len(text) <= MAX_DETAIL_CHARS else text[: MAX_DETAIL_CHARS - 1] + "…"


def _json_kind(value: object) -> str:
    names = {list: "array", str: "string", bool: "boolean", type(None): "null"}
    return names.get(type(value), "number")
