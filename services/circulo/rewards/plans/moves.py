"""Moves of tokens between accounts (SPEC §13), pure: transfers, treasury dividends, the floor.

A move is one settlement of one burn from the paying account and one mint per receiving
account, of the same token, that add up exactly: it creates no token and destroys none.
Dividends share an amount of the co-op's treasury among its members pro rata to their
shares; the basic-token floor tops up the members whose mints in a month fell below it, from
the treasury, sharing a shortfall pro rata to what each is owed. Both split by largest
remainder (ties: account id in byte order, :func:`rules.largest_remainder`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from circulo.ledger.entries import NewEntry, Token
from circulo.ledger.requests import TransferRequest, treasury_of
from circulo.rewards.records import FlagRecord, Settlement, Source
from circulo.rewards.rules import byte_order, largest_remainder


def move_entries(
    *,
    reason: str,
    settlement_id: str,
    token: Token,
    payer: str,
    amounts: Mapping[str, int],
    sources_for: Callable[[str], tuple[Source, ...]],
    policy: str,
    adopted_by: str | None = None,
) -> tuple[NewEntry, ...]:
    """The burn from ``payer`` of the whole amount, then one mint per receiver in byte order."""
    receivers = sorted((a for a, amount in amounts.items() if amount > 0), key=byte_order)
    total = sum(amounts[a] for a in receivers)
    if total == 0:
        return ()
    burn = NewEntry(
        kind="burn",
        token=token,
        account=payer,
        amount_micro=total,
        reason=reason,
        settlement_id=settlement_id,
        sources=sources_for(payer),
        policy=policy,
        adopted_by=adopted_by,
    )
    mints = tuple(
        NewEntry(
            kind="mint",
            token=token,
            account=account,
            amount_micro=amounts[account],
            reason=reason,
            settlement_id=settlement_id,
            sources=sources_for(account),
            policy=policy,
            adopted_by=adopted_by,
        )
        for account in receivers
    )
    return (burn, *mints)


def transfer_settlement(request: TransferRequest, authorisation: Source, *, policy: str) -> Settlement:
    """A transfer's burn and mint, each carrying the request and who authorised it."""
    source = {"type": "transfer_request", "request": request.document(), "authorised_by": dict(authorisation)}
    token = request.token
    return Settlement(
        settlement_id=request.settlement_id,
        kind="transfer",
        token=token,
        sources=1,
        coop_id=request.coop,
        entries=move_entries(
            reason="transfer",
            settlement_id=request.settlement_id,
            token=token,
            payer=request.from_account,
            amounts={request.to_account: request.amount_micro},
            sources_for=lambda _account: (source,),
            policy=policy,
        ),
    )


def dividend_settlement_id(coop_id: str, token: str, dividend_id: str) -> str:
    """``dividend:{coop}:{token}:{id}`` (SPEC §13)."""
    return f"dividend:{coop_id}:{token}:{dividend_id}"


@dataclass(frozen=True)
class DividendPlan:
    """A dividend of ``amount_micro`` of the treasury, split by the members' shares."""

    coop_id: str
    token: Token
    dividend_id: str
    amount_micro: int
    shares: Mapping[str, int]

    @property
    def amounts(self) -> dict[str, int]:
        """Each member's part (largest remainder; members with no shares get nothing)."""
        return largest_remainder(self.amount_micro, self.shares)

    @property
    def total_shares(self) -> int:
        """The shares that count."""
        return sum(s for s in self.shares.values() if s > 0)

    def source(self, account: str) -> Source:
        """The dividend's arithmetic as one account's evidence."""
        return {
            "type": "dividend",
            "coop_id": self.coop_id,
            "token": self.token,
            "dividend_id": self.dividend_id,
            "amount_micro": self.amount_micro,
            "account_shares": max(self.shares.get(account, 0), 0),
            "total_shares": self.total_shares,
        }


def dividend_settlement(plan: DividendPlan, *, policy: str) -> Settlement:
    """The dividend's burn from the treasury and its mints to members (no entries: nobody to pay)."""
    settlement_id = dividend_settlement_id(plan.coop_id, plan.token, plan.dividend_id)
    return Settlement(
        settlement_id=settlement_id,
        kind="dividend",
        token=plan.token,
        sources=1,
        coop_id=plan.coop_id,
        entries=move_entries(
            reason="dividend",
            settlement_id=settlement_id,
            token=plan.token,
            payer=treasury_of(plan.coop_id),
            amounts=plan.amounts,
            sources_for=lambda account: (plan.source(account),),
            policy=policy,
        ),
    )


@dataclass(frozen=True)
class FloorOutcome:
    """What each member was owed by the floor and what the treasury paid."""

    owed: Mapping[str, int]
    paid: Mapping[str, int]

    @property
    def shortfall(self) -> dict[str, int]:
        """What the treasury could not pay, per member (only members short of it)."""
        return {a: owed - self.paid.get(a, 0) for a, owed in self.owed.items() if owed > self.paid.get(a, 0)}


def floor_topups(
    floor_micro: int, minted: Mapping[str, int], members: Iterable[str], treasury_micro: int
) -> FloorOutcome:
    """Top each member up to the floor; when the treasury can't pay all, share it pro rata to what is owed."""
    owed = {m: floor_micro - minted.get(m, 0) for m in members if minted.get(m, 0) < floor_micro}
    total = sum(owed.values())
    paid = dict(owed) if total <= treasury_micro else largest_remainder(max(treasury_micro, 0), owed)
    return FloorOutcome(owed, paid)


def month_label(month: datetime) -> str:
    """``YYYY-MM`` of a month's first instant (UTC)."""
    return month.astimezone(UTC).strftime("%Y-%m")


def floor_settlement_id(coop_id: str, token: str, month: datetime) -> str:
    """``floor:{coop}:{token}:{YYYY-MM}`` (SPEC §13)."""
    return f"floor:{coop_id}:{token}:{month_label(month)}"


@dataclass(frozen=True)
class FloorPlan:
    """One co-op's floor for one token and month, and what its members minted that month."""

    coop_id: str
    token: Token
    month: datetime
    floor_micro: int
    minted: Mapping[str, int]
    treasury_micro: int
    outcome: FloorOutcome

    def source(self, account: str) -> Source:
        """The floor's arithmetic as one account's evidence (the treasury's: the totals)."""
        common: dict[str, str | int] = {
            "type": "floor",
            "coop_id": self.coop_id,
            "token": self.token,
            "month": month_label(self.month),
            "floor_micro": self.floor_micro,
        }
        if account == treasury_of(self.coop_id):
            owed, paid = sum(self.outcome.owed.values()), sum(self.outcome.paid.values())
            return {**common, "treasury_micro": self.treasury_micro, "owed_micro": owed, "paid_micro": paid}
        return {
            **common,
            "minted_micro": self.minted.get(account, 0),
            "owed_micro": self.outcome.owed.get(account, 0),
            "paid_micro": self.outcome.paid.get(account, 0),
        }


def floor_settlement(plan: FloorPlan, *, policy: str, adopted_by: str | None = None) -> Settlement:
    """The floor's burn from the treasury, its mints, and a shortfall flag per member not paid in full."""
    settlement_id = floor_settlement_id(plan.coop_id, plan.token, plan.month)
    flags = tuple(
        FlagRecord(
            flag="floor_shortfall",
            device_id=None,
            ts=plan.month,
            detail=(
                f"{account} minted {plan.minted.get(account, 0)} µ{plan.token} in {month_label(plan.month)}, "
                f"the floor is {plan.floor_micro}; the treasury paid {plan.outcome.paid.get(account, 0)} "
                f"of {plan.outcome.owed[account]} owed"
            ),
            token=plan.token,
            source_key=settlement_id,
            account=account,
            excluded_micro=short,
        )
        for account, short in sorted(plan.outcome.shortfall.items(), key=lambda item: byte_order(item[0]))
    )
    return Settlement(
        settlement_id=settlement_id,
        kind="floor",
        token=plan.token,
        sources=len(plan.outcome.owed),
        coop_id=plan.coop_id,
        period_start=plan.month,
        entries=move_entries(
            reason="floor",
            settlement_id=settlement_id,
            token=plan.token,
            payer=treasury_of(plan.coop_id),
            amounts=plan.outcome.paid,
            sources_for=lambda account: (plan.source(account),),
            policy=policy,
            adopted_by=adopted_by,
        ),
        flags=flags,
    )
