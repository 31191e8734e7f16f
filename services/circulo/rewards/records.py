"""What a settlement is, as plain data: its record, flags, evidence and mints (pure).

A :class:`Settlement` is built by the pure planners of :mod:`circulo.rewards.plans` and
committed by :mod:`circulo.rewards.settlement`; nothing here touches the database.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Literal, Self

from circulo.governance.state import GovernanceState
from circulo.ledger.entries import NewEntry, Reason, Token, format_ts
from circulo.ledger.keys import Signer
from circulo.rewards.policy import Policy, governed_policy
from circulo.rewards.rules import byte_order

GRN: Token = "GRN"

RCY: Token = "RCY"

SettlementKind = Literal[
    "green", "green-late", "deposit", "deposit-late", "repair", "transfer", "dividend", "floor"
]

Source = Mapping[str, Any]

# SPEC §11: a replay gap holds settlement back at most this long after its receipt.
DEFAULT_REPLAY_TIMEOUT_S = 600.0


@dataclass(frozen=True)
class PlanContext:
    """What the pure planners need: the rules, W, the mode and the co-ops' governance (no key).

    ``policy`` is the deployment's policy; a governed co-op's settlements use the policy its
    members adopted, found with :meth:`at` (``governance`` holds what the ledger records).
    ``replay_timeout_s`` bounds how long a pending replay gap (SPEC §11) holds a meter's hour
    or a bin's collection back, for a gap the ingest has not yet given a give-up time.
    Member statements (:mod:`circulo.statements.pending`) plan with one to estimate what is
    pending exactly as the engine will settle it, without being able to sign anything.
    """

    policy: Policy
    watermark: datetime | None
    drain: bool
    grace_s: float
    idle_timeout_s: float
    governance: GovernanceState | None = None
    adopted_by: str | None = None
    replay_timeout_s: float = DEFAULT_REPLAY_TIMEOUT_S

    def at(self, coop_id: str | None, moment: datetime | None) -> Self:
        """This context with the policy in force for ``coop_id`` at ``moment`` (SPEC §14).

        A co-op whose governance is on settles under its adopted policy — with the
        deployment-wide rules (the daily cap, the engine's timing) kept from the deployment's
        policy, as they are not votable per co-op — and its entries name the proposal that
        adopted it. Any other co-op settles under the deployment's policy.
        """
        if self.governance is None or coop_id is None or moment is None:
            return self
        coop = self.governance.coops.get(coop_id)
        period = coop.period_at(moment) if coop is not None else None
        if period is None or period.policy_toml is None:
            return self
        return replace(
            self, policy=governed_policy(period.policy_toml, self.policy), adopted_by=period.adopted_by
        )


@dataclass(frozen=True, kw_only=True)
class CycleContext(PlanContext):
    """What every settlement of one cycle needs: the plan context, plus key, identity and epoch."""

    signer: Signer
    engine_id: str
    epoch: int


@dataclass(frozen=True)
class FlagRecord:
    """An excluded amount and why (SPEC §8: flag, device_id, ts, detail).

    ``device_id`` is None for a flag about an account rather than a device (``floor_shortfall``).
    """

    flag: str
    device_id: str | None
    ts: datetime
    detail: str
    token: Token
    source_key: str
    account: str = ""
    excluded_micro: int = 0


@dataclass(frozen=True)
class Settlement:
    """One settlement's record, the entries it appends and the amounts it excludes.

    ``period_start`` is the time its sources are attributed to: a green hour (the earliest for
    late pairs), a collection's or a repair's ``ts``, a month for the floor.
    """

    settlement_id: str
    kind: SettlementKind
    token: Token
    sources: int
    coop_id: str | None = None
    device_id: str | None = None
    hour: datetime | None = None
    credited_wh: int | None = None
    entries: tuple[NewEntry, ...] = ()
    flags: tuple[FlagRecord, ...] = field(default=())
    period_start: datetime | None = None

    @property
    def minted_micro(self) -> int:
        """The sum of this settlement's mints (a move's burns are not counted)."""
        return sum(entry.amount_micro for entry in self.entries if entry.kind == "mint")

    @property
    def excluded_micro(self) -> int:
        """The sum of what its flags withheld."""
        return sum(flag.excluded_micro for flag in self.flags)


def source_key(device_id: str, ts_or_event: datetime | str) -> str:
    """The key a flag names its source by: a meter pair by its later ts, an event by its id."""
    if isinstance(ts_or_event, datetime):
        return f"meter:{device_id}:{format_ts(ts_or_event)}"
    return f"event:{device_id}:{ts_or_event}"


def mint_entries(
    *,
    token: Token,
    reason: Reason,
    settlement_id: str,
    amounts: Mapping[str, int],
    sources_for: Callable[[str], tuple[Source, ...]],
    policy: Policy,
    adopted_by: str | None = None,
) -> tuple[NewEntry, ...]:
    """One mint per receiving account, in account byte order, each with its own evidence."""
    return tuple(
        NewEntry(
            kind="mint",
            token=token,
            account=account,
            amount_micro=amounts[account],
            reason=reason,
            settlement_id=settlement_id,
            sources=sources_for(account),
            policy=policy.version,
            adopted_by=adopted_by,
        )
        for account in sorted(amounts, key=byte_order)
        if amounts[account] > 0
    )
