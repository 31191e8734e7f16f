"""Governance on the database: each action is one record entry, checked by the code that verifies it.

Every action runs in one transaction that takes the ledger head lock, reads the governance the
ledger records (:func:`load_state`), appends its record and feeds it to that state: the same
checks a verifier makes of an export (the right signer, the right ledger, in time, a tally
that is the recount) decide whether it stands. One that does not roll back whole, nothing
written, and the reason is one line.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg

from circulo.errors import Conflict, NotFound
from circulo.governance import documents as docs
from circulo.governance.state import (
    GOVERNANCE_REASONS,
    GovernanceProblem,
    GovernanceState,
    Proposal,
    policy_sha256,
    tally_fields,
)
from circulo.governance.tally import Weighting, count, voter_weights
from circulo.ledger import journal
from circulo.ledger.entries import LedgerEntry, NewEntry, format_ts, key_id
from circulo.ledger.errors import DuplicateEntry
from circulo.ledger.requests import InvalidRequest, new_nonce, treasury_of
from circulo.rewards.moves import Operator, require_coop
from circulo.rewards.policy import Policy, deployment_wide_differences, parse_policy

MEMBERS = "SELECT account, shares FROM member WHERE coop_id = %(coop_id)s ORDER BY account"
REVOKE_MEMBER_KEY = """
UPDATE member_key SET revoked_at = %(at)s, revoked_seq = %(seq)s
 WHERE coop_id = %(coop_id)s AND account = %(account)s AND revoked_at IS NULL
"""
INSERT_MEMBER_KEY = """
INSERT INTO member_key (key_id, coop_id, account, public_key, registered_seq, registered_at)
VALUES (%(key_id)s, %(coop_id)s, %(account)s, %(public_key)s, %(seq)s, %(at)s)
"""


class GovernanceRefused(InvalidRequest):
    """A governance action the ledger's rules do not allow; nothing was written."""


def load_state(conn: psycopg.Connection) -> GovernanceState:
    """The governance the ledger records, rebuilt from its records (checked as they are read)."""
    state = GovernanceState(genesis=journal.genesis_hash(conn))
    for entry in journal.records(conn, GOVERNANCE_REASONS):
        state.feed(entry.to_dict())
    return state


def read_signed(path: Path, domain: bytes) -> docs.Signed:
    """A signed governance file; InvalidRequest when it cannot be read or is not one."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise InvalidRequest(f"{path}: {e}") from e
    return docs.signed_from_dict(data, domain)


@dataclass
class Action:
    """One governance action's transaction: the head lock, the state, the operator, the moment."""

    conn: psycopg.Connection
    operator: Operator
    state: GovernanceState
    now: datetime

    def record(self, reason: str, account: str, settlement_id: str, source: Mapping[str, Any]) -> LedgerEntry:
        """Append the record and hold it to the rules (a refusal rolls the transaction back)."""
        entry = NewEntry(
            kind="record",
            token=None,
            account=account,
            amount_micro=0,
            reason=reason,
            settlement_id=settlement_id,
            sources=(source,),
            policy=self.operator.policy,
        )
        try:
            [sealed] = journal.append_entries(self.conn, [entry], self.operator.signer, now=self.now)
        except DuplicateEntry as e:
            raise Conflict(f"{settlement_id} is recorded already; nothing written") from e
        try:
            self.state.feed(sealed.to_dict())
        except GovernanceProblem as e:
            raise GovernanceRefused(str(e)) from e
        return sealed

    @property
    def genesis(self) -> str:
        """The ledger's genesis hash (signed documents name it)."""
        if self.state.genesis is None:
            raise GovernanceRefused("the ledger has no entries yet: appoint the secretary first")
        return self.state.genesis


def action(conn: psycopg.Connection, operator: Operator, now: datetime | None = None) -> Action:
    """Start an action inside the caller's transaction: lock the head, then read the state."""
    journal.lock_head(conn)
    return Action(conn, operator, load_state(conn), now or datetime.now(UTC))


def appoint_secretary(
    conn: psycopg.Connection,
    operator: Operator,
    *,
    coop_id: str,
    account: str,
    public_key: str,
    handover: docs.Signed | None = None,
    now: datetime | None = None,
) -> LedgerEntry:
    """The co-op's secretary: the first on the operator's word, later ones appointed by the outgoing one."""
    with conn.transaction():
        act = action(conn, operator, now)
        require_coop(conn, coop_id)
        appointed_by: dict[str, Any] = {"by": "operator", "operator": operator.name}
        if handover is not None:
            appointed_by = {"by": "secretary", **handover.to_dict()}
        kid = key_id(bytes.fromhex(public_key))
        source = {
            "type": "secretary",
            "coop_id": coop_id,
            "account": account,
            "public_key": public_key,
            "key_id": kid,
            "appointed_by": appointed_by,
        }
        return act.record("governance.secretary", account, f"secretary:{coop_id}:{kid}", source)


def register_member_key(
    conn: psycopg.Connection, operator: Operator, signed: docs.Signed, *, now: datetime | None = None
) -> LedgerEntry:
    """A member's key registered (replacing the one in force) or revoked, as the secretary attests."""
    document = signed.document
    with conn.transaction():
        act = action(conn, operator, now)
        source = {"type": "member_key", **signed.to_dict()}
        sealed = act.record("member.key", document["account"], f"member-key:{signed.digest}", source)
        params = {
            "coop_id": document["coop"],
            "account": document["account"],
            "seq": sealed.seq,
            "at": sealed.ts,
        }
        conn.execute(REVOKE_MEMBER_KEY, params)
        if document["action"] == "register":
            public = document["public_key"]
            conn.execute(
                INSERT_MEMBER_KEY, {**params, "key_id": key_id(bytes.fromhex(public)), "public_key": public}
            )
        return sealed


def enable_governance(
    conn: psycopg.Connection,
    operator: Operator,
    *,
    coop_id: str,
    policy_toml: str,
    now: datetime | None = None,
) -> LedgerEntry:
    """Governance on for the co-op: the policy in force becomes its first adopted policy."""
    policy = parse_policy(policy_toml, origin="(the policy in force)")
    with conn.transaction():
        act = action(conn, operator, now)
        require_coop(conn, coop_id)
        source = {
            "type": "governance_enabled",
            "coop_id": coop_id,
            "policy_sha256": policy_sha256(policy_toml),
            "policy_version": policy.version,
            "policy_toml": policy_toml,
        }
        settlement_id = f"governance-enabled:{coop_id}:{new_nonce()}"
        return act.record("governance.enabled", treasury_of(coop_id), settlement_id, source)


@dataclass(frozen=True)
class ProposalSpec:
    """What an operator proposes: a policy to adopt (or governance off), and the vote's rules."""

    coop_id: str
    proposal_id: str
    policy_toml: str | None
    closes: datetime
    opens: datetime | None = None
    quorum_pct: int = 50
    threshold_pct: int = 50
    weighting: Weighting = "member"


def propose(
    conn: psycopg.Connection,
    operator: Operator,
    spec: ProposalSpec,
    deployment: Policy,
    *,
    now: datetime | None = None,
) -> LedgerEntry:
    """A proposal with the voters and rules frozen; its entry's hash names it from now on."""
    version = proposed_version(spec.policy_toml, deployment)
    with conn.transaction():
        act = action(conn, operator, now)
        require_coop(conn, spec.coop_id)
        opens = spec.opens or act.now
        if spec.closes <= max(opens, act.now):
            raise GovernanceRefused("the vote must close after it opens and after now")
        members = {a: int(s) for a, s in conn.execute(MEMBERS, {"coop_id": spec.coop_id})}
        if not members:
            raise GovernanceRefused(f"co-op {spec.coop_id} has no members to vote")
        voters = voter_weights(members, spec.weighting)
        source = {
            "type": "proposal",
            "coop_id": spec.coop_id,
            "proposal_id": spec.proposal_id,
            "action": "adopt_policy" if spec.policy_toml is not None else "disable_governance",
            "policy_sha256": policy_sha256(spec.policy_toml) if spec.policy_toml is not None else None,
            "policy_version": version,
            "policy_toml": spec.policy_toml,
            "voters": [{"account": a, "weight": w} for a, w in voters.items()],
            "weighting": spec.weighting,
            "opens": format_ts(opens),
            "closes": format_ts(spec.closes),
            "quorum_pct": spec.quorum_pct,
            "threshold_pct": spec.threshold_pct,
        }
        settlement_id = f"proposal:{spec.coop_id}:{spec.proposal_id}"
        return act.record("governance.proposal", treasury_of(spec.coop_id), settlement_id, source)


def proposed_version(policy_toml: str | None, deployment: Policy) -> str | None:
    """The proposed policy's version; refused when invalid or when it changes deployment-wide rules."""
    if policy_toml is None:
        return None
    proposed = parse_policy(policy_toml, origin="(proposed)")
    changed = deployment_wide_differences(proposed, deployment)
    if changed:
        raise GovernanceRefused(
            f"{', '.join(changed)} is deployment-wide (the same for every co-op), not votable per co-op"
        )
    return proposed.version


def find_proposal(state: GovernanceState, proposal_hash: str) -> Proposal:
    """A recorded proposal by its entry hash (a unique prefix of 8 or more hex digits will do)."""
    found = (
        [p for h, p in state.proposals.items() if h.startswith(proposal_hash.lower())]
        if len(proposal_hash) >= 8
        else []
    )
    if len(found) != 1:
        raise NotFound(f"no {'single ' if found else ''}proposal {proposal_hash} is recorded")
    return found[0]


def submit_ballot(
    conn: psycopg.Connection, operator: Operator, signed: docs.Signed, *, now: datetime | None = None
) -> LedgerEntry:
    """A member's own signed ballot: the voter is the member whose key in force signed it."""
    with conn.transaction():
        act = action(conn, operator, now)
        proposal = find_proposal(act.state, signed.document["proposal"])
        keys = act.state.coop(proposal.coop_id).member_keys
        voters = [a for a, k in keys.items() if key_id(bytes.fromhex(k)) == signed.key_id]
        if not voters:
            raise GovernanceRefused(
                f"key {signed.key_id} is no member's key in force in co-op {proposal.coop_id}"
            )
        check_open(proposal, act.now)
        source = {"type": "ballot", "by": "member", "voter": voters[0], **signed.to_dict()}
        return act.record("governance.ballot", voters[0], f"ballot:{proposal.hash}:{voters[0]}", source)


def record_ballot(
    conn: psycopg.Connection, operator: Operator, signed: docs.Signed, *, now: datetime | None = None
) -> LedgerEntry:
    """A ballot cast at an assembly, recorded by the secretary with the minutes' SHA-256."""
    with conn.transaction():
        act = action(conn, operator, now)
        proposal = find_proposal(act.state, signed.document["proposal"])
        secretary = act.state.coop(proposal.coop_id).secretary
        if secretary is None:
            raise GovernanceRefused(f"co-op {proposal.coop_id} has no secretary")
        check_open(proposal, act.now)
        voter = signed.document["voter"]
        source = {"type": "ballot", "by": "secretary", "voter": voter, **signed.to_dict()}
        return act.record("governance.ballot", secretary[0], f"ballot:{proposal.hash}:{voter}", source)


def check_open(proposal: Proposal, now: datetime) -> None:
    """Ballots are taken while the vote is open (its entry's ts decides, SPEC §14)."""
    if now < proposal.rules.opens:
        raise GovernanceRefused(f"the vote opens at {format_ts(proposal.rules.opens)}")
    if now >= proposal.rules.closes:
        raise GovernanceRefused(f"the vote closed at {format_ts(proposal.rules.closes)}")


def tally(
    conn: psycopg.Connection, operator: Operator, proposal_hash: str, *, now: datetime | None = None
) -> LedgerEntry:
    """The recount of a closed proposal, recorded; adopted, its policy applies from the tally on."""
    with conn.transaction():
        act = action(conn, operator, now)
        proposal = find_proposal(act.state, proposal_hash)
        if act.now < proposal.rules.closes:
            raise GovernanceRefused(f"the vote is open until {format_ts(proposal.rules.closes)}")
        result = count(proposal.ballots, proposal.rules)
        source = {
            "type": "tally",
            "coop_id": proposal.coop_id,
            "proposal": proposal.hash,
            "proposal_id": proposal.proposal_id,
            **tally_fields(result, proposal, act.now),
        }
        return act.record("governance.tally", treasury_of(proposal.coop_id), f"tally:{proposal.hash}", source)


def describe(state: GovernanceState, coop_id: str | None = None) -> list[dict[str, Any]]:
    """Each co-op's governance as plain data (``governance show --json``)."""
    coops = sorted(c for c in state.coops if coop_id in (None, c))
    return [describe_coop(state, c) for c in coops]


def describe_coop(state: GovernanceState, coop_id: str) -> dict[str, Any]:
    """One co-op: secretary, member keys, policy periods, proposals."""
    coop = state.coops[coop_id]
    periods = [
        {
            "effective_from": format_ts(p.effective_from),
            "policy_version": p.policy_version,
            "policy_sha256": p.policy_sha256,
            "adopted_by": p.adopted_by,
            "governed": p.policy_toml is not None,
        }
        for p in coop.periods
    ]
    proposals = [
        {
            "hash": p.hash,
            "proposal_id": p.proposal_id,
            "action": p.action,
            "policy_version": p.policy_version,
            "opens": format_ts(p.rules.opens),
            "closes": format_ts(p.rules.closes),
            "voters": len(p.rules.voters),
            "ballots": len(p.ballots),
            "tally": None
            if p.tally is None
            else {
                "yes": p.tally.yes,
                "no": p.tally.no,
                "abstain": p.tally.abstain,
                "adopted": p.tally.adopted,
            },
        }
        for p in state.proposals.values()
        if p.coop_id == coop_id
    ]
    return {
        "coop_id": coop_id,
        "secretary": coop.secretary[0] if coop.secretary else None,
        "governance": "on" if coop.enabled else "off",
        "member_keys": sorted(coop.member_keys),
        "periods": periods,
        "proposals": proposals,
    }


def describe_lines(view: list[dict[str, Any]]) -> list[str]:
    """``governance show`` for people."""
    lines: list[str] = []
    for coop in view:
        lines.append(
            f"{coop['coop_id']}: governance {coop['governance']}, secretary {coop['secretary'] or '-'}, "
            f"{len(coop['member_keys'])} member keys"
        )
        for period in coop["periods"]:
            policy = period["policy_version"] if period["governed"] else "the deployment's policy"
            lines.append(
                f"  from {period['effective_from']}: {policy} (adopted by {period['adopted_by'] or '-'})"
            )
        for p in coop["proposals"]:
            state = "open" if p["tally"] is None else ("adopted" if p["tally"]["adopted"] else "not adopted")
            lines.append(
                f"  proposal {p['proposal_id']} {p['hash'][:16]}… closes {p['closes']}: "
                f"{p['ballots']}/{p['voters']} ballots, {state}"
            )
    return lines or ["no governance recorded"]
