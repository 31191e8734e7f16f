"""A run: play the fleet's plan against the clock through a transport, then summarise.

The runner pulls actions from the pure plan (:func:`circulo_sim.plan.fleet_actions`) in
simulated-time order, waits until the simulated clock reaches each one (not at all in
backfill), and hands it to the transport. In backfill the only brake is the broker: the
runner waits while a connection's in-flight window is full, or while it is reconnecting.
At the end every device flushes, publishes ``offline`` and disconnects, and the counters
become the summary.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from circulo_schemas.encode import format_timestamp
from circulo_sim.boot import DeviceCounter
from circulo_sim.clock import SimClock, SimWindow
from circulo_sim.faults import FaultRates
from circulo_sim.fleet import Fleet
from circulo_sim.logs import get_logger
from circulo_sim.plan import GoOffline, GoOnline, Publish, Reboot, fleet_actions
from circulo_sim.summary import Progress, RunStats
from circulo_sim.transport import Transport

log = get_logger("sim")

ProgressCallback = Callable[[Progress, datetime], None]
TransportFactory = Callable[[Callable[[], datetime]], Transport]


@dataclass(frozen=True)
class RunConfig:
    """What to simulate, and how long to wait for the broker at the start and the end."""

    fleet: Fleet
    window: SimWindow
    seed: int
    rates: FaultRates
    mode: str  # "devices" (one connection each) or "bulk"
    connect_timeout_s: float = 15.0
    drain_timeout_s: float = 120.0
    progress_interval_s: float = 1.0
    # this boot's seq registers and epochs of the devices that keep a replay buffer (SPEC §11)
    counters: Mapping[str, DeviceCounter] = field(default_factory=dict)


class Simulation:
    """One run of the simulator."""

    def __init__(
        self,
        config: RunConfig,
        make_transport: TransportFactory,
        stats: RunStats,
        *,
        stop: threading.Event | None = None,
        progress: ProgressCallback | None = None,
    ) -> None:
        self.config = config
        self.stats = stats
        self.stop = stop or threading.Event()
        self.clock = SimClock(config.window.start, config.window.speed)
        self.reached = config.window.start
        self.transport = make_transport(self.now)
        self._progress = progress
        self._done = threading.Event()

    def now(self) -> datetime:
        """Simulated time now: the clock's, or in backfill the time of the last action."""
        return self.reached if self.config.window.speed is None else self.clock.now()

    def run(self) -> dict[str, Any]:
        """Play the whole window (or until ``stop``); return the summary."""
        wall0 = time.monotonic()
        self.transport.start()
        self._wait_connected()
        reporter = threading.Thread(target=self._report, name="sim-progress", daemon=True)
        reporter.start()
        try:
            self._play()
        finally:
            self.transport.close(self.config.drain_timeout_s)
            self._done.set()
            reporter.join()
            if self._progress:
                self._progress(self._snapshot(), self.reached)
        return self.summary(time.monotonic() - wall0)

    def _wait_connected(self) -> None:
        devices = len(self.config.fleet.devices)
        deadline = time.monotonic() + self.config.connect_timeout_s
        while self.transport.connected() < devices and time.monotonic() < deadline and not self.stop.is_set():
            time.sleep(0.05)
        if self.transport.connected() < devices:
            log.warning("not_all_connected", connected=self.transport.connected(), devices=devices)

    def _play(self) -> None:
        c = self.config
        self.clock.begin()
        actions = fleet_actions(
            c.fleet, c.window.start, c.window.end, seed=c.seed, rates=c.rates, counters=c.counters
        )
        for action in actions:
            wait = self.clock.wall_seconds_until(action.at)
            if self.stop.is_set() or (wait > 0 and self.stop.wait(wait)):
                return
            self.reached = max(self.reached, action.at)
            self._dispatch(action)

    def _dispatch(self, action: Publish | GoOffline | GoOnline | Reboot) -> None:
        if isinstance(action, Publish):
            self.transport.wait_for_room(action.device_id, self.stop)
            self.transport.publish(action)
        elif isinstance(action, Reboot):
            self.transport.reboot(action.device_id)
        elif isinstance(action, GoOffline):
            self.stats.fault("offline")
            self.transport.go_offline(action.device_id)
        else:
            self.transport.go_online(action.device_id)

    def _snapshot(self) -> Progress:
        return self.stats.progress(
            self.transport.connected(), len(self.config.fleet.devices), self.transport.buffered()
        )

    def _report(self) -> None:
        while not self._done.wait(self.config.progress_interval_s):
            if self._progress:
                self._progress(self._snapshot(), self.now())

    def summary(self, wall_seconds: float) -> dict[str, Any]:
        """The machine-readable summary of the run."""
        c, w = self.config, self.config.window
        return {
            "coop_id": c.fleet.coop_id,
            "seed": c.seed,
            "mode": c.mode,
            "devices": c.fleet.counts(),
            "devices_total": len(c.fleet.devices),
            "window": {
                "start": format_timestamp(w.start),
                "end": None if w.end is None else format_timestamp(w.end),
                "reached": format_timestamp(self.reached),
                "speed": w.speed,
                "mode": w.mode,
            },
            "fault_rates": c.rates.rates() | {"offline_minutes": c.rates.offline_minutes},
            "wall_seconds": round(wall_seconds, 3),
            "epochs": {d: counter.epoch for d, counter in sorted(c.counters.items())},
            **self.stats.summary(),
        }
