"""Prometheus metrics of the engine, served by :class:`circulo.observability.MetricsServer`.

The engine reports each cycle to :class:`RewardsMetrics` (a hook, not code inside the
settlement loop). The registry is per daemon, so tests and the demo can run several.
"""

from __future__ import annotations

import time
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from circulo.rewards.engine import CycleReport


class RewardsMetrics:
    """Cycles, settlements, mints by token, cycle duration, last success, leadership."""

    def __init__(self, interval_s: float) -> None:
        self.interval_s = interval_s
        self.registry = CollectorRegistry()
        self.cycles = Counter(
            "circulo_rewards_cycles", "Settlement cycles by outcome.", ["outcome"], registry=self.registry
        )
        self.settlements = Counter(
            "circulo_rewards_settlements", "Committed settlements by kind.", ["kind"], registry=self.registry
        )
        self.mints = Counter(
            "circulo_rewards_mints", "Ledger mint entries by token.", ["token"], registry=self.registry
        )
        self.minted = Counter(
            "circulo_rewards_minted_micro", "Micro-units minted by token.", ["token"], registry=self.registry
        )
        self.flags = Counter(
            "circulo_rewards_flags", "Excluded amounts by flag.", ["flag"], registry=self.registry
        )
        self.conflicts = Counter(
            "circulo_rewards_conflicts", "Settlements another engine claimed first.", registry=self.registry
        )
        self.duration = Histogram(
            "circulo_rewards_cycle_duration_seconds",
            "Wall time of a settlement cycle.",
            buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
            registry=self.registry,
        )
        self.last_success = Gauge(
            "circulo_rewards_last_success_timestamp_seconds",
            "Unix time of the last cycle that completed.",
            registry=self.registry,
        )
        self.leader = Gauge("circulo_rewards_leader", "1 while this engine leads.", registry=self.registry)
        self.watermark_lag = Gauge(
            "circulo_rewards_watermark_lag_seconds", "now - W at the last cycle.", registry=self.registry
        )
        self._last_success_at: float | None = None
        self._last_error: str | None = None
        self._leading_since: float | None = None

    def cycle_done(self, report: CycleReport) -> None:
        """Count a completed cycle and everything it settled."""
        self.cycles.labels("ok").inc()
        self.duration.observe(report.duration_s)
        for kind, count in report.settlements.items():
            self.settlements.labels(kind).inc(count)
        for token, count in report.mints.items():
            self.mints.labels(token).inc(count)
        for token, micro in report.minted_micro.items():
            self.minted.labels(token).inc(micro)
        for flag, count in report.flags.items():
            self.flags.labels(flag).inc(count)
        self.conflicts.inc(report.conflicts)
        if report.watermark is not None:
            self.watermark_lag.set(max(time.time() - report.watermark.timestamp(), 0.0))
        self._last_success_at = time.time()
        self._last_error = None
        self.last_success.set(self._last_success_at)

    def cycle_failed(self, error: str) -> None:
        """Count a cycle that ended in an error (the daemon retries next interval)."""
        self.cycles.labels("error").inc()
        self._last_error = error

    def set_leader(self, leading: bool) -> None:
        """Record whether this engine holds the leader lock."""
        self.leader.set(1 if leading else 0)
        self._leading_since = time.time() if leading else None

    def health(self) -> tuple[bool, dict[str, Any]]:
        """Healthy: a follower waiting its turn, or a leader whose last cycle succeeded recently."""
        if self._leading_since is None:
            return True, {"status": "ok", "role": "follower", "last_success": self._last_success_at}
        fresh_for = max(3 * self.interval_s, 60.0)
        since = max(self._last_success_at or 0.0, self._leading_since)
        healthy = self._last_error is None and time.time() - since < fresh_for
        body = {
            "status": "ok" if healthy else "failing",
            "role": "leader",
            "last_success": self._last_success_at,
            "last_error": self._last_error,
        }
        return healthy, body
