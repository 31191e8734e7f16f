"""Actions against the database: exact splits, the lifecycle, one claim per Wh under concurrency."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import psycopg
import pytest
from tests.certificates.certificate_data import H10, bundles, settle, sunny_coop
from tests.certificates.conftest import Cli
from tests.rewards.conftest import Engine
from tests.rewards.rewards_factories import RewardsData

from circulo.certificates import registry
from circulo.certificates.actions import ActionRequest
from circulo.certificates.errors import WrongState
from circulo.certificates.records import parse_period
from circulo.errors import CirculoError
from circulo.ledger.keys import Signer

TREASURY = "treasury@coop1"


@pytest.fixture
def issued(data: RewardsData, engine: Engine) -> RewardsData:
    """coop1's hour 10: bundles 1-590 (m1) and 591-1180 (m2), held by the treasury."""
    sunny_coop(data, minutes=60)
    settle(engine)
    return data


def entries(data: RewardsData) -> int:
    return int(data.scalar("SELECT count(*) FROM ledger_entry"))


def test_a_partial_transfer_splits_a_bundle_exactly_and_records_the_range_moved(
    issued: RewardsData, certs: Cli
) -> None:
    done = certs.json("certificates", "transfer", "1", "591", "--holder", TREASURY, "--to", "buyer@grid",
                      "--wh", "700")  # fmt: skip
    assert done["reason"] == "certificate.transfer" and done["account"] == TREASURY
    assert [(r["range_start"], r["range_end"], r["wh"]) for r in done["action"]["ranges"]] == [
        (1, 590, 590), (591, 700, 110)
    ]  # fmt: skip
    assert done["settlement_id"].startswith("certificate-transfer:")
    assert [(b["start"], b["end"], b["holder"]) for b in bundles(issued)] == [
        (1, 590, "buyer@grid"), (591, 700, "buyer@grid"), (701, 1180, TREASURY)
    ]  # fmt: skip
    # the split bundle stays in the database as the parts' parent, out of the live set
    assert issued.scalar("SELECT count(*) FROM certificate_bundle WHERE status = 'split'") == 1
    assert (
        issued.scalar(
            "SELECT sum(range_end - range_start + 1) FROM certificate_bundle WHERE status <> 'split'"
        )
        == 1180
    )
    assert certs.ok("ledger", "verify").stdout.startswith("ledger OK")


def test_cancel_then_claim_records_beneficiary_and_period_and_a_claim_is_final(
    issued: RewardsData, certs: Cli
) -> None:
    certs.ok("certificates", "transfer", "1", "--holder", TREASURY, "--to", "buyer@grid")
    cancelled = certs.json("certificates", "cancel", "1", "--holder", "buyer@grid", "--period", "2025",
                           "--beneficiary", "Acme Bakery", "--wh", "100")  # fmt: skip
    source = cancelled["action"]
    assert (source["beneficiary"], source["reporting_period"]) == (
        "Acme Bakery", {"start": "2025-01-01T00:00:00.000000Z", "end": "2026-01-01T00:00:00.000000Z"}
    )  # fmt: skip
    claimed = certs.json("certificates", "claim", "1", "--holder", "buyer@grid")
    assert (claimed["reason"], claimed["action"]["beneficiary"], claimed["action"]["wh"]) == (
        "certificate.claim", "Acme Bakery", 100
    )  # fmt: skip
    first = bundles(issued, "b.range_start < 591")
    assert [(b["start"], b["end"], b["status"], b["beneficiary"]) for b in first] == [
        (1, 100, "claimed", "Acme Bakery"), (101, 590, "active", None)
    ]  # fmt: skip
    assert issued.scalar("SELECT count(*) FROM certificate_claim") == 1
    history = certs.ok("ledger", "history", "--account", "buyer@grid").stdout
    assert "certificate claim: 100 Wh (1-100) for Acme Bakery" in history
    before = entries(issued)
    assert "is claimed; claim needs it cancelled" in certs.error(
        "certificates", "claim", "1", "--holder", "buyer@grid"
    )
    assert "is claimed; withdraw needs it active or cancelled" in certs.error(
        "certificates", "withdraw", "1", "--why", "test"
    )
    assert entries(issued) == before  # nothing written
    assert certs.ok("ledger", "verify").stdout.startswith("ledger OK")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("transfer", "1", "--holder", "bob", "--to", "x"),
            "bundle 1-590 is held by treasury@coop1, not bob",
        ),
        (("transfer", "2", "--holder", TREASURY, "--to", "x"), "no live bundle starts at certificate 2"),
        (("transfer", "1", "--holder", TREASURY, "--to", TREASURY), "already holds these certificates"),
        (("transfer", "1", "--holder", TREASURY, "--to", "bad account"), "is not a valid account id"),
        (
            ("transfer", "1", "--holder", TREASURY, "--to", "x", "--wh", "591"),
            "the bundles named hold 590 Wh",
        ),
        (("claim", "1", "--holder", TREASURY), "is active; claim needs it cancelled"),
        (("cancel", "1", "--holder", TREASURY, "--period", "2024"), "outside the reporting period"),
        (("cancel", "1", "--holder", TREASURY, "--period", "2025-13"), "use YYYY, YYYY-MM"),
        (("cancel", "1", "1", "--holder", TREASURY, "--period", "2025"), "a bundle is named twice"),
        (("withdraw", "1", "--why", " "), "a withdrawal needs a reason"),
    ],
)
def test_a_refused_action_says_why_in_one_line_and_writes_nothing(
    issued: RewardsData, certs: Cli, args: tuple[str, ...], message: str
) -> None:
    before = (entries(issued), bundles(issued))
    assert message in certs.error("certificates", *args)
    assert (entries(issued), bundles(issued)) == before


def test_the_issuer_withdraws_active_bundles_and_list_and_show_report_them(
    issued: RewardsData, certs: Cli
) -> None:
    done = certs.json("certificates", "withdraw", "591", "--why", "meter m2 was miswired", "--wh", "90")
    assert (done["account"], done["action"]["why"]) == (TREASURY, "meter m2 was miswired")
    listed = certs.json("certificates", "list", "--status", "withdrawn")
    assert [(b["range_start"], b["range_end"], b["device_id"]) for b in listed] == [(591, 680, "m2")]
    shown = certs.json("certificates", "show", "600")
    issued_as = (shown["issued_range_start"], shown["issued_range_end"])
    assert (shown["range_start"], shown["status"], *issued_as) == (
        591, "withdrawn", 591, 1180
    )  # fmt: skip
    assert [h["reason"] for h in shown["history"]] == ["certificate.withdraw"]
    assert shown["history"][0]["seq"] == done["seq"]
    text = certs.ok("certificates", "show", "600").stdout
    assert "bundle 591-680 (90 Wh): withdrawn, held by treasury@coop1" in text


def claim_in_thread(db_url: str, signer: Signer, results: list[object], barrier: threading.Barrier) -> None:
    with psycopg.connect(db_url) as conn:
        barrier.wait()
        try:
            done = registry.act(
                conn,
                lambda found: ActionRequest("claim", "buyer@grid", found),
                [1],
                signer=signer,
                operator="test",
                now=datetime.now(UTC),
            )
            results.append(done.entry.seq)
        except CirculoError as e:
            results.append(e)


def test_two_claims_of_the_same_wh_at_once_one_wins_the_other_is_refused(
    issued: RewardsData, certs: Cli, db_url: str, signer: Signer
) -> None:
    certs.ok("certificates", "transfer", "1", "--holder", TREASURY, "--to", "buyer@grid")
    certs.ok("certificates", "cancel", "1", "--holder", "buyer@grid", "--period", "2025-06")
    results: list[object] = []
    barrier = threading.Barrier(2)
    threads = [
        threading.Thread(target=claim_in_thread, args=(db_url, signer, results, barrier)) for _ in range(2)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    wins = [r for r in results if isinstance(r, int)]
    losses = [r for r in results if isinstance(r, WrongState)]
    assert len(wins) == 1 and len(losses) == 1, results
    assert "is claimed; claim needs it cancelled" in str(losses[0])
    assert issued.scalar("SELECT count(*) FROM certificate_claim") == 1
    assert issued.scalar("SELECT count(*) FROM ledger_entry WHERE reason = 'certificate.claim'") == 1


def test_the_database_refuses_a_second_claim_of_a_wh_whatever_wrote_it(
    issued: RewardsData, certs: Cli
) -> None:
    certs.ok("certificates", "cancel", "1", "--holder", TREASURY, "--period", "2025")
    claim = certs.json("certificates", "claim", "1", "--holder", TREASURY, "--wh", "10")
    bundle_id = issued.scalar(
        "SELECT id FROM certificate_bundle WHERE range_start = 11 AND status <> 'split'"
    )
    with pytest.raises(psycopg.errors.ExclusionViolation, match="certificate_claim_once"):
        issued.conn.execute(
            "INSERT INTO certificate_claim (ids, bundle, beneficiary, period_start, period_end, claim_seq) "
            "VALUES (int8range(5, 20, '[]'), %s, 'Someone Else', %s, %s, %s)",
            (bundle_id, H10, parse_period("2025").end, claim["seq"]),
        )
    with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):  # nor removed
        issued.conn.execute("DELETE FROM certificate_claim")


def test_expired_certificates_no_longer_trade_but_can_be_withdrawn(issued: RewardsData, certs: Cli) -> None:
    issued.conn.execute("UPDATE certificate_issuance SET expires_at = now() - interval '1 second'")
    assert "expired at" in certs.error("certificates", "transfer", "1", "--holder", TREASURY, "--to", "x")
    certs.ok("certificates", "withdraw", "1", "--why", "expired")
