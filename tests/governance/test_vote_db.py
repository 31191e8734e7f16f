"""A co-op votes on the real database: keys, a proposal, ballots, the tally, the policy switch."""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from tests.rewards.rewards_factories import RewardsData

from circulo.cli import cli
from circulo.governance import documents as docs
from circulo.governance import service
from circulo.governance.service import GovernanceRefused, ProposalSpec
from circulo.ledger import audit, journal
from circulo.ledger.entries import NewEntry, format_ts
from circulo.ledger.export import export_lines, read_export
from circulo.ledger.keys import generate_key, load_signer
from circulo.ledger.requests import new_nonce
from circulo.ledger.standalone_verify import verify as standalone_verify
from circulo.ledger.verify import verify_entries
from circulo.rewards import moves
from circulo.rewards.engine import run_cycle
from circulo.rewards.policy import default_policy, default_policy_text
from circulo.rewards.settings import RewardsSettings
from circulo.store.db import connect

MEMBERS = ("alice", "bob", "carol", "dave")
RAISED = (
    default_policy_text()
    .replace('version = "rewards-v2"', 'version = "rewards-v2-alu30"')
    .replace("aluminium = 20", "aluminium = 30")
)


@dataclass
class Coop:
    """coop1 with four members, a secretary (alice) and everyone's key, governance on."""

    db_url: str
    tmp: Path
    operator: moves.Operator
    secretary: Ed25519PrivateKey
    keys: dict[str, Ed25519PrivateKey]

    def genesis(self) -> str:
        with connect(self.db_url) as conn:
            return journal.genesis_hash(conn) or ""

    def propose(self, closes: datetime, **spec: Any) -> str:
        with connect(self.db_url) as conn:
            values = {
                "coop_id": "coop1",
                "proposal_id": "alu30",
                "policy_toml": RAISED,
                "closes": closes,
                **spec,
            }
            return service.propose(conn, self.operator, ProposalSpec(**values), default_policy()).hash

    def vote(self, voter: str, proposal: str, choice: str, now: datetime | None = None) -> Any:
        signed = docs.sign(docs.BALLOT_DOMAIN, ballot(self.genesis(), proposal, choice), self.keys[voter])
        with connect(self.db_url) as conn:
            return service.submit_ballot(conn, self.operator, signed, now=now)

    def tally(self, proposal: str, now: datetime) -> Any:
        with connect(self.db_url) as conn:
            return service.tally(conn, self.operator, proposal, now=now)


def ballot(genesis: str, proposal: str, choice: str) -> dict[str, Any]:
    return docs.new_document("ballot", genesis, proposal=proposal, choice=choice)


def attestation(coop: Coop, account: str, public_key: str, action: str = "register") -> docs.Signed:
    document = docs.new_document("member.key", coop.genesis(), coop="coop1", account=account,
                                 public_key=public_key, action=action, nonce=new_nonce())  # fmt: skip
    return docs.sign(docs.MEMBER_KEY_DOMAIN, document, coop.secretary)


@pytest.fixture
def coop(data: RewardsData, settings: RewardsSettings, tmp_path: Path) -> Coop:
    for account in MEMBERS:
        data.member(account, {"alice": 3}.get(account, 1))
    signer = load_signer(settings.signing_key_path)
    operator = moves.operator(signer)
    secretary = Ed25519PrivateKey.generate()
    keys = {a: Ed25519PrivateKey.generate() for a in MEMBERS}
    made = Coop(settings.database_url, tmp_path, operator, secretary, keys)
    with connect(settings.database_url) as conn:
        service.appoint_secretary(conn, operator, coop_id="coop1", account="alice",
                                  public_key=docs.public_key_hex(secretary))  # fmt: skip
        for account, key in keys.items():
            service.register_member_key(conn, operator, attestation(made, account, docs.public_key_hex(key)))
        service.enable_governance(conn, operator, coop_id="coop1", policy_toml=default_policy_text())
    return made


def test_a_policy_adopted_by_vote_applies_from_the_next_hour_and_mints_name_the_proposal(
    coop: Coop, data: RewardsData, settings: RewardsSettings
) -> None:
    now = datetime.now(UTC)
    proposal = coop.propose(now + timedelta(seconds=30))
    for voter, choice in (("alice", "yes"), ("bob", "yes"), ("carol", "no")):
        coop.vote(voter, proposal, choice)
    tally = coop.tally(proposal, now + timedelta(minutes=1))
    start = datetime.fromisoformat(tally.sources[0]["effective_from"].replace("Z", "+00:00"))
    assert tally.sources[0] | {} == {
        **tally.sources[0],
        "yes": 2,
        "no": 1,
        "abstain": 0,
        "total": 4,
        "adopted": True,
    }
    # one aluminium deposit collected just before the policy starts, one just after
    data.device("b1", "bin")
    data.deposit("b1", "d1", start - timedelta(minutes=30), 1000, material="aluminium", account="bob")
    data.collection("b1", "c1", start - timedelta(milliseconds=1), 1000)
    data.deposit("b1", "d2", start - timedelta(microseconds=500), 1000, material="aluminium", account="bob")
    data.collection("b1", "c2", start, 1000)  # the collection's ts decides: this one is under the new rate
    data.watermark(start + timedelta(hours=1))
    run_cycle(settings, drain=False)
    rows = data.conn.execute(
        "SELECT settlement_id, amount_micro, policy, adopted_by FROM ledger_entry "
        "WHERE reason = 'recycle.deposit' ORDER BY seq"
    ).fetchall()
    assert rows == [
        ("deposit:b1:c1", 20_000_000, "rewards-v2", None),  # before: the policy governance began with
        ("deposit:b1:c2", 30_000_000, "rewards-v2-alu30", "alu30"),  # after: the adopted one
    ]
    with connect(settings.database_url) as conn:
        assert audit.verify_database(conn).ok
        lines = list(export_lines(conn, load_signer(settings.signing_key_path)))
    assert standalone_verify(lines, [load_signer(settings.signing_key_path).public_key_hex]).startswith("OK")


def test_a_mint_under_a_policy_the_members_did_not_adopt_fails_verification(
    coop: Coop, settings: RewardsSettings
) -> None:
    now = datetime.now(UTC)
    proposal = coop.propose(now + timedelta(seconds=30), proposal_id="alu30")
    for voter in ("alice", "bob", "carol"):
        coop.vote(voter, proposal, "yes")
    tally = coop.tally(proposal, now + timedelta(minutes=1))
    collected = format_ts(tally.ts + timedelta(minutes=5))
    # a deposit collected after adoption, minted under the old rate by something around the engine
    stale = NewEntry(kind="mint", token="RCY", account="bob", amount_micro=20_000_000,
                     reason="recycle.deposit", settlement_id="deposit:b1:c9", policy="rewards-v2",
                     sources=({"type": "collection", "coop_id": "coop1", "device_id": "b1",
                               "event_id": "c9", "ts": collected, "collected_g": 1000, "deposits_g": 1000,
                               "tolerance_pct": 15},))  # fmt: skip
    signer = load_signer(settings.signing_key_path)
    with connect(coop.db_url) as conn:
        with conn.transaction():
            journal.append_entries(conn, [stale], signer, now=tally.ts + timedelta(minutes=6))
        result = audit.verify_database(conn)
        lines = list(export_lines(conn, signer))
    assert result.first_bad is not None and result.first_bad.problem == "bad policy"
    assert "rewards-v2-alu30 (adopted by alu30)" in result.first_bad.detail
    verdict = standalone_verify(lines, [signer.public_key_hex])
    assert (
        verdict.startswith("FAIL entry") and "the co-op had adopted ('rewards-v2-alu30', 'alu30')" in verdict
    )


def test_a_members_own_ballot_supersedes_the_secretarys_record_of_it(coop: Coop, tmp_path: Path) -> None:
    now = datetime.now(UTC)
    proposal = coop.propose(now + timedelta(seconds=30), proposal_id="sup")
    minutes = hashlib.sha256(b"assembly minutes").hexdigest()
    record = docs.sign(docs.BALLOT_RECORD_DOMAIN,
                       docs.new_document("ballot_record", coop.genesis(), proposal=proposal, voter="dave",
                                         choice="no", minutes_sha256=minutes), coop.secretary)  # fmt: skip
    with connect(coop.db_url) as conn:
        recorded = service.record_ballot(conn, coop.operator, record)
    assert recorded.account == "alice" and recorded.sources[0]["by"] == "secretary"
    coop.vote("dave", proposal, "yes")
    coop.vote("bob", proposal, "yes")
    tally = coop.tally(proposal, now + timedelta(minutes=1)).sources[0]
    assert (tally["yes"], tally["no"], tally["ballots"], tally["adopted"]) == (2, 0, 2, True)


def test_a_ballot_racing_the_closing_time_counts_only_before_it(coop: Coop) -> None:
    closes = (datetime.now(UTC) + timedelta(seconds=30)).replace(microsecond=0)
    proposal = coop.propose(closes, proposal_id="race")
    coop.vote("bob", proposal, "yes", now=closes - timedelta(microseconds=1))  # the last moment it is open
    before = entries(coop)
    with pytest.raises(GovernanceRefused, match="the vote closed at"):
        coop.vote("carol", proposal, "no", now=closes)
    assert entries(coop) == before
    tally = coop.tally(proposal, closes + timedelta(seconds=1)).sources[0]
    assert (tally["yes"], tally["no"], tally["ballots"]) == (1, 0, 1)
    assert not tally["adopted"]  # 1 of 4 voters: no quorum


def test_bad_ballots_are_refused_and_write_nothing(coop: Coop) -> None:
    now = datetime.now(UTC)
    proposal = coop.propose(now + timedelta(seconds=30), proposal_id="bad")
    stranger = Ed25519PrivateKey.generate()
    genesis = coop.genesis()

    def submit(signed: docs.Signed, at: datetime | None = None) -> None:
        with connect(coop.db_url) as conn:
            service.submit_ballot(conn, coop.operator, signed, now=at)

    bob = coop.keys["bob"]
    cases = [
        (docs.sign(docs.BALLOT_DOMAIN, ballot(genesis, proposal, "yes"), stranger), None, "no member's key"),
        (docs.sign(docs.BALLOT_DOMAIN, ballot(genesis, "ab" * 32, "yes"), bob), None, "no proposal"),
        (docs.sign(docs.BALLOT_DOMAIN, ballot("cd" * 32, proposal, "yes"), bob), None, "another ledger"),
        (
            docs.sign(docs.BALLOT_DOMAIN, ballot(genesis, proposal, "yes"), bob),
            now + timedelta(minutes=5),
            "closed",
        ),
    ]
    before = entries(coop)
    for signed, at, message in cases:
        with pytest.raises((GovernanceRefused, service.NotFound), match=message):  # type: ignore[attr-defined]
            submit(signed, at)
    assert entries(coop) == before
    coop.vote("bob", proposal, "no")
    with pytest.raises(service.Conflict, match="recorded already"):  # type: ignore[attr-defined]
        coop.vote("bob", proposal, "yes")  # a second ballot of the same voter


def entries(coop: Coop) -> int:
    with connect(coop.db_url) as conn:
        return journal.read_head(conn).seq


def test_an_operator_cannot_register_a_key_without_the_secretarys_attestation(coop: Coop) -> None:
    forged = docs.sign(docs.MEMBER_KEY_DOMAIN,
                       docs.new_document("member.key", coop.genesis(), coop="coop1", account="bob",
                                         public_key="ab" * 32, action="register", nonce=new_nonce()),
                       Ed25519PrivateKey.generate())  # fmt: skip
    before = entries(coop)
    with (
        connect(coop.db_url) as conn,
        pytest.raises(GovernanceRefused, match="not attested by the co-op's secretary"),
    ):
        service.register_member_key(conn, coop.operator, forged)
    assert entries(coop) == before


def test_a_rotated_key_replaces_the_old_one_and_a_revoked_key_votes_no_more(coop: Coop) -> None:
    new = Ed25519PrivateKey.generate()
    with connect(coop.db_url) as conn:
        service.register_member_key(conn, coop.operator, attestation(coop, "bob", docs.public_key_hex(new)))
        service.register_member_key(
            conn, coop.operator, attestation(coop, "carol", docs.public_key_hex(coop.keys["carol"]), "revoke")
        )
    proposal = coop.propose(datetime.now(UTC) + timedelta(seconds=30), proposal_id="keys")
    with pytest.raises(GovernanceRefused, match="no member's key in force"):
        coop.vote("bob", proposal, "yes")  # the key bob had before rotating
    with pytest.raises(GovernanceRefused, match="no member's key in force"):
        coop.vote("carol", proposal, "yes")  # revoked
    coop.keys["bob"] = new
    assert coop.vote("bob", proposal, "yes").account == "bob"


def test_a_proposal_may_not_change_a_deployment_wide_rule(coop: Coop) -> None:
    capped = default_policy_text().replace("daily_cap_rcy = 100", "daily_cap_rcy = 500")
    with pytest.raises(GovernanceRefused, match="daily_cap_rcy is deployment-wide"):
        coop.propose(datetime.now(UTC) + timedelta(hours=1), policy_toml=capped)


def test_a_tally_before_closing_is_refused_and_a_forged_tally_fails_verification(
    coop: Coop, settings: RewardsSettings
) -> None:
    now = datetime.now(UTC)
    proposal = coop.propose(now + timedelta(seconds=30), proposal_id="forged")
    coop.vote("bob", proposal, "no")
    with pytest.raises(GovernanceRefused, match="open until"):
        coop.tally(proposal, now)
    # a tally written around the commands, claiming the vote passed
    later = now + timedelta(minutes=1)
    start = format_ts(later.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1))
    claimed = {
        "type": "tally", "coop_id": "coop1", "proposal": proposal, "proposal_id": "forged", "yes": 4, "no": 0,
        "abstain": 0, "total": 4, "ballots": 4, "quorum_met": True, "threshold_met": True, "adopted": True,
        "effective_from": start,
    }  # fmt: skip
    forged = NewEntry(kind="record", token=None, account="treasury@coop1", amount_micro=0,
                      reason="governance.tally", settlement_id=f"tally:{proposal}", policy="ledger-v2",
                      sources=(claimed,))  # fmt: skip
    signer = load_signer(settings.signing_key_path)
    with connect(coop.db_url) as conn:
        with conn.transaction():
            journal.append_entries(conn, [forged], signer, now=later)
        result = audit.verify_database(conn)
        lines = list(export_lines(conn, signer))
    assert result.first_bad is not None and result.first_bad.problem == "bad governance record"
    assert "disagrees with the recount" in result.first_bad.detail
    export = read_export(lines)
    assert verify_entries(export.entries, export.public_keys).first_bad.problem == "bad governance record"
    assert "tally" in standalone_verify(lines, [signer.public_key_hex])


def run(env: dict[str, str], *args: str) -> Result:
    return CliRunner(env=env).invoke(cli, list(args), catch_exceptions=False)


def test_a_vote_end_to_end_through_the_commands(db_url: str, tmp_path: Path) -> None:
    state = tmp_path / "state"
    env = {
        "CIRCULO_DATABASE_URL": db_url,
        "CIRCULO_STATE_DIR": str(state),
        "CIRCULO_MQTT_URL": "mqtt://127.0.0.1:1",
    }
    generate_key(state / "ledger-signing.key")
    assert run(env, "coop", "add", "coop1", "--name", "Co-op 1").exit_code == 0
    for account in ("alice", "bob"):
        assert run(env, "member", "add", "coop1", account, "--shares", "1").exit_code == 0
    keys = {}
    for account in ("alice", "bob"):
        made = run(env, "member", "keygen", "--out", str(tmp_path / f"{account}.key"), "--qr",
                   str(tmp_path / f"{account}.png"), "--json")  # fmt: skip
        assert made.exit_code == 0, made.output
        keys[account] = json.loads(made.stdout)["public_key"]
        assert oct((tmp_path / f"{account}.key").stat().st_mode & 0o777) == "0o600"
    done = run(
        env, "governance", "secretary", "--coop", "coop1", "--account", "alice", "--public-key", keys["alice"]
    )
    assert done.exit_code == 0, done.output
    genesis = json.loads(run(env, "ledger", "genesis", "--json").stdout)["genesis"]
    for account in ("alice", "bob"):
        att = tmp_path / f"{account}-att.json"
        signed = run(env, "member", "key", "attest", "--secretary-key", str(tmp_path / "alice.key"),
                     "--ledger", genesis, "--coop", "coop1", "--account", account,
                     "--public-key", keys[account], "-o", str(att))  # fmt: skip
        assert signed.exit_code == 0, signed.output
        assert run(env, "member", "key", "register", str(att)).exit_code == 0
    assert run(env, "governance", "enable", "--coop", "coop1").exit_code == 0
    policy = tmp_path / "alu30.toml"
    policy.write_text(RAISED)
    closes = format_ts(datetime.now(UTC) + timedelta(seconds=8))
    proposed = run(env, "governance", "propose", "--coop", "coop1", "--id", "alu30", "--policy", str(policy),
                   "--closes", closes, "--json")  # fmt: skip
    assert proposed.exit_code == 0, proposed.output
    proposal = json.loads(proposed.stdout)["hash"]
    for account, choice in (("alice", "yes"), ("bob", "yes")):
        ballot = tmp_path / f"{account}-ballot.json"
        signing = ("--key", str(tmp_path / f"{account}.key"), "--ledger", genesis, "--proposal", proposal)
        assert (
            run(
                env, "governance", "ballot", "sign", *signing, "--choice", choice, "-o", str(ballot)
            ).exit_code
            == 0
        )
        assert run(env, "governance", "ballot", "submit", str(ballot)).exit_code == 0
    early = run(env, "governance", "tally", proposal[:12])
    assert early.exit_code == 2 and "open until" in early.stderr
    closing = datetime.fromisoformat(closes.replace("Z", "+00:00"))
    time.sleep(max(0.0, (closing - datetime.now(UTC)).total_seconds()))
    counted = run(env, "governance", "tally", proposal[:12])
    assert counted.exit_code == 0, counted.output
    assert "yes 2, no 0, abstain 0 of 2: adopted" in counted.stdout
    shown = json.loads(run(env, "governance", "show", "--json").stdout)[0]
    assert [p["policy_version"] for p in shown["periods"]] == ["rewards-v2", "rewards-v2-alu30"]
    assert run(env, "ledger", "verify").exit_code == 0
