"""Prometheus metrics of one ingest worker (SPEC §3: every outcome counted).

One :class:`IngestMetrics` per worker, with a registry of its own (as the rewards engine
has), built by the daemon and passed to the parts that report: so tests, the demo and a
supervisor running several workers in one process tree never share global state.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from circulo.ingest.gaps import GapTally

BATCH_BUCKETS = (1, 10, 50, 100, 250, 500, 1000, 2000, 5000, 10000)
COMMIT_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5)
LAG_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


class IngestMetrics:
    """Outcomes, batch sizes, commit time, lag, queue depth, connection and database state."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.messages = Counter(
            "circulo_ingest_messages",
            "Messages by outcome and quarantine reason",
            ["outcome", "reason"],
            registry=r,
        )
        self.batch_size = Histogram(
            "circulo_ingest_batch_size", "Messages per committed batch", buckets=BATCH_BUCKETS, registry=r
        )
        self.commit_seconds = Histogram(
            "circulo_ingest_commit_seconds",
            "Time to write and commit one batch",
            buckets=COMMIT_BUCKETS,
            registry=r,
        )
        self.lag_seconds = Histogram(
            "circulo_ingest_lag_seconds",
            "End-to-end lag: commit time minus the message's receipt time",
            buckets=LAG_BUCKETS,
            registry=r,
        )
        self.queue_depth = Gauge(
            "circulo_ingest_queue_depth", "Messages received and not yet committed", registry=r
        )
        self.connected = Gauge(
            "circulo_ingest_broker_connected", "1 while connected to the broker", registry=r
        )
        self.db_available = Gauge(
            "circulo_ingest_database_available", "1 while the last database attempt succeeded", registry=r
        )
        self.watermark = Gauge(
            "circulo_ingest_low_watermark_seconds", "This worker's low watermark (unix time)", registry=r
        )
        self.reconnects = Counter(
            "circulo_ingest_broker_connects", "Successful broker connections", registry=r
        )
        self.db_failures = Counter(
            "circulo_ingest_database_failures", "Batches that failed and were retried", registry=r
        )
        # replay on request (SPEC §11)
        self.gaps_opened = Counter(
            "circulo_ingest_replay_gaps_opened",
            "Ranges of seq found missing (per device and epoch)",
            registry=r,
        )
        self.replays_requested = Counter(
            "circulo_ingest_replays_requested", "Replay commands published to devices", registry=r
        )
        self.messages_recovered = Counter(
            "circulo_ingest_replay_messages_recovered",
            "Messages that filled a gap a replay had been requested for",
            registry=r,
        )
        self.messages_lost_final = Counter(
            "circulo_ingest_replay_messages_lost_final",
            "Messages lost for good: the device no longer held them, or replay_timeout passed",
            ["reason"],
            registry=r,
        )
        self.gaps_pending = Gauge(
            "circulo_ingest_replay_gaps_pending",
            "Gaps waiting for data or a replay, by state",
            ["state"],
            registry=r,
        )
        for reason in ("unavailable", "timeout"):
            self.messages_lost_final.labels(reason)
        for state in ("open", "requested"):
            self.gaps_pending.labels(state)

    def record_gaps(self, tally: GapTally) -> None:
        """Count what a committed batch did to the gaps."""
        self.gaps_opened.inc(tally.opened)
        self.messages_recovered.inc(tally.recovered)
        for reason, n in tally.lost.items():
            self.messages_lost_final.labels(reason).inc(n)

    def record_round(self, requests: int, given_up_missing: int) -> None:
        """Count a requester round: commands published, messages given up."""
        self.replays_requested.inc(requests)
        self.messages_lost_final.labels("timeout").inc(given_up_missing)

    def record_batch(
        self,
        outcomes: Sequence[tuple[str, str]],
        received: Sequence[datetime],
        committed_at: datetime,
        seconds: float,
    ) -> None:
        """Count a committed batch's outcomes, size, commit time and lag."""
        self.batch_size.observe(len(outcomes))
        self.commit_seconds.observe(seconds)
        counts: dict[tuple[str, str], int] = {}
        for key in outcomes:
            counts[key] = counts.get(key, 0) + 1
        for (outcome, reason), n in counts.items():
            self.messages.labels(outcome, reason).inc(n)
        # the lag of the oldest and newest message bound everyone else's
        for at in {received[0], received[-1]}:
            self.lag_seconds.observe((committed_at - at).total_seconds())
