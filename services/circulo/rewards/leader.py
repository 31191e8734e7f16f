"""Leadership: a PostgreSQL advisory lock makes one engine the leader; the others wait.

The lock lives on a connection of its own, so the work connection can fail and reconnect
without giving the lead away. On taking the lock the leader bumps a fence epoch
(``reward_leader``); every settlement transaction checks the epoch, so a leader whose
lock connection was cut stops minting as soon as another engine has taken over, and the
claims stop it in any case.
"""

from __future__ import annotations

import contextlib
import hashlib
import threading

import psycopg

from circulo.errors import ConfigError
from circulo.logs import get_logger
from circulo.rewards.queries import leader as leader_sql
from circulo.store.db import connect

# A fixed 64-bit key derived from a name, so no other component picks it by accident.
LOCK_KEY = int.from_bytes(hashlib.sha256(b"circulo.rewards.leader").digest()[:8], "big", signed=True)
LOCK_APPLICATION = "circulo-rewards-lock"

log = get_logger("rewards.leader")


class Leadership:
    """The advisory lock held (or waited for) by one engine process."""

    def __init__(self, database_url: str, holder: str) -> None:
        self.database_url = database_url
        self.holder = holder
        self.epoch: int | None = None
        self._conn: psycopg.Connection | None = None

    def try_acquire(self) -> bool:
        """Take the lock if it is free; on success bump and remember the fence epoch."""
        if self._conn is None or self._conn.closed:
            self._conn = connect(self.database_url, autocommit=True, application_name=LOCK_APPLICATION)
        row = self._conn.execute(leader_sql.TRY_LOCK, {"key": LOCK_KEY}).fetchone()
        if not (row and row[0]):
            return False
        epoch_row = self._conn.execute(leader_sql.BUMP_EPOCH, {"holder": self.holder}).fetchone()
        if epoch_row is None:
            raise ConfigError("reward_leader row missing: run circulo db upgrade")
        self.epoch = int(epoch_row[0])
        log.info("leader", holder=self.holder, epoch=self.epoch)
        return True

    def acquire(self, stopping: threading.Event, poll_s: float) -> bool:
        """Wait until this engine leads (True) or ``stopping`` is set (False)."""
        announced = False
        while not stopping.is_set():
            try:
                if self.try_acquire():
                    return True
            except psycopg.Error as e:
                log.warning("lock_unavailable", error=str(e).strip().splitlines()[0])
                self.drop()
            if not announced:
                log.info("waiting_for_leader_lock", holder=self.holder)
                announced = True
            stopping.wait(poll_s)
        return False

    def held(self) -> bool:
        """Whether the lock connection is still alive (a cut connection loses the lock)."""
        if self._conn is None or self.epoch is None:
            return False
        try:
            self._conn.execute("SELECT 1")
        except psycopg.Error:
            log.warning("leader_lock_lost", holder=self.holder, epoch=self.epoch)
            self.drop()
            return False
        return True

    def drop(self) -> None:
        """Forget the lock and close its connection (the server releases the lock)."""
        self.epoch = None
        if self._conn is not None:
            with contextlib.suppress(psycopg.Error):
                self._conn.close()
        self._conn = None

    def release(self) -> None:
        """Give the lock back and close its connection."""
        if self._conn is not None and self.epoch is not None:
            with contextlib.suppress(psycopg.Error):
                self._conn.execute(leader_sql.UNLOCK, {"key": LOCK_KEY})
        self.drop()
