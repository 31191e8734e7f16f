"""``circulo dashboards push`` against a test double of Grafana's HTTP API (no real Grafana here)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from click.testing import CliRunner
from tests.dashboards.grafana_double import GrafanaState, fake_grafana

from circulo.cli import cli
from circulo.dashboards.build import BOARDS
from circulo.dashboards.push import FOLDER_UID, DatabaseAccess, push
from circulo.dashboards.query import DATASOURCE_UID
from circulo.errors import CirculoError, ServiceUnavailable

TOKEN = "glsa_test_token"  # a throwaway service-account token of the double
ACCESS = DatabaseAccess("timescaledb:5432", "circulo", "grafana_reader", "reader-secret")


@pytest.fixture
def grafana() -> Iterator[tuple[str, GrafanaState]]:
    with fake_grafana(TOKEN) as served:
        yield served


def test_the_first_push_creates_the_folder_data_source_and_every_dashboard(
    grafana: tuple[str, GrafanaState],
) -> None:
    url, state = grafana
    report = push(url, TOKEN, ACCESS)
    assert len(report.created) == 2 + len(BOARDS)
    assert set(state.dashboards) == set(BOARDS)
    assert all(d["meta"]["folderUid"] == FOLDER_UID for d in state.dashboards.values())
    source = state.datasources[DATASOURCE_UID]
    assert source["jsonData"]["timescaledb"] is True
    assert source["secureJsonFields"] == {"password": True}


def test_a_second_push_changes_nothing(grafana: tuple[str, GrafanaState]) -> None:
    url, state = grafana
    push(url, TOKEN, ACCESS)
    writes_before = len(state.writes())
    report = push(url, TOKEN, ACCESS)
    assert report.created == report.updated == ()
    assert len(report.unchanged) == 2 + len(BOARDS)
    assert len(state.writes()) == writes_before


def test_a_dashboard_edited_on_the_server_is_put_back(grafana: tuple[str, GrafanaState]) -> None:
    url, state = grafana
    push(url, TOKEN, ACCESS)
    state.dashboards["circulo-fleet"]["dashboard"]["title"] = "edited in the UI"
    report = push(url, TOKEN, ACCESS)
    assert report.updated == ("dashboard circulo-fleet",)
    assert state.dashboards["circulo-fleet"]["dashboard"]["title"] == "Circulo · Fleet health"


def test_the_password_is_sent_again_only_on_rotation(grafana: tuple[str, GrafanaState]) -> None:
    url, state = grafana
    push(url, TOKEN, ACCESS)
    assert push(url, TOKEN, ACCESS, rotate_password=True).updated == (f"datasource {DATASOURCE_UID}",)
    assert ("PUT", f"/api/datasources/uid/{DATASOURCE_UID}") in state.writes()


def test_a_wrong_token_is_one_clear_error(grafana: tuple[str, GrafanaState]) -> None:
    url, _state = grafana
    with pytest.raises(CirculoError, match="HTTP 401"):
        push(url, "wrong", ACCESS)


def test_an_unreachable_grafana_is_service_unavailable() -> None:
    with pytest.raises(ServiceUnavailable, match="grafana"):
        push("http://127.0.0.1:9", TOKEN, ACCESS)


def test_the_cli_pushes_with_flags_and_environment(grafana: tuple[str, GrafanaState]) -> None:
    url, _state = grafana
    env = {"CIRCULO_GRAFANA_DB_PASSWORD": "reader-secret"}
    args = ["dashboards", "push", "--url", url, "--token", TOKEN]
    result = CliRunner().invoke(cli, [*args, "--json"], env=env)
    assert result.exit_code == 0, result.output
    assert '"created"' in result.output
    again = CliRunner().invoke(cli, args, env=env)
    assert again.output.strip() == f"created 0, updated 0, unchanged {2 + len(BOARDS)}"


def test_the_cli_refuses_to_push_without_a_token() -> None:
    result = CliRunner().invoke(cli, ["dashboards", "push", "--url", "http://127.0.0.1:9"], env={})
    assert result.exit_code == 2
    assert result.output.strip().startswith("error: grafana_token")
