"""Counting a vote (SPEC §14), pure: who counts, which ballot counts, quorum, threshold.

A proposal freezes its rules when it is recorded: the voters (the co-op's members then) and
their weights (1 each, or their shares), when the vote opens and closes, the quorum and the
threshold. A ballot counts when its voter is on the list and its ledger entry's ``ts`` lies
in ``[opens, closes)``; a member's own signed ballot supersedes the secretary's record of
it; otherwise the first counts (the ledger refuses a second of the same kind anyway).
Abstentions count toward the quorum, never toward the threshold. Integer arithmetic only:

- quorum: ``cast × 100 ≥ quorum_pct × total`` (``total`` = all voters' weight, > 0);
- threshold: ``yes × 100 > threshold_pct × (yes + no)``, with ``yes + no > 0``.

Adopted when both hold. An adopted policy applies to sources whose ``ts`` is at or after the
moment the tally is recorded (its entry's ``ts``): a collection or a repair from then on, a
green hour that *starts* then or later (green credits change on the hour: an hour is settled
as one), a floor month that starts then or later.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

Weighting = Literal["member", "shares"]
Author = Literal["member", "secretary"]
HOUR = timedelta(hours=1)


@dataclass(frozen=True)
class Rules:
    """A proposal's frozen rules."""

    voters: Mapping[str, int]
    opens: datetime
    closes: datetime
    quorum_pct: int = 50
    threshold_pct: int = 50
    weighting: Weighting = "member"

    @property
    def total(self) -> int:
        """Every voter's weight together."""
        return sum(self.voters.values())


@dataclass(frozen=True)
class Ballot:
    """One ballot as the ledger holds it: whose, which choice, when its entry was written, by whom."""

    voter: str
    choice: str
    at: datetime
    by: Author


@dataclass(frozen=True)
class Tally:
    """The count of a proposal: weights per choice, and whether quorum and threshold were met."""

    yes: int
    no: int
    abstain: int
    total: int
    ballots: int
    quorum_met: bool
    threshold_met: bool

    @property
    def cast(self) -> int:
        """The weight of every counted ballot, abstentions included."""
        return self.yes + self.no + self.abstain

    @property
    def adopted(self) -> bool:
        """Quorum and threshold both met."""
        return self.quorum_met and self.threshold_met


def counted_ballots(ballots: Iterable[Ballot], rules: Rules) -> dict[str, Ballot]:
    """The ballot that counts for each voter who cast one in time (a member's own wins)."""
    chosen: dict[str, Ballot] = {}
    for ballot in ballots:
        if ballot.voter not in rules.voters or not rules.opens <= ballot.at < rules.closes:
            continue
        current = chosen.get(ballot.voter)
        if current is None or (current.by == "secretary" and ballot.by == "member"):
            chosen[ballot.voter] = ballot
    return chosen


def count(ballots: Iterable[Ballot], rules: Rules) -> Tally:
    """Tally the ballots under the proposal's rules."""
    counted = counted_ballots(ballots, rules)
    weights = {choice: 0 for choice in ("yes", "no", "abstain")}
    for voter, ballot in counted.items():
        weights[ballot.choice] += rules.voters[voter]
    yes, no, abstain = weights["yes"], weights["no"], weights["abstain"]
    cast, total = yes + no + abstain, rules.total
    quorum_met = total > 0 and cast * 100 >= rules.quorum_pct * total
    threshold_met = yes + no > 0 and yes * 100 > rules.threshold_pct * (yes + no)
    return Tally(yes, no, abstain, total, len(counted), quorum_met, threshold_met)


def effective_from(recorded_at: datetime) -> datetime:
    """When an adopted policy starts to apply: the moment its tally was recorded."""
    return recorded_at.astimezone(UTC)


def next_whole_hour(moment: datetime) -> datetime:
    """The first whole UTC hour at or after ``moment`` (when green credits follow a change)."""
    hour = moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    return hour if hour == moment else hour + HOUR


def voter_weights(members: Mapping[str, int], weighting: Weighting) -> dict[str, int]:
    """The voters of a proposal and their weights: every member, 1 each or their shares."""
    return {account: (1 if weighting == "member" else max(shares, 0)) for account, shares in members.items()}
