"""Live readings for the progress view: the ingest's outcome counters and the ledger's totals.

The ingest counts every outcome in Prometheus counters (SPEC §3) on its ``/metrics``; the
rewards engine's results are read from the database. A reading that fails (a daemon
restarting, the database busy) keeps the previous values: the view never stops the run.
"""

from __future__ import annotations

import contextlib
import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import psycopg
from prometheus_client.parser import text_string_to_metric_families

from circulo.demo import queries
from circulo.errors import ServiceUnavailable
from circulo.store.db import connect

MESSAGES_METRIC = "circulo_ingest_messages"
QUEUE_METRIC = "circulo_ingest_queue_depth"


def outcome_counts(metrics_text: str) -> dict[str, int]:
    """Messages per outcome (stored, duplicate, quarantined) from the ingest's metrics text."""
    counts: dict[str, int] = {}
    for family in text_string_to_metric_families(metrics_text):
        if family.name != MESSAGES_METRIC:
            continue
        for sample in family.samples:
            if sample.name.endswith("_total"):
                outcome = sample.labels.get("outcome", "")
                counts[outcome] = counts.get(outcome, 0) + int(sample.value)
    return counts


def queue_depth(metrics_text: str) -> int | None:
    """Messages received and not yet committed, when the metrics say."""
    for family in text_string_to_metric_families(metrics_text):
        if family.name == QUEUE_METRIC and family.samples:
            return int(family.samples[0].value)
    return None


def fetch(port: int, path: str, timeout: float = 1.0) -> bytes | None:
    """A daemon's answer on ``path`` of its metrics port; None when it does not answer 2xx."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout) as reply:
            body: bytes = reply.read()
    except (OSError, urllib.error.URLError):  # HTTPError (a 503 from /healthz) is one
        return None
    return body


def fetch_metrics(port: int, timeout: float = 1.0) -> str | None:
    """The ingest's ``/metrics`` text, or None when it does not answer."""
    body = fetch(port, "/metrics", timeout)
    return None if body is None else body.decode("utf-8", errors="replace")


def healthy(port: int, timeout: float = 1.0) -> bool:
    """Whether a daemon's ``/healthz`` answers 200 (for the ingest: subscribed, database up)."""
    return fetch(port, "/healthz", timeout) is not None


@dataclass(frozen=True)
class StoredProgress:
    """What the database shows so far: settled energy, tokens, ledger length, newest reading."""

    credited_wh: int = 0
    grn_micro: int = 0
    rcy_micro: int = 0
    ledger_entries: int = 0
    settlements: int = 0
    latest_ts: datetime | None = None


class ProgressReader:
    """Reads :class:`StoredProgress` over one autocommit connection (previous values on failure)."""

    def __init__(self, database_url: str) -> None:
        self.database_url = database_url
        self._conn: psycopg.Connection | None = None
        self.last = StoredProgress()

    def read(self) -> StoredProgress:
        try:
            row = self._connection().execute(queries.PROGRESS).fetchone()
        except (psycopg.Error, OSError, ServiceUnavailable):
            self.close()
            return self.last
        if row is not None:
            grn, rcy, seq, credited, settlements = (int(v or 0) for v in row[:5])
            self.last = StoredProgress(credited, grn, rcy, seq, settlements, row[5])
        return self.last

    def meters_reporting(self) -> int:
        """How many meters have a stored reading (0 when the database does not answer)."""
        try:
            row = self._connection().execute(queries.METERS_REPORTING).fetchone()
        except (psycopg.Error, OSError, ServiceUnavailable):
            self.close()
            return 0
        return int(row[0]) if row else 0

    def _connection(self) -> psycopg.Connection:
        if self._conn is None or self._conn.closed:
            self._conn = connect(self.database_url, autocommit=True, application_name="circulo-demo-progress")
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(psycopg.Error):
                self._conn.close()
        self._conn = None


def stopped_outcomes(log_path: Path) -> dict[str, int]:
    """The ingest's final counts from its ``ingest_stopped`` log event (the last one in the log)."""
    found: dict[str, int] = {}
    for line in log_path.read_text(encoding="utf-8", errors="replace").splitlines():
        if '"ingest_stopped"' not in line:
            continue
        try:
            event = json.loads(line)
        except ValueError:
            continue
        found = {k: int(event.get(k, 0)) for k in ("stored", "duplicate", "quarantined", "ignored")}
    return found
