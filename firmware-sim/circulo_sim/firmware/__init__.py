"""Emulated third-party meter firmware (SPEC §10): Shelly Gen2+ and Tasmota.

A device's profile picks its emulator (:func:`meter_firmware`); ``circulo`` devices speak
the native contract (:mod:`circulo_sim.wire`).
"""

from __future__ import annotations

from circulo_schemas.profiles import SHELLY_GEN2, TASMOTA
from circulo_sim.firmware.shelly import ShellyMeter
from circulo_sim.firmware.tasmota import TasmotaMeter

MeterFirmware = ShellyMeter | TasmotaMeter


def meter_firmware(profile: str, device_id: str) -> MeterFirmware | None:
    """The emulator of a profiled meter, or None for a ``circulo`` device."""
    if profile == SHELLY_GEN2:
        return ShellyMeter(device_id)
    if profile == TASMOTA:
        return TasmotaMeter(device_id)
    return None
