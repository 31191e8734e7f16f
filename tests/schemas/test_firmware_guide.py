"""docs/firmware.md: every example payload parses and passes its exported JSON Schema."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from circulo_schemas.export import SCHEMA_FILES, render_json_schemas
from circulo_schemas.payloads import StatusMessage
from circulo_schemas.topics import parse_topic
from circulo_schemas.validate import parse_payload

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "firmware.md"
TOPIC_RE = re.compile(r"circulo/v1/[A-Za-z0-9_-]+/[A-Za-z0-9_-]+/[a-z]+")
BLOCK_RE = re.compile(r"```json\n(.*?)```", re.DOTALL)


def examples() -> list[tuple[str, str]]:
    """(topic, payload) for each ```json block: the last topic named before the block."""
    text = GUIDE.read_text(encoding="utf-8")
    found = []
    for block in BLOCK_RE.finditer(text):
        topics = TOPIC_RE.findall(text, 0, block.start())
        assert topics, f"no topic named before the example at char {block.start()}"
        found.append((topics[-1], block.group(1)))
    return found


def kind_of(topic: str, body: str) -> str:
    message = parse_payload(parse_topic(topic), body.encode())
    name = type(message).__name__
    if isinstance(message, StatusMessage) and set(json.loads(body)) == {"v", "state"}:
        name = "LastWill"
    return name


@pytest.mark.parametrize(("topic", "body"), examples())
def test_every_example_in_the_firmware_guide_parses(topic: str, body: str) -> None:
    parse_payload(parse_topic(topic), body.encode())


@pytest.mark.parametrize(("topic", "body"), examples())
def test_every_example_in_the_firmware_guide_passes_its_json_schema(topic: str, body: str) -> None:
    schema = json.loads(render_json_schemas()[SCHEMA_FILES[parse_topic(topic).pair]])
    Draft202012Validator(schema).validate(json.loads(body))


def test_the_guide_has_an_example_of_every_message_type_and_the_last_will() -> None:
    assert {kind_of(topic, body) for topic, body in examples()} == {
        "MeterTelemetry",
        "BinTelemetry",
        "DepositEvent",
        "CollectionEvent",
        "RepairEvent",
        "StatusMessage",
        "LastWill",
    }


def test_the_guide_names_every_schema_file() -> None:
    text = GUIDE.read_text(encoding="utf-8")
    for name in render_json_schemas():
        assert f"`{name}`" in text
