"""The receipt queue between the MQTT callback and the writer, and the low watermark.

The queue is bounded by the MQTT v5 Receive Maximum the ingest announces: the broker
never has more unacknowledged messages in flight to us than it can hold. Receipt times
are assigned under the queue's lock, so the watermark (the receipt time before which
everything received is committed, SPEC §3) can never pass a message that is stamped but
not yet visible to the writer.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from datetime import UTC, datetime

from circulo.ingest.records import Received


def utc_now() -> datetime:
    return datetime.now(UTC)


class ReceiptQueue:
    """A FIFO of received messages with batch takes and a watermark."""

    def __init__(self, clock: Callable[[], datetime] = utc_now) -> None:
        self._items: deque[Received] = deque()
        self._cond = threading.Condition()
        self._clock = clock
        self._accepting = True
        # batches taken but not yet committed: batch number -> oldest receipt time
        self._in_flight: dict[int, datetime] = {}
        self._batches = 0

    def __len__(self) -> int:
        return len(self._items)

    def put(self, topic: str, payload: bytes, mid: int, epoch: int, qos: int) -> bool:
        """Stamp and enqueue a message; False when the queue no longer accepts (stopping)."""
        with self._cond:
            if not self._accepting:
                return False
            self._items.append(Received(topic, payload, self._clock(), mid, epoch, qos))
            self._cond.notify()
            return True

    def put_many(self, items: Iterable[tuple[str, bytes, int, int, int]]) -> bool:
        """Stamp and enqueue (topic, payload, mid, epoch, qos) messages, in order, under one lock."""
        with self._cond:
            if not self._accepting:
                return False
            clock, append = self._clock, self._items.append
            for topic, payload, mid, epoch, qos in items:
                append(Received(topic, payload, clock(), mid, epoch, qos))
            self._cond.notify()
            return True

    def stop_accepting(self) -> None:
        """From now on ``put`` refuses: unacknowledged, those messages are redelivered later."""
        with self._cond:
            self._accepting = False
            self._cond.notify_all()

    def take_batch(self, max_items: int, linger_s: float, wait_s: float) -> tuple[int, list[Received]]:
        """Up to ``max_items`` messages: waits ``wait_s`` for the first, then lingers for more.

        Returns (batch number, messages); the batch counts toward the watermark until
        :meth:`committed` is called with its number.
        """
        with self._cond:
            if not self._items:
                self._cond.wait(wait_s)
            if not self._items:
                return 0, []
            deadline = time.monotonic() + linger_s
            while len(self._items) < max_items and self._accepting:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not self._cond.wait(remaining):
                    break
            count = min(max_items, len(self._items))
            batch = [self._items.popleft() for _ in range(count)]
            self._batches += 1
            self._in_flight[self._batches] = batch[0].received_at
            return self._batches, batch

    def committed(self, batch_number: int) -> None:
        """The batch is durably written (or given up and left to redelivery)."""
        with self._cond:
            self._in_flight.pop(batch_number, None)

    def watermark(self, committing: int = 0) -> datetime:
        """Receipt time of the oldest message not yet committed, or now when there is none.

        ``committing`` is the batch whose transaction writes this watermark: its messages
        are committed together with it, so they do not hold it back.
        """
        with self._cond:
            pending = [at for number, at in self._in_flight.items() if number != committing]
            if self._items:
                pending.append(self._items[0].received_at)
            return min(pending) if pending else self._clock()
