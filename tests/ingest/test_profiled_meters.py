"""Profiled meters through the real broker, ingest and database (SPEC §10)."""

from __future__ import annotations

import json
import re
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.support import IngestProcess, Publisher, register, rows, scalar, wait_for

from circulo.localstack.procs import free_port

NOW = datetime.now(UTC).replace(second=0, microsecond=0)
PREFIX = "circulo/v1/meter"


def minute_ts(at: datetime) -> int:
    return int(at.timestamp())


def switch_status(at: datetime, total: str, power: str = "12.5") -> bytes:
    """``status/switch:0`` as a Shelly publishes it (spaces after commas, as captured)."""
    return (
        f'{{"id":0, "source":"init", "output":true, "apower":{power}, "voltage":231.0, '
        f'"aenergy":{{"total":{total},"by_minute":[0.000,0.000,0.000],"minute_ts":{minute_ts(at)}}},'
        f'"temperature":{{"tC":41.2, "tF":106.2}}}}'
    ).encode()


def notify(device: str, at: datetime, total: str) -> bytes:
    """The same reading in a NotifyStatus on ``events/rpc``."""
    return json.dumps(
        {
            "src": f"shellypmminig3-{device}",
            "dst": f"{PREFIX}/{device}/events",
            "method": "NotifyStatus",
            "params": {
                "ts": float(f"{at.timestamp() + 0.04:.2f}"),
                "switch:0": {
                    "aenergy": {"by_minute": [0, 0, 0], "minute_ts": minute_ts(at), "total": float(total)}
                },
            },
        },
        separators=(",", ":"),
    ).encode()


def sensor(at: datetime, total_kwh: str, power: int = 230) -> bytes:
    """``tele/SENSOR`` as Tasmota publishes it (``Time`` in UTC with ``Timezone 0``)."""
    return (
        f'{{"Time":"{at.strftime("%Y-%m-%dT%H:%M:%S")}","ENERGY":{{"TotalStartTime":"2024-01-01T00:00:00",'
        f'"Total":{total_kwh},"Yesterday":0.000,"Today":0.000,"Period": 0,"Power":{power},'
        f'"ApparentPower":{power},"ReactivePower":0,"Factor":1.00,"Voltage":230,"Current":1.000}}}}'
    ).encode()


OUTCOMES = re.compile(
    r'^circulo_ingest_messages_total\{outcome="(\w+)",reason="([^"]*)"\} ([0-9.e+]+)$', re.M
)


def outcomes(port: int) -> dict[tuple[str, str], float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    return {(m.group(1), m.group(2)): float(m.group(3)) for m in OUTCOMES.finditer(text)}


def test_a_shelly_reading_on_two_topics_is_stored_once_with_its_raw_bytes_and_boot_topics_are_ignored(
    db_url: str, ingest_url: str, service_mqtt_url: str, ingest_factory: Callable[..., Any]
) -> None:
    register(db_url, [("sh1", "meter")], profiles={"sh1": "shelly-gen2"})
    port = free_port()
    ingest_factory(db_url, ingest_url, args=["--metrics-port", str(port)])
    status_bytes = switch_status(NOW, "26064.252")
    messages = [
        (f"{PREFIX}/sh1/online", b"true"),
        (f"{PREFIX}/sh1/status/sys", b'{"mac":"F008D1D8B8B8","restart_required":false,"uptime":15}'),
        (f"{PREFIX}/sh1/status/wifi", b'{"sta_ip":"192.168.1.14","status":"got ip","rssi":-79}'),
        (f"{PREFIX}/sh1/status/switch:0", status_bytes),
        (f"{PREFIX}/sh1/events/rpc", notify("sh1", NOW, "26064.252")),
        (
            f"{PREFIX}/sh1/events/rpc",
            b'{"method":"NotifyStatus","params":{"ts":1757591520.01,"sys":{"uptime":16}}}',
        ),
    ]
    with Publisher(service_mqtt_url) as pub:
        pub.publish_all(messages)
    wait_for(lambda: sum(outcomes(port).values()) >= 6, what="six outcomes")
    counted = outcomes(port)
    assert counted[("stored", "")] == 2  # the reading and the online status
    assert counted[("duplicate", "")] == 1  # the same reading in the notification
    assert counted[("ignored", "shelly-gen2:status/sys")] == 1
    assert counted[("ignored", "shelly-gen2:status/wifi")] == 1
    assert counted[("ignored", "shelly-gen2:events/rpc:NotifyStatus:no-register")] == 1
    assert rows(
        db_url, "SELECT ts, seq, energy_wh, power_w, voltage_v, temp_c, raw_payload FROM meter_reading"
    ) == [(NOW, None, 26064, 12.5, 231.0, 41.2, status_bytes)]
    assert rows(db_url, "SELECT state, raw_payload FROM device_status") == [("online", b"true")]
    assert scalar(db_url, "SELECT count(*) FROM quarantine") == 0
    assert scalar(db_url, "SELECT online FROM device_state WHERE device_id = 'sh1'") is True


def test_another_register_for_the_same_minute_is_a_conflict(
    db_url: str, ingest: IngestProcess, service_mqtt_url: str
) -> None:
    register(db_url, [("sh2", "meter")], profiles={"sh2": "shelly-gen2"})
    with Publisher(service_mqtt_url) as pub:
        pub.publish_all([(f"{PREFIX}/sh2/status/switch:0", switch_status(NOW, "100.5"))])
        wait_for(lambda: scalar(db_url, "SELECT count(*) FROM meter_reading"), what="the first reading")
        pub.publish_all([(f"{PREFIX}/sh2/events/rpc", notify("sh2", NOW, "101.5"))])
    found = wait_for(lambda: rows(db_url, "SELECT reason, detail FROM quarantine"), what="the conflict")
    assert found == [("conflict", "(device_id, ts) already stored with another register value")]


def test_a_tasmota_meter_is_read_in_whole_wh_and_its_loss_counted_from_its_reporting_period(
    db_url: str, ingest: IngestProcess, service_mqtt_url: str
) -> None:
    register(db_url, [("ta1", "meter")], profiles={"ta1": "tasmota"})
    t0 = NOW - timedelta(minutes=10)
    minute = timedelta(minutes=1)
    with Publisher(service_mqtt_url) as pub:
        pub.publish_all([(f"{PREFIX}/ta1/tele/LWT", b"Online")], retain=True)
        for at, total in ((t0, "6.294"), (t0 + minute, "6.2949"), (t0 + 4 * minute, "6.301")):
            pub.publish_all([(f"{PREFIX}/ta1/tele/SENSOR", sensor(at, total))])
        wait_for(lambda: scalar(db_url, "SELECT count(*) FROM meter_reading") == 3, what="three readings")
        pub.publish_all(
            [(f"{PREFIX}/ta1/tele/SENSOR", sensor(t0 + 2 * minute, "6.297"))]
        )  # late: fills a gap
        wait_for(lambda: scalar(db_url, "SELECT count(*) FROM meter_reading") == 4, what="the late reading")
        pub.publish_all([(f"{PREFIX}/ta1/tele/LWT", b"")], retain=True)  # clear the retained will
    assert rows(db_url, "SELECT ts, energy_wh, power_w FROM meter_reading ORDER BY ts") == [
        (t0, 6294, 230.0),
        (t0 + minute, 6294, 230.0),
        (t0 + 2 * minute, 6297, 230.0),
        (t0 + 4 * minute, 6301, 230.0),
    ]
    # 4 readings in 4 periods after the first: the gap of 3 periods counted 2 missing, the late one filled 1
    assert rows(db_url, "SELECT seq_received, seq_missing FROM device_state WHERE device_id = 'ta1'") == [
        (4, 1)
    ]
    assert scalar(db_url, "SELECT state FROM device_status WHERE device_id = 'ta1'") == "online"
