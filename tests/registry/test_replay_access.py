"""Replay commands on a real Mosquitto (SPEC §11): only the ingest's replay role sends them.

A device subscribes to its own ``circulo/cmd/v1/{kind}/{device_id}`` and to no one else's, and
publishes no command; the simulator's and the operator's accounts (stolen) cannot send one;
the ingest's account can. A sync brings devices and ingest accounts from before up to date.
"""

from __future__ import annotations

import secrets

from circulo.localstack.mosquitto import MosquittoBroker
from circulo.registry import devices, members, service_accounts
from circulo.registry.access import device_acls, device_role
from circulo.registry.dynsec import REPLAY_ROLE
from circulo.registry.model import DeviceSpec
from circulo.registry.provision import broker_admin
from circulo.registry.settings import RegistrySettings
from circulo.settings import MqttEndpoint
from tests.conftest import BrokerAccounts
from tests.factories import unique_id
from tests.registry.mqtt_probe import NOT_AUTHORIZED
from tests.registry.test_broker_access import add_meter, as_device, as_url


def replay(device_id: str) -> bytes:
    return f'{{"v":1,"cmd":"replay","id":"r-{device_id}","epoch":1,"from_seq":3,"to_seq":5}}'.encode()


def test_a_device_subscribes_to_its_own_command_topic_and_to_no_other(
    registry_settings: RegistrySettings, coop_id: str, broker: MosquittoBroker
) -> None:
    meter, other = add_meter(registry_settings, coop_id), add_meter(registry_settings, coop_id)
    with as_device(broker, meter) as device:
        device.connect()
        assert device.subscribe(f"circulo/cmd/v1/meter/{meter.device_id}") == 1
        assert device.subscribe(f"circulo/cmd/v1/meter/{other.device_id}") == NOT_AUTHORIZED
        assert device.subscribe(f"circulo/cmd/v1/bin/{meter.device_id}") == NOT_AUTHORIZED
        assert device.subscribe("circulo/cmd/v1/meter/+") == NOT_AUTHORIZED
        assert device.subscribe("circulo/cmd/#") == NOT_AUTHORIZED


def test_a_device_publishes_no_command_not_even_to_itself(
    registry_settings: RegistrySettings, coop_id: str, broker: MosquittoBroker
) -> None:
    meter, other = add_meter(registry_settings, coop_id), add_meter(registry_settings, coop_id)
    with as_device(broker, meter) as device:
        device.connect()
        for target in (meter.device_id, other.device_id):
            assert device.publish(f"circulo/cmd/v1/meter/{target}", replay(target)) == NOT_AUTHORIZED
        assert device.publish("circulo/cmd/v2/meter/x", b"{}") == NOT_AUTHORIZED


def test_only_the_ingests_account_sends_a_replay_and_the_device_receives_it(
    registry_settings: RegistrySettings,
    coop_id: str,
    broker: MosquittoBroker,
    broker_accounts: BrokerAccounts,
) -> None:
    meter = add_meter(registry_settings, coop_id)
    topic = f"circulo/cmd/v1/meter/{meter.device_id}"
    with as_device(broker, meter) as device:
        device.connect()
        assert device.subscribe(topic) == 1
        for stolen in ("simulator", "operator"):
            with as_url(broker_accounts.url(stolen)) as thief:
                thief.connect()
                assert thief.publish(topic, replay(meter.device_id)) == NOT_AUTHORIZED, stolen
        with as_url(broker_accounts.url("ingest")) as ingest:
            ingest.connect()
            assert ingest.publish(topic, replay(meter.device_id)) == 0
        received = device.messages.get(timeout=10)
    assert received.topic == topic and received.payload == replay(meter.device_id)
    assert device.messages.empty()  # the thieves' commands never arrived


def test_a_sync_gives_old_devices_their_command_subscription_and_old_ingest_accounts_the_replay_role(
    own_broker_settings: RegistrySettings, fresh_broker_accounts: BrokerAccounts
) -> None:
    members.add_coop(own_broker_settings, "coop1", "Co-op One")
    spec = DeviceSpec("bin", unique_id("b"), "coop1")
    issued = devices.add_device(own_broker_settings, spec).credentials
    password = secrets.token_urlsafe(12)
    with broker_admin(own_broker_settings) as admin:
        # as they were before SPEC §11: the device may only publish, the ingest only read
        admin.ensure_role(device_role(spec.device_id), device_acls("bin", spec.device_id)[:1])
        admin.ensure_client("old-ingest", password, ["circulo-ingest"])
    broker = fresh_broker_accounts.broker
    topic = f"circulo/cmd/v1/bin/{spec.device_id}"
    endpoint = MqttEndpoint.from_url(broker.url("old-ingest", password))
    with as_device(broker, issued) as device:
        device.connect()
        assert device.subscribe(topic) == NOT_AUTHORIZED
    plan = devices.sync_broker(own_broker_settings, lambda _: None)
    assert ("grant_role", "old-ingest", REPLAY_ROLE) in {(str(a.step), a.target, a.detail) for a in plan}
    with as_device(broker, issued) as device:
        device.connect()
        assert device.subscribe(topic) == 1
        with as_url(broker.url(endpoint.username, endpoint.password)) as ingest:
            ingest.connect()
            assert ingest.publish(topic, replay(spec.device_id)) == 0
        assert device.messages.get(timeout=10).payload == replay(spec.device_id)
    assert not devices.sync_broker(own_broker_settings, lambda _: None, dry_run=True)


def test_a_new_ingest_account_may_send_replays_and_a_new_simulator_or_operator_account_may_not(
    registry_settings: RegistrySettings, coop_id: str, broker: MosquittoBroker
) -> None:
    meter = add_meter(registry_settings, coop_id)
    topic = f"circulo/cmd/v1/meter/{meter.device_id}"
    with broker_admin(registry_settings) as admin:
        created = {role: service_accounts.add_service_account(admin, unique_id(role), role) for role in
                   ("ingest", "simulator", "operator", "firmware-operator")}  # fmt: skip
        roles = {role: admin.get_client(c.username).roles for role, c in created.items()}  # type: ignore[union-attr]
    assert roles["ingest"] == ("circulo-ingest", REPLAY_ROLE)
    assert all(REPLAY_ROLE not in held for role, held in roles.items() if role != "ingest")
    for role, credentials in created.items():
        with as_url(credentials.url(MqttEndpoint.from_url(broker.url()))) as account:
            account.connect()
            code = account.publish(topic, replay(meter.device_id))
            # the ingest's is let through (0x10: the device is not subscribed), the others refused
            assert code in ((0, 0x10) if role == "ingest" else (NOT_AUTHORIZED,)), role
