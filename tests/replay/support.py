"""Replay test support: a device that keeps its messages and answers replay commands (SPEC §11).

:class:`ReplayingDevice` plays the device side with the tester account: it publishes its
messages (or holds some back, as a broker crash would lose them), listens on its command
topic and republishes the original bytes of what a command asks for, and a ``v: 2``
``replay_unavailable`` for what it does not hold.
"""

from __future__ import annotations

import json
import queue
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from pydantic import ValidationError

from circulo_schemas.payloads import ReplayCommand
from circulo_schemas.topics import command_topic
from tests.support import Publisher, Subscriber, rows, scalar

SEQ_MODULUS = 2**32
T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)


def replay_env(monkeypatch: pytest.MonkeyPatch, **values: object) -> None:
    """Replay settings for the ingest processes a test starts (CIRCULO_* environment)."""
    defaults: dict[str, object] = {"replay_after_s": 1, "replay_retry_s": 30, "replay_poll_s": 0.2}
    for name, value in (defaults | values).items():
        monkeypatch.setenv(f"CIRCULO_{name.upper()}", str(value))


def reading(device_id: str, seq: int, epoch: int | None = 1, minute: int | None = None) -> tuple[str, bytes]:
    """A meter reading of ``device_id`` as its ``seq``-th message of ``epoch``."""
    body: dict[str, Any] = {
        "v": 1,
        "ts": (T0 + timedelta(minutes=seq if minute is None else minute)).isoformat(),
        "seq": seq,
    }
    if epoch is not None:
        body["epoch"] = epoch
    body |= {"energy_wh": 1000 + seq, "power_w": 100}
    return f"circulo/v1/meter/{device_id}/telemetry", json.dumps(body).encode()


class ReplayingDevice:
    """A meter that keeps what it published by (epoch, seq) and answers replay commands."""

    def __init__(self, url: str, device_id: str, *, kind: str = "meter", answer: bool = True) -> None:
        self.url, self.device_id, self.kind, self.answer = url, device_id, kind, answer
        self.kept: dict[tuple[int, int], tuple[str, bytes]] = {}
        self.commands: queue.Queue[ReplayCommand] = queue.Queue()
        self.seq = 0
        self.invalid = 0
        self._publisher = Publisher(url)
        self._lock = threading.Lock()
        self._listener = Subscriber(url, command_topic(kind, device_id))
        self._listener.client.on_message = lambda c, u, m: self._on_command(m.payload)

    def __enter__(self) -> ReplayingDevice:
        self._publisher.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._listener.close()
        self._publisher.__exit__(*exc)

    def keep(self, epoch: int, seq: int, message: tuple[str, bytes]) -> tuple[str, bytes]:
        self.kept[(epoch, seq)] = message
        return message

    def publish(self, messages: Iterable[tuple[str, bytes]]) -> None:
        with self._lock:
            self._publisher.publish_all(list(messages))

    def _on_command(self, payload: bytes) -> None:
        try:
            command = ReplayCommand.model_validate_json(payload)
        except ValidationError:
            self.invalid += 1  # firmware logs and ignores what is not a command
            return
        self.commands.put(command)
        if self.answer:
            threading.Thread(target=self.respond, args=(command,), daemon=True).start()

    def respond(self, command: ReplayCommand) -> None:
        """Republish what is kept of the range, in order; one replay_unavailable per missing run."""
        length = (command.to_seq - command.from_seq) % SEQ_MODULUS + 1
        held, missing, run_start = [], [], None
        for offset in range(length):
            seq = (command.from_seq + offset) % SEQ_MODULUS
            message = self.kept.get((command.epoch, seq))
            if message is not None:
                held.append(message)
                if run_start is not None:
                    missing.append((run_start, (seq - 1) % SEQ_MODULUS))
                    run_start = None
            elif run_start is None:
                run_start = seq
        if run_start is not None:
            missing.append((run_start, command.to_seq))
        self.publish(held)
        for first, last in missing:
            self.publish([self.unavailable(command, first, last)])

    def unavailable(self, command: ReplayCommand, first: int, last: int) -> tuple[str, bytes]:
        self.seq += 1
        body = {
            "v": 2,
            "ts": datetime.now(UTC).replace(microsecond=0).isoformat(),
            "seq": self.seq,
            "type": "replay_unavailable",
            "id": command.id,
            "epoch": command.epoch,
            "from_seq": first,
            "to_seq": last,
        }
        return f"circulo/v1/{self.kind}/{self.device_id}/event", json.dumps(body).encode()

    def next_command(self, timeout: float = 20) -> ReplayCommand:
        return self.commands.get(timeout=timeout)

    def no_command_for(self, seconds: float) -> bool:
        try:
            self.commands.get(timeout=seconds)
        except queue.Empty:
            return True
        return False


def gaps(db_url: str, device_id: str) -> list[tuple[Any, ...]]:
    """(epoch, from_seq, to_seq, missing, state, lost_reason, requests) of a device, in order."""
    return rows(
        db_url,
        "SELECT epoch, from_seq, to_seq, missing, state, lost_reason, requests FROM replay_gap "
        "WHERE device_id = %s ORDER BY epoch, from_seq",
        (device_id,),
    )


def stored_seqs(db_url: str, device_id: str) -> list[int]:
    return [
        r[0]
        for r in rows(db_url, "SELECT seq FROM meter_reading WHERE device_id = %s ORDER BY seq", (device_id,))
    ]


@contextmanager
def lagging_worker(db_url: str, lag: timedelta = timedelta(hours=1)) -> Iterator[None]:
    """A live worker row whose watermark lags: ``W`` stays behind until the block ends."""
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO ingest_worker (worker_id, low_watermark, heartbeat_at, started_at) "
            "VALUES ('lagging', now() - %s, now() + interval '1 hour', now())",
            (lag,),
        )
    try:
        yield
    finally:
        with psycopg.connect(db_url, autocommit=True) as conn:
            conn.execute("UPDATE ingest_worker SET stopped_at = now() WHERE worker_id = 'lagging'")


def watermark(db_url: str) -> datetime:
    value: datetime = scalar(db_url, "SELECT ingest_low_watermark()")
    return value
