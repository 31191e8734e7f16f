"""The daily RCY cap applied to a settlement's mints, with the flags and evidence it leaves."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Generic, Protocol, TypeVar

from circulo.rewards.rules import CapRequest, CapResult, apply_daily_cap
from circulo.rewards.settlement import RCY, FlagRecord, Source, source_key


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
