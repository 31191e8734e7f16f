"""The exported JSON Schema files: committed, current, deterministic, and true to the wire."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from jsonschema import Draft202012Validator
from tests.schemas.test_topic_grammar import INVALID, VALID
from tests.schemas.wire_samples import FULL, MINIMAL, payload, raw_with

from circulo.cli import cli
from circulo_schemas.export import (
    SCHEMA_FILES,
    default_json_dir,
    render_json_schemas,
    stale_json_schemas,
    write_json_schemas,
)
from circulo_schemas.topics import parse_topic

PAYLOAD_FILES = [
    "meter-telemetry.json",
    "bin-telemetry.json",
    "bin-event.json",
    "repair-event.json",
    "replay-unavailable.json",
    "status.json",
]
COMMAND_FILES = ["replay-command.json"]  # what a device receives, on no device topic


def validator_for(topic: str) -> Draft202012Validator:
    schema = json.loads(render_json_schemas()[SCHEMA_FILES[parse_topic(topic).pair]])
    return Draft202012Validator(schema)


def test_the_committed_schema_files_are_current() -> None:
    stale = stale_json_schemas(default_json_dir())
    assert not stale, f"schemas/json is stale ({', '.join(stale)}): run `circulo schemas export`"


def test_there_is_one_file_per_message_type_plus_the_topic_grammar() -> None:
    assert sorted(render_json_schemas()) == sorted([*PAYLOAD_FILES, *COMMAND_FILES, "topics.json"])
    assert set(SCHEMA_FILES.values()) == set(PAYLOAD_FILES)


@pytest.mark.parametrize("name", sorted(render_json_schemas()))
def test_every_file_is_a_valid_deterministic_2020_12_schema_with_id_title_description(name: str) -> None:
    text = render_json_schemas()[name]
    schema = json.loads(text)
    Draft202012Validator.check_schema(schema)
    assert text == render_json_schemas()[name]
    assert text.endswith("}\n")
    assert text == json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    assert schema["$id"] == f"urn:circulo:v1:{name.removesuffix('.json')}"
    assert schema["title"]
    assert schema["description"]


@pytest.mark.parametrize("name", sorted(FULL))
def test_the_valid_samples_pass_their_json_schema(name: str) -> None:
    for topic, raw in (FULL[name][0], FULL[name][1].encode()), payload(name):
        validator_for(topic).validate(json.loads(raw))


def test_the_schema_describes_the_wire_types() -> None:
    bin_schema = json.loads(render_json_schemas()["bin-telemetry.json"])
    assert bin_schema["properties"]["weight_kg"]["type"] == "number"
    assert "3 decimal places" in bin_schema["properties"]["weight_kg"]["description"]
    ts_types = {branch["type"] for branch in bin_schema["properties"]["ts"]["anyOf"]}
    assert ts_types == {"string", "integer"}
    assert bin_schema["additionalProperties"] is False


# (message type, field, raw JSON literal or ... to drop it): the JSON Schema refuses these too
REFUSED_BY_BOTH = [
    ("meter telemetry", "energy_wh", "-1"),
    ("meter telemetry", "power_w", '"1.5"'),
    ("meter telemetry", "ts", '"2025-06-01T12:00:00"'),
    ("meter telemetry", "ts", "true"),
    ("meter telemetry", "seq", "..."),
    ("bin telemetry", "fill_pct", "101"),
    ("bin telemetry", "wieght_kg", "1"),
    ("deposit", "material", '"gold"'),
    ("deposit", "weight_g", "50001"),
    ("deposit", "type", '"dump"'),
    ("deposit", "account", '"alice smith"'),
    ("collection", "weight_kg", "0"),
    ("repair", "category", '"kettle"'),
    ("repair", "problem", json.dumps("p" * 501)),
    ("repair", "barrier", '"too_worn_out"'),  # the sample's status is fixed: a barrier needs end_of_life
    ("repair", "barrier", '"worn"'),
    ("repair", "year_of_manufacture", "1849"),
    ("repair", "brand", '""'),
    ("status", "state", '"sleeping"'),
    ("status", "v", "2"),
]


@pytest.mark.parametrize(("name", "field", "literal"), REFUSED_BY_BOTH)
def test_the_json_schema_refuses_what_the_parser_refuses(name: str, field: str, literal: str) -> None:
    topic, raw = payload(name, **{field: ...}) if literal == "..." else raw_with(name, field, literal)
    assert not validator_for(topic).is_valid(json.loads(raw))


def test_the_topic_schema_matches_exactly_the_defined_topics() -> None:
    topic_schema = Draft202012Validator(json.loads(render_json_schemas()["topics.json"]))
    for topic, _ in VALID:
        assert topic_schema.is_valid(topic), topic
    for topic, _ in INVALID:
        if "\n" not in topic:  # JSON Schema's `$` (Python re) also matches before a final newline
            assert not topic_schema.is_valid(topic), topic


def test_every_message_type_has_a_sample() -> None:
    assert set(MINIMAL) == set(FULL)


# --- the command line ----------------------------------------------------------------------


def run(*args: str) -> Any:
    return CliRunner().invoke(cli, ["schemas", *args], catch_exceptions=False)


def test_schemas_export_writes_the_files_and_check_accepts_them(tmp_path: Path) -> None:
    exported = run("export", "--out", str(tmp_path / "json"))
    assert exported.exit_code == 0
    assert sorted(p.name for p in (tmp_path / "json").iterdir()) == sorted(render_json_schemas())
    checked = run("check", "--out", str(tmp_path / "json"))
    assert (checked.exit_code, checked.output.strip()) == (0, f"{tmp_path / 'json'}: up to date")


@pytest.mark.parametrize("damage", ["edit", "delete", "add"])
def test_schemas_check_fails_on_stale_files_and_says_what_to_run(tmp_path: Path, damage: str) -> None:
    write_json_schemas(tmp_path)
    if damage == "edit":
        (tmp_path / "status.json").write_text("{}\n", encoding="utf-8")
    elif damage == "delete":
        (tmp_path / "status.json").unlink()
    else:
        (tmp_path / "old-thing.json").write_text("{}\n", encoding="utf-8")
    checked = run("check", "--out", str(tmp_path))
    assert checked.exit_code != 0
    assert "run `circulo schemas export`" in checked.output
    assert ("old-thing.json" if damage == "add" else "status.json") in checked.output
    assert "Traceback" not in checked.output
