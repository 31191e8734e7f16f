"""Watching a running day: samples for the progress view, and the conditions the run waits on.

A :class:`Watch` reads the ingest's counters, the simulator's progress and the database,
shows each sample, and waits for a condition (the simulator done, every message settled,
the fleet reporting) while failing fast when a daemon exits, a deadline passes or the
simulator stops moving.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from circulo.demo import simulator
from circulo.demo.live import ProgressReader, StoredProgress, fetch_metrics, outcome_counts, queue_depth
from circulo.demo.processes import Daemon, DemoStepFailed
from circulo.demo.progress import OUTCOMES, ProgressSample, ProgressView

SAMPLE_EVERY_S = 0.25
STORED_EVERY_S = 1.0
QUIET_S = 2.0  # the ingest counts nothing new for this long: everything sent has an outcome


@dataclass(frozen=True)
class WatchSources:
    """Where a watch reads from: the database, the ingest's metrics port, the simulator's log."""

    database_url: str
    metrics_port: int
    sim_log: Path


class Watch:
    """Samples the run for the progress view, and fails fast when a daemon dies."""

    def __init__(self, sources: WatchSources, view: ProgressView) -> None:
        self.sources = sources
        self.view = view
        self.reader = ProgressReader(sources.database_url)
        self.started = time.monotonic()
        self.stored = StoredProgress()
        self.current = ProgressSample(0.0)
        self._last_read = -STORED_EVERY_S
        self._changed_at = self._moved_at = time.monotonic()

    def sample(self, *, read_database: bool = False) -> ProgressSample:
        """Read the counters (and, every second or when asked, the database) and show them."""
        at = time.monotonic() - self.started
        if read_database or at - self._last_read >= STORED_EVERY_S:
            self.stored = self.reader.read()
            self._last_read = at
        metrics = fetch_metrics(self.sources.metrics_port)
        outcomes = outcome_counts(metrics) if metrics else dict(self.current.outcomes)
        sim = simulator.read_progress(self.sources.sim_log)
        sample = progress_sample(at, sim, outcomes, self.stored)
        if sample.accounted != self.current.accounted:
            self._changed_at = time.monotonic()
        if (sample.published, sample.sim_clock) != (self.current.published, self.current.sim_clock):
            self._moved_at = time.monotonic()
        self.current = sample
        self.view.show(sample)
        return sample

    def until(
        self,
        done: Callable[[], bool],
        *,
        daemons: tuple[Daemon, ...],
        timeout: float | None = None,
        timeout_error: str | None = None,
        stall_s: float | None = None,
    ) -> None:
        """Sample until ``done``, or ``timeout`` (DemoStepFailed with ``timeout_error`` if given).

        DemoStepFailed as soon as one of ``daemons`` exits, or nothing moves for ``stall_s``.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        while not done():
            for daemon in daemons:
                if not daemon.running():
                    raise DemoStepFailed(daemon.failure())
            if deadline is not None and time.monotonic() > deadline:
                if timeout_error is None:
                    return
                raise DemoStepFailed(timeout_error)
            if stall_s is not None and time.monotonic() - self._moved_at > stall_s:
                raise DemoStepFailed(self.stalled(stall_s))
            self.sample()
            time.sleep(SAMPLE_EVERY_S)

    def stalled(self, stall_s: float) -> str:
        """Why the run stops when the simulator is stuck."""
        clock = f"{self.current.sim_clock:%H:%M} UTC" if self.current.sim_clock else "its start"
        return (
            f"the simulator made no progress for {stall_s:.0f} s (stuck at {clock}, "
            f"{self.current.published:,} sent); see {self.sources.sim_log}"
        )

    def settled(self, expected: int) -> Callable[[], bool]:
        """Every message that reached the ingest has an outcome, and its queue is empty."""

        def done() -> bool:
            metrics = fetch_metrics(self.sources.metrics_port) or ""
            quiet = time.monotonic() - self._changed_at >= QUIET_S
            return self.current.accounted >= expected and queue_depth(metrics) == 0 and quiet

        return done

    def meters_reported(self, meters: int, sim: Daemon) -> Callable[[], bool]:
        """Every meter of the fleet has a stored reading (or the simulator is already done)."""

        def done() -> bool:
            return self.reader.meters_reporting() >= meters or not sim.running()

        return done

    def finish(self) -> None:
        """The last sample, left on screen; the database connection closed."""
        self.view.finish(self.sample(read_database=True))
        self.reader.close()


def progress_sample(
    at: float, sim: simulator.SimProgress, outcomes: dict[str, int], stored: StoredProgress
) -> ProgressSample:
    """One sample: the simulator's clock (or the newest stored reading), counts, ledger totals."""
    clocks = [c for c in (sim.clock, stored.latest_ts) if c is not None]
    accounted = sum(outcomes.get(k, 0) for k in OUTCOMES)
    return ProgressSample(
        at=at,
        sim_clock=max(clocks) if clocks else None,
        published=max(sim.published, accounted),
        outcomes=outcomes,
        credited_wh=stored.credited_wh,
        grn_micro=stored.grn_micro,
        rcy_micro=stored.rcy_micro,
        ledger_entries=stored.ledger_entries,
    )
