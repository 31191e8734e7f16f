"""Emulated Shelly and Tasmota meters through the real broker, ingest, database and rewards engine.

Each profiled meter connects with its own bundle and publishes what its firmware publishes;
the ingest stores each reading once, ignores the firmware's non-data messages, quarantines
what the faults call for; the engine (policy v2) credits glitches' spans, and the GRN it
mints is exactly the energy the pure rules credit from the stored readings (SPEC §4, §10).
"""

from __future__ import annotations

import re
import urllib.request
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tests.factories import unique_id
from tests.sim.conftest import circulo, read_log, registry_env
from tests.sim.test_end_to_end import last_saturday
from tests.support import rows, scalar, wait_for

from circulo.ledger.keys import generate_key
from circulo.localstack.mosquitto import MosquittoBroker
from circulo.localstack.procs import free_port
from circulo.rewards.engine import run_cycle
from circulo.rewards.policy import default_policy
from circulo.rewards.rules import MeterReading, credit_readings
from circulo.rewards.settings import RewardsSettings
from circulo_sim.clock import plan_window
from circulo_sim.faults import FaultRates
from circulo_sim.firmware.shelly import family_of
from circulo_sim.service import RunRequest, run_simulation
from circulo_sim.settings import SimSettings

FAULTS = FaultRates(
    glitch=0.01, duplicate=0.004, out_of_order=0.004, malformed=0.004, clock_ahead=0.003, clock_behind=0.003,
    offline=0.002, offline_minutes=10,
)  # fmt: skip
OUTCOME = re.compile(r'^circulo_ingest_messages_total\{outcome="(\w+)",reason="([^"]*)"\} ([0-9.e+]+)$', re.M)
DATA_TYPES = ("meter_telemetry", "firmware_telemetry", "firmware_copy_telemetry")


def ingest_outcomes(port: int) -> Counter[str]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    counted: Counter[str] = Counter()
    for outcome, _reason, n in OUTCOME.findall(text):
        counted[outcome] += int(float(n))
    return counted


def meter_ids(coop: str) -> dict[str, str]:
    """Meters of each family: three Shelly families, a Tasmota, a native meter."""
    wanted = {"switch": None, "pm1": None, "emdata": None}
    for n in range(500):
        device_id = f"{coop}-sh{n}"
        family = family_of(device_id)
        if wanted[family] is None:
            wanted[family] = device_id
        if all(wanted.values()):
            break
    meters = {device_id: "shelly-gen2" for device_id in wanted.values() if device_id}
    return {**meters, f"{coop}-ta1": "tasmota", f"{coop}-ci1": "circulo"}


def register(db_url: str, broker: MosquittoBroker, bundles: Path) -> tuple[str, dict[str, str]]:
    env = registry_env(db_url, broker)
    coop = unique_id("pco")
    circulo(env, "coop", "add", coop, "--name", "Profiled co-op")
    for account in ("alice", "bob"):
        circulo(env, "member", "add", coop, f"{account}@{coop}", "--shares", "1")
    meters = meter_ids(coop)
    for n, (device_id, profile) in enumerate(meters.items()):
        place = ["--lat", str(52.09 + 0.003 * n), "--lon", "5.12"]
        circulo(
            env, "device", "add", "meter", device_id, "--coop", coop, "--rated-power-w", str(3000 + 500 * n),
            *place, "--profile", profile, "--bundle-dir", str(bundles),
        )  # fmt: skip
    return coop, meters


def credited_wh(db_url: str, devices: dict[str, str]) -> int:
    """What the pure rules of policy v2 credit from the stored readings."""
    green = default_policy().green
    total = 0
    for device_id in devices:
        rated = scalar(db_url, "SELECT rated_power_w FROM device WHERE device_id = %s", (device_id,))
        readings = [
            MeterReading(ts, wh)
            for ts, wh in rows(
                db_url, "SELECT ts, energy_wh FROM meter_reading WHERE device_id = %s", (device_id,)
            )
        ]
        credits = credit_readings(
            device_id, None, readings, rated_power_w=rated, plausibility_pct=green.plausibility_pct,
            glitch_window_us=green.glitch_window_us,
        )  # fmt: skip
        total += sum(c.credited_wh for c in credits)
    return total


def test_emulated_firmware_through_broker_ingest_and_rewards_mints_exactly_the_credited_energy(
    db_url: str,
    broker: MosquittoBroker,
    ingest_url: str,
    ingest_factory: Callable[..., Any],
    sim_settings: SimSettings,
    tmp_path: Path,
) -> None:
    coop, meters = register(db_url, broker, tmp_path / "bundles")
    port = free_port()
    ingest_factory(db_url, ingest_url, args=["--metrics-port", str(port)])
    before = ingest_outcomes(port)
    morning = last_saturday() + timedelta(hours=7)
    request = RunRequest(
        window=plan_window(datetime.now(UTC), start=morning, end=morning + timedelta(hours=5)),
        seed=20261202,
        coop_id=coop,
        rates=FAULTS,
        bundles_dir=tmp_path / "bundles",
    )
    log_path = tmp_path / "messages.jsonl"
    with log_path.open("w") as message_log:
        summary = run_simulation(request, sim_settings, message_log=message_log)
    log = read_log(log_path)
    assert summary["surprises"] == {}
    assert summary["delivery"]["dropped"] == summary["delivery"]["unacked"] == 0
    assert summary["faults"]["glitch"] > 0
    tasmota_commands = [e for e in log if e["type"] == "firmware_command"]
    assert tasmota_commands and all(e["fate"] == "refused" for e in tasmota_commands)

    stored = [
        e for e in log if e["fate"] == "acked" and e["expected"] == "stored" and e["type"] in DATA_TYPES
    ]
    quarantined = [e for e in log if e["fate"] == "acked" and e["expected"].startswith("quarantined:")]

    def through() -> tuple[int, int, int]:
        return (
            scalar(db_url, "SELECT count(*) FROM meter_reading"),
            scalar(db_url, "SELECT count(*) FROM quarantine WHERE device_id = ANY(%s)", (list(meters),)),
            ingest_outcomes(port)["ignored"] - before["ignored"],
        )

    # a QoS 1 re-send after a dropped connection is ignored once more: at least once is at least once
    wanted = (len(stored), len(quarantined), summary["expected"]["ignored"])

    def arrived() -> bool:
        got = through()
        return got[:2] == wanted[:2] and got[2] >= wanted[2]

    try:
        wait_for(arrived, timeout=120, what="every emulated message through the ingest")
    except AssertionError:
        raise AssertionError(f"rows, quarantined, ignored: {through()} != {wanted}") from None
    # each stored reading keeps the bytes of one firmware message of its meter (or, for the native
    # meter, is its payload); which of two copies of one reading (a Shelly's status and its
    # NotifyStatus) is stored first depends on arrival order once a fault has delayed one
    stored_raw = rows(
        db_url, "SELECT device_id, raw_payload FROM meter_reading WHERE raw_payload IS NOT NULL"
    )
    profiled = [e for e in stored if meters[e["device_id"]] != "circulo"]
    assert Counter(d for d, _ in stored_raw) == Counter(e["device_id"] for e in profiled)
    published = {(e["device_id"], e["payload"].encode()) for e in log if e["fate"] == "acked"}
    assert all((d, bytes(r)) in published for d, r in stored_raw)
    assert len({(d, bytes(r)) for d, r in stored_raw}) == len(stored_raw), "one reading per message"
    assert scalar(db_url, "SELECT count(*) FROM meter_reading WHERE seq IS NULL") == len(profiled)

    key = tmp_path / "keys" / "ledger-signing.key"
    generate_key(key)
    run_cycle(RewardsSettings(database_url=db_url, signing_key_path=key, lock_poll_s=0.05), drain=True)
    expected_wh = credited_wh(db_url, meters)
    assert expected_wh > 0
    assert scalar(db_url, "SELECT sum(credited_wh) FROM reward_settlement") == expected_wh
    assert (
        scalar(db_url, "SELECT sum(amount_micro) FROM ledger_entry WHERE token = 'GRN'") == expected_wh * 1000
    )
    assert scalar(db_url, "SELECT DISTINCT policy FROM ledger_entry") == "rewards-v2"
    glitches = scalar(db_url, "SELECT count(*) FROM reward_flag WHERE flag = 'glitch'")
    # each fault that can put a reading below its predecessor in time order makes at most one
    # dip, and a Shelly's second copy of a reading can carry it too: the count depends on which
    # faults the run drew and on arrival order, never more than that
    dipping = ("glitch", "out_of_order", "clock_ahead", "clock_behind")
    dips = sum(summary["faults"].get(name, 0) for name in dipping)
    assert 0 < glitches <= dips * 2
    assert (
        scalar(db_url, "SELECT coalesce(sum(excluded_micro), 0) FROM reward_flag WHERE flag = 'glitch'") == 0
    )
