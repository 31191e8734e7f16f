"""Correcting a certified settlement withdraws its certificates, or is refused once any was claimed."""

from __future__ import annotations

import pytest
from tests.certificates.certificate_data import bundles, settle, sunny_coop
from tests.certificates.conftest import Cli
from tests.rewards.conftest import Engine
from tests.rewards.rewards_factories import RewardsData

G10 = "green:coop1:2025-06-01T10:00Z"


@pytest.fixture
def issued(data: RewardsData, engine: Engine) -> RewardsData:
    sunny_coop(data, minutes=60)
    settle(engine)
    return data


def mint_of(data: RewardsData, account: str) -> int:
    return int(data.scalar(
        "SELECT seq FROM ledger_entry WHERE settlement_id = %s AND account = %s AND kind = 'mint'",
        (G10, account),
    ))  # fmt: skip


def test_correcting_a_green_mint_withdraws_its_settlements_live_certificates_in_the_same_transaction(
    issued: RewardsData, certs: Cli
) -> None:
    certs.ok(
        "certificates", "transfer", "591", "--holder", "treasury@coop1", "--to", "buyer@grid", "--wh", "90"
    )
    certs.ok("certificates", "cancel", "591", "--holder", "buyer@grid", "--period", "2025-06")  # not claimed
    burn = certs.json("ledger", "correct", str(mint_of(issued, "alice")), "--why", "meter m2 double-counted")
    record = issued.conn.execute(
        "SELECT seq, reason, account, sources FROM ledger_entry WHERE seq = %s", (burn["seq"] + 1,)
    ).fetchone()
    assert record[1:3] == ("certificate.withdraw", "treasury@coop1")
    source = record[3][0]
    assert (source["corrects_seq"], source["wh"]) == (mint_of(issued, "alice"), 1180)
    assert source["why"] == f"correction of entry {mint_of(issued, 'alice')}: meter m2 double-counted"
    assert {(r["holder"], r["status"]) for r in source["ranges"]} == {
        ("treasury@coop1", "active"), ("buyer@grid", "cancelled")
    }  # fmt: skip
    assert {b["status"] for b in bundles(issued)} == {"withdrawn"}
    # a second correction of the same settlement has nothing left to withdraw
    second = certs.json("ledger", "correct", str(mint_of(issued, "bob")), "--why", "same")
    assert issued.scalar("SELECT max(seq) FROM ledger_entry") == second["seq"]
    assert certs.ok("ledger", "verify").stdout.startswith("ledger OK")


def test_correcting_a_settlement_whose_certificate_was_claimed_is_refused_and_writes_nothing(
    issued: RewardsData, certs: Cli
) -> None:
    certs.ok("certificates", "cancel", "1", "--holder", "treasury@coop1", "--period", "2025", "--wh", "5",
             "--beneficiary", "Acme Bakery")  # fmt: skip
    certs.ok("certificates", "claim", "1", "--holder", "treasury@coop1")
    before = issued.scalar("SELECT count(*) FROM ledger_entry")
    message = certs.error("ledger", "correct", str(mint_of(issued, "alice")), "--why", "wrong")
    assert message == (
        f"error: entry {mint_of(issued, 'alice')} is not corrected: certificates of {G10} were claimed: "
        "1-5 (for Acme Bakery)"
    )
    assert issued.scalar("SELECT count(*) FROM ledger_entry") == before
    assert issued.balances("GRN")[("alice", "GRN")] == 796_500  # 3/4 of 90 % of 1180 Wh: still there
