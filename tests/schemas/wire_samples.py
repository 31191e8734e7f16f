"""Sample payloads of every message type, as the bytes a device would publish."""

from __future__ import annotations

import json
from typing import Any

METER = "circulo/v1/meter/meter-0042/telemetry"
BIN = "circulo/v1/bin/bin-0007/telemetry"
BIN_EVENT = "circulo/v1/bin/bin-0007/event"
REPAIR = "circulo/v1/repair/repair-cafe-1/event"
STATUS = "circulo/v1/meter/meter-0042/status"

TS = "2025-06-01T12:00:00Z"

# name -> (topic, a minimal valid payload); tests derive variants from these.
MINIMAL: dict[str, tuple[str, dict[str, Any]]] = {
    "meter telemetry": (METER, {"v": 1, "ts": TS, "seq": 1, "energy_wh": 1000, "power_w": 12}),
    "bin telemetry": (BIN, {"v": 1, "ts": TS, "seq": 1, "fill_pct": 40, "weight_kg": 10}),
    "deposit": (
        BIN_EVENT,
        {
            "v": 1,
            "ts": TS,
            "seq": 1,
            "type": "deposit",
            "event_id": "e-1",
            "material": "pet",
            "weight_g": 120,
        },
    ),
    "collection": (
        BIN_EVENT,
        {"v": 1, "ts": TS, "seq": 1, "type": "collection", "event_id": "c-1", "weight_kg": 42},
    ),
    "repair": (
        REPAIR,
        {
            "v": 1,
            "ts": TS,
            "seq": 1,
            "type": "repair",
            "event_id": "r-1",
            "category": "Kettle",
            "status": "fixed",
            "weight_kg": 1,
        },
    ),
    "status": (STATUS, {"v": 1, "state": "online"}),
}

# name -> (topic, payload with every optional field); raw JSON text keeps decimals exact.
FULL: dict[str, tuple[str, str]] = {
    "meter telemetry": (
        METER,
        '{"v":1,"ts":"2025-06-01T12:00:00.000Z","seq":18231,"energy_wh":1534212,"power_w":1523.4,'
        '"voltage_v":231.2,"frequency_hz":50.01,"temp_c":41.5}',
    ),
    "bin telemetry": (
        BIN,
        '{"v":1,"ts":1748779200000,"seq":5120,"fill_pct":63.5,"weight_kg":41.275,"battery_pct":87,'
        '"rssi_dbm":-71,"temp_c":18.2}',
    ),
    "deposit": (
        BIN_EVENT,
        '{"v":1,"ts":"2025-06-01T14:03:12.500+02:00","seq":5121,"type":"deposit","event_id":"b7c1-000318",'
        '"material":"aluminium","weight_g":245,"account":"alice@riverside","items":14,"contaminated":true}',
    ),
    "collection": (
        BIN_EVENT,
        '{"v":1,"ts":"2025-06-01T16:30:00Z","seq":5190,"type":"collection","event_id":"b7c1-000319",'
        '"weight_kg":42.8,"collector":"Riverside Recycling"}',
    ),
    "repair": (
        REPAIR,
        '{"v":1,"ts":"2025-06-01T15:10:00Z","seq":77,"type":"repair","event_id":"rc1-2025-0077",'
        '"category":"Small kitchen item","status":"end_of_life","weight_kg":2.95,"owner":"bob@riverside",'
        '"repairer":"carol@riverside","age_years":6.5,"problem":"Motor burnt out.\\nNo spare parts.",'
        '"brand":"Kenwood","year_of_manufacture":2019,"barrier":"spare_parts_not_available"}',
    ),
    "status": (
        STATUS,
        '{"v":1,"state":"offline","ts":1748779200000,"seq":0,"fw":"meter-fw 2.4.1","uptime_s":86400,'
        '"reason":"planned shutdown"}',
    ),
}


def payload(name: str, **changes: Any) -> tuple[str, bytes]:
    """A minimal sample with fields changed (a value of ``...`` removes the field)."""
    topic, fields = MINIMAL[name]
    merged = {**fields, **changes}
    return topic, json.dumps({k: v for k, v in merged.items() if v is not ...}).encode()


def raw_with(name: str, key: str, literal: str) -> tuple[str, bytes]:
    """A minimal sample whose ``key`` is the raw JSON ``literal`` (exact number literals)."""
    topic, fields = MINIMAL[name]
    text = json.dumps({k: v for k, v in fields.items() if k != key})
    return topic, f"{text[:-1]}, {json.dumps(key)}: {literal}}}".encode()
