"""CSV import and sync on a real database and broker: all or nothing, re-runs change nothing,
half-done steps are repaired."""

from __future__ import annotations

import json
from pathlib import Path

import psycopg
import pytest

from circulo.errors import Conflict
from circulo.localstack.mosquitto import MosquittoBroker
from circulo.registry import devices, members, store
from circulo.registry.access import device_role
from circulo.registry.bundle import IssuedCredentials
from circulo.registry.handout import Handout
from circulo.registry.model import DeviceSpec
from circulo.registry.provision import broker_admin
from circulo.registry.reconcile import Step
from circulo.registry.settings import RegistrySettings
from circulo.registry.survey import SurveyError, read_survey
from tests.factories import add_device, unique_id
from tests.registry.mqtt_probe import Probe

HEADER = "kind,device_id,coop_id,lat,lon,location_name,rated_power_w,capacity_kg,installer,notes\n"


def survey(ids: list[str], *, bad_line: str | None = None) -> str:
    meter, bin_, repair = ids
    lines = [
        f"meter,{meter},coop1,52.37,4.89,Roof A,5000,,Sam,",
        f"bin,{bin_},coop1,52.36,4.90,Market,,240,Sam,",
        f"repair,{repair},coop1,,,Library,,,Ana,Tuesdays",
    ]
    if bad_line:
        lines.insert(1, bad_line)
    return HEADER + "\n".join(lines) + "\n"


class Bundles:
    """Collects issued credentials the way the CLI does: a bundle file per device."""

    def __init__(self, settings: RegistrySettings, directory: Path) -> None:
        self.settings, self.directory = settings, directory
        self.issued: list[IssuedCredentials] = []

    def __call__(self, credentials: IssuedCredentials) -> None:
        self.issued.append(credentials)
        Handout.prepare(self.settings, self.directory).hand_out(credentials)

    def password(self, device_id: str) -> str:
        bundle = json.loads((self.directory / f"{device_id}.json").read_text())
        password: str = bundle["password"]
        return password


def can_connect(broker: MosquittoBroker, username: str, password: str) -> bool:
    with Probe.at(broker, username, password) as probe:
        probe.connect()
        return probe.connected.is_set()


def device_count(db_url: str) -> int:
    with psycopg.connect(db_url) as conn:
        row = conn.execute("SELECT count(*) FROM device").fetchone()
    assert row is not None
    return int(row[0])


def test_a_good_survey_registers_every_row_and_every_broker_client(
    registry_settings: RegistrySettings, coop_id: str, broker: MosquittoBroker, tmp_path: Path
) -> None:
    ids = [unique_id("m"), unique_id("b"), unique_id("r")]
    bundles = Bundles(registry_settings, tmp_path)
    result = devices.import_survey(registry_settings, read_survey(survey(ids)), "site.csv", bundles)
    assert result.added == tuple(ids) and result.issued == tuple(ids) and not result.failed
    registered = {d.device_id: d for d in devices.list_devices(registry_settings)}
    assert set(registered) == set(ids)
    assert {d.broker_state for d in registered.values()} == {"provisioned"}
    assert registered[ids[1]].spec.lat == 52.36
    with broker_admin(registry_settings) as admin:
        for device_id in ids:
            client = admin.get_client(device_id)
            assert client is not None and client.roles == (device_role(device_id),)
    for device_id in ids:
        assert can_connect(broker, device_id, bundles.password(device_id))


@pytest.mark.parametrize(
    ("bad_line", "line", "message"),
    [
        ("meter,{x},coop1,,,,,,,", 3, "a meter needs rated_power_w"),
        ("bin,{x},nowhere,,,,,,,", 3, "co-op nowhere is not registered"),
    ],
)
def test_a_survey_with_one_bad_row_applies_nothing_and_names_the_row(
    registry_settings: RegistrySettings,
    coop_id: str,
    tmp_path: Path,
    bad_line: str,
    line: int,
    message: str,
) -> None:
    ids = [unique_id("m"), unique_id("b"), unique_id("r")]
    bundles = Bundles(registry_settings, tmp_path)
    with pytest.raises(SurveyError) as raised:
        rows = read_survey(survey(ids, bad_line=bad_line.format(x=unique_id("x"))), "site.csv")
        devices.import_survey(registry_settings, rows, "site.csv", bundles)
    assert [p.line for p in raised.value.problems] == [line]
    assert message in raised.value.message and f"line {line}" in raised.value.message
    assert device_count(registry_settings.database_url) == 0
    assert bundles.issued == []
    with broker_admin(registry_settings) as admin:
        assert all(admin.get_client(device_id) is None for device_id in ids)


def test_running_the_same_import_again_changes_nothing(
    registry_settings: RegistrySettings, coop_id: str, broker: MosquittoBroker, tmp_path: Path
) -> None:
    ids = [unique_id("m"), unique_id("b"), unique_id("r")]
    rows = read_survey(survey(ids))
    bundles = Bundles(registry_settings, tmp_path)
    devices.import_survey(registry_settings, rows, "site.csv", bundles)
    before = {d.device_id: d for d in devices.list_devices(registry_settings)}
    again = devices.import_survey(registry_settings, rows, "site.csv", bundles)
    assert again.added == () and again.unchanged == tuple(ids) and again.issued == ()
    after = {d.device_id: d for d in devices.list_devices(registry_settings)}
    assert after == before
    assert len(bundles.issued) == 3
    assert can_connect(broker, ids[0], bundles.password(ids[0]))  # the first password still works


def test_rerunning_an_import_gives_a_client_to_a_row_whose_broker_step_never_ran(
    own_broker_settings: RegistrySettings, fresh_broker: MosquittoBroker, tmp_path: Path
) -> None:
    members.add_coop(own_broker_settings, "coop1", "Co-op One")
    ids = [unique_id("m"), unique_id("b"), unique_id("r")]
    with psycopg.connect(own_broker_settings.database_url, autocommit=True) as conn:
        store.insert_device(conn, read_survey(survey(ids))[1].spec)  # the DB step of an interrupted import
    bundles = Bundles(own_broker_settings, tmp_path)
    result = devices.import_survey(own_broker_settings, read_survey(survey(ids)), "site.csv", bundles)
    assert result.unchanged == (ids[1],) and set(result.issued) == set(ids)
    assert can_connect(fresh_broker, ids[1], bundles.password(ids[1]))


def test_sync_repairs_a_device_row_without_a_broker_client(
    own_broker_settings: RegistrySettings, fresh_broker: MosquittoBroker, tmp_path: Path
) -> None:
    device_id = unique_id("m")
    with psycopg.connect(own_broker_settings.database_url, autocommit=True) as conn:
        add_device(conn, device_id, "meter")  # registered, but the broker step never happened
    bundles = Bundles(own_broker_settings, tmp_path)
    dry = devices.sync_broker(own_broker_settings, bundles, dry_run=True)
    assert [(a.step, a.target) for a in dry] == [
        (Step.SET_ROLE, device_role(device_id)),
        (Step.CREATE_CLIENT, device_id),
        (Step.RECORD_STATE, device_id),
    ]
    assert bundles.issued == [] and not can_connect(fresh_broker, device_id, "")
    applied = devices.sync_broker(own_broker_settings, bundles)
    assert applied == dry
    assert [c.device_id for c in bundles.issued] == [device_id]
    assert can_connect(fresh_broker, device_id, bundles.password(device_id))
    assert devices.show_device(own_broker_settings, device_id).broker_state == "provisioned"
    assert devices.sync_broker(own_broker_settings, bundles) == []  # a second sync has nothing to do


def test_sync_disables_the_client_of_a_device_retired_while_the_broker_was_away(
    own_broker_settings: RegistrySettings, fresh_broker: MosquittoBroker
) -> None:
    members.add_coop(own_broker_settings, "coop1", "Co-op One")
    spec = DeviceSpec("bin", unique_id("b"), "coop1")
    credentials = devices.add_device(own_broker_settings, spec).credentials
    with psycopg.connect(own_broker_settings.database_url, autocommit=True) as conn:
        conn.execute(
            "UPDATE device SET status = 'retired', retired_at = now() WHERE device_id = %s",
            (credentials.device_id,),
        )
    assert can_connect(fresh_broker, credentials.device_id, credentials.password)
    plan = devices.sync_broker(own_broker_settings, lambda c: None)
    assert [(a.step, a.target) for a in plan] == [
        (Step.DISABLE_CLIENT, credentials.device_id),
        (Step.RECORD_STATE, credentials.device_id),
    ]
    assert not can_connect(fresh_broker, credentials.device_id, credentials.password)
    assert devices.show_device(own_broker_settings, credentials.device_id).broker_state == "disabled"


def test_sync_disables_an_orphan_device_client_and_reports_a_foreign_one(
    own_broker_settings: RegistrySettings, fresh_broker: MosquittoBroker
) -> None:
    members.add_coop(own_broker_settings, "coop1", "Co-op One")
    orphan = devices.add_device(own_broker_settings, DeviceSpec("bin", unique_id("b"), "coop1")).credentials
    with psycopg.connect(own_broker_settings.database_url, autocommit=True) as conn:
        conn.execute("DELETE FROM device_credentials WHERE device_id = %s", (orphan.device_id,))
        conn.execute("DELETE FROM device WHERE device_id = %s", (orphan.device_id,))
        add_device(conn, "svc-ingest", "bin")  # a device named like the ingest's service account
    plan = devices.sync_broker(own_broker_settings, lambda c: None)
    assert [(a.step, a.target) for a in plan] == [
        (Step.DISABLE_ORPHAN, orphan.device_id),
        (Step.CONFLICT, "svc-ingest"),
    ]
    assert not can_connect(fresh_broker, orphan.device_id, orphan.password)
    with pytest.raises(Conflict, match="not this device's"):
        devices.rotate_credentials(own_broker_settings, "svc-ingest")
