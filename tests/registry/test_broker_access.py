"""Per-device credentials on a real Mosquitto: own topics only, nothing else, and retire means out."""

from __future__ import annotations

import queue
import time

import pytest

from circulo.errors import Conflict
from circulo.localstack.mosquitto import MosquittoBroker
from circulo.mqttclient import ssl_context
from circulo.registry import devices, service_accounts
from circulo.registry.bundle import IssuedCredentials
from circulo.registry.model import DeviceSpec
from circulo.registry.provision import broker_admin
from circulo.registry.settings import RegistrySettings
from circulo.settings import MqttEndpoint
from tests.factories import unique_id
from tests.registry.mqtt_probe import NOT_AUTHORIZED, Probe

TELEMETRY = b'{"v":1,"ts":"2025-06-01T12:00:00Z","seq":1,"energy_wh":10,"power_w":5}'


def add_meter(settings: RegistrySettings, coop_id: str) -> IssuedCredentials:
    spec = DeviceSpec("meter", unique_id("m"), coop_id, rated_power_w=5000)
    return devices.add_device(settings, spec).credentials


def as_device(broker: MosquittoBroker, credentials: IssuedCredentials) -> Probe:
    return Probe.at(broker, credentials.device_id, credentials.password)


def as_url(url: str) -> Probe:
    endpoint = MqttEndpoint.from_url(url)
    context = ssl_context(endpoint) if endpoint.tls else None
    return Probe(endpoint.host, endpoint.port, endpoint.username, endpoint.password, context=context)


def test_a_device_publishes_to_its_own_topics_and_a_subscriber_receives_them(
    registry_settings: RegistrySettings, coop_id: str, broker: MosquittoBroker, service_mqtt_url: str
) -> None:
    meter = add_meter(registry_settings, coop_id)
    own = f"circulo/v1/meter/{meter.device_id}"
    with as_url(service_mqtt_url) as watcher, as_device(broker, meter) as device:
        assert watcher.connect() is not None and watcher.subscribe(f"{own}/#") == 1
        assert not device.connect().is_failure  # type: ignore[union-attr]
        assert device.publish(f"{own}/telemetry", TELEMETRY) == 0
        assert device.publish(f"{own}/status", b'{"v":1,"state":"online"}', retain=True) == 0
        received = [watcher.messages.get(timeout=30), watcher.messages.get(timeout=30)]
        # clear the retained status: other tests' ingest subscribes to the whole session broker
        assert device.publish(f"{own}/status", b"", retain=True) == 0
    assert [m.topic for m in received] == [f"{own}/telemetry", f"{own}/status"]


def test_publishing_to_another_devices_topic_is_refused_and_never_delivered(
    registry_settings: RegistrySettings, coop_id: str, broker: MosquittoBroker, service_mqtt_url: str
) -> None:
    meter, other = add_meter(registry_settings, coop_id), add_meter(registry_settings, coop_id)
    victim = f"circulo/v1/meter/{other.device_id}/telemetry"
    with as_url(service_mqtt_url) as watcher, as_device(broker, meter) as device:
        watcher.connect()
        assert watcher.subscribe("circulo/#") == 1
        device.connect()
        assert device.publish(victim, TELEMETRY) == NOT_AUTHORIZED
        # the same device under another kind, and outside the device tree, are refused too
        assert device.publish(f"circulo/v1/bin/{meter.device_id}/telemetry", TELEMETRY) == NOT_AUTHORIZED
        assert device.publish("circulo/ledger/v1/checkpoint", b"{}") == NOT_AUTHORIZED
        arrived = live_messages(watcher, within_s=1.0)
    assert arrived == []


def live_messages(probe: Probe, within_s: float) -> list[str]:
    """Topics of messages published while we listened (retained ones from earlier tests left out)."""
    deadline = time.monotonic() + within_s
    topics = []
    while (left := deadline - time.monotonic()) > 0:
        try:
            message = probe.messages.get(timeout=left)
        except queue.Empty:
            break
        if not message.retain:
            topics.append(message.topic)
    return topics


def test_a_device_may_not_subscribe_to_anything(
    registry_settings: RegistrySettings, coop_id: str, broker: MosquittoBroker
) -> None:
    meter = add_meter(registry_settings, coop_id)
    with as_device(broker, meter) as device:
        device.connect()
        assert device.subscribe("#") == NOT_AUTHORIZED
        assert device.subscribe("circulo/v1/#") == NOT_AUTHORIZED
        assert device.subscribe("$CONTROL/dynamic-security/#") == NOT_AUTHORIZED


def test_a_wrong_password_and_an_anonymous_connection_are_refused(
    registry_settings: RegistrySettings, coop_id: str, broker: MosquittoBroker
) -> None:
    meter = add_meter(registry_settings, coop_id)
    wrong = IssuedCredentials(meter.device_id, "meter", coop_id, meter.password + "x", 1, meter.issued_at)
    with as_device(broker, wrong) as device:
        code = device.connect()
    assert code is None or code.is_failure
    assert not device.connected.is_set()
    with Probe.at(broker, None, None) as anonymous:
        code = anonymous.connect()
    assert code is None or code.is_failure
    assert not anonymous.connected.is_set()


def test_a_retired_device_is_disconnected_and_cannot_connect_again(
    registry_settings: RegistrySettings, coop_id: str, broker: MosquittoBroker
) -> None:
    meter = add_meter(registry_settings, coop_id)
    with as_device(broker, meter) as device:
        assert not device.connect().is_failure  # type: ignore[union-attr]
        retired = devices.retire_device(registry_settings, meter.device_id)
        assert device.disconnected.wait(30), "the broker should close a retired device's connection"
    assert retired.device.status == "retired" and retired.device.retired_at is not None
    assert retired.device.broker_state == "disabled"
    with as_device(broker, meter) as again:
        code = again.connect()
    assert code is None or code.is_failure
    with pytest.raises(Conflict, match="retired"):
        devices.rotate_credentials(registry_settings, meter.device_id)


def test_rotated_credentials_work_and_the_old_password_stops_working_at_once(
    registry_settings: RegistrySettings, coop_id: str, broker: MosquittoBroker
) -> None:
    old = add_meter(registry_settings, coop_id)
    with as_device(broker, old) as connected:
        assert not connected.connect().is_failure  # type: ignore[union-attr]
        new = devices.rotate_credentials(registry_settings, old.device_id)
        assert connected.disconnected.wait(30), "a rotation should close the old session"
    assert new.password != old.password and new.version == old.version + 1
    with as_device(broker, old) as device:
        code = device.connect()
    assert code is None or code.is_failure
    with as_device(broker, new) as device:
        assert not device.connect().is_failure  # type: ignore[union-attr]


def test_adding_the_same_device_again_refuses_rather_than_rotating(
    registry_settings: RegistrySettings, coop_id: str, broker: MosquittoBroker
) -> None:
    spec = DeviceSpec("bin", unique_id("b"), coop_id)
    first = devices.add_device(registry_settings, spec)
    with pytest.raises(Conflict, match="rotate-credentials"):
        devices.add_device(registry_settings, spec)
    with as_device(broker, first.credentials) as device:
        assert not device.connect().is_failure  # type: ignore[union-attr]
    with pytest.raises(Conflict, match="other details"):
        devices.add_device(registry_settings, DeviceSpec("bin", spec.device_id, coop_id, notes="moved"))


def test_a_service_account_gets_its_role_and_is_refused_a_second_time(
    registry_settings: RegistrySettings, broker: MosquittoBroker
) -> None:
    name = unique_id("svc")
    with broker_admin(registry_settings) as admin:
        created = service_accounts.add_service_account(admin, name, "ingest")
        with pytest.raises(Conflict):
            service_accounts.add_service_account(admin, name, "ingest")
        listed = {c.username: role for c, role in service_accounts.list_service_accounts(admin)}
    assert listed[name] == "ingest"
    with as_url(created.url(MqttEndpoint.from_url(broker.url()))) as ingest:
        assert not ingest.connect().is_failure  # type: ignore[union-attr]
        assert ingest.subscribe("circulo/v1/#") == 1
        assert ingest.publish("circulo/v1/meter/x/telemetry", b"{}") == NOT_AUTHORIZED
