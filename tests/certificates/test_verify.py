"""`ledger verify` replays the certificate registry: a double claim written around the CLI is caught."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest
from tests.certificates.certificate_data import H10, settle, sunny_coop
from tests.certificates.conftest import Cli
from tests.rewards.conftest import Engine
from tests.rewards.rewards_factories import RewardsData

from circulo.certificates.ids import IdRange
from circulo.certificates.records import ActedRange, ActionFacts, action_entry, parse_period
from circulo.certificates.replay import CertificateLedger
from circulo.ledger import journal
from circulo.ledger.entries import NewEntry
from circulo.ledger.keys import Signer

PERIOD = parse_period("2025")


@pytest.fixture
def claimed(data: RewardsData, engine: Engine, certs: Cli) -> RewardsData:
    """Hour 10 issued (1-590 m1, 591-1180 m2); 1-100 cancelled and claimed for Acme Bakery."""
    sunny_coop(data, minutes=60)
    settle(engine)
    certs.ok("certificates", "cancel", "1", "--holder", "treasury@coop1", "--period", "2025", "--wh", "100",
             "--beneficiary", "Acme Bakery")  # fmt: skip
    certs.ok("certificates", "claim", "1", "--holder", "treasury@coop1")
    return data


def append_around_the_cli(db_url: str, signer: Signer, entry: NewEntry) -> int:
    """Sign and append a record with the ledger's own key, touching no certificate table."""
    with psycopg.connect(db_url) as conn, conn.transaction():
        [sealed] = journal.append_entries(conn, [entry], signer, now=datetime.now(UTC))
    return sealed.seq


def forged_claim(after_seq: int, beneficiary: str = "Acme Bakery") -> NewEntry:
    facts = ActionFacts(
        "claim", "coop1", "treasury@coop1", after_seq, "mallory@host", beneficiary=beneficiary, period=PERIOD
    )
    return action_entry(facts, [ActedRange(IdRange(50, 60), "m1", H10, "treasury@coop1", "cancelled")])


def test_a_double_claim_signed_with_the_ledgers_key_around_the_cli_fails_verify_on_an_export(
    claimed: RewardsData, certs: Cli, db_url: str, signer: Signer, tmp_path: Path
) -> None:
    head = int(claimed.scalar("SELECT max(seq) FROM ledger_entry"))
    seq = append_around_the_cli(db_url, signer, forged_claim(head))
    assert claimed.scalar("SELECT count(*) FROM certificate_claim") == 1  # the database never saw it
    export = tmp_path / "ledger.jsonl"
    certs.ok("ledger", "export", "-o", str(export))
    message = certs.error("ledger", "verify", "--export", str(export), "--public-key", signer.public_key_hex)
    assert message == (
        f"error: entry {seq}: double claim: ranges[0]: ids 50-60 were claimed already (for Acme Bakery)"
    )
    assert certs.error("ledger", "verify").startswith(f"error: entry {seq}: double claim")


def test_every_entry_before_the_forgery_verifies_and_an_honest_ledger_of_actions_does(
    claimed: RewardsData, certs: Cli
) -> None:
    certs.ok(
        "certificates", "transfer", "101", "--holder", "treasury@coop1", "--to", "buyer@grid", "--wh", "50"
    )
    certs.ok("certificates", "withdraw", "591", "--why", "test")
    assert certs.ok("ledger", "verify").stdout.startswith("ledger OK")


def export_form(entry: NewEntry, seq: int) -> dict[str, Any]:
    return {"seq": seq, "ts": "2025-06-02T00:00:00.000000Z", "kind": entry.kind, "reason": entry.reason,
            "account": entry.account, "settlement_id": entry.settlement_id,
            "sources": [dict(s) for s in entry.sources]}  # fmt: skip


def replay_of(db_url: str) -> tuple[CertificateLedger, list[dict[str, Any]]]:
    """The replay after every certificate record of the database's ledger."""
    replay = CertificateLedger()
    with psycopg.connect(db_url) as conn:
        entries = [e.to_dict() for e in journal.iter_entries(conn)]
    for entry in entries:
        if CertificateLedger.concerns(entry):
            assert replay.check(entry) is None, entry["seq"]
            replay.accept()
    return replay, entries


@pytest.mark.parametrize(
    ("ranges", "problem"),
    [
        # the ids were issued for another hour than the record claims
        (
            [ActedRange(IdRange(101, 110), "m1", H10.replace(hour=11), "treasury@coop1", "active")],
            "were issued for m1 2025-06-01T10:00:00.000000Z",
        ),
        # the holder named is not the one the ledger gives
        ([ActedRange(IdRange(101, 110), "m1", H10, "bob", "active")], "not as recorded"),
        # ids spanning two issued bundles
        (
            [ActedRange(IdRange(580, 600), "m1", H10, "treasury@coop1", "active")],
            "not within one issued bundle",
        ),
        # never issued
        ([ActedRange(IdRange(5000, 5001), "m1", H10, "treasury@coop1", "active")], "was never issued"),
    ],
)
def test_a_transfer_record_that_misstates_what_it_acts_on_is_a_bad_certificate_action(
    claimed: RewardsData, db_url: str, ranges: list[ActedRange], problem: str
) -> None:
    replay, entries = replay_of(db_url)
    facts = ActionFacts("transfer", "coop1", "treasury@coop1", len(entries), "mallory@host", to="buyer@grid")
    found = replay.check(export_form(action_entry(facts, ranges), len(entries) + 1))
    assert found is not None and found[0] == "bad certificate action" and problem in found[1], found


def test_an_issue_record_that_certifies_more_than_its_evidence_is_bad_issuance(
    claimed: RewardsData, db_url: str
) -> None:
    replay, entries = replay_of(db_url)
    issue = next(e for e in entries if e["reason"] == "certificate.issue")
    sources = [dict(s) for s in issue["sources"]]
    header, certificates = sources[0], dict(sources[-1])
    bundles = [dict(b) for b in certificates["bundles"]]
    bundles[0].update(range_start=1181, range_end=1181 + 590, wh=591)  # one more Wh for m1
    bundles[1].update(range_start=1772, range_end=1772 + 589)
    certificates.update(bundles=bundles, certified_wh=1181)
    sources[0] = {**header, "credited_wh": 1181}
    sources[-1] = certificates
    forged = {**issue, "settlement_id": "green:coop1:2025-06-01T13:00Z", "sources": sources}
    found = replay.check(forged)
    assert found == (
        "bad issuance",
        "the bundles do not hold the production per meter and hour the evidence gives",
    )
    reused = {**issue, "settlement_id": "green:coop1:2025-06-01T13:00Z"}  # the same ids issued twice
    assert replay.check(reused) == (
        "bad issuance",
        "bundles[0] has ids 1-590; the registry's next id is 1181",
    )
