"""The built dashboards: committed JSON is fresh, valid against Grafana 11.6's schemas, and lint-clean."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from jsonschema import Draft7Validator

from circulo.cli import cli
from circulo.dashboards import lint
from circulo.dashboards.build import (
    BOARDS,
    DEFAULT_ALERTS_DIR,
    DEFAULT_OUT_DIR,
    render_all,
    stale_files,
    write_all,
)
from circulo.dashboards.query import DATASOURCE_UID, SqlQuery, read_sql

REPO = Path(__file__).resolve().parents[2]
SCHEMAS = REPO.parent / "shared" / "reference" / "grafana-11.6-jsonschema"
PROVISIONING = REPO / "deploy" / "grafana" / "provisioning"
MODELS = render_all()
SCHEMA_FILE = {"state-timeline": "statetimeline", "status-history": "statushistory"}


def schema(name: str, definition: str | None = None) -> Draft7Validator:
    document = json.loads((SCHEMAS / f"{name}.jsonschema.json").read_text())
    if definition is not None:
        document = {**document, "$ref": f"#/definitions/{definition}"}
    return Draft7Validator(document)


def errors(validator: Draft7Validator, instance: Any) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(instance)]


def provisioned_uids() -> set[str]:
    files = (PROVISIONING / "datasources").glob("*.yaml")
    return {ds["uid"] for f in files for ds in yaml.safe_load(f.read_text()).get("datasources", [])}


def test_the_committed_dashboard_json_is_what_the_builder_writes() -> None:
    assert stale_files(REPO / DEFAULT_OUT_DIR, REPO / DEFAULT_ALERTS_DIR) == [], (
        "run: circulo dashboards build"
    )


def test_a_changed_file_is_reported_stale_and_rebuilt(tmp_path: Path) -> None:
    alerting = tmp_path / "alerting"
    write_all(tmp_path, alerting)
    (tmp_path / "circulo-fleet.json").write_text("{}\n")
    assert stale_files(tmp_path, alerting) == ["circulo-fleet.json"]
    assert write_all(tmp_path, alerting) == [tmp_path / "circulo-fleet.json"]
    assert stale_files(tmp_path, alerting) == []


@pytest.mark.parametrize("uid", BOARDS)
def test_each_dashboard_validates_against_grafanas_dashboard_schema(uid: str) -> None:
    assert errors(schema("dashboard"), MODELS[uid]) == []


@pytest.mark.parametrize("uid", BOARDS)
def test_each_panels_options_and_field_config_validate_against_its_plugin_schema(uid: str) -> None:
    problems = []
    for panel in lint.panels(MODELS[uid]):
        if panel["type"] == "row":
            continue
        plugin = SCHEMA_FILE.get(panel["type"], panel["type"])
        options = schema(plugin, "Options")
        problems += [f"{panel['title']}: options {e}" for e in errors(options, panel.get("options", {}))]
        custom = panel.get("fieldConfig", {}).get("defaults", {}).get("custom")
        if custom is not None:
            field_config = schema(plugin, "FieldConfig")
            problems += [f"{panel['title']}: custom {e}" for e in errors(field_config, custom)]
    assert problems == []


@pytest.mark.parametrize("uid", BOARDS)
def test_each_dashboard_passes_the_checks_grafana_enforces(uid: str) -> None:
    assert lint.lint(MODELS[uid], provisioned_uids()) == []


def test_the_provisioned_data_source_is_timescaledb_with_the_fixed_uid() -> None:
    (source,) = yaml.safe_load((PROVISIONING / "datasources" / "circulo.yaml").read_text())["datasources"]
    assert source["uid"] == DATASOURCE_UID
    assert source["type"] == "grafana-postgresql-datasource"
    assert source["jsonData"]["timescaledb"] is True


@pytest.mark.parametrize("uid", BOARDS)
def test_every_target_is_code_mode_sql_from_its_file_with_a_known_format(uid: str) -> None:
    sql_files = {
        read_sql(f"{p.parent.name}/{p.stem}")
        for p in (REPO / "services/circulo/dashboards/sql").rglob("*.sql")
    }
    for panel in lint.panels(MODELS[uid]):
        for target in panel.get("targets", []):
            assert target["editorMode"] == "code"
            assert target["format"] in {"time_series", "table"}
            assert target["datasource"] == {"type": "grafana-postgresql-datasource", "uid": DATASOURCE_UID}
            assert target["rawSql"] in sql_files


def test_every_board_has_the_coop_and_resolution_variables() -> None:
    for model in MODELS.values():
        assert {"coop", "resolution"} <= lint.defined_variables(model)


def test_a_query_reads_back_from_its_json() -> None:
    query = SqlQuery("SELECT 1", "table", "B", hide=True)
    assert SqlQuery.from_json(query.to_json()).to_json() == query.to_json()


def broken(mutate: Any) -> dict[str, Any]:
    model = copy.deepcopy(MODELS["circulo-energy"])
    mutate(model)
    return model


@pytest.mark.parametrize(
    ("mutate", "problem"),
    [
        (lambda m: m["panels"][2].update(id=2), "panel id 2 is used more than once"),
        (lambda m: m["panels"][1]["targets"].append(dict(m["panels"][1]["targets"][0])), "are not unique"),
        (lambda m: m["panels"][1]["gridPos"].update(x=20), "outside the 24-column grid"),
        (lambda m: m.update(uid="x" * 41), "must be 1-40 characters"),
        (lambda m: m["panels"][1]["targets"][0].update(rawSql="SELECT $nope"), "undefined variable $nope"),
        (
            lambda m: m["panels"][1]["targets"][0]["datasource"].update(uid="other"),
            "'other' is not provisioned",
        ),
    ],
)
def test_the_lint_catches_what_grafana_would_reject(mutate: Any, problem: str) -> None:
    problems = lint.lint(broken(mutate), {DATASOURCE_UID})
    assert any(problem in p for p in problems), problems


def test_the_cli_build_check_fails_in_one_line_on_a_stale_dashboard_or_alerting_file(tmp_path: Path) -> None:
    runner = CliRunner()
    out = ["--out", str(tmp_path), "--alerts-out", str(tmp_path / "alerting")]
    assert runner.invoke(cli, ["dashboards", "build", *out]).exit_code == 0
    assert runner.invoke(cli, ["dashboards", "build", "--check", *out]).exit_code == 0
    (tmp_path / "circulo-energy.json").write_text("{}\n")
    (tmp_path / "alerting" / "circulo-alert-rules.json").unlink()
    stale = runner.invoke(cli, ["dashboards", "build", "--check", *out])
    assert stale.exit_code == 1
    assert stale.stderr.startswith("error: stale files") and "circulo-energy.json" in stale.stderr
    assert "circulo-alert-rules.json" in stale.stderr
    assert len(stale.stderr.splitlines()) == 1
