"""Prometheus metrics of the ingest (SPEC §3: every outcome counted)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from prometheus_client import Counter, Gauge, Histogram

MESSAGES = Counter(
    "circulo_ingest_messages_total", "Messages by outcome and quarantine reason", ["outcome", "reason"]
)
BATCH_SIZE = Histogram(
    "circulo_ingest_batch_size", "Messages per committed batch",
    buckets=(1, 10, 50, 100, 250, 500, 1000, 2000, 5000, 10000),
)  # fmt: skip
COMMIT_SECONDS = Histogram(
    "circulo_ingest_commit_seconds", "Time to write and commit one batch",
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)  # fmt: skip
LAG_SECONDS = Histogram(
    "circulo_ingest_lag_seconds", "End-to-end lag: commit time minus the message's receipt time",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)  # fmt: skip
QUEUE_DEPTH = Gauge("circulo_ingest_queue_depth", "Messages received and not yet committed")
CONNECTED = Gauge("circulo_ingest_broker_connected", "1 while connected to the broker")
DB_AVAILABLE = Gauge("circulo_ingest_database_available", "1 while the last database attempt succeeded")
WATERMARK = Gauge("circulo_ingest_low_watermark_seconds", "This worker's low watermark (unix time)")
RECONNECTS = Counter("circulo_ingest_broker_connects_total", "Successful broker connections")
DB_FAILURES = Counter("circulo_ingest_database_failures_total", "Batches that failed and were retried")


def record_batch(
    outcomes: Sequence[tuple[str, str]], received: Sequence[datetime], committed_at: datetime, seconds: float
) -> None:
    """Count a committed batch's outcomes, size, commit time and lag."""
    BATCH_SIZE.observe(len(outcomes))
    COMMIT_SECONDS.observe(seconds)
    counts: dict[tuple[str, str], int] = {}
    for key in outcomes:
        counts[key] = counts.get(key, 0) + 1
    for (outcome, reason), n in counts.items():
        MESSAGES.labels(outcome, reason).inc(n)
    # the lag of the oldest and newest message bound everyone else's
    for at in {received[0], received[-1]}:
        LAG_SECONDS.observe((committed_at - at).total_seconds())
