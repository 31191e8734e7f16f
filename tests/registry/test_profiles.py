"""Device profiles in the registry: set by add, survey and update, shown by list and show,
and the firmware set-up an installer makes, in the bundle, its QR code and on the terminal."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from click.testing import CliRunner, Result

from circulo.cli import cli
from circulo.localstack.mosquitto import MosquittoBroker
from circulo.registry.bundle import (
    IssuedCredentials,
    TrustAnchor,
    build_bundle,
    compact_bundle,
    with_firmware_setup,
)
from circulo.registry.firmware_setup import BrokerFacts, tasmota_backlog
from circulo.registry.model import DeviceSpec
from circulo.registry.survey import SurveyError, read_survey
from circulo.registry.validation import spec_problems
from circulo.settings import MqttEndpoint
from tests.conftest import BrokerAccounts
from tests.factories import unique_id

BROKER = MqttEndpoint("broker.example", 8883, True, None, None)
PUBLIC_CA = TrustAnchor(None, "ab" * 32)  # a public CA: the firmware's own store
ISSUED_AT = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def credentials(profile: str, device_id: str = "m-1") -> IssuedCredentials:
    return IssuedCredentials(
        device_id, "meter", "coop1", "s3cret-pass-0123456789abcdefghij", 1, ISSUED_AT, profile=profile
    )


@pytest.mark.parametrize(
    ("spec", "problem"),
    [
        (DeviceSpec("meter", "m-1", "c", rated_power_w=1, profile="shelly-gen2"), None),
        (DeviceSpec("meter", "m-1", "c", rated_power_w=1, profile="tasmota"), None),
        (DeviceSpec("bin", "b-1", "c", profile="tasmota"), "profile tasmota is for meters only"),
        (
            DeviceSpec("meter", "m-1", "c", rated_power_w=1, profile="esphome"),
            "profile 'esphome' is not one of",
        ),
    ],
)
def test_only_meters_may_run_a_known_firmware_profile(spec: DeviceSpec, problem: str | None) -> None:
    problems = spec_problems(spec)
    assert (problems == []) if problem is None else any(problem in p for p in problems), problems


def test_a_survey_may_name_each_devices_profile_and_an_empty_cell_is_circulo() -> None:
    rows = read_survey(
        "kind,device_id,coop_id,rated_power_w,profile\n"
        "meter,m-1,coop1,800,shelly-gen2\nmeter,m-2,coop1,800,Tasmota\nmeter,m-3,coop1,800,\nbin,b-1,coop1,,\n"
    )
    assert [r.spec.profile for r in rows] == ["shelly-gen2", "tasmota", "circulo", "circulo"]


def test_a_survey_row_with_a_profile_on_a_bin_is_named_by_its_line() -> None:
    with pytest.raises(SurveyError, match="line 3: profile shelly-gen2 is for meters only"):
        read_survey(
            "kind,device_id,coop_id,rated_power_w,profile\nmeter,m-1,c,1,tasmota\nbin,b-1,c,,shelly-gen2\n"
        )


def test_a_shelly_bundle_carries_its_mqtt_setconfig_with_the_circulo_prefix_and_commands_off() -> None:
    bundle = build_bundle(credentials("shelly-gen2"), BROKER, PUBLIC_CA)
    setup = bundle["firmware_setup"]
    config = next(r for r in setup["rpc_requests"] if r["method"] == "MQTT.SetConfig")["params"]["config"]
    assert config == {
        "enable": True,
        "server": "broker.example:8883",
        "client_id": "m-1",
        "user": "m-1",
        "pass": "s3cret-pass-0123456789abcdefghij",
        "ssl_ca": "ca.pem",
        "topic_prefix": "circulo/v1/meter/m-1",
        "rpc_ntf": True,
        "status_ntf": True,
        "enable_rpc": False,
        "enable_control": False,
    }
    assert [r["method"] for r in setup["rpc_requests"]] == ["MQTT.SetConfig", "Shelly.Reboot"]
    assert bundle["profile"] == "shelly-gen2" and "examples" not in bundle and "last_will" not in bundle


def test_a_shelly_with_the_coops_own_ca_uploads_it_first_and_verifies_the_broker_with_it() -> None:
    bundle = build_bundle(credentials("shelly-gen2"), BROKER, PUBLIC_CA)
    pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
    setup = with_firmware_setup({**bundle, "ca_cert": pem})["firmware_setup"]
    assert setup["rpc_requests"][0] == {
        "id": 1,
        "method": "Shelly.PutUserCA",
        "params": {"data": pem, "append": False},
    }
    assert setup["rpc_requests"][1]["params"]["config"]["ssl_ca"] == "user_ca.pem"


def test_a_tasmota_bundle_carries_one_console_line_with_utc_and_the_full_topic() -> None:
    bundle = build_bundle(credentials("tasmota"), BROKER, PUBLIC_CA)
    assert bundle["firmware_setup"]["console"] == (
        "Backlog Timezone 0; SetOption52 1; TelePeriod 60; MqttHost broker.example; MqttPort 8883; "
        "SetOption103 1; SetOption132 0; MqttUser m-1; MqttPassword s3cret-pass-0123456789abcdefghij; "
        "MqttClient m-1-c; Topic m-1; FullTopic circulo/v1/meter/%topic%/%prefix%/"
    )


def test_a_plaintext_tasmota_gets_no_tls_commands() -> None:
    line = tasmota_backlog(BrokerFacts("m-1", "pw-12345", "10.0.0.2", 1883, False))
    assert "SetOption103" not in line and "MqttPort 1883" in line


def test_the_qr_code_of_a_profiled_meter_names_its_profile_and_carries_its_setup() -> None:
    compact = compact_bundle(build_bundle(credentials("tasmota"), BROKER, PUBLIC_CA))
    assert compact["profile"] == "tasmota" and compact["setup"].startswith("Backlog Timezone 0;")
    native = compact_bundle(build_bundle(credentials("circulo"), BROKER, PUBLIC_CA))
    assert "profile" not in native and "setup" not in native


# --- the command line, on the real database and broker -----------------------------------------
@pytest.fixture
def env(db_url: str, broker: MosquittoBroker, broker_accounts: BrokerAccounts) -> dict[str, str]:
    return broker_accounts.registry_env(db_url, device_broker_url="mqtts://broker.example.org:8883")


def run(env: dict[str, str], *args: str) -> Result:
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


def test_device_add_with_a_profile_prints_the_firmware_setup_and_list_show_and_update_carry_it(
    env: dict[str, str],
) -> None:
    assert run(env, "coop", "add", "riverside", "--name", "Riverside").exit_code == 0
    device_id = unique_id("ta")
    added = run(env, "device", "add", "meter", device_id, "--coop", "riverside", "--rated-power-w", "600",
                "--profile", "tasmota")  # fmt: skip
    assert added.exit_code == 0, added.stderr
    assert f"meter {device_id} (profile tasmota) registered" in added.stdout
    assert f"Topic {device_id}; FullTopic circulo/v1/meter/%topic%/%prefix%/" in added.stdout
    listed = run(env, "device", "list")
    assert any(line.split()[:3] == [device_id, "meter", "tasmota"] for line in listed.stdout.splitlines())
    shown = json.loads(run(env, "device", "show", device_id, "--json").stdout)
    assert shown["profile"] == "tasmota"
    updated = run(env, "device", "update", device_id, "--profile", "shelly-gen2", "--json")
    assert updated.exit_code == 0, updated.stderr
    assert json.loads(updated.stdout)["profile"] == "shelly-gen2"
    refused = run(env, "device", "add", "bin", unique_id("b"), "--coop", "riverside", "--profile", "tasmota")
    assert refused.exit_code != 0 and "profile tasmota is for meters only" in refused.stderr
