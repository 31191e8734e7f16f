"""Firmware command topics inside a device's tree are closed on a real Mosquitto (SPEC §10).

Shelly listens for RPC on ``{prefix}/rpc`` and MQTT control on ``{prefix}/command/…``;
Tasmota for its console on ``{prefix}/cmnd/…``. No device and no service account may
publish there; only an account a co-op creates on purpose with the firmware-operator role.
"""

from __future__ import annotations

import pytest

from circulo.localstack.mosquitto import MosquittoBroker
from circulo.registry import devices, service_accounts
from circulo.registry.access import device_acls, device_role
from circulo.registry.dynsec import RoleInfo
from circulo.registry.model import Device, DeviceSpec
from circulo.registry.provision import broker_admin
from circulo.registry.reconcile import Step, plan_sync
from circulo.registry.settings import RegistrySettings
from circulo.settings import MqttEndpoint
from tests.conftest import BrokerAccounts
from tests.factories import unique_id
from tests.registry.mqtt_probe import NOT_AUTHORIZED
from tests.registry.test_broker_access import as_device, as_url, live_messages

SENSOR = b'{"Time":"2026-11-20T10:00:00","ENERGY":{"Total":1.234}}'
COMMANDS = ("rpc", "command/switch:0", "command", "cmnd/POWER", "cmnd/Backlog")


def add_profiled_meter(settings: RegistrySettings, coop_id: str, profile: str) -> devices.Provisioned:
    spec = DeviceSpec("meter", unique_id("pm"), coop_id, rated_power_w=800, profile=profile)
    return devices.add_device(settings, spec)


@pytest.mark.parametrize("profile", ["shelly-gen2", "tasmota"])
def test_a_profiled_meter_publishes_its_firmware_topics_but_no_command_and_nothing_on_another_prefix(
    registry_settings: RegistrySettings,
    coop_id: str,
    broker: MosquittoBroker,
    service_mqtt_url: str,
    profile: str,
) -> None:
    meter = add_profiled_meter(registry_settings, coop_id, profile).credentials
    other = add_profiled_meter(registry_settings, coop_id, profile).credentials
    own, theirs = f"circulo/v1/meter/{meter.device_id}", f"circulo/v1/meter/{other.device_id}"
    with as_url(service_mqtt_url) as watcher, as_device(broker, meter) as device:
        watcher.connect()
        assert watcher.subscribe("circulo/v1/meter/#") == 1
        assert not device.connect().is_failure  # type: ignore[union-attr]
        assert device.publish(f"{own}/tele/SENSOR", SENSOR) == 0
        assert device.publish(f"{own}/status/switch:0", b'{"id":0}') == 0
        assert [device.publish(f"{own}/{sub}", b"x") for sub in COMMANDS] == [NOT_AUTHORIZED] * len(COMMANDS)
        assert device.publish(f"{theirs}/tele/SENSOR", SENSOR) == NOT_AUTHORIZED
        assert device.publish(f"{theirs}/status/switch:0", b'{"id":0}') == NOT_AUTHORIZED
        assert device.subscribe(f"{own}/cmnd/#") == NOT_AUTHORIZED
        arrived = live_messages(watcher, within_s=1.0)
    assert arrived == [f"{own}/tele/SENSOR", f"{own}/status/switch:0"]


def test_the_simulators_service_account_may_play_devices_but_not_command_their_firmware(
    broker: MosquittoBroker, broker_accounts: BrokerAccounts
) -> None:
    tree = f"circulo/v1/meter/{unique_id('x')}"
    refused = [NOT_AUTHORIZED] * len(COMMANDS)
    with (
        as_url(broker_accounts.url("tester")) as watcher,
        as_url(broker_accounts.url("simulator")) as simulator,
    ):
        watcher.connect()
        assert watcher.subscribe(f"{tree}/#") == 1
        assert not simulator.connect().is_failure  # type: ignore[union-attr]
        assert simulator.publish(f"{tree}/tele/SENSOR", SENSOR) == 0
        assert [simulator.publish(f"{tree}/{sub}", b"x") for sub in COMMANDS] == refused
        assert live_messages(watcher, within_s=1.0) == [f"{tree}/tele/SENSOR"]


def test_only_a_firmware_operator_created_on_purpose_may_send_commands(
    registry_settings: RegistrySettings, broker: MosquittoBroker, service_mqtt_url: str
) -> None:
    tree = f"circulo/v1/meter/{unique_id('x')}"
    with broker_admin(registry_settings) as admin:
        made = service_accounts.add_service_account(admin, unique_id("fw-op"), "firmware-operator")
        plain = service_accounts.add_service_account(admin, unique_id("op"), "operator")
    endpoint = MqttEndpoint.from_url(broker.url())
    with (
        as_url(service_mqtt_url) as watcher,
        as_url(made.url(endpoint)) as operator,
        as_url(plain.url(endpoint)) as other,
    ):
        watcher.connect()
        assert watcher.subscribe(f"{tree}/#") == 1
        assert not operator.connect().is_failure  # type: ignore[union-attr]
        assert not other.connect().is_failure  # type: ignore[union-attr]
        assert other.publish(f"{tree}/rpc", b"{}") == NOT_AUTHORIZED
        rpc = b'{"id":1,"src":"circulo/firmware-replies/me","method":"Shelly.GetStatus"}'
        assert operator.publish(f"{tree}/rpc", rpc) == 0
        assert operator.publish(f"{tree}/cmnd/TelePeriod", b"60") == 0
        assert operator.publish(f"{tree}/tele/SENSOR", SENSOR) == NOT_AUTHORIZED  # no data in a device's name
        assert operator.subscribe("circulo/firmware-replies/me/rpc") == 1
        arrived = live_messages(watcher, within_s=1.0)
    assert arrived == [f"{tree}/rpc", f"{tree}/cmnd/TelePeriod"]


def test_a_device_role_from_before_the_command_rules_is_brought_up_to_date_by_sync(
    registry_settings: RegistrySettings, coop_id: str
) -> None:
    done = add_profiled_meter(registry_settings, coop_id, "tasmota")
    device: Device = done.device
    allow_only = RoleInfo(
        device_role(device.device_id), frozenset(device_acls("meter", device.device_id)[:1])
    )
    plan = plan_sync([device], {}, {allow_only.rolename: allow_only}, {})
    assert any(a.step is Step.SET_ROLE and a.target == allow_only.rolename for a in plan)
