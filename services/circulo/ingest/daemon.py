"""The ingest daemon's lifecycle: start, run batches, stop on SIGTERM with a flush.

Four threads, each doing one thing:
- the receive thread stamps each message with its receipt time and enqueues it: the
  thread that reads what the receiver process forwards (circulo.ingest.receiver, the
  default: paho's network loop on an interpreter of its own), or, with
  ``receiver_process = false``, paho's network thread in this process;
- the main thread takes batches from the receipt queue and classifies them (contract,
  registry, time limits), and keeps the heartbeat;
- the writer thread writes each classified batch in one transaction (with this worker's
  low watermark), commits, then acknowledges its messages in receipt order;
- the requester thread asks devices to replay the gaps ``W`` has left behind, and gives
  them up in time (:mod:`circulo.ingest.requester`, SPEC §11); its commands go out on the
  ingest's own connection (through the receiver process when there is one).
Classifying batch N+1 overlaps committing batch N, whose database wait releases the GIL.
When the database is down nothing is acknowledged and the batch is retried; memory stays
bounded because the broker respects our Receive Maximum.
"""

from __future__ import annotations

import contextlib
import os
import queue
import signal
import socket
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import psycopg

from circulo.errors import ServiceUnavailable
from circulo.ingest import queries
from circulo.ingest.classify import Limits, classify, quarantine_key
from circulo.ingest.gaps import GapTally
from circulo.ingest.metrics import IngestMetrics
from circulo.ingest.mqtt import IngestConnection
from circulo.ingest.receipt import ReceiptQueue, utc_now
from circulo.ingest.receiver import ReceiverProcess
from circulo.ingest.records import Classified, Received, Rejected
from circulo.ingest.registry_cache import RegistryCache
from circulo.ingest.requester import pending_counts, publish_round, take_round
from circulo.ingest.settings import IngestSettings
from circulo.ingest.writer import Decision, prepare_connection, write_batch
from circulo.logs import get_logger
from circulo.observability import MetricsServer
from circulo.store.db import connect, first_line
from circulo_schemas.topics import Address, address_of

log = get_logger("ingest")
PROGRESS_EVERY_S = 10.0
REFUSED_BY_DATABASE = (psycopg.DataError, psycopg.IntegrityError, psycopg.ProgrammingError)


@dataclass(frozen=True, slots=True)
class ClassifiedBatch:
    """A batch ready for the writer: its number in the receipt queue, messages and verdicts."""

    number: int
    received: list[Received]
    classified: list[Classified]


@dataclass
class RunStats:
    """Totals of one run, for logs and the one-shot mode."""

    batches: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)

    def add(self, decisions: list[Decision]) -> None:
        self.batches += 1
        for d in decisions:
            self.outcomes[d.outcome.value] = self.outcomes.get(d.outcome.value, 0) + 1


def limits_of(settings: IngestSettings) -> Limits:
    return Limits(
        max_payload_bytes=settings.max_payload_bytes,
        clock_skew=timedelta(seconds=settings.clock_skew_s),
        max_age=timedelta(days=settings.max_age_days),
    )


class Database:
    """One connection with reconnect-on-demand and exponential backoff; one per thread."""

    def __init__(
        self, settings: IngestSettings, name: str, stop: threading.Event, metrics: IngestMetrics
    ) -> None:
        self._settings, self._name, self._stop, self._metrics = settings, name, stop, metrics
        self._conn: psycopg.Connection | None = None
        self.ok = False

    def get(self, *, attempts: int | None = None) -> psycopg.Connection:
        """The live connection, reconnecting until it works (or ``attempts`` run out / stopping)."""
        if self._conn is not None and not self._conn.closed and not self._conn.broken:
            return self._conn
        delay, tried = 0.2, 0
        while True:
            tried += 1
            try:
                self._conn = connect(self._settings.database_url, application_name=self._name)
                prepare_connection(self._conn)
                self.ok = True
                self._metrics.db_available.set(1)
                return self._conn
            except (ServiceUnavailable, psycopg.OperationalError) as e:
                self.failed(e)
                if attempts is not None and tried >= attempts:
                    raise ServiceUnavailable(str(e)) from e
                log.warning(
                    "database_unavailable", connection=self._name, error=str(e), retry_in_s=round(delay, 1)
                )
                if self._stop.wait(delay):
                    raise ServiceUnavailable(f"stopped while the database is down: {e}") from e
                delay = min(delay * 2, self._settings.db_retry_max_s)

    def failed(self, error: Exception) -> None:
        self.ok = False
        self._metrics.db_available.set(0)
        if self._conn is not None and (self._conn.broken or isinstance(error, psycopg.OperationalError)):
            self._conn.close()
            self._conn = None

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()


class IngestDaemon:
    """One ingest worker. ``run()`` returns when stopped (SIGTERM, ``stop()``, or idle in one-shot mode)."""

    def __init__(self, settings: IngestSettings, metrics: IngestMetrics | None = None) -> None:
        self.settings = settings
        self.metrics = metrics or IngestMetrics()
        self.queue = ReceiptQueue()
        self.connection: IngestConnection | ReceiverProcess = (
            ReceiverProcess(settings, self.queue, self.metrics)
            if settings.receiver_process
            else IngestConnection(settings, self.queue, self.metrics)
        )
        self.registry = RegistryCache(settings.registry_refresh_s)
        self.limits = limits_of(settings)
        self.stats = RunStats()
        self._stop = threading.Event()
        self._writer_gave_up = threading.Event()
        self._pending: queue.Queue[ClassifiedBatch | None] = queue.Queue(maxsize=2)
        self._main_db = Database(settings, f"{settings.worker_id}-main", self._stop, self.metrics)
        self._writer_db = Database(settings, f"{settings.worker_id}-writer", self._stop, self.metrics)
        self._replay_db = Database(settings, f"{settings.worker_id}-replay", self._stop, self.metrics)
        self.replay_policy = settings.replay_policy
        self._started_at = utc_now()
        self._last_heartbeat = 0.0

    # --- lifecycle -------------------------------------------------------------------------
    def stop(self) -> None:
        self._stop.set()

    def install_signal_handlers(self) -> None:
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: self.stop())

    def health(self) -> tuple[bool, Mapping[str, Any]]:
        connected = self.connection.connected.is_set()
        subscribed = self.connection.subscribed.is_set()  # the broker confirmed: messages flow
        database_ok = self._main_db.ok and self._writer_db.ok
        fresh = time.monotonic() - self._last_heartbeat < max(10.0, 5 * self.settings.heartbeat_s)
        return connected and subscribed and database_ok and fresh, {
            "broker_connected": connected,
            "subscribed": subscribed,
            "database_ok": database_ok,
            "queue_depth": len(self.queue),
            "worker_id": self.settings.worker_id,
        }

    def run(self, *, until_idle_s: float | None = None, leave_group: bool = False) -> RunStats:
        """Run until stopped; ``until_idle_s``: exit once nothing arrived for that long."""
        self.connection.verify_broker()
        server = self._start_metrics()
        self.registry.load(self._main_db.get())
        self._heartbeat()
        writer = threading.Thread(target=self._writer_loop, name="ingest-writer", daemon=True)
        writer.start()
        requester = threading.Thread(target=self._replay_loop, name="ingest-replay", daemon=True)
        if self.replay_policy is not None:
            requester.start()
        self.connection.start()
        log.info(
            "ingest_started",
            worker_id=self.settings.worker_id,
            subscription=self.connection.subscription,
            receive_maximum=self.settings.queue_max,
            batch_max=self.settings.batch_max,
        )
        try:
            if leave_group:
                self._leave_group_when_subscribed()
            self._classify_loop(until_idle_s)
            self._flush_and_close(writer, requester, leave_group)
        finally:
            if server:
                server.stop()
        log.info("ingest_stopped", batches=self.stats.batches, **self.stats.outcomes)
        return self.stats

    def _start_metrics(self) -> MetricsServer | None:
        if not self.settings.metrics_port:
            return None
        return MetricsServer(
            self.settings.metrics_port,
            self.health,
            host=self.settings.metrics_host,
            registry=self.metrics.registry,
        ).start()

    def _leave_group_when_subscribed(self) -> None:
        """Stop new deals to this worker; what its session already holds still arrives."""
        if not self.connection.subscribed.wait(30):
            raise ServiceUnavailable("broker: could not resume the session to leave the group")
        self.connection.unsubscribe()

    def _flush_and_close(
        self, writer: threading.Thread, requester: threading.Thread, leave_group: bool
    ) -> None:
        """Stop taking messages, commit and acknowledge what is queued, then disconnect."""
        self.queue.stop_accepting()
        while self._classify_next(wait_s=0):
            pass
        self._pending.put(None)
        writer.join()
        self._stop.set()  # the requester's next wait returns
        if requester.is_alive():
            requester.join()
        self._replay_db.close()
        self._mark_stopped()
        self.connection.stop(session_expiry_s=0 if leave_group else None)
        self._main_db.close()
        self._writer_db.close()

    # --- main thread: classify ---------------------------------------------------------------
    def _classify_loop(self, until_idle_s: float | None) -> None:
        last_message = last_progress = time.monotonic()
        while not self._stop.is_set() and not self._writer_gave_up.is_set():
            if self._classify_next():
                last_message = time.monotonic()
            elif (
                until_idle_s is not None
                and self.connection.subscribed.is_set()
                and time.monotonic() - last_message >= until_idle_s
                and self._pending.empty()
            ):
                break
            if time.monotonic() - self._last_heartbeat >= self.settings.heartbeat_s and self._pending.empty():
                self._heartbeat()
            if time.monotonic() - last_progress >= PROGRESS_EVERY_S:
                log.info(
                    "ingest_progress",
                    batches=self.stats.batches,
                    queue_depth=len(self.queue),
                    **self.stats.outcomes,
                )
                last_progress = time.monotonic()

    def _classify_next(self, wait_s: float | None = None) -> bool:
        """Take one batch, classify it and hand it to the writer; False when there was none."""
        number, batch = self.queue.take_batch(
            self.settings.batch_max,
            self.settings.flush_interval_ms / 1000,
            self.settings.heartbeat_s if wait_s is None else wait_s,
        )
        self.metrics.queue_depth.set(len(self.queue))
        if not batch:
            return False
        # messages of an earlier connection cannot be acknowledged: the broker redelivers them
        batch = [r for r in batch if r.epoch == self.connection.epoch]
        addresses = [address_of(r.topic) for r in batch]
        self._refresh_registry(addresses)
        classified = [
            classify(r, address, self.registry.devices, self.limits)
            for r, address in zip(batch, addresses, strict=True)
        ]
        self._pending.put(ClassifiedBatch(number, batch, classified))
        return True

    def _refresh_registry(self, addresses: list[Address]) -> None:
        try:
            self.registry.refresh_for(self._main_db.get(attempts=1), (a.device_id for a in addresses))
        except (psycopg.OperationalError, ServiceUnavailable) as e:
            self._main_db.failed(e)  # keep classifying with the registry we have

    # --- writer thread: commit and acknowledge -------------------------------------------------
    def _writer_loop(self) -> None:
        # connect now, not at the first batch: health reports a worker that cannot write
        with contextlib.suppress(ServiceUnavailable):
            self._writer_db.get(attempts=1)
        while (batch := self._pending.get()) is not None:
            if self._writer_gave_up.is_set():
                self.queue.committed(batch.number)  # left unacknowledged: the broker redelivers
                continue
            decisions = self._commit_with_retry(batch)
            self.queue.committed(batch.number)
            if decisions is None:
                self._writer_gave_up.set()
                continue
            skipped = self.connection.ack_batch(batch.received)  # one write for the batch
            self.stats.add(decisions)
            if skipped:
                log.warning("ack_skipped_after_reconnect", skipped=skipped)

    def _commit_with_retry(self, batch: ClassifiedBatch) -> list[Decision] | None:
        """Commit the batch, retrying while the database is down; None when stopped meanwhile."""
        while True:
            try:
                return self._commit(batch)
            except psycopg.OperationalError as e:
                self._writer_db.failed(e)
                self.metrics.db_failures.inc()
                log.warning("database_error_batch_retried", error=first_line(e), size=len(batch.received))
                if self._stop.wait(0.2):
                    return None
            except ServiceUnavailable:
                return None  # stopped while the database was down; nothing acknowledged

    def _commit(self, batch: ClassifiedBatch) -> list[Decision]:
        conn = self._writer_db.get()
        started = time.perf_counter()
        try:
            tally = GapTally()
            with conn.transaction():
                decisions = self._write(conn, batch.classified, tally)
                self._write_watermark(conn, committing=batch.number)
        except REFUSED_BY_DATABASE as e:
            log.error("batch_refused_by_database", error=first_line(e), size=len(batch.received))
            tally = GapTally()
            decisions = self._commit_one_by_one(conn, batch, tally)
        self.metrics.record_gaps(tally)
        self.metrics.record_batch(
            [(d.outcome.value, d.reason or "") for d in decisions],
            [r.received_at for r in batch.received],
            utc_now(),
            time.perf_counter() - started,
        )
        return decisions

    def _write(self, conn: psycopg.Connection, items: list[Classified], tally: GapTally) -> list[Decision]:
        return write_batch(conn, items, self.registry.devices, replay=self.replay_policy, tally=tally)

    def _commit_one_by_one(
        self, conn: psycopg.Connection, batch: ClassifiedBatch, tally: GapTally
    ) -> list[Decision]:
        """Isolate a message the database refuses: it is quarantined, the rest stored."""
        decisions: list[Decision] = []
        for item in batch.classified:
            try:
                found = GapTally()
                with conn.transaction():
                    decisions += self._write(conn, [item], found)
                tally.add(found)
            except REFUSED_BY_DATABASE as e:
                detail = f"database refused the values: {first_line(e)}"[:300]
                refused = Rejected(item.received, "schema", detail, item.address, quarantine_key_of(item))
                with conn.transaction():
                    decisions += self._write(conn, [refused], tally)
        with conn.transaction():
            self._write_watermark(conn, committing=batch.number)
        return decisions

    # --- requester thread: replay on request (SPEC §11) -------------------------------------
    def _replay_loop(self) -> None:
        retry = timedelta(seconds=self.settings.replay_retry_s)
        while not self._stop.wait(self.settings.replay_poll_s):
            if not self.connection.subscribed.is_set():
                continue  # a command now would wait in paho; the next round sends it
            try:
                conn = self._replay_db.get(attempts=1)
                decided = take_round(conn, retry)
                counts = pending_counts(conn)
            except (psycopg.OperationalError, ServiceUnavailable) as e:
                self._replay_db.failed(e)
                continue
            sent = publish_round(decided, self.connection.publish)
            self.metrics.record_round(sent, sum(g.missing for g in decided.given_up))
            for state, n in counts.items():
                self.metrics.gaps_pending.labels(state).set(n)

    # --- watermark and heartbeat -----------------------------------------------------------
    def _write_watermark(self, conn: psycopg.Connection, committing: int = 0) -> None:
        watermark = self.queue.watermark(committing)
        conn.execute(
            queries.UPSERT_WATERMARK,
            {
                "worker_id": self.settings.worker_id,
                "watermark": watermark,
                "started_at": self._started_at,
                "host": socket.gethostname(),
                "pid": os.getpid(),
            },
        )
        self.metrics.watermark.set(watermark.timestamp())
        self._last_heartbeat = time.monotonic()

    def _heartbeat(self) -> None:
        try:
            conn = self._main_db.get(attempts=1)
            with conn.transaction():
                self._write_watermark(conn)
        except (psycopg.OperationalError, ServiceUnavailable) as e:
            self._main_db.failed(e)
            self._last_heartbeat = time.monotonic()  # try again after the next interval

    def _mark_stopped(self) -> None:
        try:
            conn = self._main_db.get(attempts=1)
            with conn.transaction():
                self._write_watermark(conn)
                conn.execute(queries.MARK_WORKER_STOPPED, (self.settings.worker_id,))
        except (psycopg.OperationalError, ServiceUnavailable) as e:
            log.warning("could_not_mark_stopped", error=str(e))


def quarantine_key_of(item: Classified) -> bytes:
    if isinstance(item, Rejected):
        return item.key_sha256
    return quarantine_key(item.received.topic, item.received.payload)


def run_ingest(
    settings: IngestSettings,
    *,
    until_idle_s: float | None = None,
    leave_group: bool = False,
    handle_signals: bool = True,
) -> RunStats:
    """Build and run one worker (the CLI's entry)."""
    daemon = IngestDaemon(settings)
    if handle_signals:
        daemon.install_signal_handlers()
    return daemon.run(until_idle_s=until_idle_s, leave_group=leave_group)
