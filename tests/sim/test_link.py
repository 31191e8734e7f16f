"""One device connection against the real broker: status, Last Will, refusals, store-and-forward."""

from __future__ import annotations

import dataclasses
import json
import time
from datetime import UTC, datetime
from pathlib import Path

from tests.conftest import BrokerAccounts
from tests.sim.conftest import register_coop
from tests.support import Subscriber, wait_for

from circulo.localstack.mosquitto import MosquittoBroker
from circulo_sim.fleet import DeviceSpec
from circulo_sim.link import LinkOptions, MqttLink
from circulo_sim.plan import Label, Publish
from circulo_sim.sources import load_bundle_endpoints
from circulo_sim.summary import RunStats
from circulo_sim.transport import DeviceTransport

NOW = datetime.now(UTC)


def message(device: DeviceSpec, n: int, channel: str = "telemetry") -> Publish:
    payload = json.dumps({"v": 1, "ts": f"2026-11-20T10:{n // 60:02d}:{n % 60:02d}Z", "seq": n}).encode()
    topic = f"circulo/v1/{device.kind}/{device.device_id}/{channel}"
    return Publish(NOW, device.device_id, topic, payload, Label("meter_telemetry", None, "stored"))


def device_of(
    db_url: str, broker: MosquittoBroker, tmp_path: Path, count: int = 2
) -> tuple[list[DeviceSpec], dict]:
    registered = register_coop(db_url, broker, tmp_path / "bundles", meters=count, bins=0, repairs=0)
    devices = [DeviceSpec(d, k) for d, k in registered.devices.items()]
    return devices, load_bundle_endpoints(registered.bundles, devices)


def test_a_device_announces_itself_online_and_its_will_says_offline_in_an_outage(
    db_url: str, broker: MosquittoBroker, service_mqtt_url: str, tmp_path: Path
) -> None:
    devices, endpoints = device_of(db_url, broker, tmp_path, count=1)
    device = devices[0]
    watcher = Subscriber(service_mqtt_url, f"circulo/v1/meter/{device.device_id}/status")
    stats = RunStats()
    transport = DeviceTransport(devices, endpoints, LinkOptions(), stats, clock_now=lambda: NOW)
    transport.start()
    try:
        _, boot, _ = watcher.next()
        assert json.loads(boot) == {"v": 1, "state": "online", "fw": "circulo-sim/1.0", "reason": "boot"}
        transport.go_offline(device.device_id)
        assert watcher.next()[1] == b'{"v":1,"state":"offline"}'  # the Last Will, sent by the broker
        transport.publish(message(device, 1))  # taken during the outage: buffered
        transport.go_online(device.device_id)
        after = watcher.next()[1]
        if after == boot:  # the boot status's PUBACK was still in flight at the drop: QoS 1 resends it
            after = watcher.next()[1]
        assert json.loads(after)["reason"] == "reconnected"
    finally:
        transport.close(10)
        watcher.close()
    late = Subscriber(service_mqtt_url, f"circulo/v1/meter/{device.device_id}/status")
    _, payload, retained = late.next()
    late.close()
    assert retained and json.loads(payload)["state"] == "offline"  # the shutdown status is retained
    assert stats.summary()["delivery"]["buffered"] == 1
    assert stats.summary()["sent"]["meter_telemetry"] == 1


def test_publishing_as_another_device_is_refused_with_0x87_and_the_device_carries_on(
    db_url: str, broker: MosquittoBroker, service_mqtt_url: str, tmp_path: Path
) -> None:
    (me, victim), endpoints = device_of(db_url, broker, tmp_path)
    watcher = Subscriber(service_mqtt_url, "circulo/v1/meter/+/telemetry")
    stats = RunStats()
    link = MqttLink(endpoints[me.device_id], LinkOptions(), stats)
    link.start()
    try:
        wait_for(lambda: link.ready, timeout=10, what="connected")
        forged = message(victim, 1)
        label = Label("meter_telemetry", "impersonate", "refused")
        link.submit(Publish(NOW, me.device_id, forged.topic, forged.payload, label))
        for n in range(2, 6):
            link.submit(message(me, n))
        assert link.wait_idle(time.monotonic() + 20)
    finally:
        link.close(time.monotonic() + 5)
    summary = stats.summary()
    assert summary["delivery"]["refused"] == 1
    assert list(summary["delivery"]["refusal_codes"]) == ["0x87 Not authorized"]
    assert summary["sent"]["meter_telemetry"] == 4 and summary["surprises"] == {}
    received = [watcher.next()[0] for _ in range(4)]
    watcher.close()
    assert all(f"/{me.device_id}/" in topic for topic in received)


def test_messages_taken_while_the_broker_is_down_leave_in_order_when_it_returns(
    db_url: str, fresh_broker_accounts: BrokerAccounts, tmp_path: Path
) -> None:
    broker = fresh_broker_accounts.broker
    (device, _), endpoints = device_of(db_url, broker, tmp_path)
    topic = f"circulo/v1/meter/{device.device_id}/telemetry"
    watcher = Subscriber(fresh_broker_accounts.url("tester"), topic, client_id="watcher", persistent=True)
    watcher.close()
    broker.stop()
    stats = RunStats()
    link = MqttLink(endpoints[device.device_id], LinkOptions(buffer_max=100), stats)
    link.start()
    for n in range(120):
        link.submit(message(device, n))
    time.sleep(1.5)  # a few reconnect attempts, backing off
    assert not link.ready and link.buffered() == 100
    broker.start()
    assert link.wait_idle(time.monotonic() + 30)
    link.close(time.monotonic() + 5)
    summary = stats.summary()
    assert summary["delivery"]["dropped"] == 20  # the oldest telemetry made room for the newest
    assert summary["sent"]["meter_telemetry"] == 100
    watcher = Subscriber(fresh_broker_accounts.url("tester"), topic, client_id="watcher", persistent=True)
    seqs = [json.loads(watcher.next()[1])["seq"] for _ in range(100)]
    watcher.close()
    assert seqs == list(range(20, 120))


def test_a_device_with_wrong_credentials_is_counted_and_does_not_hold_up_the_end(
    db_url: str, broker: MosquittoBroker, tmp_path: Path
) -> None:
    (device, _), endpoints = device_of(db_url, broker, tmp_path)
    wrong = dataclasses.replace(endpoints[device.device_id], password="not-the-password")
    stats = RunStats()
    link = MqttLink(wrong, LinkOptions(), stats)
    link.start()
    for n in range(3):
        link.submit(message(device, n))
    wait_for(lambda: stats.connect_failures, timeout=10, what="the broker's refusal")
    began = time.monotonic()
    link.close(time.monotonic() + 60)
    assert time.monotonic() - began < 30  # it gives up at once, not after the 60 s deadline
    summary = stats.summary()
    assert summary["delivery"]["unacked"] == 3 and summary["delivery"]["connects"] == 0
    assert set(summary["delivery"]["connect_failures"]) <= {"Bad user name or password", "Not authorized"}
