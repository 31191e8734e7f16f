"""JSON Schema files of the wire contract, generated from the payload models.

The files describe the wire as a device sees it (``weight_kg`` a JSON number, ``ts`` a
string with offset or an integer), not the parsed Python types, and are deterministic so
that ``schemas/json/`` can be committed and checked for staleness.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter

from circulo_schemas.payloads import (
    BinEvent,
    BinTelemetry,
    MeterTelemetry,
    RepairEventMessage,
    ReplayCommand,
    ReplayUnavailable,
    StatusMessage,
)
from circulo_schemas.topics import CHANNELS, COMMAND_PREFIX, DEFINED_PAIRS, DEVICE_ID_PATTERN, KINDS, PREFIX

JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"

# The schema file that validates the payloads of each defined (kind, channel) pair.
SCHEMA_FILES: dict[tuple[str, str], str] = {
    ("meter", "telemetry"): "meter-telemetry.json",
    ("meter", "event"): "replay-unavailable.json",
    ("bin", "telemetry"): "bin-telemetry.json",
    ("bin", "event"): "bin-event.json",
    ("repair", "event"): "repair-event.json",
    **{(kind, "status"): "status.json" for kind in KINDS},
}

_MODELS: dict[str, tuple[Any, str]] = {
    "meter-telemetry.json": (
        MeterTelemetry,
        "A meter's telemetry on circulo/v1/meter/{device_id}/telemetry.",
    ),
    "bin-telemetry.json": (BinTelemetry, "A bin's telemetry on circulo/v1/bin/{device_id}/telemetry."),
    "bin-event.json": (
        BinEvent,
        "A bin event on circulo/v1/bin/{device_id}/event: a deposit, a collection, or (v 2) "
        "replay_unavailable.",
    ),
    "repair-event.json": (
        RepairEventMessage,
        "A repair on circulo/v1/repair/{device_id}/event, or (v 2) replay_unavailable.",
    ),
    "replay-unavailable.json": (
        ReplayUnavailable,
        "v 2 event on circulo/v1/{kind}/{device_id}/event: the device no longer holds the messages a "
        "replay asked for; the range's loss is final (SPEC §11). The only event a meter publishes.",
    ),
    "replay-command.json": (
        ReplayCommand,
        f"A command to a device on {COMMAND_PREFIX}/{{kind}}/{{device_id}}, published by the ingest's "
        "replay role only: republish the original bytes of from_seq..to_seq (inclusive, may wrap).",
    ),
    "status.json": (
        StatusMessage,
        "A retained status on circulo/v1/{kind}/{device_id}/status; also the Last Will.",
    ),
}


def render_json_schemas() -> dict[str, str]:
    """File name to JSON text for every message type, plus ``topics.json`` (the topic grammar)."""
    files = {name: _dump(_payload_schema(name, model, about)) for name, (model, about) in _MODELS.items()}
    files["topics.json"] = _dump(_topic_schema())
    return files


def write_json_schemas(out_dir: Path) -> list[Path]:
    """Write every rendered file into ``out_dir`` (created if missing); return the paths written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in sorted(render_json_schemas().items()):
        path = out_dir / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def stale_json_schemas(out_dir: Path) -> list[str]:
    """Names of files in ``out_dir`` that are missing, differ from the render, or are not generated."""
    rendered = render_json_schemas()
    stale = [
        name
        for name, text in sorted(rendered.items())
        if not (out_dir / name).is_file() or (out_dir / name).read_text(encoding="utf-8") != text
    ]
    extra = (
        sorted(p.name for p in out_dir.glob("*.json") if p.name not in rendered) if out_dir.is_dir() else []
    )
    return stale + extra


def default_json_dir() -> Path:
    """``schemas/json`` of the source checkout this package is imported from."""
    return Path(__file__).resolve().parents[1] / "json"


def _payload_schema(name: str, model: Any, about: str) -> dict[str, Any]:
    schema = TypeAdapter(model).json_schema(mode="validation")
    return {
        "$schema": JSON_SCHEMA_DIALECT,
        "$id": _schema_id(name),
        **schema,
        "title": name.removesuffix(".json"),
        "description": about,
    }


def _topic_schema() -> dict[str, Any]:
    device = DEVICE_ID_PATTERN.removeprefix("^").removesuffix("$")
    branches = "|".join(
        f"{kind}/{device}/(?:{'|'.join(c for c in CHANNELS if (kind, c) in DEFINED_PAIRS)})" for kind in KINDS
    )
    return {
        "$schema": JSON_SCHEMA_DIALECT,
        "$id": _schema_id("topics.json"),
        "title": "topics",
        "description": (
            f"A device topic: {PREFIX}/{{kind}}/{{device_id}}/{{channel}}, one of the defined "
            "kind/channel pairs. The device id is also the device's MQTT username. "
            "x-payload-schemas names the schema file for each pair."
        ),
        "type": "string",
        "pattern": f"^{PREFIX}/(?:{branches})$",
        "x-payload-schemas": {
            f"{kind}/{channel}": name for (kind, channel), name in sorted(SCHEMA_FILES.items())
        },
    }


def _schema_id(name: str) -> str:
    return f"urn:circulo:v1:{name.removesuffix('.json')}"


def _dump(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
