"""The demo's Circulo config file: every service's URLs and files, for CIRCULO_CONFIG (pure render).

Top-level keys serve the operator commands (``circulo ledger balances``, ``device check``):
the superuser database URL and the read-only operator broker account. Each service's table
gives it its own database login (a member of its SPEC §6 group role) and broker account.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from circulo.demo.paths import write_private

INGEST_WORKER_ID = "demo-ingest"
REWARDS_INTERVAL_S = 2.0


@dataclass(frozen=True)
class ConfigValues:
    """What the config file says (URLs carry the demo broker's passwords)."""

    database_url: str
    ingest_database_url: str
    rewards_database_url: str
    operator_mqtt_url: str
    ingest_mqtt_url: str
    rewards_mqtt_url: str
    simulator_mqtt_url: str
    broker_admin_url: str
    ledger_dir: Path
    bundle_dir: Path
    ingest_metrics_port: int
    device_broker_url: str = ""
    pki_dir: Path | None = None
    broker_pid_file: Path | None = None
    broker_log_file: Path | None = None
    broker_config_file: Path | None = None


def toml_value(value: str | int | float | bool) -> str:
    """A TOML scalar (JSON's string escapes are valid TOML basic-string escapes)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return json.dumps(value)


def toml_table(name: str | None, values: Mapping[str, str | int | float | bool]) -> list[str]:
    lines = [f"[{name}]"] if name else []
    return lines + [f"{key} = {toml_value(value)}" for key, value in values.items()]


def render_config(values: ConfigValues, config_path: Path) -> str:
    """The whole config file."""
    header = [
        "# circulo demo: the local stack of this folder. Mode 0600: it holds the demo broker's passwords.",
        f"# export CIRCULO_CONFIG={config_path}",
    ]
    tables: list[tuple[str | None, dict[str, str | int | float | bool]]] = [
        (
            None,
            {
                "database_url": values.database_url,
                "mqtt_url": values.operator_mqtt_url,
                "state_dir": str(values.ledger_dir),
                **_optional(
                    pki_dir=values.pki_dir,
                    broker_pid_file=values.broker_pid_file,
                    broker_log_file=values.broker_log_file,
                ),
            },
        ),
        (
            "ingest",
            {
                "database_url": values.ingest_database_url,
                "mqtt_url": values.ingest_mqtt_url,
                "worker_id": INGEST_WORKER_ID,
                "metrics_host": "127.0.0.1",
                "metrics_port": values.ingest_metrics_port,
            },
        ),
        (
            "rewards",
            {
                "database_url": values.rewards_database_url,
                "mqtt_url": values.rewards_mqtt_url,
                "interval_s": REWARDS_INTERVAL_S,
                "metrics_port": 0,
            },
        ),
        ("ledger", {"mqtt_url": values.rewards_mqtt_url}),
        (
            "registry",
            {
                "broker_admin_url": values.broker_admin_url,
                "device_broker_url": values.device_broker_url,
                "bundle_dir": str(values.bundle_dir),
                **_optional(broker_config_file=values.broker_config_file),
            },
        ),
        ("sim", {"mqtt_url": values.simulator_mqtt_url, "bundles_dir": str(values.bundle_dir)}),
    ]
    body = ["\n".join(toml_table(name, table)) for name, table in tables]
    return "\n".join(header) + "\n" + "\n\n".join(body) + "\n"


def _optional(**paths: Path | None) -> dict[str, str]:
    return {key: str(path) for key, path in paths.items() if path is not None}


def write_config(path: Path, values: ConfigValues) -> None:
    """Write the config file (0600)."""
    write_private(path, render_config(values, path))
