"""Device profile translators (SPEC §10): firmware topics and payloads to canonical messages.

One pure module per profile (:mod:`~circulo.ingest.profiles.shelly`,
:mod:`~circulo.ingest.profiles.tasmota`), chosen by the registered device's profile in
:func:`circulo.ingest.classify.classify`. A message that clearly belongs to *another*
profile (a Tasmota topic from a device registered as Shelly) is rejected ``topic`` with
a detail that says so, and how to fix the registry or the firmware.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from circulo.ingest.profiles import shelly, tasmota
from circulo.ingest.profiles.common import Translation
from circulo_schemas.errors import Rejection
from circulo_schemas.profiles import CIRCULO, SHELLY_GEN2, TASMOTA
from circulo_schemas.topics import CHANNELS, Address

TRANSLATORS: Mapping[str, Callable[[Address, bytes], Translation]] = {
    SHELLY_GEN2: shelly.translate,
    TASMOTA: tasmota.translate,
}

# The first topic part after the device id that gives each firmware away.
_FIRST_PARTS = {
    **dict.fromkeys(("status", "events", "online", "rpc", "command"), SHELLY_GEN2),
    **dict.fromkeys(("tele", "stat", "cmnd"), TASMOTA),
}


def translate(profile: str, address: Address, payload: bytes) -> Translation:
    """Translate one message of a device with ``profile``; Rejection for a mismatch."""
    hint = profile_hint(address, profile)
    if hint is not None:
        raise Rejection("topic", hint)
    return TRANSLATORS[profile](address, payload)


def looks_like(address: Address) -> str | None:
    """Which profile's topic layout ``address`` has after the device id, if any."""
    rest = address.rest
    if not rest or address.device_id is None:
        return None
    if len(rest) == 1 and rest[0] in CHANNELS:
        return CIRCULO
    return _FIRST_PARTS.get(rest[0])


def profile_hint(address: Address, registered: str) -> str | None:
    """A detail for a topic of another profile than the device's, else None."""
    seen = looks_like(address)
    if seen is None or seen == registered:
        return None
    device = address.device_id
    shown = "/".join(address.rest)[:60]
    return (
        f"a {seen} topic ({shown!r}) from {device}, registered with profile {registered}: "
        f"`circulo device update {device} --profile {seen}`, or fix the firmware's topic settings"
    )
