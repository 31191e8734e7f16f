"""Simulated devices answer replays and keep what nobody heard, on a real Mosquitto (SPEC §11).

The replay command comes from the ingest's own account (the replay role); the device answers
with the original bytes of what it holds and one ``replay_unavailable`` per run it lacks. A
PUBACK 0x10 (Mosquitto 2.0.11, MQTT v5, QoS 1, nobody subscribed) keeps a message until a
subscriber is there.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from itertools import islice
from pathlib import Path
from typing import Any

from tests.conftest import BrokerAccounts
from tests.sim.conftest import read_log, register_coop
from tests.support import Publisher, Subscriber, wait_for

from circulo.localstack.mosquitto import MosquittoBroker
from circulo_sim.boot import DeviceCounter
from circulo_sim.clock import plan_window
from circulo_sim.faults import FaultRates
from circulo_sim.fleet import DeviceSpec, Fleet, locate
from circulo_sim.link import LinkOptions
from circulo_sim.plan import Publish, build_device, device_actions
from circulo_sim.service import RunRequest, run_simulation
from circulo_sim.settings import SimSettings
from circulo_sim.sources import load_bundle_endpoints
from circulo_sim.summary import RunStats
from circulo_sim.transport import DeviceTransport, ReplaySetup

TOP = 2**32
DAY = datetime(2026, 6, 1, tzinfo=UTC)
NOW = datetime.now(UTC)


def registered_bin(db_url: str, broker: MosquittoBroker, tmp_path: Path) -> tuple[DeviceSpec, dict]:
    coop = register_coop(db_url, broker, tmp_path / "bundles", meters=0, bins=1, repairs=0)
    [spec] = [DeviceSpec(d, k) for d, k in coop.devices.items()]
    return spec, load_bundle_endpoints(coop.bundles, [spec])


def planned(spec: DeviceSpec, counter: DeviceCounter, count: int) -> list[Publish]:
    """A bin's first ``count`` real messages (telemetry and deposits), numbered by ``counter``
    (which has then given out exactly ``count`` seqs: the plan is lazy)."""
    fleet = locate(Fleet("c", (spec,), ("member-01@c",)), 7)
    device = build_device(fleet.devices[0], fleet.members, 7)
    actions = device_actions(
        device, DAY, DAY + timedelta(days=1), seed=7, rates=FaultRates(), counter=counter
    )
    return list(islice((a for a in actions if isinstance(a, Publish)), count))


@contextmanager
def replaying(
    spec: DeviceSpec, endpoints: dict, counter: DeviceCounter, stats: RunStats, **setup: Any
) -> Iterator[DeviceTransport]:
    replay = ReplaySetup({spec.device_id: counter}, **setup)
    transport = DeviceTransport([spec], endpoints, LinkOptions(), stats, clock_now=lambda: NOW, replay=replay)
    transport.start()
    try:
        wait_for(lambda: transport.connected() == 1, timeout=20, what="the device connected")
        yield transport
    finally:
        transport.close(20)


def collect(watcher: Subscriber, count: int, timeout: float = 20) -> list[tuple[str, bytes]]:
    got = []
    for _ in range(count):
        topic, payload, _ = watcher.next(timeout=timeout)
        got.append((topic, payload))
    return got


def replay_command(counter: DeviceCounter, from_seq: int, to_seq: int, request: str = "gap-1") -> bytes:
    doc = {
        "v": 1,
        "cmd": "replay",
        "id": request,
        "epoch": counter.epoch,
        "from_seq": from_seq,
        "to_seq": to_seq,
    }
    return json.dumps(doc).encode()


def send_command(url: str, spec: DeviceSpec, payload: bytes) -> None:
    with Publisher(url) as publisher:
        publisher.publish_all([(f"circulo/cmd/v1/{spec.kind}/{spec.device_id}", payload)])


def test_a_device_answers_a_replay_across_the_seq_wrap_with_the_original_bytes(
    db_url: str, broker: MosquittoBroker, broker_accounts: BrokerAccounts, tmp_path: Path
) -> None:
    spec, endpoints = registered_bin(db_url, broker, tmp_path)
    counter = DeviceCounter(epoch=5, next_seq=TOP - 4)
    messages = planned(spec, counter, 10)  # seqs 2^32-4 .. 5
    watcher = Subscriber(broker_accounts.url("tester"), f"circulo/v1/bin/{spec.device_id}/+")
    stats = RunStats()
    with replaying(spec, endpoints, counter, stats, rate_per_s=50) as transport:
        for publish in messages:
            transport.publish(publish)
        originals = [m for m in collect(watcher, 11) if not m[0].endswith("/status")]
        send_command(broker_accounts.url("ingest"), spec, replay_command(counter, TOP - 2, 1))
        replayed = collect(watcher, 4)
    watcher.close()
    assert originals == [(p.topic, p.payload) for p in messages]
    assert replayed == originals[2:6]  # 2^32-2, 2^32-1, 0, 1: byte for byte
    assert stats.summary()["replay"] == {
        "commands": 1, "invalid": 0, "republished": 4, "unavailable_events": 0, "unavailable_seqs": 0,
    }  # fmt: skip


def test_a_range_partly_overrun_is_replayed_where_held_and_reported_unavailable_exactly_where_not(
    db_url: str, broker: MosquittoBroker, broker_accounts: BrokerAccounts, tmp_path: Path
) -> None:
    spec, endpoints = registered_bin(db_url, broker, tmp_path)
    counter = DeviceCounter(epoch=3, next_seq=0)
    messages = planned(spec, counter, 12)  # seqs 0..11; a ring of 5 keeps 7..11
    watcher = Subscriber(broker_accounts.url("tester"), f"circulo/v1/bin/{spec.device_id}/+")
    stats = RunStats()
    with replaying(spec, endpoints, counter, stats, ring_size=5, rate_per_s=50) as transport:
        for publish in messages:
            transport.publish(publish)
        originals = [m for m in collect(watcher, 13) if not m[0].endswith("/status")]
        ingest = broker_accounts.url("ingest")
        send_command(ingest, spec, b'{"v":1,"cmd":"replay","id":"x"}')  # logged and ignored
        send_command(ingest, spec, replay_command(counter, 3, 9, "gap-2"))
        answer = collect(watcher, 4)
    watcher.close()
    (event_topic, event), *replayed = answer
    assert event_topic == f"circulo/v1/bin/{spec.device_id}/event"
    document = json.loads(event)
    assert document | {"ts": None} == {
        "v": 2, "ts": None, "seq": 12, "type": "replay_unavailable", "id": "gap-2", "epoch": 3,
        "from_seq": 3, "to_seq": 6,
    }  # fmt: skip
    assert replayed == originals[7:10]
    replay = stats.summary()["replay"]
    assert replay == {
        "commands": 1,
        "invalid": 1,
        "republished": 3,
        "unavailable_events": 1,
        "unavailable_seqs": 4,
    }


def test_a_reboot_counts_the_epoch_up_restarts_seq_and_still_answers_for_the_boot_before(
    db_url: str, broker: MosquittoBroker, broker_accounts: BrokerAccounts, tmp_path: Path
) -> None:
    coop = register_coop(db_url, broker, tmp_path / "bundles", meters=1, bins=0, repairs=0)
    [device_id] = coop.devices
    watcher = Subscriber(broker_accounts.url("tester"), f"circulo/v1/meter/{device_id}/#")  # someone hears
    end = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(hours=1)
    settings = SimSettings(
        database_url=db_url, mqtt_url="mqtt://127.0.0.1:1", drain_timeout_s=30, connect_timeout_s=20,
        state_dir=str(tmp_path / "flash"),
    )  # fmt: skip
    runs = []
    for boot in ("first", "second"):
        request = RunRequest(
            window=plan_window(datetime.now(UTC), start=end - timedelta(minutes=20), end=end),
            seed=3, coop_id=coop.coop_id, counts={"meter": 1, "bin": 0, "repair": 0},
            bundles_dir=coop.bundles,
        )  # fmt: skip
        path = tmp_path / f"{boot}.jsonl"
        with path.open("w") as log:
            summary = run_simulation(request, settings, message_log=log)
        runs.append((summary, read_log(path)))
        if boot == "first":  # the device is away: the broker queues the command in its session
            doc = {"v": 1, "cmd": "replay", "id": "late", "epoch": 1, "from_seq": 2, "to_seq": 4}
            send_command(
                broker_accounts.url("ingest"), DeviceSpec(device_id, "meter"), json.dumps(doc).encode()
            )
    watcher.close()
    (first, first_log), (second, second_log) = runs
    assert first["epochs"] == {device_id: 1} and second["epochs"] == {device_id: 2}
    assert json.loads((tmp_path / "flash" / f"{device_id}.json").read_text()) == {"epoch": 2}
    for log, epoch in ((first_log, 1), (second_log, 2)):
        data = [json.loads(e["payload"]) for e in log if e["type"] == "meter_telemetry"]
        assert [d["seq"] for d in data] == list(range(len(data))) and len(data) >= 10
        assert {d["epoch"] for d in data} == {epoch}
    originals = {
        json.loads(e["payload"])["seq"]: e["payload"] for e in first_log if e["type"] == "meter_telemetry"
    }
    replayed = [e["payload"] for e in second_log if e["type"] == "replayed" and e["fate"] == "acked"]
    assert replayed == [originals[2], originals[3], originals[4]]  # from the ring the first boot left
    assert second["replay"]["republished"] == 3 and second["replay"]["unavailable_events"] == 0


def test_a_message_nobody_subscribed_to_is_kept_and_sent_again_once_someone_listens(
    db_url: str, fresh_broker_accounts: BrokerAccounts, tmp_path: Path
) -> None:
    broker = fresh_broker_accounts.broker
    spec, endpoints = registered_bin(db_url, broker, tmp_path)
    counter = DeviceCounter(epoch=1, next_seq=0)
    messages = planned(spec, counter, 4)
    stats = RunStats()
    with replaying(spec, endpoints, counter, stats) as transport:
        for publish in messages:
            transport.publish(publish)
        wait_for(lambda: stats.no_subscribers >= 4, timeout=10, what="four PUBACKs 0x10")
        assert transport.buffered() >= 1  # kept, not counted as sent
        assert stats.summary()["sent"]["bin_telemetry"] + stats.summary()["sent"]["deposit"] == 0
        watcher = Subscriber(fresh_broker_accounts.url("tester"), f"circulo/v1/bin/{spec.device_id}/+")
        arrived = [m for m in collect(watcher, 5, timeout=30) if not m[0].endswith("/status")][:4]
        watcher.close()
    assert arrived == [(p.topic, p.payload) for p in messages]  # all of them, in order
    delivery = stats.summary()["delivery"]
    assert delivery["no_subscribers"] >= 4 and delivery["resent"] >= 4
    assert delivery["acked"] >= 4 and delivery["unacked"] == 0


def test_a_device_rebooting_mid_run_drops_with_its_will_and_comes_back_saying_boot_in_its_new_epoch(
    db_url: str, broker: MosquittoBroker, broker_accounts: BrokerAccounts, tmp_path: Path
) -> None:
    spec, endpoints = registered_bin(db_url, broker, tmp_path)
    counter = DeviceCounter(epoch=7, next_seq=0)
    watcher = Subscriber(broker_accounts.url("tester"), f"circulo/v1/bin/{spec.device_id}/status")
    stats = RunStats()
    with replaying(spec, endpoints, counter, stats) as transport:
        assert json.loads(watcher.next()[1]) == {
            "v": 1, "state": "online", "epoch": 7, "fw": "circulo-sim/1.0", "reason": "boot",
        }  # fmt: skip
        assert counter.reboot() == 8  # as the plan does when it draws a reboot
        transport.reboot(spec.device_id)
        assert watcher.next()[1] == b'{"v":1,"state":"offline"}'  # the will
        back = json.loads(watcher.next()[1])
    watcher.close()
    assert back == {"v": 1, "state": "online", "epoch": 8, "fw": "circulo-sim/1.0", "reason": "boot"}
    assert counter.take() == 0
