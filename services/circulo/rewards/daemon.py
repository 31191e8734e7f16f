"""``circulo rewards run``: the engine as a daemon with an explicit lifecycle.

Start (load the policy and the key, check the database and the key against the ledger:
refuse to start otherwise), wait to lead, run a cycle every ``interval_s``, and on
SIGTERM or SIGINT finish the cycle in progress, give the lock back and return (exit 0).
A cycle that fails (database gone, say) is logged and counted; the next interval
retries on a fresh connection. Metrics and health are served on ``metrics_port``.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType

import psycopg

from circulo.errors import CirculoError
from circulo.logs import get_logger
from circulo.observability import MetricsServer
from circulo.rewards.engine import EngineHooks, check_ready, load_engine, open_work_connection
from circulo.rewards.leader import Leadership
from circulo.rewards.metrics import RewardsMetrics
from circulo.rewards.settings import RewardsSettings
from circulo.rewards.settlement import LostLeadership
from circulo.store.db import first_line

log = get_logger("rewards.daemon")


class RewardsDaemon:
    """One engine process: leadership, the cycle loop, metrics, graceful stop."""

    def __init__(
        self,
        settings: RewardsSettings,
        *,
        hooks: EngineHooks | None = None,
        stopping: threading.Event | None = None,
    ) -> None:
        self.settings = settings
        self.engine = load_engine(settings, hooks=hooks)
        self.metrics = RewardsMetrics(settings.interval_s)
        self.stopping = stopping or threading.Event()
        self.leadership = Leadership(settings.database_url, self.engine.engine_id)
        self.server: MetricsServer | None = None
        self._conn: psycopg.Connection | None = None

    def stop(self, signum: int | None = None, _frame: FrameType | None = None) -> None:
        """Ask the loop to finish its current cycle and return."""
        log.info("stopping", signal=signal.Signals(signum).name if signum else None)
        self.stopping.set()

    def install_signal_handlers(self) -> None:
        """SIGTERM and SIGINT stop the daemon gracefully (main thread only)."""
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, self.stop)
            signal.signal(signal.SIGINT, self.stop)

    def start(self) -> None:
        """Refuse to start on an unmigrated database or with a key that does not continue the chain."""
        with open_work_connection(self.settings.database_url) as conn:
            check_ready(conn, self.engine.signer)
        if self.settings.metrics_port:
            self.server = MetricsServer(
                self.settings.metrics_port,
                self.metrics.health,
                host=self.settings.metrics_host,
                registry=self.metrics.registry,
            ).start()
        log.info(
            "started",
            engine=self.engine.engine_id,
            policy=self.engine.policy.version,
            key_id=self.engine.signer.key_id,
            interval_s=self.settings.interval_s,
            metrics_port=self.settings.metrics_port or None,
        )

    def run(self) -> None:
        """Start, loop until stopped, clean up."""
        self.install_signal_handlers()
        self.start()
        try:
            while not self.stopping.is_set():
                if not self.lead():
                    break
                self.run_one_cycle()
                self.stopping.wait(self.settings.interval_s)
        finally:
            self.shutdown()

    def lead(self) -> bool:
        """Keep or (re)take the lead; False when stopped while waiting."""
        if self.leadership.held():
            return True
        self.metrics.set_leader(False)
        self.close_connection()
        if not self.leadership.acquire(self.stopping, self.settings.lock_poll_s):
            return False
        self.metrics.set_leader(True)
        return True

    def run_one_cycle(self) -> None:
        """One cycle; errors are logged and counted, leadership loss hands the lead back."""
        epoch = self.leadership.epoch
        if epoch is None:
            return
        try:
            report = self.engine.cycle(self.connection(), epoch)
        except LostLeadership as e:
            log.warning("lost_leadership", error=e.message)
            self.leadership.drop()
            self.metrics.set_leader(False)
        except (psycopg.Error, CirculoError) as e:
            message = e.message if isinstance(e, CirculoError) else first_line(e)
            log.error("cycle_failed", error=message)
            self.metrics.cycle_failed(message)
            self.close_connection()
        except Exception as e:
            # A bug must not stop the history from settling later: log it whole, fail the
            # health check, roll back (the transaction did), and retry next interval.
            log.exception("cycle_crashed", error=repr(e))
            self.metrics.cycle_failed(repr(e))
            self.close_connection()
        else:
            self.metrics.cycle_done(report)

    def connection(self) -> psycopg.Connection:
        """The work connection, opened (and checked) on first use or after a failure."""
        if self._conn is None or self._conn.closed:
            self._conn = open_work_connection(self.settings.database_url)
            check_ready(self._conn, self.engine.signer)
        return self._conn

    def close_connection(self) -> None:
        """Drop the work connection (the next cycle opens a fresh one)."""
        if self._conn is not None:
            self._conn.close()
        self._conn = None

    def shutdown(self) -> None:
        """Give the lock back, close connections, stop serving metrics."""
        self.leadership.release()
        self.metrics.set_leader(False)
        self.close_connection()
        if self.server is not None:
            self.server.stop()
        log.info("stopped", engine=self.engine.engine_id)


def run_daemon(settings: RewardsSettings, *, hooks: EngineHooks | None = None) -> None:
    """Run the rewards daemon until SIGTERM/SIGINT (then return normally: exit 0)."""
    RewardsDaemon(settings, hooks=hooks).run()
