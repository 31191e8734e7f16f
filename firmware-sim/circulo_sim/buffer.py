"""Store-and-forward: what a device keeps while it cannot reach the broker (pure, bounded).

Messages leave in the order they were taken. When the buffer is full the oldest
*telemetry* message goes first: a meter's register and a bin's next sample carry what an
old sample said, while an event (a deposit, a collection, a repair) is the only record of
what happened, so events are dropped only when nothing else is left (a new telemetry
sample gives way to a buffer full of events). Every drop is counted.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass
class StoreAndForward(Generic[T]):
    """A bounded FIFO that evicts telemetry before events."""

    capacity: int
    dropped: list[T] = field(default_factory=list)
    _items: OrderedDict[int, tuple[T, bool]] = field(default_factory=OrderedDict)
    _telemetry: OrderedDict[int, None] = field(default_factory=OrderedDict)
    _next: int = 0

    def __post_init__(self) -> None:
        if self.capacity < 1:
            raise ValueError("a store-and-forward buffer holds at least one message")

    def __len__(self) -> int:
        return len(self._items)

    def push(self, item: T, *, is_telemetry: bool) -> T | None:
        """Keep ``item``; return the message evicted to make room, if any (also kept in ``dropped``)."""
        evicted = None
        if len(self._items) >= self.capacity:
            if is_telemetry and not self._telemetry:  # full of events: the new sample gives way
                self.dropped.append(item)
                return item
            evicted = self._evict()
        self._items[self._next] = (item, is_telemetry)
        if is_telemetry:
            self._telemetry[self._next] = None
        self._next += 1
        return evicted

    def _evict(self) -> T:
        key = next(iter(self._telemetry)) if self._telemetry else next(iter(self._items))
        item, _ = self._items.pop(key)
        self._telemetry.pop(key, None)
        self.dropped.append(item)
        return item

    def drain(self) -> Iterator[T]:
        """Hand out everything in order, emptying the buffer."""
        while self._items:
            key, (item, _) = self._items.popitem(last=False)
            self._telemetry.pop(key, None)
            yield item
