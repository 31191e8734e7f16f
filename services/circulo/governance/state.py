"""The governance a ledger records, rebuilt from its record entries alone (pure).

:class:`GovernanceState` is fed the ledger's ``member.key`` and ``governance.*`` records in
``seq`` order (export form) and keeps, per co-op, its secretary, its members' keys, whether
governance is on and its policy periods, and every proposal with its ballots. Each record is
checked as it is fed — the right signer, the right ledger, in time, a recount that agrees —
so the same code serves the engine (which policy applies), the commands (whether an action
is allowed) and every verifier (a record that does not hold is a finding).

The records' first source (the ``sources[0]`` object) has these forms:

- ``governance.secretary``: ``{type: secretary, coop_id, account, public_key, key_id,
  appointed_by}`` — ``appointed_by`` is ``{by: operator, operator}`` for a co-op's first
  secretary, else ``{by: secretary, document, key_id, sig}``: the outgoing secretary's signed
  ``secretary`` document naming the new one;
- ``member.key``: ``{type: member_key, document, key_id, sig}`` — the secretary's signed
  ``member.key`` document (register or revoke ``public_key`` for ``account``);
- ``governance.enabled``: ``{type: governance_enabled, coop_id, policy_sha256, policy_version,
  policy_toml}`` — the policy in force becomes the co-op's first adopted one;
- ``governance.proposal``: ``{type: proposal, coop_id, proposal_id, action (adopt_policy |
  disable_governance), policy_sha256, policy_version, policy_toml, voters: [{account, weight}],
  weighting, opens, closes, quorum_pct, threshold_pct}`` — named afterwards by its entry hash;
- ``governance.ballot``: ``{type: ballot, by (member | secretary), voter, document, key_id,
  sig}`` — the member's ``ballot`` document or the secretary's ``ballot_record``;
- ``governance.tally``: ``{type: tally, coop_id, proposal, proposal_id, yes, no, abstain, total,
  ballots, quorum_met, threshold_met, adopted, effective_from}``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from circulo.governance import documents as docs
from circulo.governance.tally import Ballot, Rules, Tally, count, effective_from
from circulo.ledger.entries import format_ts, key_id, parse_ts
from circulo.ledger.errors import InvalidEntry
from circulo.ledger.requests import InvalidRequest

GOVERNANCE_REASONS = (
    "governance.secretary",
    "member.key",
    "governance.enabled",
    "governance.proposal",
    "governance.ballot",
    "governance.tally",
)


class GovernanceProblem(Exception):
    """A governance record that does not hold (the verifier's finding, the command's refusal)."""


@dataclass(frozen=True)
class PolicyPeriod:
    """From ``effective_from`` on, a governed co-op settles under this policy (None: not governed)."""

    effective_from: datetime
    policy_toml: str | None
    policy_sha256: str | None
    policy_version: str | None
    adopted_by: str | None


@dataclass
class CoopGovernance:
    """One co-op's secretary, member keys, governance switch and policy periods."""

    secretary: tuple[str, str] | None = None  # (account, public key)
    member_keys: dict[str, str] = field(default_factory=dict)  # account -> active public key
    enabled: bool = False
    periods: list[PolicyPeriod] = field(default_factory=list)

    def period_at(self, moment: datetime) -> PolicyPeriod | None:
        """The policy period in force at ``moment`` (None before governance was ever on)."""
        current = None
        for period in self.periods:
            if period.effective_from <= moment:
                current = period
        return current


@dataclass
class Proposal:
    """A recorded proposal, its frozen rules and the ballots recorded for it."""

    hash: str
    coop_id: str
    proposal_id: str
    action: str
    policy_toml: str | None
    policy_sha256: str | None
    policy_version: str | None
    rules: Rules
    ballots: list[Ballot] = field(default_factory=list)
    tally: Tally | None = None


def policy_sha256(policy_toml: str) -> str:
    """The SHA-256 of a policy file's exact UTF-8 bytes (how a proposal names it)."""
    return hashlib.sha256(policy_toml.encode("utf-8")).hexdigest()


def check(condition: bool, message: str) -> None:
    """Raise GovernanceProblem(message) unless ``condition``."""
    if not condition:
        raise GovernanceProblem(message)


@dataclass
class GovernanceState:
    """The governance of every co-op, as the records fed so far establish it."""

    genesis: str | None = None
    coops: dict[str, CoopGovernance] = field(default_factory=dict)
    proposals: dict[str, Proposal] = field(default_factory=dict)

    def coop(self, coop_id: str) -> CoopGovernance:
        """A co-op's governance (created empty on first use)."""
        return self.coops.setdefault(coop_id, CoopGovernance())

    def feed(self, entry: Mapping[str, Any]) -> None:
        """Apply one ledger entry (records of governance; anything else only names the genesis)."""
        if self.genesis is None:
            self.genesis = entry["hash"]
        handler = HANDLERS.get(entry.get("reason", "")) if entry.get("kind") == "record" else None
        if handler is None:
            return
        source = entry["sources"][0] if entry.get("sources") else {}
        check(isinstance(source, Mapping), "its first source is not an object")
        try:
            handler(self, entry, source)
        except (KeyError, TypeError, ValueError, InvalidEntry, InvalidRequest) as e:
            raise GovernanceProblem(f"malformed {entry['reason']} record ({e})") from e

    def signed(self, source: Mapping[str, Any], domain: bytes) -> docs.Signed:
        """The signed document a record carries, for this ledger."""
        signed = docs.signed_from_dict(
            {"document": source["document"], "key_id": source["key_id"], "sig": source["sig"]}, domain
        )
        check(signed.document["ledger"] == self.genesis, "it is signed for another ledger")
        return signed


def on_secretary(state: GovernanceState, entry: Mapping[str, Any], source: Mapping[str, Any]) -> None:
    """A co-op's first secretary (the operator's word), or one the outgoing secretary appointed."""
    coop = state.coop(source["coop_id"])
    account, public_key = source["account"], source["public_key"]
    check(source["key_id"] == key_id(bytes.fromhex(public_key)), "key_id is not the public key's")
    appointed = source["appointed_by"]
    if coop.secretary is None:
        check(appointed.get("by") == "operator", "a co-op's first secretary is recorded by the operator")
    else:
        signed = state.signed(appointed, docs.SECRETARY_DOMAIN)
        check(signed.signed_by(coop.secretary[1]), "the appointment is not signed by the outgoing secretary")
        named = (signed.document["coop"], signed.document["account"], signed.document["public_key"])
        check(named == (source["coop_id"], account, public_key), "the appointment names someone else")
    coop.secretary = (account, public_key)


def on_member_key(state: GovernanceState, entry: Mapping[str, Any], source: Mapping[str, Any]) -> None:
    """A member's key registered or revoked, attested by the co-op's secretary."""
    signed = state.signed(source, docs.MEMBER_KEY_DOMAIN)
    document = signed.document
    coop = state.coop(document["coop"])
    check(coop.secretary is not None, f"co-op {document['coop']} has no secretary to attest keys")
    assert coop.secretary is not None  # noqa: S101 - checked on the line above (mypy)
    check(signed.signed_by(coop.secretary[1]), "the key is not attested by the co-op's secretary")
    check(entry["account"] == document["account"], "the record is not about the attested account")
    if document["action"] == "register":
        coop.member_keys[document["account"]] = document["public_key"]
    else:
        check(coop.member_keys.get(document["account"]) == document["public_key"], "that key is not in force")
        del coop.member_keys[document["account"]]


def on_enabled(state: GovernanceState, entry: Mapping[str, Any], source: Mapping[str, Any]) -> None:
    """Governance switched on: the policy in force becomes the co-op's first adopted one."""
    coop = state.coop(source["coop_id"])
    check(not coop.enabled, f"governance of co-op {source['coop_id']} is already on")
    check(
        policy_sha256(source["policy_toml"]) == source["policy_sha256"], "policy_sha256 is not the policy's"
    )
    coop.enabled = True
    at = effective_from(parse_ts(entry["ts"]))
    coop.periods.append(
        PolicyPeriod(at, source["policy_toml"], source["policy_sha256"], source["policy_version"], None)
    )


def rules_of(source: Mapping[str, Any]) -> Rules:
    """A proposal's frozen rules from its record."""
    voters = {v["account"]: int(v["weight"]) for v in source["voters"]}
    return Rules(
        voters=voters,
        opens=parse_ts(source["opens"]),
        closes=parse_ts(source["closes"]),
        quorum_pct=int(source["quorum_pct"]),
        threshold_pct=int(source["threshold_pct"]),
        weighting=source["weighting"],
    )


def on_proposal(state: GovernanceState, entry: Mapping[str, Any], source: Mapping[str, Any]) -> None:
    """A proposal, its rules frozen; it is named by its entry's hash from now on."""
    coop = state.coop(source["coop_id"])
    check(coop.enabled, f"governance of co-op {source['coop_id']} is off")
    rules = rules_of(source)
    check(rules.opens < rules.closes, "the vote closes before it opens")
    check(0 <= rules.quorum_pct <= 100 and 0 <= rules.threshold_pct < 100, "quorum or threshold out of range")
    toml = source["policy_toml"]
    if source["action"] == "adopt_policy":
        check(policy_sha256(toml) == source["policy_sha256"], "policy_sha256 is not the policy's")
    else:
        check(source["action"] == "disable_governance" and toml is None, "unknown proposal action")
    state.proposals[entry["hash"]] = Proposal(
        entry["hash"],
        source["coop_id"],
        source["proposal_id"],
        source["action"],
        toml,
        source["policy_sha256"],
        source["policy_version"],
        rules,
    )


def on_ballot(state: GovernanceState, entry: Mapping[str, Any], source: Mapping[str, Any]) -> None:
    """A ballot signed by its voter's key in force, or recorded by the co-op's secretary."""
    by = source["by"]
    signed = state.signed(source, docs.BALLOT_DOMAIN if by == "member" else docs.BALLOT_RECORD_DOMAIN)
    proposal = state.proposals.get(signed.document["proposal"])
    check(proposal is not None, "the ballot is for an unknown proposal")
    assert proposal is not None  # noqa: S101 - checked on the line above (mypy)
    coop = state.coop(proposal.coop_id)
    voter = source["voter"]
    check(voter in proposal.rules.voters, f"{voter} is not a voter of this proposal")
    check(proposal.tally is None, "the proposal is already tallied")
    if by == "member":
        key = coop.member_keys.get(voter)
        check(
            key is not None and signed.signed_by(key), f"the ballot is not signed by {voter}'s key in force"
        )
    else:
        check(
            coop.secretary is not None and signed.signed_by(coop.secretary[1]),
            "the ballot record is not signed by the co-op's secretary",
        )
        check(signed.document["voter"] == voter, "the ballot record names another voter")
    proposal.ballots.append(Ballot(voter, signed.document["choice"], parse_ts(entry["ts"]), by))


def on_tally(state: GovernanceState, entry: Mapping[str, Any], source: Mapping[str, Any]) -> None:
    """The tally recorded after closing must be the recount of the proposal's ballots."""
    proposal = state.proposals.get(source["proposal"])
    check(proposal is not None, "the tally is for an unknown proposal")
    assert proposal is not None  # noqa: S101 - checked on the line above (mypy)
    at = parse_ts(entry["ts"])
    check(at >= proposal.rules.closes, "the tally was recorded before the vote closed")
    check(proposal.tally is None, "the proposal was tallied before")
    recount = count(proposal.ballots, proposal.rules)
    check(
        tally_fields(recount, proposal, at) == {k: source.get(k) for k in TALLY_FIELDS},
        f"the recorded tally disagrees with the recount {tally_fields(recount, proposal, at)}",
    )
    proposal.tally = recount
    if recount.adopted:
        adopt(state.coop(proposal.coop_id), proposal, effective_from(at))


TALLY_FIELDS = (
    "yes",
    "no",
    "abstain",
    "total",
    "ballots",
    "quorum_met",
    "threshold_met",
    "adopted",
    "effective_from",
)


def tally_fields(tally: Tally, proposal: Proposal, at: datetime) -> dict[str, Any]:
    """The figures a tally record must state."""
    return {
        "yes": tally.yes,
        "no": tally.no,
        "abstain": tally.abstain,
        "total": tally.total,
        "ballots": tally.ballots,
        "quorum_met": tally.quorum_met,
        "threshold_met": tally.threshold_met,
        "adopted": tally.adopted,
        "effective_from": format_ts(effective_from(at)) if tally.adopted else None,
    }


def adopt(coop: CoopGovernance, proposal: Proposal, start: datetime) -> None:
    """An adopted proposal: a new policy from ``start``, or governance off from then on."""
    if proposal.action == "disable_governance":
        coop.enabled = False
        coop.periods.append(PolicyPeriod(start, None, None, None, proposal.proposal_id))
        return
    period = PolicyPeriod(
        start, proposal.policy_toml, proposal.policy_sha256, proposal.policy_version, proposal.proposal_id
    )
    coop.periods.append(period)


HANDLERS = {
    "governance.secretary": on_secretary,
    "member.key": on_member_key,
    "governance.enabled": on_enabled,
    "governance.proposal": on_proposal,
    "governance.ballot": on_ballot,
    "governance.tally": on_tally,
}
