"""The engine against data written by the real ingest (broker → ingest → engine), W included."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.rewards.rewards_factories import RewardsData
from tests.support import IngestProcess, Publisher, register, wait_for

from circulo.rewards.engine import run_cycle
from circulo.rewards.settings import RewardsSettings

NOW = datetime.now(UTC)
START = NOW.replace(minute=0, second=0, microsecond=0) - timedelta(hours=3)


def iso(ts: datetime) -> str:
    return ts.isoformat().replace("+00:00", "Z")


def history() -> list[tuple[str, bytes]]:
    """Two meters for 150 minutes, a bin with deposits and a collection, a repair."""
    messages = []
    for meter, per_minute in (("m1", 10), ("m2", 7)):
        for i in range(150):
            ts = iso(START + timedelta(minutes=i))
            body = {"v": 1, "ts": ts, "seq": i, "energy_wh": 5000 + i * per_minute, "power_w": 600.0}
            messages.append((f"circulo/v1/meter/{meter}/telemetry", json.dumps(body).encode()))
    events = [
        {"type": "deposit", "event_id": "d1", "material": "aluminium", "weight_g": 1000, "account": "alice"},
        {"type": "deposit", "event_id": "d2", "material": "pet", "weight_g": 333, "account": "bob"},
        {"type": "deposit", "event_id": "d3", "material": "pet", "weight_g": 100, "contaminated": True,
         "account": "alice"},
        {"type": "collection", "event_id": "c1", "weight_kg": 1.5},
    ]  # fmt: skip
    for i, event in enumerate(events):
        body = {"v": 1, "ts": iso(START + timedelta(minutes=10 + i)), "seq": i, **event}
        messages.append(("circulo/v1/bin/bin1/event", json.dumps(body).encode()))
    repair = {"v": 1, "ts": iso(START + timedelta(minutes=30)), "seq": 0, "type": "repair", "event_id": "r1",
              "category": "Kettle", "status": "fixed", "weight_kg": 1.5, "owner": "alice",
              "repairer": "bob"}  # fmt: skip
    messages.append(("circulo/v1/repair/rs1/event", json.dumps(repair).encode()))
    return messages


def test_the_engine_settles_what_the_real_ingest_stored_and_a_republished_history_mints_nothing_more(
    db_url: str, ingest: IngestProcess, service_mqtt_url: str, data: RewardsData, key_path: Path
) -> None:
    register(db_url, [("m1", "meter"), ("m2", "meter"), ("bin1", "bin"), ("rs1", "repair")])
    register(db_url, [("sentinel", "meter")], coop="elsewhere")
    data.member("alice", 1)
    data.member("bob", 1)
    ingest.wait_ready()
    messages = history()
    with Publisher(service_mqtt_url) as pub:
        pub.publish_all(messages)
    stored = "SELECT (SELECT count(*) FROM meter_reading) + (SELECT count(*) FROM bin_event) + " \
             "(SELECT count(*) FROM repair_event)"  # fmt: skip
    wait_for(lambda: data.scalar(stored) == len(messages), timeout=60, what="every message stored")
    settings = RewardsSettings(database_url=db_url, signing_key_path=key_path, grace_s=0, lock_poll_s=0.05)
    # W follows the ingest's watermark: the first two hours, the collection and the repair settle
    wait_for(lambda: run_cycle(settings, drain=False).settled or data.settlement_ids(), timeout=30,
             what="a cycle that settles")  # fmt: skip
    run_cycle(settings, drain=False)
    hours = [f"green:coop1:{(START + timedelta(hours=h)).strftime('%Y-%m-%dT%H:00Z')}" for h in (0, 1)]
    assert sorted(data.settlement_ids()) == sorted([*hours, "deposit:bin1:c1", "repair:rs1:r1"])
    assert data.balances("RCY") == {("alice", "RCY"): 23_750_000, ("bob", "RCY"): 7_080_000}
    # the same history published again: duplicates, nothing stored, nothing minted
    before = data.balances()
    # then one new reading of a meter in another co-op: the ingest commits in receipt order,
    # so once it is stored every republished message before it has had its outcome
    sentinel = {"v": 1, "ts": iso(START), "seq": 0, "energy_wh": 0, "power_w": 0.0}
    with Publisher(service_mqtt_url) as pub:
        pub.publish_all([*messages, ("circulo/v1/meter/sentinel/telemetry", json.dumps(sentinel).encode())])
    wait_for(
        lambda: data.scalar("SELECT count(*) FROM meter_reading WHERE device_id = 'sentinel'") == 1,
        timeout=60,
        what="the sentinel after the republished history",
    )
    assert data.scalar("SELECT count(*) FROM meter_reading WHERE device_id <> 'sentinel'") == 300
    run_cycle(settings, drain=False)
    assert data.balances() == before
    run_cycle(settings, drain=True)
    assert data.minted("GRN") == (149 * 10 + 149 * 7) * 1000
    assert data.scalar("SELECT count(*) FROM reward_meter_claim WHERE device_id <> 'sentinel'") == 300
