"""The daily RCY cap (SPEC §4), in one place: the rule, the mints it cuts, their flags and evidence.

An account's RCY from deposits and repairs count against a cap per UTC day of the source's
``ts``, across co-ops, applied in settlement order; a request that crosses the cap mints the
part below it, and what does not mint uses no cap. Pure: the usage so far is read and saved
by :mod:`circulo.rewards.settlement` (``lock_cap_usage``, ``save_cap_usage``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Generic, Protocol, TypeVar

from circulo.rewards.records import RCY, FlagRecord, Source, source_key


@dataclass(frozen=True)
class CapRequest:
    """An amount an account would receive from one source, dated by the source's UTC day."""

    account: str
    day: date
    amount_micro: int


@dataclass(frozen=True)
class CapResult:
    """What of a request mints, what the cap withheld, and the day's usage before it."""

    request: CapRequest
    minted_micro: int
    capped_micro: int
    used_before_micro: int


def apply_daily_cap(
    requests: Sequence[CapRequest], used: Mapping[tuple[str, date], int], cap_micro: int
) -> tuple[list[CapResult], dict[tuple[str, date], int]]:
    """Apply the cap to ``requests`` in the given order; returns results and the new usage.

    ``used`` is what each ``(account, day)`` has minted so far. A request that crosses
    the cap mints the part below it; what does not mint uses no cap.
    """
    usage = dict(used)
    results = []
    for request in requests:
        key = (request.account, request.day)
        before = usage.get(key, 0)
        minted = min(request.amount_micro, max(cap_micro - before, 0))
        usage[key] = before + minted
        results.append(CapResult(request, minted, request.amount_micro - minted, before))
    return results, usage


class EventSource(Protocol):
    """What a capped source must name: its device, event id and time."""

    @property
    def device_id(self) -> str: ...

    @property
    def event_id(self) -> str: ...

    @property
    def ts(self) -> datetime: ...


SourceT = TypeVar("SourceT", bound=EventSource)


@dataclass(frozen=True)
class CappedMint(Generic[SourceT]):
    """A source's mint to one account after the daily cap."""

    result: CapResult
    source: SourceT

    @property
    def capped(self) -> bool:
        """Whether the cap withheld any of it."""
        return self.result.capped_micro > 0

    def cap_source(self, cap_micro: int) -> Source:
        """Evidence of the cap's arithmetic for the ledger entry."""
        request = self.result.request
        return {
            "type": "daily_cap",
            "account": request.account,
            "day": request.day.isoformat(),
            "cap_micro": cap_micro,
            "used_before_micro": self.result.used_before_micro,
            "requested_micro": request.amount_micro,
            "minted_micro": self.result.minted_micro,
            "event_id": self.source.event_id,
        }


def apply_cap(
    requests: Sequence[CapRequest],
    sources: Sequence[SourceT],
    used: Mapping[tuple[str, date], int],
    cap_micro: int,
) -> list[CappedMint[SourceT]]:
    """Apply the cap to requests (already in settlement order), each paired with its source."""
    results, _usage = apply_daily_cap(requests, used, cap_micro)
    return [CappedMint(result, source) for result, source in zip(results, sources, strict=True)]


def cap_flag(capped: CappedMint[SourceT], daily_cap_rcy: Decimal) -> FlagRecord:
    """The ``daily_cap`` flag of a mint the cap cut (or withheld entirely)."""
    request = capped.result.request
    source = capped.source
    return FlagRecord(
        flag="daily_cap",
        device_id=source.device_id,
        ts=source.ts,
        detail=(
            f"account {request.account} reached its {daily_cap_rcy} RCY cap for {request.day.isoformat()}: "
            f"{capped.result.minted_micro} of {request.amount_micro} µRCY minted"
        ),
        token=RCY,
        source_key=source_key(source.device_id, source.event_id),
        account=request.account,
        excluded_micro=capped.result.capped_micro,
    )
