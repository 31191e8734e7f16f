"""Put a run together: the fleet, the transport, the runner (what ``circulo sim run`` calls).

Also the entry point for other tools (``circulo demo``, benchmarks, tests):
:func:`run_simulation` with a :class:`RunRequest` and the :class:`SimSettings`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from circulo_schemas.profiles import CIRCULO
from circulo_sim.backoff import Backoff
from circulo_sim.boot import BootStore, DeviceCounter, boot_devices
from circulo_sim.clock import SimWindow
from circulo_sim.errors import ConfigError
from circulo_sim.faults import FaultRates
from circulo_sim.fleet import KINDS, Fleet, choose, choose_profiles, locate, synthetic_fleet
from circulo_sim.link import LinkOptions
from circulo_sim.runner import ProgressCallback, RunConfig, Simulation
from circulo_sim.settings import SimSettings
from circulo_sim.sources import load_bundle_endpoints, load_fleet_file, load_registry_fleet, service_endpoint
from circulo_sim.summary import RunStats
from circulo_sim.transport import BulkTransport, DeviceTransport, ReplaySetup, Transport


@dataclass(frozen=True)
class RunRequest:
    """What to simulate: which fleet, which period, which faults, over which connections."""

    window: SimWindow
    seed: int
    coop_id: str | None = None
    counts: dict[str, int | None] = field(default_factory=lambda: dict.fromkeys(KINDS))
    rates: FaultRates = field(default_factory=FaultRates)
    bulk: bool = False
    fleet_file: Path | None = None
    synthetic: bool = False
    synthetic_members: int = 40
    bundles_dir: Path | None = None
    profiles: dict[str, int] | None = None  # meters by firmware profile (instead of counts["meter"])


def resolve_fleet(request: RunRequest, settings: SimSettings) -> Fleet:
    """The located fleet of the run, from the fleet file, made up, or from the registry."""
    if request.fleet_file is not None:
        fleet = load_fleet_file(request.fleet_file)
    elif request.synthetic:
        if not request.coop_id:
            raise ConfigError("a synthetic fleet needs --coop")
        counts = {k: request.counts.get(k) or 0 for k in KINDS}
        fleet = synthetic_fleet(
            request.coop_id,
            meters=counts["meter"],
            bins=counts["bin"],
            repairs=counts["repair"],
            members=request.synthetic_members,
            seed=request.seed,
            profiles=request.profiles,
        )
    else:
        if not request.coop_id:
            raise ConfigError("--coop is required (or --fleet FILE)")
        fleet = load_registry_fleet(settings.database_url, request.coop_id)
    if request.profiles is not None:
        if request.counts.get("meter") is not None:
            raise ConfigError("give --meters or --profiles, not both")
        fleet = choose_profiles(fleet, request.profiles)
    fleet = locate(choose(fleet, request.counts), request.seed)
    if not fleet.devices:
        raise ConfigError(f"co-op {fleet.coop_id} has no device to simulate")
    return fleet


def check_mode(request: RunRequest, settings: SimSettings) -> Path | None:
    """Fail early when the connection mode cannot work; the bundles directory of per-device mode."""
    if request.bulk:
        if request.rates.impersonate:
            raise ConfigError(
                "--impersonate needs per-device connections: a bulk service account may publish anywhere"
            )
        return None
    bundles = request.bundles_dir or (Path(settings.bundles_dir) if settings.bundles_dir else None)
    if bundles is None:
        raise ConfigError(
            "per-device mode needs --bundles DIR (circulo device add --bundle-dir DIR writes them);"
            " or use --bulk with a service account in --mqtt-url"
        )
    return bundles


def default_state_dir(bundles: Path) -> Path:
    """Beside the bundles, not among them (tools read that folder as bundles only): ``bundles-state``."""
    resolved = bundles.resolve()
    return resolved.with_name(resolved.name + "-state")


def boot_store(request: RunRequest, settings: SimSettings) -> BootStore | None:
    """Where the devices' boot epochs and replay rings live (per-device mode only)."""
    bundles = check_mode(request, settings)
    if bundles is None:
        return None
    return BootStore(Path(settings.state_dir) if settings.state_dir else default_state_dir(bundles))


def boot_fleet(request: RunRequest, settings: SimSettings, fleet: Fleet) -> dict[str, DeviceCounter]:
    """Boot the run's circulo devices (per-device mode): a new epoch each, on disk before anything
    is published, and seq from ``seq_start``. Bulk mode plays no firmware: no epoch, no replay."""
    store = boot_store(request, settings)
    if store is None:
        return {}
    native = [d.device_id for d in fleet.devices if d.profile == CIRCULO]
    return boot_devices(store, native, seq_start=settings.seq_start)


def transport_factory(
    request: RunRequest,
    settings: SimSettings,
    fleet: Fleet,
    stats: RunStats,
    counters: dict[str, DeviceCounter] | None = None,
) -> Callable[[Callable[[], datetime]], Transport]:
    """How the run reaches the broker; checked before anything connects."""
    options = LinkOptions(
        inflight=settings.inflight,
        buffer_max=settings.buffer_max,
        keepalive_s=settings.keepalive_s,
        backoff=Backoff(settings.reconnect_min_s, settings.reconnect_max_s),
    )
    backfill = request.window.speed is None
    if request.bulk:
        endpoint = service_endpoint(settings.mqtt_url, f"circulo-sim-{fleet.coop_id}"[:40])
        return lambda now: BulkTransport(
            fleet.devices, endpoint, options, stats, connections=settings.connections, clock_now=now,
            seed=request.seed, backfill=backfill,
        )  # fmt: skip
    passphrases = Path(settings.passphrases_dir) if settings.passphrases_dir else None
    endpoints = load_bundle_endpoints(check_mode(request, settings) or Path(), fleet.devices, passphrases)
    replay = ReplaySetup(
        counters if counters is not None else {},
        ring_size=settings.replay_buffer,
        rate_per_s=settings.replay_rate,
        session_expiry_s=settings.command_session_s,
        keep_unheard=settings.resend_unheard,
        store=boot_store(request, settings),
        linger_s=settings.replay_linger_s,
    )
    return lambda now: DeviceTransport(
        fleet.devices, endpoints, options, stats, clock_now=now, seed=request.seed, backfill=backfill,
        replay=replay,
    )  # fmt: skip


def run_simulation(
    request: RunRequest,
    settings: SimSettings,
    *,
    stop: threading.Event | None = None,
    progress: ProgressCallback | None = None,
    message_log: IO[str] | None = None,
) -> dict[str, Any]:
    """Run the simulation to the end of its window (or until ``stop``); return the summary."""
    check_mode(request, settings)
    fleet = resolve_fleet(request, settings)
    stats = RunStats(message_log)
    counters: dict[str, DeviceCounter] = {}  # filled by the boot, once the bundles have been read
    make_transport = transport_factory(request, settings, fleet, stats, counters)
    counters.update(boot_fleet(request, settings, fleet))
    config = RunConfig(
        fleet=fleet,
        window=request.window,
        seed=request.seed,
        rates=request.rates,
        mode="bulk" if request.bulk else "devices",
        connect_timeout_s=settings.connect_timeout_s,
        drain_timeout_s=settings.drain_timeout_s,
        counters=counters,
    )
    return Simulation(config, make_transport, stats, stop=stop, progress=progress).run()
