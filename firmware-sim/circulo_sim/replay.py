"""Replay (SPEC §11): what a device keeps of its data messages, and how it answers a request (pure).

A ``circulo`` device keeps the exact bytes of its last N data messages (telemetry and events,
not status) by ``(epoch, seq)`` in a ring: the oldest goes when it is full. A replay command
names an epoch and an inclusive seq range that may wrap at 2^32; the answer is the messages
the ring still holds, in range order, and the contiguous runs it does not hold (overrun,
another boot), each reported by one ``replay_unavailable`` event.

The range can be as long as 2^32 seqs: the answer is worked out from the ring's contents,
never by walking the range.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime

from pydantic import ValidationError

from circulo_schemas.encode import format_timestamp
from circulo_schemas.errors import Rejection
from circulo_schemas.payloads import ReplayCommand
from circulo_schemas.validate import decode_json_object
from circulo_sim.wire import SEQ_MODULUS, encode_document

DEFAULT_RING_SIZE = 2000  # SPEC §11: at least the last 2,000 data messages
MAX_COMMAND_BYTES = 1024


@dataclass(frozen=True, slots=True)
class Kept:
    """One data message as the device published it."""

    epoch: int
    seq: int
    topic: str
    payload: bytes
    message_type: str


@dataclass
class ReplayRing:
    """The last ``capacity`` data messages by (epoch, seq); keeping one more drops the oldest."""

    capacity: int = DEFAULT_RING_SIZE
    overwritten: int = 0
    _items: OrderedDict[tuple[int, int], Kept] = field(default_factory=OrderedDict)

    def __post_init__(self) -> None:
        if self.capacity < 1:
            raise ValueError("a replay ring holds at least one message")

    def __len__(self) -> int:
        return len(self._items)

    def keep(self, kept: Kept) -> None:
        """Keep a message (the same seq again, e.g. a duplicate send, replaces it: the newest bytes)."""
        key = (kept.epoch, kept.seq)
        self._items.pop(key, None)
        self._items[key] = kept
        while len(self._items) > self.capacity:
            self._items.popitem(last=False)
            self.overwritten += 1

    def everything(self) -> list[Kept]:
        """Every message held, oldest first."""
        return list(self._items.values())

    def held(self, epoch: int) -> list[Kept]:
        """Every message of one epoch still held, oldest first."""
        return [k for (e, _), k in self._items.items() if e == epoch]


@dataclass(frozen=True)
class ReplayAnswer:
    """What to send for one command: the messages held, and the missing runs (inclusive, may wrap)."""

    command: ReplayCommand
    held: tuple[Kept, ...]
    missing: tuple[tuple[int, int], ...]


def span(from_seq: int, to_seq: int) -> int:
    """How many seqs ``from_seq``..``to_seq`` covers, inclusive, wrapping at 2^32."""
    return (to_seq - from_seq) % SEQ_MODULUS + 1


def answer(ring: ReplayRing, command: ReplayCommand) -> ReplayAnswer:
    """The messages of ``command``'s range the ring holds, in range order, and the runs it lacks."""
    length = span(command.from_seq, command.to_seq)
    offsets = {}
    for kept in ring.held(command.epoch):
        offset = (kept.seq - command.from_seq) % SEQ_MODULUS
        if offset < length:
            offsets[offset] = kept
    held = tuple(offsets[o] for o in sorted(offsets))
    missing, expected = [], 0
    for offset in sorted(offsets):
        if offset > expected:
            missing.append(_run(command.from_seq, expected, offset - 1))
        expected = offset + 1
    if expected < length:
        missing.append(_run(command.from_seq, expected, length - 1))
    return ReplayAnswer(command, held, tuple(missing))


def _run(from_seq: int, first: int, last: int) -> tuple[int, int]:
    return (from_seq + first) % SEQ_MODULUS, (from_seq + last) % SEQ_MODULUS


class InvalidCommand(ValueError):
    """A message on the command topic that is not a valid command (logged and ignored)."""


def parse_command(payload: bytes) -> ReplayCommand:
    """A replay command from its bytes; InvalidCommand says why not."""
    if len(payload) > MAX_COMMAND_BYTES:
        raise InvalidCommand(f"{len(payload)} bytes, more than {MAX_COMMAND_BYTES}")
    try:
        return ReplayCommand.model_validate(decode_json_object(payload.decode("utf-8")))
    except UnicodeDecodeError as e:
        raise InvalidCommand("not UTF-8") from e
    except Rejection as e:
        raise InvalidCommand(f"{e.reason}: {e.detail}") from e
    except ValidationError as e:
        fields = sorted({".".join(str(p) for p in err["loc"]) or "(root)" for err in e.errors()})
        raise InvalidCommand("schema: " + ", ".join(fields)) from e


def unavailable_payload(command: ReplayCommand, missing: tuple[int, int], *, ts: datetime, seq: int) -> bytes:
    """The v2 ``replay_unavailable`` event for one missing run (its own fresh ``seq``)."""
    return encode_document(
        {
            "v": 2,
            "ts": format_timestamp(ts),
            "seq": seq,
            "type": "replay_unavailable",
            "id": command.id,
            "epoch": command.epoch,
            "from_seq": missing[0],
            "to_seq": missing[1],
        }
    )
