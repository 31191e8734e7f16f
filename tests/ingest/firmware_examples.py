"""Firmware payloads from Shelly's and Tasmota's documentation and from captured devices.

Each example names where it comes from. Tasmota's come from its documentation
(``github:tasmota/docs`` @ 9849ab94d785118a4e59b3d063b83e843be7a325). Shelly's API pages
define the fields and frames (https://shelly-api-docs.shelly.cloud/gen2/); the full example
payloads on those pages could not be read here, so the Shelly payloads below are frames
captured from real devices and posted publicly, as /work/research/profiles.md records,
each with its source. Bytes are kept exactly as published (spaces included).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal


@dataclass(frozen=True)
class Example:
    """One firmware message and what the ingest must make of it."""

    name: str
    source: str
    profile: str
    rest: str  # the topic after circulo/v1/meter/{device_id}/
    payload: bytes
    # a reading (ts, energy_wh, power_w, voltage_v, frequency_hz, temp_c), a status
    # ("status", state, ts, uptime_s), ("ignored", what), or ("quarantined", reason, detail part)
    expected: tuple[object, ...]


def unix(seconds: int | str) -> datetime:
    """A Unix time as an aware UTC datetime (exact for decimal seconds)."""
    value = Decimal(seconds)
    whole = int(value)
    return datetime.fromtimestamp(whole, UTC).replace(microsecond=int((value - whole) * 1_000_000))


D = Decimal
SHELLY = "shelly-gen2"
TASMOTA = "tasmota"

SHELLY_EXAMPLES = (
    Example(
        "a 1PM Mini's status/switch:0",
        "ioBroker.shelly issue 813 (MQTT capture of a Shelly 1PM Mini)",
        SHELLY,
        "status/switch:0",
        b'{"id":0, "source":"MQTT", "output":true, "apower":3.8, "voltage":231.0, "freq":50.1, '
        b'"current":0.030, "aenergy":{"total":26064.252,"by_minute":[198.422,0.000,0.000],'
        b'"minute_ts":1698999933},"temperature":{"tC":42.0, "tF":107.6}}',
        (unix(1698999933), 26064, D("3.8"), D("231.0"), D("50.1"), D("42.0")),
    ),
    Example(
        "the Shelly.GetStatus example's switch:0 (Pro 4PM) as its status topic",
        "shelly-api-docs Shelly.GetStatus example, as copied into a mock server (code index 449249422)",
        SHELLY,
        "status/switch:0",
        b'{"id":0,"source":"timer","output":true,"timer_started_at":1626935739.79,"timer_duration":60,'
        b'"apower":8.9,"voltage":237.5,"aenergy":{"total":6.532,"by_minute":[45.199,47.141,88.397],'
        b'"minute_ts":1626935779},"temperature":{"tC":23.5,"tF":74.4}}',
        (unix(1626935779), 6, D("8.9"), D("237.5"), None, D("23.5")),
    ),
    Example(
        "a 1PM Gen4's NotifyStatus with the register",
        "AIIDA docs, 'Data Source: Shelly' (captured MQTT frame, code index 38387159819)",
        SHELLY,
        "events/rpc",
        b'{"src":"shelly1pmg4-1234567890ab","dst":"aiida/12345678-1234-1234-1234-123456789abc/events",'
        b'"method":"NotifyStatus","params":{"ts":1757591520.01,"switch:0":{"aenergy":{"by_minute":[0,0,0],'
        b'"minute_ts":1757591520,"total":0},"apower":0,"current":0,"freq":50.01,"ret_aenergy":'
        b'{"by_minute":[0,0,0],"minute_ts":1757591520,"total":0},"voltage":228.5}}}',
        (unix(1757591520), 0, D(0), D("228.5"), D("50.01"), None),
    ),
    Example(
        "a Pro 3EM's NotifyStatus with emdata:0",
        "AIIDA docs, 'Data Source: Shelly' (captured MQTT frame, code index 38387159819)",
        SHELLY,
        "events/rpc",
        b'{"src":"shellypro3em-1234567890ab","dst":"aiida/12345678-1234-1234-1234-123456789abc/events",'
        b'"method":"NotifyStatus","params":{"ts":1757060280.21,"emdata:0":{"id":0,"a_total_act_energy":0.06,'
        b'"a_total_act_ret_energy":0,"b_total_act_energy":0.06,"b_total_act_ret_energy":0.01,'
        b'"c_total_act_energy":26289.44,"c_total_act_ret_energy":131881.85,"total_act":26289.57,'
        b'"total_act_ret":131881.86}}}',
        (unix("1757060280.21"), 26289, None, None, None, None),
    ),
    Example(
        "a PM Mini Gen3's pm1:0 status",
        "openWB/core shelly_test.py, from forum.openwb.de viewtopic p=117309 (device capture)",
        SHELLY,
        "status/pm1:0",
        b'{"id":0,"voltage":230.9,"current":1,"apower":230,"freq":51,"aenergy":{"total":3195.88,'
        b'"by_minute":[0,0,0],"minute_ts":1727857620},"ret_aenergy":{"total":0,"by_minute":[0,0,0],'
        b'"minute_ts":1727857620}}',
        (unix(1727857620), 3195, D(230), D("230.9"), D(51), None),
    ),
    Example(
        "online on connect",
        "ioBroker.shelly issue 813 (publish shellyplus2pm-Einfahrt/online, payload true)",
        SHELLY,
        "online",
        b"true",
        ("status", "online", None, None),
    ),
    Example(
        "the Last Will",
        "ioBroker.shelly issue 970 (CONNECT of a Plus 1PM: will payload bytes 'false', retained)",
        SHELLY,
        "online",
        b"false",
        ("status", "offline", None, None),
    ),
    Example(
        "a NotifyStatus that carries only the cloud connection",
        "a captured Plus 1 frame quoted in a Go project (code index 25509811877)",
        SHELLY,
        "events/rpc",
        b'{"src":"shellyplus1-08b61fd90730","dst":"shellyplus1-08b61fd90730/events","method":"NotifyStatus",'
        b'"params":{"ts":1736604020.06,"cloud":{"connected":true}}}',
        ("ignored", "shelly-gen2:events/rpc:NotifyStatus:no-register"),
    ),
    Example(
        "a NotifyEvent (exponent-notation ts)",
        "captured frame (code index 51869651622)",
        SHELLY,
        "events/rpc",
        b'{"src":"shellyplus1-441793ab3fb4","dst":"shellyplus1-441793ab3fb4/events","method":"NotifyEvent",'
        b'"params":{"ts":176356359465e-2,"events":[{"component":"sys","event":"scheduled_restart",'
        b'"time_ms":997,"ts":176356359465e-2}]}}',
        ("ignored", "shelly-gen2:events/rpc:NotifyEvent"),
    ),
    Example(
        "status/sys",
        "Sys status example, https://repo.shelly.cloud/firmware/ng-api/gen2/Components/SystemComponents/Sys/",
        SHELLY,
        "status/sys",
        b'{"mac":"F008D1D8B8B8","restart_required":false,"time":"12:25","unixtime":1626945905,'
        b'"uptime":15869,"ram_size":250112,"ram_free":110736,"fs_size":474641,"fs_free":336340,'
        b'"available_updates":{}}',
        ("ignored", "shelly-gen2:status/sys"),
    ),
    Example(
        "status/wifi, as pasted (not even valid JSON: ignored without being parsed)",
        "ioBroker.shelly issue 927 (MQTT Explorer paste from a 1 Mini Gen3)",
        SHELLY,
        "status/wifi",
        b'{"sta_ip":"192.168.1.14","status":"got ip","ssid":"Vodafone-A41357753","rssi" :- 79}',
        ("ignored", "shelly-gen2:status/wifi"),
    ),
    Example(
        "the Pro EM's em1data status carries no time: its readings come from events/rpc",
        "evcc discussion 12385 (Shelly.GetStatus of a Pro EM-50: em1data:0)",
        SHELLY,
        "status/em1data:0",
        b'{"id":0,"total_act_energy":0.00,"total_act_ret_energy":0.00}',
        ("ignored", "shelly-gen2:status/em1data"),
    ),
    Example(
        "a NotifyStatus before SNTP set the clock (ts = seconds since boot)",
        "the pre-sync ts of a Plus Smoke frame (code index 30311687520) on a switch frame",
        SHELLY,
        "events/rpc",
        b'{"src":"shellyplus1pm-x","dst":"p/events","method":"NotifyStatus","params":{"ts":1.33,'
        b'"switch:0":{"id":0,"aenergy":{"total":12.5,"by_minute":[0,0,0]}}}}',
        ("quarantined", "schema", "params.ts: 1970-01-01T00:00:01.330Z: the device's clock is not set"),
    ),
    Example(
        "a Tasmota SENSOR on a Shelly device: a profile mismatch",
        "tasmota docs/devices/Sonoff-Pow-R2.md, published by a device registered as shelly-gen2",
        SHELLY,
        "tele/SENSOR",
        b'{"Time":"2018-02-15T17:37:10","ENERGY":{"Total":6.294}}',
        (
            "quarantined",
            "topic",
            "a tasmota topic ('tele/SENSOR') from m1, registered with profile shelly-gen2",
        ),
    ),
)

TASMOTA_EXAMPLES = (
    Example(
        "a Sonoff Pow R2's SENSOR",
        "tasmota docs/devices/Sonoff-Pow-R2.md",
        TASMOTA,
        "tele/SENSOR",
        b'{"Time":"2018-02-15T17:37:10","ENERGY":{"TotalStartTime":"2018-11-14T18:39:40","Total":6.294,'
        b'"Yesterday":5.340,"Today":0.954,"Period":217,"Power":2635,"ApparentPower":2650,'
        b'"ReactivePower":282,"Factor":0.99,"Voltage":227,"Current":11.661}}',
        (datetime(2018, 2, 15, 17, 37, 10, tzinfo=UTC), 6294, D(2635), D(227), None, None),
    ),
    Example(
        'a SENSOR with Tasmota\'s fixed-width numbers ("Period": 9)',
        "tasmota docs/Teleinfo.md",
        TASMOTA,
        "tele/SENSOR",
        b'{"Time":"2021-10-26T17:28:45","ENERGY":{"TotalStartTime":"2021-10-25T15:22:04","Total":9098.245,'
        b'"Yesterday":6822.685,"Today":2275.560,"Period": 9,"Power":170,"Current":1.000,"Load":6}}',
        (datetime(2021, 10, 26, 17, 28, 45, tzinfo=UTC), 9098245, D(170), None, None, None),
    ),
    Example(
        "a STATE with SetOption52's offset",
        "tasmota docs/DeepSleep.md",
        TASMOTA,
        "tele/STATE",
        b'{"Time":"2021-06-27T15:03:44+02:00","Uptime":"0T00:00:13","UptimeSec":13,"Heap":28,'
        b'"SleepMode":"Dynamic","Sleep":50,"LoadAvg":19,"MqttCount":1,"POWER":"ON","Wifi":{"AP":1,'
        b'"SSId":"DEMOAP","BSSId":"XX:XX:XX:XX:XX:XX","Channel":1,"Mode":"11n","RSSI":86,"Signal":-57,'
        b'"LinkCount":1,"Downtime":"0T00:00:07"}}',
        ("status", "online", datetime(2021, 6, 27, 13, 3, 44, tzinfo=UTC), 13),
    ),
    Example(
        "LWT Online",
        "tasmota docs/MQTT.md (LWT Topic)",
        TASMOTA,
        "tele/LWT",
        b"Online",
        ("status", "online", None, None),
    ),
    Example(
        "LWT Offline",
        "tasmota docs/MQTT.md (LWT Topic)",
        TASMOTA,
        "tele/LWT",
        b"Offline",
        ("status", "offline", None, None),
    ),
    Example(
        "INFO1 at boot",
        "tasmota docs/API.md (boot log)",
        TASMOTA,
        "tele/INFO1",
        b'{"Module":"Generic","Version":"7.0.0.3(tasmota)","FallbackTopic":"cmnd/DVES_15568C_fb/",'
        b'"GroupTopic":"cmnd/sonoffs/"}',
        ("ignored", "tasmota:tele/INFO1"),
    ),
    Example(
        "INFO2 at boot",
        "tasmota docs/API.md (boot log)",
        TASMOTA,
        "tele/INFO2",
        b'{"WebServerMode":"Admin","Hostname":"wemos2","IPAddress":"192.168.2.191"}',
        ("ignored", "tasmota:tele/INFO2"),
    ),
    Example(
        "INFO3 at boot",
        "tasmota docs/API.md (boot log)",
        TASMOTA,
        "tele/INFO3",
        b'{"RestartReason":"Software/System restart"}',
        ("ignored", "tasmota:tele/INFO3"),
    ),
    Example(
        "stat/RESULT",
        "tasmota docs/API.md (boot log)",
        TASMOTA,
        "stat/RESULT",
        b'{"POWER1":"OFF"}',
        ("ignored", "tasmota:stat/RESULT"),
    ),
    Example(
        "stat/POWER1 (plain text)",
        "tasmota docs/API.md (boot log)",
        TASMOTA,
        "stat/POWER1",
        b"OFF",
        ("ignored", "tasmota:stat/POWER"),
    ),
    Example(
        "a SENSOR without an energy monitor",
        "tasmota docs/Rules.md (DS18B20 SENSOR)",
        TASMOTA,
        "tele/SENSOR",
        b'{"Time":"2021-01-13T23:58:41","DS18B20":{"Id":"030597946B04","Temperature":20.9},"TempUnit":"C"}',
        ("quarantined", "schema", "ENERGY: required"),
    ),
    Example(
        "a Shelly status topic on a Tasmota device: a profile mismatch",
        "the 1PM Mini capture above, published by a device registered as tasmota",
        TASMOTA,
        "status/switch:0",
        b'{"id":0,"aenergy":{"total":1.0,"minute_ts":1698999933}}',
        (
            "quarantined",
            "topic",
            "a shelly-gen2 topic ('status/switch:0') from m1, registered with profile tasmota",
        ),
    ),
)

EXAMPLES = SHELLY_EXAMPLES + TASMOTA_EXAMPLES
