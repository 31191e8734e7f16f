"""What an installer sets on a meter's own firmware, per profile (pure; SPEC §10).

``circulo device add --profile …`` prints these steps, and the provisioning bundle
carries them (``firmware_setup``). docs/installers.md explains each setting, with the
firmware documentation it comes from:

- Shelly Gen2+: one ``MQTT.SetConfig`` RPC (server, credentials, TLS CA, the topic prefix
  ``circulo/v1/meter/{device_id}``, status and RPC notifications on, RPC and MQTT control
  over MQTT off), an upload of the co-op's CA when it is private (``Shelly.PutUserCA``),
  then ``Shelly.Reboot``; or the same fields in the device's web UI.
- Tasmota: one console ``Backlog`` line (``Timezone 0``, ``TelePeriod``, ``MqttHost``,
  ``MqttUser``, ``MqttPassword``, ``Topic {device_id}``, ``FullTopic
  circulo/v1/meter/%topic%/%prefix%/``, TLS where the build has it).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from circulo_schemas.profiles import (
    SHELLY_GEN2,
    TASMOTA,
    TASMOTA_TELE_PERIOD_S,
    device_prefix,
    tasmota_full_topic,
)


@dataclass(frozen=True)
class BrokerFacts:
    """Where and how the device connects (from the bundle)."""

    device_id: str
    password: str
    host: str
    port: int
    tls: bool
    ca_pem: str | None = None  # the co-op's own CA (None: a public CA, or no TLS)


def firmware_setup(profile: str, facts: BrokerFacts) -> dict[str, Any] | None:
    """The settings of a profiled meter's firmware, or None for a ``circulo`` device."""
    if profile == SHELLY_GEN2:
        return shelly_setup(facts)
    if profile == TASMOTA:
        return tasmota_setup(facts)
    return None


def shelly_ssl_ca(facts: BrokerFacts) -> str | None:
    """Shelly's ``ssl_ca``: the uploaded user CA, the built-in bundle, or plain TCP."""
    if not facts.tls:
        return None
    return "user_ca.pem" if facts.ca_pem else "ca.pem"


def shelly_mqtt_config(facts: BrokerFacts) -> dict[str, Any]:
    """The ``config`` of ``MQTT.SetConfig``."""
    return {
        "enable": True,
        "server": f"{facts.host}:{facts.port}",
        "client_id": facts.device_id,
        "user": facts.device_id,
        "pass": facts.password,
        "ssl_ca": shelly_ssl_ca(facts),
        "topic_prefix": device_prefix(facts.device_id),
        "rpc_ntf": True,  # NotifyStatus: the EM families' readings come only from here
        "status_ntf": True,  # status/{component}:{id}
        "enable_rpc": False,  # no RPC over MQTT: the broker refuses {prefix}/rpc anyway
        "enable_control": False,  # no MQTT control: {prefix}/command/… is refused too
    }


def shelly_requests(facts: BrokerFacts) -> list[dict[str, Any]]:
    """The RPC requests, in order (HTTP ``POST http://{device}/rpc`` with each body)."""
    requests: list[dict[str, Any]] = []
    if facts.tls and facts.ca_pem:
        requests.append({"method": "Shelly.PutUserCA", "params": {"data": facts.ca_pem, "append": False}})
    requests.append({"method": "MQTT.SetConfig", "params": {"config": shelly_mqtt_config(facts)}})
    requests.append({"method": "Shelly.Reboot"})
    return [{"id": n, **request} for n, request in enumerate(requests, start=1)]


def shelly_setup(facts: BrokerFacts) -> dict[str, Any]:
    """Shelly Gen2+ settings: the RPC requests and the same settings in the web UI's words."""
    ssl = {"user_ca.pem": "User TLS (the co-op's CA, uploaded)", "ca.pem": "Default TLS", None: "No TLS"}
    return {
        "profile": SHELLY_GEN2,
        "topic_prefix": device_prefix(facts.device_id),
        "rpc_requests": shelly_requests(facts),
        "web_ui": [
            ["Settings > MQTT > Enable", "on"],
            ["Server", f"{facts.host}:{facts.port}"],
            ["Client ID", facts.device_id],
            ["Username", facts.device_id],
            ["Password", facts.password],
            ["SSL/TLS", ssl[shelly_ssl_ca(facts)]],
            ["MQTT prefix", device_prefix(facts.device_id)],
            ["RPC status notifications over MQTT", "on"],
            ["Generic status update over MQTT", "on"],
            ["Enable MQTT Control", "off"],
            ["Enable RPC over MQTT (MQTT.SetConfig enable_rpc)", "off"],
        ],
        "notes": [
            "Circulo reads channel 0: switch:0 / pm1:0 (aenergy.total), em1data:0 (total_act_energy) "
            "or emdata:0 (total_act); wire the generation so it counts forward (power positive)",
            "keep the time server on (Settings > Time, SNTP): "
            "readings dated before the clock is set are refused",
            "reboot after the change (the last request); then run `circulo device check "
            + facts.device_id
            + "`",
        ],
    }


def tasmota_backlog(facts: BrokerFacts) -> str:
    """The console line (Tasmota restarts once, at the end)."""
    commands = [
        "Timezone 0",  # Time is local time without an offset: the profile requires UTC
        "SetOption52 1",  # …and shows the offset, so a wrong clock is visible
        f"TelePeriod {TASMOTA_TELE_PERIOD_S}",
        f"MqttHost {facts.host}",
        f"MqttPort {facts.port}",
        *(["SetOption103 1", f"SetOption132 {1 if facts.ca_pem else 0}"] if facts.tls else []),
        f"MqttUser {facts.device_id}",
        f"MqttPassword {facts.password}",
        f"MqttClient {facts.device_id}-c",  # Tasmota wants a client id other than its Topic
        f"Topic {facts.device_id}",
        f"FullTopic {tasmota_full_topic()}",
    ]
    return "Backlog " + "; ".join(commands)


def tasmota_setup(facts: BrokerFacts) -> dict[str, Any]:
    """Tasmota settings: one console line, and what to check."""
    notes = [
        "the register is ENERGY.Total (kWh); calibrate the energy monitor before commissioning",
        "the broker refuses commands on cmnd/…: the empty cmnd/POWER Tasmota publishes "
        "at connect is refused, which is harmless",
    ]
    if facts.tls:
        notes.append(
            "TLS needs an ESP32 build (tasmota32); SetOption132 1 pins the broker's key by fingerprint "
            "(learnt at first connect: check it against the co-op's, docs/installers.md)"
            if facts.ca_pem
            else "TLS needs an ESP32 build (tasmota32); the broker's certificate must chain "
            "to a CA built into Tasmota (Let's Encrypt ISRG Root X1)"
        )
    return {
        "profile": TASMOTA,
        "topic_prefix": device_prefix(facts.device_id),
        "console": tasmota_backlog(facts),
        "notes": notes,
    }


def setup_lines(setup: dict[str, Any]) -> list[str]:
    """The steps as lines for a terminal (``device add`` prints them)."""
    if setup["profile"] == SHELLY_GEN2:
        lines = [
            "firmware  Shelly Gen2+: POST each request to http://<device address>/rpc "
            "(or set the same in its web UI, docs/installers.md)"
        ]
        lines += [f"  {json.dumps(request, separators=(',', ':'))}" for request in setup["rpc_requests"]]
    else:
        lines = ["firmware  Tasmota: paste in the console (Tools > Console)", f"  {setup['console']}"]
    return lines + [f"  note: {note}" for note in setup["notes"]]


def qr_setup(setup: dict[str, Any]) -> str:
    """The setup as one string for the QR code: the console line, or the MQTT.SetConfig request."""
    if setup["profile"] == TASMOTA:
        return str(setup["console"])
    config = next(r for r in setup["rpc_requests"] if r["method"] == "MQTT.SetConfig")
    return json.dumps(config, separators=(",", ":"))
