"""The simulator through the real broker, the real registry and the real ingest."""

from __future__ import annotations

import hashlib
import itertools
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from tests.sim.conftest import RegisteredCoop, read_log, register_coop
from tests.support import IngestProcess, rows, wait_for

from circulo.localstack.mosquitto import MosquittoBroker
from circulo_sim.clock import plan_window
from circulo_sim.faults import FaultRates
from circulo_sim.fleet import locate
from circulo_sim.physics.solar import MeterPhysics, meter_site
from circulo_sim.service import RunRequest, run_simulation
from circulo_sim.settings import SimSettings
from circulo_sim.sources import load_registry_fleet

DATA_TABLES = {
    "meter_telemetry": "meter_reading",
    "bin_telemetry": "bin_reading",
    "deposit": "bin_event",
    "collection": "bin_event",
    "repair": "repair_event",
}
FAULTS = FaultRates(
    duplicate=0.004, out_of_order=0.004, clock_ahead=0.002, clock_behind=0.003, malformed=0.004,
    offline=0.0005, impersonate=0.002, counter_reset=0.0005, implausible=0.0005, offline_minutes=15,
)  # fmt: skip


def stored_hashes(db_url: str) -> Counter[bytes]:
    found: Counter[bytes] = Counter()
    for table in sorted(set(DATA_TABLES.values())):
        found.update(h for (h,) in rows(db_url, f"SELECT payload_sha256 FROM {table}"))
    return found


def quarantined(db_url: str, devices: list[str]) -> dict[bytes, str]:
    """The test's devices' quarantine (the session broker may hold other tests' retained statuses)."""
    sql = "SELECT key_sha256, reason FROM quarantine WHERE device_id = ANY(%s)"
    return {bytes(k): r for k, r in rows(db_url, sql, (devices,))}


def outcome_count(db_url: str, devices: list[str]) -> int:
    return sum(stored_hashes(db_url).values()) + len(quarantined(db_url, devices))


def key(entry: dict[str, Any]) -> bytes:
    return hashlib.sha256(entry["topic"].encode() + entry["payload"].encode()).digest()


def reconcile(db_url: str, log: list[dict[str, Any]]) -> Counter[str]:
    """Every acknowledged message has the outcome its fault demands; returns what was checked."""
    stored, held = stored_hashes(db_url), quarantined(db_url, sorted({e["device_id"] for e in log}))
    checked: Counter[str] = Counter()
    for entry in log:
        digest = bytes.fromhex(entry["payload_sha256"])
        expected = entry["expected"]
        if entry["fate"] == "refused":
            assert expected == "refused" and stored[digest] <= 1 and key(entry) not in held
        elif expected in {"stored", "duplicate"}:
            assert stored[digest] == 1, f"{expected} message not stored exactly once: {entry}"
        elif expected.startswith("quarantined:"):
            assert held.get(key(entry)) == expected.split(":", 1)[1], entry
        checked[f"{entry['fate']}:{expected}"] += 1
    expected_stored = {e["payload_sha256"] for e in log if e["fate"] == "acked" and e["expected"] == "stored"}
    assert sum(stored.values()) == len(expected_stored)
    assert len(held) == sum(1 for e in log if e["expected"].startswith("quarantined:"))
    return checked


def credited_wh_per_day(db_url: str, device_id: str, rated_w: int) -> dict[str, int]:
    """Energy per UTC day by SPEC §4's pairing rules (resets and implausible pairs excluded)."""
    readings = rows(
        db_url, "SELECT ts, energy_wh FROM meter_reading WHERE device_id = %s ORDER BY ts", (device_id,)
    )
    per_day: Counter[str] = Counter()
    for (t0, e0), (t1, e1) in itertools.pairwise(readings):
        delta, dt_ms = e1 - e0, (t1 - t0).total_seconds() * 1000
        if delta >= 0 and delta * 360_000_000 <= rated_w * dt_ms * 110 + 360_000_000:
            per_day[t1.date().isoformat()] += delta
    return dict(per_day)


def last_saturday() -> datetime:
    """The last whole Saturday (UTC): every kind of repair station opens on Saturdays."""
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return today - timedelta(days=(today.weekday() - 5) % 7 or 7)


@pytest.fixture
def registered(db_url: str, broker: MosquittoBroker, tmp_path: Path) -> RegisteredCoop:
    return register_coop(db_url, broker, tmp_path / "bundles", meters=3, bins=2, repairs=2)


def test_a_simulated_day_reaches_the_ingest_with_the_outcome_each_fault_demands(
    db_url: str,
    ingest: IngestProcess,
    registered: RegisteredCoop,
    sim_settings: SimSettings,
    tmp_path: Path,
) -> None:
    saturday = last_saturday()
    request = RunRequest(
        window=plan_window(datetime.now(UTC), start=saturday, end=saturday + timedelta(days=1)),
        seed=20261101,
        coop_id=registered.coop_id,
        rates=FAULTS,
        bundles_dir=registered.bundles,
    )
    log_path = tmp_path / "messages.jsonl"
    with log_path.open("w") as message_log:
        summary = run_simulation(request, sim_settings, message_log=message_log)
    log = read_log(log_path)

    assert summary["devices"] == {"meter": 3, "bin": 2, "repair": 2}
    assert summary["surprises"] == {}
    delivery = summary["delivery"]
    assert delivery["dropped"] == delivery["unacked"] == 0
    assert delivery["refused"] == summary["faults"]["impersonate"] > 0
    assert all(code.startswith("0x87") for code in delivery["refusal_codes"])
    assert sum(summary["sent"].values()) + delivery["refused"] == len(log)
    assert summary["sent"]["meter_telemetry"] >= 3 * 1440
    native = [t for t in summary["sent"] if not t.startswith("firmware_")]  # no profiled meter here
    assert all(summary["sent"][t] > 0 for t in native if t != "collection")  # repairs open on Saturdays
    assert {f for f, n in summary["faults"].items() if n} >= {
        "duplicate",
        "malformed",
        "clock_ahead",
        "impersonate",
    }

    outcomes = sum(n for t, n in summary["sent"].items() if t != "status") - summary["expected"]["duplicate"]
    ours = list(registered.devices)
    wait_for(
        lambda: outcome_count(db_url, ours) >= outcomes, timeout=90, what="every message through the ingest"
    )
    checked = reconcile(db_url, log)
    assert checked["acked:duplicate"] == summary["expected"]["duplicate"] > 0
    assert checked["acked:quarantined:clock_skew"] == summary["faults"]["clock_ahead"]

    fleet = locate(load_registry_fleet(db_url, registered.coop_id), request.seed)
    for device in fleet.of_kind("meter"):
        assert device.lat is not None and device.lon is not None and device.rated_power_w is not None
        site = meter_site(device.device_id, device.lat, device.lon, device.rated_power_w, request.seed)
        physics = MeterPhysics(site, request.seed)
        for day, wh in credited_wh_per_day(db_url, device.device_id, device.rated_power_w).items():
            daylight_h = (physics.clear_sky_power_w(datetime.fromisoformat(day).date()) > 0).sum() / 60
            assert 0 <= wh <= device.rated_power_w * daylight_h, (device.device_id, day, wh)
