"""Certificate actions (pure): who may do what to which bundles, and what it leaves behind.

The lifecycle (docs/certificates.md): an ``active`` bundle can be transferred (holder
changes), cancelled for a beneficiary and reporting period (``cancelled``: retired, no longer
transferable) or withdrawn by its issuer; a ``cancelled`` one can be claimed by that same
beneficiary for that same period (``claimed``, final) or withdrawn; ``claimed`` and
``withdrawn`` are final. An active bundle past its expiry can only be withdrawn. The holder
acts on transfer, cancel and claim (the operator applies the holder's request); the issuer —
the co-op's treasury account — withdraws. A partial action takes the first Wh of the bundles
named, in order, and splits the last one it needs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from circulo.certificates.errors import InvalidAction, WrongState
from circulo.certificates.ids import IdRange, Take, take
from circulo.certificates.records import (
    ActedRange,
    Action,
    ActionFacts,
    Period,
    Status,
    acted_ranges,
    action_entry,
)
from circulo.ledger.entries import ACCOUNT_RE, NewEntry, format_ts

# What each action needs a bundle to be, and what the part it takes becomes.
NEEDS: dict[Action, tuple[Status, ...]] = {
    "transfer": ("active",),
    "cancel": ("active",),
    "claim": ("cancelled",),
    "withdraw": ("active", "cancelled"),
}
BECOMES: dict[Action, Status | None] = {
    "transfer": None,
    "cancel": "cancelled",
    "claim": "claimed",
    "withdraw": "withdrawn",
}
UNEXPIRED = ("transfer", "cancel")


@dataclass(frozen=True)
class BundleState:
    """A live bundle as the registry holds it."""

    bundle_id: int
    ids: IdRange
    coop_id: str
    device_id: str
    hour: datetime
    expires_at: datetime
    holder: str
    status: Status
    beneficiary: str | None = None
    period: Period | None = None

    def found(self) -> ActedRange:
        """The bundle as an action's record names what it found."""
        return ActedRange(self.ids, self.device_id, self.hour, self.holder, self.status)


@dataclass(frozen=True)
class ActionRequest:
    """An action on bundles, in the order named; ``wh`` None acts on all of them."""

    action: Action
    account: str
    bundles: tuple[BundleState, ...]
    wh: int | None = None
    to: str | None = None
    beneficiary: str | None = None
    period: Period | None = None
    why: str | None = None
    corrects_seq: int | None = None


@dataclass(frozen=True)
class ActionPlan:
    """An action checked: the takes, the record to append, and each taken part's new state."""

    request: ActionRequest
    takes: tuple[Take, ...]
    entry: NewEntry
    beneficiary: str | None
    period: Period | None

    @property
    def wh(self) -> int:
        """The Wh it acts on."""
        return sum(t.taken.quantity for t in self.takes)

    def new_holder(self, bundle: BundleState) -> str:
        """Who holds a taken part afterwards."""
        return self.request.to if self.request.action == "transfer" and self.request.to else bundle.holder

    def new_status(self, bundle: BundleState) -> Status:
        """What a taken part is afterwards."""
        return BECOMES[self.request.action] or bundle.status


def treasury_of(coop_id: str) -> str:
    """``treasury@{coop}``: the co-op's account, the issuer of its certificates."""
    return f"treasury@{coop_id}"


def plan_action(request: ActionRequest, *, now: datetime, after_seq: int, operator: str) -> ActionPlan:
    """Check ``request`` against the bundles' states and build its record (nothing is written)."""
    coop_id = one_coop(request.bundles)
    check_actor(request, coop_id)
    for bundle in request.bundles:
        check_bundle(request, bundle, now)
    beneficiary, period = claim_terms(request)
    takes = take([b.ids for b in request.bundles], request.wh)
    facts = ActionFacts(
        action=request.action, coop_id=coop_id, account=request.account, after_seq=after_seq,
        operator=operator, to=request.to, beneficiary=beneficiary, period=period,
        why=request.why, corrects_seq=request.corrects_seq,
    )  # fmt: skip
    entry = action_entry(facts, acted_ranges(takes, [b.found() for b in request.bundles]))
    return ActionPlan(request, takes, entry, beneficiary, period)


def one_coop(bundles: Sequence[BundleState]) -> str:
    """The one co-op whose certificates the bundles are, distinct bundles at least one."""
    if not bundles:
        raise InvalidAction("name at least one bundle (its first certificate id)")
    if len({b.ids.start for b in bundles}) != len(bundles):
        raise InvalidAction("a bundle is named twice")
    coops = {b.coop_id for b in bundles}
    if len(coops) != 1:
        raise InvalidAction(f"one action acts on one co-op's certificates, not {', '.join(sorted(coops))}")
    return coops.pop()


def check_actor(request: ActionRequest, coop_id: str) -> None:
    """The issuer withdraws; a transfer names another valid account; a withdrawal says why."""
    if request.action == "withdraw":
        if request.account != treasury_of(coop_id):
            raise InvalidAction(f"certificates are withdrawn by their issuer, {treasury_of(coop_id)}")
        if not (request.why or "").strip():
            raise InvalidAction("a withdrawal needs a reason (--why)")
    if request.action == "transfer":
        if not request.to or not ACCOUNT_RE.fullmatch(request.to):
            raise InvalidAction(f"--to {request.to!r} is not a valid account id")
        if request.to == request.account:
            raise InvalidAction(f"{request.account} already holds these certificates")
    if request.beneficiary is not None and not request.beneficiary.strip():
        raise InvalidAction("a beneficiary cannot be empty")


def check_bundle(request: ActionRequest, bundle: BundleState, now: datetime) -> None:
    """The bundle is held by the actor (unless withdrawn by the issuer), in a state the action
    needs, and not expired when it would still trade."""
    name = f"bundle {bundle.ids}"
    if request.action != "withdraw" and bundle.holder != request.account:
        raise WrongState(f"{name} is held by {bundle.holder}, not {request.account}")
    if bundle.status not in NEEDS[request.action]:
        wanted = " or ".join(NEEDS[request.action])
        raise WrongState(f"{name} is {bundle.status}; {request.action} needs it {wanted}")
    if request.action in UNEXPIRED and now >= bundle.expires_at:
        raise WrongState(f"{name} expired at {format_ts(bundle.expires_at)}; it can only be withdrawn")


def claim_terms(request: ActionRequest) -> tuple[str | None, Period | None]:
    """The beneficiary and reporting period a cancellation or claim records.

    A cancellation's beneficiary defaults to the holder and its period is required; a claim's
    are the cancellation's (naming others is refused). Every production hour must lie in the
    period.
    """
    if request.action in ("transfer", "withdraw"):
        return None, None
    if request.action == "cancel":
        beneficiary, period = request.beneficiary or request.account, request.period
        if period is None:
            raise InvalidAction("a cancellation needs the reporting period it is for (--period)")
    else:
        beneficiary, period = cancellation_terms(request)
    if period.end <= period.start:
        raise InvalidAction("a reporting period must end after it starts")
    for bundle in request.bundles:
        if not period.covers(bundle.hour):
            raise InvalidAction(
                f"bundle {bundle.ids} was produced {format_ts(bundle.hour)}, outside the reporting "
                f"period {format_ts(period.start)} – {format_ts(period.end)}"
            )
    return beneficiary, period


def cancellation_terms(request: ActionRequest) -> tuple[str, Period]:
    """A claim's beneficiary and period: the cancellation's, the same for every bundle."""
    terms = {(b.beneficiary, b.period) for b in request.bundles}
    if len(terms) != 1:
        raise InvalidAction("the bundles were cancelled for different beneficiaries or periods")
    beneficiary, period = terms.pop()
    if beneficiary is None or period is None:
        raise WrongState("a cancelled bundle has no beneficiary or period recorded")
    if request.beneficiary not in (None, beneficiary) or request.period not in (None, period):
        raise InvalidAction(f"these certificates were cancelled for {beneficiary}: a claim keeps its terms")
    return beneficiary, period
