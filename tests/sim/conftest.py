"""Simulator fixtures: a co-op registered through the real registry CLI, with bundles on disk."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from tests.factories import unique_id
from tests.support import clear_retained

from circulo.cli import cli
from circulo.localstack.mosquitto import MosquittoBroker
from circulo_sim.settings import SimSettings


@pytest.fixture(autouse=True)
def clear_session_broker_statuses(request: pytest.FixtureRequest) -> Iterator[None]:
    """Simulated devices leave retained statuses behind, as real ones do; on the session
    broker they would reach every later test's new ingest session. Clear them after each
    test that used it."""
    if "broker_accounts" not in request.fixturenames:
        yield
        return
    url = request.getfixturevalue("service_mqtt_url")
    yield
    clear_retained(url, "circulo/v1/+/+/status")


@dataclass(frozen=True)
class RegisteredCoop:
    """A co-op registered with `circulo coop add / member add / device add --bundle-dir`."""

    coop_id: str
    devices: dict[str, str]  # device_id -> kind
    rated_power_w: dict[str, int]
    members: tuple[str, ...]
    bundles: Path


def registry_env(db_url: str, broker: MosquittoBroker) -> dict[str, str]:
    """The registry's settings for this broker (its PKI is the one its certificates come from)."""
    admin = broker.url(broker.admin_username, broker.admin_password)
    return {
        "CIRCULO_DATABASE_URL": db_url,
        "CIRCULO_MQTT_URL": broker.url(),
        "CIRCULO_BROKER_ADMIN_URL": admin,
        "CIRCULO_DEVICE_BROKER_URL": broker.url(listener="devices").split("?")[0],
        "CIRCULO_PKI_DIR": str(broker.tls.certs_dir.parent),
        "CIRCULO_BROKER_PID_FILE": str(broker.pid_file),
        "CIRCULO_BROKER_LOG_FILE": str(broker.log_file),
        "CIRCULO_LOG_LEVEL": "WARNING",
    }


def circulo(env: dict[str, str], *args: str) -> str:
    result = CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)
    assert result.exit_code == 0, f"circulo {' '.join(args)}: {result.output}"
    return result.stdout


def register_coop(
    db_url: str,
    broker: MosquittoBroker,
    bundles: Path,
    *,
    meters: int,
    bins: int,
    repairs: int,
    members: int = 12,
) -> RegisteredCoop:
    """Register a co-op, its members and devices (near Utrecht) and write their bundles."""
    env = registry_env(db_url, broker)
    coop = unique_id("coop")
    circulo(env, "coop", "add", coop, "--name", "Simulated co-op")
    accounts = tuple(f"member-{n:02d}@{coop}" for n in range(1, members + 1))
    for n, account in enumerate(accounts):
        circulo(env, "member", "add", coop, account, "--shares", str(1 + n % 3))
    devices, rated = {}, {}
    for kind, count in (("meter", meters), ("bin", bins), ("repair", repairs)):
        for n in range(count):
            device_id = unique_id(kind)
            extra = ["--rated-power-w", str(4000 + 1000 * n)] if kind == "meter" else []
            if kind == "meter":
                rated[device_id] = 4000 + 1000 * n
            lat, lon = 52.09 + 0.004 * n, 5.12 + 0.006 * n
            place = ["--lat", str(lat), "--lon", str(lon), "--bundle-dir", str(bundles)]
            circulo(env, "device", "add", kind, device_id, "--coop", coop, *place, *extra)
            devices[device_id] = kind
    return RegisteredCoop(coop, devices, rated, accounts, bundles)


@pytest.fixture
def sim_settings(db_url: str) -> SimSettings:
    return SimSettings(
        database_url=db_url, mqtt_url="mqtt://127.0.0.1:1", drain_timeout_s=60, connect_timeout_s=20
    )


def read_log(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


class Background:
    """Run a callable in a thread and keep its result or exception."""

    def __init__(self, target: Callable[[], Any]) -> None:
        self.result: Any = None
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(target,), daemon=True)
        self._thread.start()

    def _run(self, target: Callable[[], Any]) -> None:
        try:
            self.result = target()
        except BaseException as e:  # handed to the test thread
            self.error = e

    def join(self, timeout: float) -> Any:
        self._thread.join(timeout)
        assert not self._thread.is_alive(), "the simulation did not finish in time"
        if self.error is not None:
            raise self.error
        return self.result
