"""Device profiles (SPEC §10): which firmware a meter runs, and the topics that firmware uses.

A meter's ``profile`` says how it publishes. ``circulo`` devices speak the native contract
(SPEC §1-2). ``shelly-gen2`` (Shelly Gen2, Gen3 and Gen4 devices with energy metering)
and ``tasmota`` (Tasmota with an energy monitor) publish their firmware's own topics and
payloads under the device's prefix ``circulo/v1/meter/{device_id}``; the ingest translates
them into canonical messages. Bins and repair stations are always ``circulo``.

The topic layout after the prefix is the firmware's (docs/installers.md cites the sources):

- Shelly Gen2+: ``status/{component}:{id}`` (status notifications), ``events/rpc`` (RPC
  notifications: NotifyStatus, NotifyEvent, NotifyFullStatus), ``online`` (``true`` /
  ``false``, retained, also the Last Will); it *listens* on ``rpc`` (RPC requests) and
  ``command`` / ``command/{component}:{id}`` (MQTT control).
- Tasmota: ``tele/{SENSOR,STATE,LWT,INFO1..3}``, ``stat/{RESULT,…}``; it listens on
  ``cmnd/#`` (with ``FullTopic circulo/v1/meter/%topic%/%prefix%/``).
"""

from __future__ import annotations

from collections.abc import Mapping

from circulo_schemas.topics import PREFIX

CIRCULO = "circulo"
SHELLY_GEN2 = "shelly-gen2"
TASMOTA = "tasmota"
PROFILES = (CIRCULO, SHELLY_GEN2, TASMOTA)
FIRMWARE_PROFILES = (SHELLY_GEN2, TASMOTA)
PROFILED_KINDS = ("meter",)  # only meters may run third-party firmware

# Topics under a device's prefix that carry commands *to* its firmware (SPEC §10): closed
# to every account but an operator role a co-op enables on purpose.
COMMAND_SUBTOPICS: Mapping[str, tuple[str, ...]] = {
    SHELLY_GEN2: ("rpc", "command"),
    TASMOTA: ("cmnd",),
}
ALL_COMMAND_SUBTOPICS = tuple(sorted({s for subs in COMMAND_SUBTOPICS.values() for s in subs}))

# How often a profiled meter reports its register when all is well, in seconds: Shelly
# counts energy per minute (``aenergy.minute_ts``); Tasmota reports every ``TelePeriod``,
# which the installer sets to 60 (docs/installers.md). Loss statistics of profiled meters,
# which have no ``seq``, are estimated from it.
REPORTING_PERIOD_S: Mapping[str, int] = {SHELLY_GEN2: 60, TASMOTA: 60}

TASMOTA_TELE_PERIOD_S = REPORTING_PERIOD_S[TASMOTA]


def device_prefix(device_id: str, kind: str = "meter") -> str:
    """The topic prefix a profiled device's firmware is set to: ``circulo/v1/meter/{id}``."""
    return f"{PREFIX}/{kind}/{device_id}"


def command_topic_filters(kind: str, device_id: str) -> tuple[str, ...]:
    """The command topics inside one device's tree (``…/rpc/#``, ``…/command/#``, ``…/cmnd/#``).

    The same for every profile: a native device never uses them, and closing them for all
    keeps a device's broker ACL independent of a profile that an update may change.
    """
    prefix = device_prefix(device_id, kind)
    return tuple(f"{prefix}/{sub}/#" for sub in ALL_COMMAND_SUBTOPICS)


def any_device_command_filters() -> tuple[str, ...]:
    """The command topics of every device (for service roles that may publish widely)."""
    return tuple(f"{PREFIX}/+/+/{sub}/#" for sub in ALL_COMMAND_SUBTOPICS)


def tasmota_full_topic() -> str:
    """Tasmota's ``FullTopic`` for Circulo (``%topic%`` is set to the device id)."""
    return f"{PREFIX}/meter/%topic%/%prefix%/"
