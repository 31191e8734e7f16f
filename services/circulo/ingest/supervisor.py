"""Several ingest workers of one shared group under one supervisor process (``--processes N``).

The workers are ordinary :class:`~circulo.ingest.daemon.IngestDaemon` processes with fixed
ids (``<worker-id>-0`` … ``-N-1``, so each one's broker session really resumes) in the
same ``$share`` group; each runs on its own interpreter, so N of them use N cores. The
supervisor does no message work:
- it starts the workers, and restarts one that exits while it is not stopping (with a
  backoff when a worker keeps crashing): what the dead worker held unacknowledged the
  broker redelivers to its resumed session, so nothing is lost (ack after commit);
- it serves the one ``/healthz`` and ``/metrics`` of the whole ingest: every worker reports
  its health and metric samples over a pipe each ``REPORT_S``; health is good when every
  worker is alive and healthy, and the metrics carry a ``worker`` label;
- SIGTERM (or SIGINT) is forwarded to every worker, each stops gracefully (commits and
  acknowledges what it holds), and the supervisor exits once all have.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from multiprocessing.context import SpawnProcess
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from circulo.errors import ConfigError
from circulo.ingest.daemon import IngestDaemon
from circulo.ingest.settings import IngestSettings
from circulo.logs import configure_logging, get_logger
from circulo.observability import MetricsServer

log = get_logger("ingest.supervisor")
REPORT_S = 0.5
STALE_S = 10.0
STOP_TIMEOUT_S = 120.0
RESTART_DELAY_S = (1.0, 30.0)  # first and longest delay before restarting a crashed worker
STABLE_S = 60.0  # a worker up this long has its restart delay reset


def worker_settings(settings: IngestSettings, index: int) -> IngestSettings:
    """Worker ``index`` of the group: a fixed id of its own, no HTTP server of its own."""
    update = {"worker_id": f"{settings.worker_id}-{index}", "metrics_port": 0, "processes": 1}
    return settings.model_copy(update=update)


def check_processes(settings: IngestSettings, processes: int) -> None:
    """Several workers split one stream only as a shared-subscription group."""
    if processes < 1:
        raise ConfigError("--processes: at least 1")
    if processes > 1 and not settings.shared_group:
        raise ConfigError("--processes N > 1 needs --shared-group: the workers split the stream as one group")


# --- the worker process --------------------------------------------------------------------
def worker_main(
    settings: IngestSettings, reports: Connection, log_level: str, json_lines: bool | None
) -> None:
    """A worker process: run the daemon; report health and metrics to the supervisor.

    When the supervisor is gone (its end of the pipe closed) the worker stops on its own.
    """
    configure_logging(level=log_level, json_lines=json_lines)
    daemon = IngestDaemon(settings)
    daemon.install_signal_handlers()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a terminal's ^C: the supervisor forwards SIGTERM
    done = threading.Event()
    reporter = threading.Thread(
        target=report_loop, args=(daemon, reports, done), name="ingest-report", daemon=True
    )
    reporter.start()
    try:
        daemon.run()
    finally:
        done.set()
        reporter.join(2 * REPORT_S)


def report_loop(daemon: IngestDaemon, reports: Connection, done: threading.Event) -> None:
    while not done.wait(REPORT_S):
        healthy, details = daemon.health()
        try:
            reports.send((healthy, dict(details), list(daemon.metrics.registry.collect())))
        except OSError:  # the supervisor is gone: stop (ack after commit keeps it lossless)
            daemon.stop()
            return


# --- the supervisor --------------------------------------------------------------------------
@dataclass
class Worker:
    """One worker slot: its settings, current process, last report and restart history."""

    index: int
    settings: IngestSettings
    process: SpawnProcess | None = None
    reports: Connection | None = None
    started_at: float = 0.0
    restarts: int = 0
    restart_at: float | None = None
    delay_s: float = RESTART_DELAY_S[0]
    healthy: bool = False
    details: dict[str, Any] = field(default_factory=dict)
    metrics: list[Metric] = field(default_factory=list)
    reported_at: float = 0.0

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.is_alive()

    def health(self) -> dict[str, Any]:
        fresh = time.monotonic() - self.reported_at < STALE_S
        return {
            **self.details,
            "worker_id": self.settings.worker_id,
            "pid": self.process.pid if self.process else None,
            "alive": self.alive,
            "healthy": self.alive and fresh and self.healthy,
            "restarts": self.restarts,
        }


class WorkersCollector(Collector):
    """The workers' last reported metric families, each sample labelled with its worker."""

    def __init__(self, workers: list[Worker]) -> None:
        self._workers = workers

    def collect(self) -> Iterator[Metric]:
        families: dict[str, Metric] = {}
        for w in self._workers:
            for family in w.metrics:
                merged = families.setdefault(
                    family.name, Metric(family.name, family.documentation, family.type, family.unit)
                )
                for s in family.samples:
                    merged.add_sample(
                        s.name, {**s.labels, "worker": w.settings.worker_id}, s.value, s.timestamp
                    )
        restarts = Metric(
            "circulo_ingest_worker_restarts", "Worker processes restarted after exiting", "counter"
        )
        alive = Metric("circulo_ingest_worker_alive", "1 while the worker process runs", "gauge")
        for w in self._workers:
            restarts.add_sample(
                "circulo_ingest_worker_restarts_total", {"worker": w.settings.worker_id}, w.restarts
            )
            alive.add_sample("circulo_ingest_worker_alive", {"worker": w.settings.worker_id}, float(w.alive))
        yield from families.values()
        yield restarts
        yield alive


class IngestSupervisor:
    """N workers of one group; ``run()`` returns once stopped and every worker has exited."""

    def __init__(self, settings: IngestSettings, processes: int, *, json_lines: bool | None = None) -> None:
        check_processes(settings, processes)
        self.settings = settings
        self.workers = [Worker(i, worker_settings(settings, i)) for i in range(processes)]
        self.registry = CollectorRegistry()
        self.registry.register(WorkersCollector(self.workers))
        self._context = multiprocessing.get_context("spawn")
        self._json_lines = json_lines
        self._stop = threading.Event()

    def stop(self) -> None:
        self._stop.set()

    def install_signal_handlers(self) -> None:
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: self.stop())

    def health(self) -> tuple[bool, Mapping[str, Any]]:
        workers = [w.health() for w in self.workers]
        return all(w["healthy"] for w in workers), {
            "broker_connected": all(w.get("broker_connected", False) for w in workers),
            "subscribed": all(w.get("subscribed", False) for w in workers),
            "database_ok": all(w.get("database_ok", False) for w in workers),
            "queue_depth": sum(w.get("queue_depth", 0) for w in workers),
            "processes": len(workers),
            "workers": workers,
        }

    def run(self) -> None:
        server = None
        if self.settings.metrics_port:
            server = MetricsServer(
                self.settings.metrics_port,
                self.health,
                host=self.settings.metrics_host,
                registry=self.registry,
            ).start()
        log.info(
            "ingest_supervisor_started",
            processes=len(self.workers),
            group=self.settings.shared_group,
            workers=[w.settings.worker_id for w in self.workers],
        )
        try:
            for w in self.workers:
                self._start(w)
            while not self._stop.is_set():
                self._receive_reports(REPORT_S)
                self._restart_exited()
            self._stop_workers()
        finally:
            for w in self.workers:
                if w.alive and w.process is not None:
                    w.process.kill()
            if server:
                server.stop()
        log.info("ingest_supervisor_stopped", restarts=sum(w.restarts for w in self.workers))

    def _start(self, w: Worker) -> None:
        ours, theirs = self._context.Pipe(duplex=False)
        w.process = self._context.Process(
            target=worker_main,
            args=(w.settings, theirs, self.settings.log_level, self._json_lines),
            name=f"ingest-{w.settings.worker_id}",
        )
        w.process.start()
        theirs.close()
        w.reports, w.started_at, w.restart_at = ours, time.monotonic(), None
        w.healthy, w.reported_at = False, 0.0
        log.info("ingest_worker_started", worker_id=w.settings.worker_id, pid=w.process.pid)

    def _receive_reports(self, timeout: float) -> None:
        pipes = {w.reports: w for w in self.workers if w.reports is not None}
        for ready in wait(list(pipes), timeout):
            w = pipes[ready]  # type: ignore[index]
            try:
                w.healthy, w.details, w.metrics = w.reports.recv()  # type: ignore[union-attr]
                w.reported_at = time.monotonic()
            except (EOFError, OSError):  # the worker exited; its process says how
                if w.reports is not None:
                    w.reports.close()
                w.reports = None
        if not pipes:
            time.sleep(timeout)

    def _restart_exited(self) -> None:
        now = time.monotonic()
        for w in self.workers:
            if w.process is None or w.alive:
                continue
            if w.restart_at is None:
                if now - w.started_at >= STABLE_S:
                    w.delay_s = RESTART_DELAY_S[0]
                w.restart_at = now + w.delay_s
                w.healthy = False
                log.error(
                    "ingest_worker_exited",
                    worker_id=w.settings.worker_id,
                    exitcode=w.process.exitcode,
                    restart_in_s=w.delay_s,
                )
                w.delay_s = min(w.delay_s * 2, RESTART_DELAY_S[1])
            elif now >= w.restart_at:
                w.restarts += 1
                self._start(w)

    def _stop_workers(self) -> None:
        """Forward the stop to every worker and wait for all (each flushes, commits and acks)."""
        log.info("ingest_supervisor_stopping", workers=sum(w.alive for w in self.workers))
        for w in self.workers:
            if w.alive and w.process is not None and w.process.pid is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(w.process.pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT_S
        while any(w.alive for w in self.workers) and time.monotonic() < deadline:
            self._receive_reports(REPORT_S)  # keep reading: a worker's report never blocks its exit
        for w in self.workers:
            if w.process is not None and w.process.is_alive():
                log.error("ingest_worker_stop_timeout", worker_id=w.settings.worker_id)
                w.process.kill()
                w.process.join()


def run_supervised(settings: IngestSettings, processes: int, *, json_lines: bool | None = None) -> None:
    """The CLI's entry for ``--processes N``."""
    supervisor = IngestSupervisor(settings, processes, json_lines=json_lines)
    supervisor.install_signal_handlers()
    supervisor.run()
