"""The demo's vote, pure parts: the proposed policy and the check on the settlement after it."""

from __future__ import annotations

from dataclasses import replace

import pytest

from circulo.demo.checks import vote_check
from circulo.demo.processes import DemoStepFailed
from circulo.demo.summary import Vote, VoteMint
from circulo.demo.vote import ballots_for, raised_policy
from circulo.rewards.policy import default_policy, default_policy_text, parse_policy

VOTE = Vote(
    proposal_id="alu-30", proposal="ab" * 32, material="aluminium", old_rate=20, new_rate=30, voters=12,
    yes=8, no=2, abstain=1, ballots=11, by_secretary=2, superseded=1, adopted=True,
    effective_from="2026-12-02T22:00:00.000000Z", device_id="c-bin-vote", deposit_g=1500,
    after=(VoteMint("bram@c", 45_000_000, "rewards-v2-alu30", "alu-30"),),
)  # fmt: skip


def test_the_proposed_policy_changes_only_the_rate_and_the_version() -> None:
    raised = parse_policy(raised_policy(default_policy_text(), "aluminium", 30, "v-alu30"), origin="test")
    before = default_policy()
    assert raised.recycling.rates_rcy_per_kg["aluminium"] == 30
    assert raised.version == "v-alu30"
    others = {k: v for k, v in raised.recycling.rates_rcy_per_kg.items() if k != "aluminium"}
    assert others == {k: v for k, v in before.recycling.rates_rcy_per_kg.items() if k != "aluminium"}
    assert raised.green == before.green and raised.repair == before.repair


def test_a_material_the_policy_does_not_list_is_a_clear_error() -> None:
    with pytest.raises(DemoStepFailed, match="could not raise unobtainium"):
        raised_policy(default_policy_text(), "unobtainium", 30, "v")


@pytest.mark.parametrize(
    ("change", "ok"),
    [
        ({}, True),
        ({"after": (VoteMint("bram@c", 30_000_000, "rewards-v2", None),)}, False),  # the old rate
        ({"after": (VoteMint("bram@c", 45_000_000, "rewards-v2-alu30", None),)}, False),  # no adopted_by
        ({"after": ()}, False),  # nothing minted after the vote
        ({"adopted": False}, False),
    ],
)
def test_the_vote_check_holds_only_for_a_mint_at_the_adopted_rate_naming_the_proposal(
    change: dict[str, object], ok: bool
) -> None:
    assert vote_check(replace(VOTE, **change)).ok is ok  # type: ignore[arg-type]


def test_a_smaller_co_op_votes_with_its_own_members_only() -> None:
    assert list(ballots_for(3)) == [0, 1, 2]
    assert len(ballots_for(20)) == 11
