"""Gap ranges of ``seq`` per device and boot epoch, and how arrivals change them (pure, SPEC §11).

A device's messages carry ``seq`` (+1 per message, wrapping at 2^32) and, on firmware with a
replay buffer, a boot ``epoch``; firmware without one is tracked under epoch ``-1``. The
*frontier* is the furthest ``seq`` seen in the device's current epoch. A message ahead of it
(by less than half the seq space, so a wrap through 2^32 - 1 to 0 is a step of one) opens a
gap for what lies between. A message inside a pending gap shrinks it at an edge or splits it
in two; the gap that lacks nothing more is closed: ``recovered`` when a replay had been
requested for it, dropped when it had not (that was reordering across workers or a late
store-and-forward, not a loss: nothing to keep). A ``replay_unavailable`` answer turns the
covered part of the pending gaps of its epoch into ``lost`` (final, reason ``unavailable``).

A new epoch is a reboot, not a gap: the old epoch's pending gaps stay requestable, and the
new epoch's counter starts at 0, so its first message at ``seq`` s (small) leaves 0..s-1
pending; so does a device's very first message (with an epoch: a device first heard at seq 5,
say because two workers committed out of order or a crash took its first messages, lacks
0..4). Firmware without epochs starts a baseline at its first message, as before replays;
so does a device already counted before epochs (its state row holds a seq but no epoch).

A message behind the frontier that fills no pending gap changes nothing — except under
epoch ``-1``, where a jump back by more than :data:`REORDER_WINDOW` is the counter restarting
after a firmware reset (counted, a new baseline), as before replays existed.
A long replay of an epoch ≥ 0 never looks like a reset: it fills gaps, far behind or not.

Times: a gap is requested once ``W`` passes ``after_received_at + replay_after`` and given
up at ``give_up_at = after_received_at + replay_timeout``; a gap of epoch ``-1`` cannot be
requested (no buffer), so it is given up once ``replay_after`` passed without it filling.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from circulo.ingest.device_state import REORDER_WINDOW, SEQ_MODULUS

HALF_SEQ = SEQ_MODULUS // 2
NO_EPOCH = -1
# a new epoch's first seq beyond this is not a counter that restarted at 0 (no leading gap)
LEADING_GAP_MAX = 65536
OPEN, REQUESTED, RECOVERED, LOST = "open", "requested", "recovered", "lost"
PENDING = (OPEN, REQUESTED)


@dataclass(frozen=True, slots=True)
class ReplayPolicy:
    """How long a gap waits before it is requested, and before it is given up (judged by ``W``)."""

    replay_after: timedelta = timedelta(seconds=30)
    replay_timeout: timedelta = timedelta(seconds=600)


@dataclass(frozen=True, slots=True)
class Gap:
    """One range ``from_seq``..``to_seq`` (inclusive, may wrap) missing in ``epoch``.

    ``stored_key`` is ``(epoch, from_seq)`` of the database row it was read from (None when
    opened in this batch); pieces split from a stored gap keep none, their parent is replaced.
    """

    epoch: int
    from_seq: int
    to_seq: int
    after_received_at: datetime
    give_up_at: datetime
    next_request_at: datetime
    before_ts: datetime | None = None
    after_ts: datetime | None = None
    state: str = OPEN
    request_id: str | None = None
    requests: int = 0
    requested_at: datetime | None = None
    opened_at: datetime | None = None
    closed_at: datetime | None = None
    lost_reason: str | None = None
    stored_key: tuple[int, int] | None = None

    @property
    def missing(self) -> int:
        """How many seq values the range lacks (0 once recovered)."""
        return 0 if self.state == RECOVERED else span(self.from_seq, self.to_seq)

    def offset(self, seq: int) -> int:
        """Where ``seq`` lies from ``from_seq`` (mod 2^32); inside when < :attr:`missing`."""
        return (seq - self.from_seq) % SEQ_MODULUS

    def contains(self, seq: int) -> bool:
        return self.offset(seq) < span(self.from_seq, self.to_seq)


def span(from_seq: int, to_seq: int) -> int:
    """Length of the inclusive, possibly wrapping range ``from_seq``..``to_seq``."""
    return (to_seq - from_seq) % SEQ_MODULUS + 1


def seq_at(seq: int, step: int) -> int:
    return (seq + step) % SEQ_MODULUS


@dataclass(frozen=True, slots=True)
class Arrival:
    """A received message with a ``seq``: stored or a duplicate, either proves that seq arrived.

    ``epoch`` None means the device's current epoch (a ``replay_unavailable`` event's own seq:
    its ``epoch`` field names the range's, not necessarily the boot it was sent in).
    """

    epoch: int | None
    seq: int
    ts: datetime | None
    received_at: datetime


@dataclass(frozen=True, slots=True)
class Unavailable:
    """A device's answer that it no longer holds ``from_seq``..``to_seq`` of ``epoch``."""

    epoch: int
    from_seq: int
    to_seq: int
    received_at: datetime


@dataclass
class GapTally:
    """What a batch did to the gaps, for the metrics (counted once the batch committed)."""

    opened: int = 0
    recovered: int = 0  # messages that filled a gap a replay was requested for
    filled: int = 0  # every message that filled a gap (late or replayed)
    lost: dict[str, int] = field(default_factory=dict)

    def add(self, other: GapTally) -> None:
        self.opened += other.opened
        self.recovered += other.recovered
        self.filled += other.filled
        for reason, n in other.lost.items():
            self.lost[reason] = self.lost.get(reason, 0) + n


@dataclass
class DeviceGaps:
    """One device's frontier and pending gaps while a batch is applied (mutable, batch-local).

    ``closed`` collects the gaps this batch closed (recovered or lost) to be written back;
    ``removed`` the stored keys of pending rows that were replaced, filled or closed.
    """

    policy: ReplayPolicy
    epoch: int | None = None
    last_seq: int | None = None
    last_ts: datetime | None = None
    pending: list[Gap] = field(default_factory=list)
    closed: list[Gap] = field(default_factory=list)
    resets: int = 0
    missing_delta: int = 0
    tally: GapTally = field(default_factory=GapTally)
    _removed: set[tuple[int, int]] = field(default_factory=set)

    # --- what the writer reads back ---------------------------------------------------------
    @property
    def removed(self) -> set[tuple[int, int]]:
        """Stored rows to delete: every stored pending row that no longer stands as it was."""
        return self._removed

    def written(self) -> Iterator[Gap]:
        """Rows to insert: new or changed pending gaps, and the gaps closed in this batch."""
        yield from (g for g in self.pending if g.stored_key is None)
        yield from self.closed

    # --- arrivals ---------------------------------------------------------------------------
    def arrive(self, arrival: Arrival) -> None:
        """Apply one message with a seq, in receipt order."""
        epoch = self.epoch if arrival.epoch is None else arrival.epoch
        if epoch is None:
            epoch = NO_EPOCH
        if self.fill(epoch, arrival):
            return
        if self.last_seq is None:
            self.new_epoch(epoch, arrival)  # the device's first message ever: its boot began at 0
        elif epoch == self.epoch:
            self.same_epoch(epoch, self.last_seq, arrival)
        elif is_newer(epoch, self.epoch):
            self.new_epoch(epoch, arrival)
        # else: an older epoch's message that fills no gap (its loss, if any, is already counted)

    def same_epoch(self, epoch: int, last_seq: int, arrival: Arrival) -> None:
        ahead = (arrival.seq - last_seq) % SEQ_MODULUS
        if ahead == 0:
            return
        if ahead < HALF_SEQ:
            if ahead > 1:
                self.open(epoch, seq_at(last_seq, 1), seq_at(arrival.seq, -1), arrival)
            self.advance(epoch, arrival)
        elif epoch == NO_EPOCH and SEQ_MODULUS - ahead > REORDER_WINDOW:
            self.resets += 1  # the counter restarted (firmware reset): a new baseline
            self.advance(epoch, arrival)

    def new_epoch(self, epoch: int, arrival: Arrival) -> None:
        """A reboot: the counter restarted at 0 in ``epoch``; what came before 0..seq is pending."""
        counts_from_zero = NO_EPOCH not in (epoch, self.epoch)  # firmware with boot epochs, before and now
        if counts_from_zero and 0 < arrival.seq <= LEADING_GAP_MAX:
            self.open(epoch, 0, arrival.seq - 1, arrival)
        self.advance(epoch, arrival)

    def advance(self, epoch: int, arrival: Arrival) -> None:
        self.epoch, self.last_seq, self.last_ts = epoch, arrival.seq, arrival.ts

    def open(self, epoch: int, from_seq: int, to_seq: int, arrival: Arrival) -> None:
        after = arrival.received_at
        waits = self.policy.replay_after if epoch == NO_EPOCH else self.policy.replay_timeout
        before_ts = self.last_ts if epoch == self.epoch else None
        gap = Gap(
            epoch=epoch,
            from_seq=from_seq,
            to_seq=to_seq,
            after_received_at=after,
            give_up_at=after + waits,
            next_request_at=after + self.policy.replay_after,
            before_ts=before_ts,
            after_ts=arrival.ts,
            opened_at=after,
        )
        self.pending.append(gap)
        self.missing_delta += gap.missing
        self.tally.opened += 1

    def fill(self, epoch: int, arrival: Arrival) -> bool:
        """Take ``arrival.seq`` out of the pending gap of ``epoch`` holding it; False when none does."""
        for index, gap in enumerate(self.pending):
            if gap.epoch == epoch and gap.contains(arrival.seq):
                self.replace(index, pieces_without(gap, arrival), gap, arrival.received_at)
                self.missing_delta -= 1
                self.tally.filled += 1
                if gap.requests > 0:
                    self.tally.recovered += 1
                return True
        return False

    def replace(self, index: int, pieces: list[Gap], gap: Gap, at: datetime) -> None:
        """Put ``pieces`` where ``gap`` was; a requested gap filled up is closed as recovered."""
        self.forget(gap)
        self.pending[index : index + 1] = pieces
        if not pieces and gap.requests > 0:
            self.closed.append(replace(gap, state=RECOVERED, closed_at=at, stored_key=None))

    def forget(self, gap: Gap) -> None:
        if gap.stored_key is not None:
            self._removed.add(gap.stored_key)

    # --- replay_unavailable -----------------------------------------------------------------
    def unavailable(self, answer: Unavailable) -> None:
        """The device no longer holds the range: its missing part in the pending gaps is lost."""
        kept: list[Gap] = []
        for gap in self.pending:
            if gap.epoch != answer.epoch:
                kept.append(gap)
                continue
            rest, lost = carve(gap, answer)
            if not lost:
                kept.append(gap)
                continue
            self.forget(gap)
            kept += rest
            for piece in lost:
                self.closed.append(
                    replace(piece, state=LOST, lost_reason="unavailable", closed_at=answer.received_at)
                )
                self.tally.lost["unavailable"] = self.tally.lost.get("unavailable", 0) + piece.missing
        self.pending = kept


def is_newer(epoch: int, current: int | None) -> bool:
    """A later boot than ``current``; a switch from or to firmware without epochs counts as one."""
    return current is None or NO_EPOCH in (epoch, current) or epoch > current


def pieces_without(gap: Gap, arrival: Arrival) -> list[Gap]:
    """``gap`` without ``arrival.seq``: shrunk at an edge, split in two, or nothing left."""
    offset, length = gap.offset(arrival.seq), gap.missing
    pieces = []
    if offset > 0:
        pieces.append(replace(gap, to_seq=seq_at(arrival.seq, -1), after_ts=arrival.ts, stored_key=None))
    if offset < length - 1:
        pieces.append(replace(gap, from_seq=seq_at(arrival.seq, 1), before_ts=arrival.ts, stored_key=None))
    return pieces


def carve(gap: Gap, answer: Unavailable) -> tuple[list[Gap], list[Gap]]:
    """Split ``gap`` into the pieces ``answer`` does not cover and those it covers."""
    length = gap.missing
    start = gap.offset(answer.from_seq)
    covered_len = span(answer.from_seq, answer.to_seq)
    # the answer's range in offsets from gap.from_seq, as at most two linear intervals
    intervals = [(start, start + covered_len - 1)]
    if start + covered_len > SEQ_MODULUS:
        intervals = [(start, SEQ_MODULUS - 1), (0, start + covered_len - 1 - SEQ_MODULUS)]
    covered = sorted((max(a, 0), min(b, length - 1)) for a, b in intervals if a <= length - 1 and b >= 0)
    if not covered:
        return [gap], []
    rest: list[Gap] = []
    lost: list[Gap] = []
    cursor = 0
    for a, b in covered:
        if a > cursor:
            rest.append(piece_of(gap, cursor, a - 1))
        lost.append(piece_of(gap, a, b))
        cursor = b + 1
    if cursor < length:
        rest.append(piece_of(gap, cursor, length - 1))
    return rest, lost


def piece_of(gap: Gap, first: int, last: int) -> Gap:
    """The part of ``gap`` between offsets ``first`` and ``last`` (inclusive), as a new row."""
    return replace(
        gap, from_seq=seq_at(gap.from_seq, first), to_seq=seq_at(gap.from_seq, last), stored_key=None
    )


def pending_missing(gaps: Iterable[Gap]) -> int:
    """How many seq values the gaps still lack."""
    return sum(g.missing for g in gaps if g.state in PENDING)
