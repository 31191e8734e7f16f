"""Whole runs: determinism, bulk mode over a service account, the command line."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from tests.factories import add_coop, add_device, add_member, unique_id
from tests.sim.conftest import read_log
from tests.support import IngestProcess, Subscriber, scalar, wait_for

from circulo_sim.clock import plan_window
from circulo_sim.faults import FaultRates
from circulo_sim.service import RunRequest, resolve_fleet, run_simulation
from circulo_sim.settings import SimSettings

SIX_HOURS = timedelta(hours=6)
STORED = (
    "SELECT (SELECT count(*) FROM meter_reading) + (SELECT count(*) FROM bin_reading)"
    " + (SELECT count(*) FROM bin_event) + (SELECT count(*) FROM repair_event)"
)
SOME_FAULTS = FaultRates(
    duplicate=0.01, out_of_order=0.01, clock_ahead=0.01, clock_behind=0.01, malformed=0.01,
    offline=0.002, counter_reset=0.002, implausible=0.002,
)  # fmt: skip


def bulk_run(
    mqtt_url: str, tmp_path: Path, coop: str, seed: int, name: str, start: datetime
) -> tuple[dict[str, Any], list]:
    request = RunRequest(
        window=plan_window(datetime.now(UTC), start=start, end=start + SIX_HOURS),
        seed=seed,
        coop_id=coop,
        counts={"meter": 2, "bin": 2, "repair": 1},
        rates=SOME_FAULTS,
        bulk=True,
        synthetic=True,
    )
    settings = SimSettings(mqtt_url=mqtt_url, connections=2, drain_timeout_s=60)
    path = tmp_path / f"{name}.jsonl"
    with path.open("w") as log:
        summary = run_simulation(request, settings, message_log=log)
    return summary, read_log(path)


def messages(log: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return sorted((e["topic"], e["payload"]) for e in log)


def test_the_same_seed_sends_the_same_messages_and_another_seed_others(
    service_mqtt_url: str, tmp_path: Path
) -> None:
    coop = unique_id("seeded")
    start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(
        hours=30
    )  # once: runs may straddle an hour
    first, first_log = bulk_run(service_mqtt_url, tmp_path, coop, 42, "first", start)
    again, again_log = bulk_run(service_mqtt_url, tmp_path, coop, 42, "again", start)
    _, other_log = bulk_run(service_mqtt_url, tmp_path, coop, 43, "other", start)
    assert first["mode"] == "bulk" and first["delivery"]["unacked"] == 0
    assert sum(first["faults"].values()) > 0
    assert messages(first_log) == messages(again_log)
    for part in ("sent", "faults", "expected", "window"):
        assert first[part] == again[part]
    assert messages(first_log) != messages(other_log)


def test_the_command_line_runs_a_bulk_fleet_spec_through_the_ingest(
    db_url: str, ingest: IngestProcess, service_mqtt_url: str, tmp_path: Path
) -> None:
    coop = unique_id("bulk")
    spec_path = tmp_path / "fleet.json"
    circulo("sim", "fleet", "--coop", coop, "--meters", "3", "--bins", "2", "--repairs", "1",
            "--members", "10", "--output", str(spec_path))  # fmt: skip
    spec = json.loads(spec_path.read_text())
    with psycopg.connect(db_url, autocommit=True) as conn:
        add_coop(conn, coop)
        for account in spec["members"]:
            add_member(conn, coop, account)
        for device in spec["devices"]:
            add_device(
                conn, device["device_id"], device["kind"], coop, rated_power_w=device.get("rated_power_w")
            )
    end = datetime.now(UTC) - timedelta(minutes=1)
    result = circulo(
        "--mqtt-url", service_mqtt_url,
        "sim", "run", "--fleet", str(spec_path), "--bulk", "--connections", "2",
        "--from", (end - SIX_HOURS).isoformat(), "--to", end.isoformat(), "--seed", "7", "--json",
        "--summary-file", str(tmp_path / "summary.json"),
    )  # fmt: skip
    summary = json.loads(result.stdout)
    assert summary == json.loads((tmp_path / "summary.json").read_text())
    assert summary["devices"] == {"meter": 3, "bin": 2, "repair": 1}
    assert summary["window"]["mode"] == "backfill"
    expected = summary["expected"]["stored"]
    assert expected >= 3 * 360
    wait_for(lambda: scalar(db_url, STORED) == expected, timeout=60, what="every message stored")


def test_the_command_line_says_in_one_line_what_is_missing(db_url: str, tmp_path: Path) -> None:
    synthetic = ["sim", "run", "--coop", "c", "--synthetic", "--meters", "1"]
    cases = [
        (["sim", "run", "--coop", "nowhere", "--speed", "720"], "per-device mode needs --bundles"),
        (["--database-url", db_url, "sim", "run", "--coop", "nowhere", "--bulk", "--speed", "720"],
         "co-op nowhere is not registered"),
        ([*synthetic, "--from", "2026-01-01", "--to", "2026-01-02"], "30 days"),
        ([*synthetic, "--from", "2099-01-01"], "in the future"),
        ([*synthetic, "--speed", "60", "--impersonate", "0.1"], "--impersonate needs per-device connections"),
        ([*synthetic, "--duplicates", "0.7", "--malformed", "0.7"], "add up to more than 1"),
    ]  # fmt: skip
    for args, message in cases:
        result = subprocess.run(
            [sys.executable, "-m", "circulo", *args], capture_output=True, text=True, timeout=60, check=False,
            env=clean_env(),
        )  # fmt: skip
        assert result.returncode != 0, args
        assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1, (
            args,
            result.stderr,
        )
        assert "Traceback" not in result.stderr


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("CIRCULO_")}


def circulo(*args: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-m", "circulo", *args], capture_output=True, text=True, timeout=300, check=False,
        env=clean_env(),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return result


def test_an_accelerated_run_never_stamps_a_reading_after_its_receipt(
    db_url: str, ingest: IngestProcess, service_mqtt_url: str
) -> None:
    coop = unique_id("fast")
    request = RunRequest(
        window=plan_window(datetime.now(UTC), speed=1800, duration=timedelta(hours=2)),
        seed=3,
        coop_id=coop,
        counts={"meter": 2, "bin": 1, "repair": 0},
        bulk=True,
        synthetic=True,
    )
    settings = SimSettings(mqtt_url=service_mqtt_url, drain_timeout_s=30)
    fleet = resolve_fleet(request, settings)
    with psycopg.connect(db_url, autocommit=True) as conn:
        for device in fleet.devices:
            add_device(conn, device.device_id, device.kind, coop, rated_power_w=device.rated_power_w)
    began = time.monotonic()
    summary = run_simulation(request, settings)
    assert 3.5 < time.monotonic() - began < 30  # two simulated hours at 1800× take four seconds
    assert summary["window"]["mode"] == "accelerated"
    expected = summary["expected"]["stored"]
    wait_for(lambda: scalar(db_url, STORED) == expected, timeout=60, what="every message stored")
    ahead = "SELECT count(*) FROM meter_reading WHERE ts > received_at"
    assert scalar(db_url, ahead) == 0
    ours = [d.device_id for d in fleet.devices]  # the session broker holds other tests' retained statuses
    assert scalar(db_url, "SELECT count(*) FROM quarantine WHERE device_id = ANY(%s)", (ours,)) == 0


def test_sigterm_ends_a_real_time_run_with_a_summary(service_mqtt_url: str, tmp_path: Path) -> None:
    coop = unique_id("rt")
    statuses = Subscriber(service_mqtt_url, "circulo/v1/+/+/status")
    process = subprocess.Popen(
        [sys.executable, "-m", "circulo", "--mqtt-url", service_mqtt_url,
         "sim", "run", "--coop", coop, "--synthetic", "--meters", "2", "--bins", "1",
         "--json", "--summary-file", str(tmp_path / "s.json")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=clean_env(),
    )  # fmt: skip
    statuses.wait_online(3, where=lambda topic: f"/{coop}-" in topic)  # SIGTERM now lands in the run
    assert process.poll() is None, "a real-time run keeps going until it is stopped"
    process.send_signal(signal.SIGTERM)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr
    summary = json.loads(stdout)
    assert summary["window"]["mode"] == "real-time" and summary["window"]["end"] is None
    assert summary["sent"]["status"] >= 3  # online at start, offline at the end
    assert summary["delivery"]["unacked"] == 0
    statuses.close()
