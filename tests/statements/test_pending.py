"""Pending amounts: why each waits, and estimates that are what the engine then mints."""

from __future__ import annotations

from tests.rewards.rewards_factories import T0, RewardsData
from tests.statements.conftest import HOUR, Coop
from tests.statements.site_helpers import statement_of

from circulo.rewards.engine import run_cycle


def pending_by_what(coop: Coop, account: str) -> dict[str, tuple[str, int]]:
    return {p.what: (p.status, p.estimate_micro) for p in statement_of(coop, account).pending}


def minted(data: RewardsData, account: str, settlement_id: str) -> int:
    row = data.conn.execute(
        "SELECT coalesce(sum(amount_micro), 0) FROM ledger_entry WHERE account = %s AND settlement_id = %s",
        (account, settlement_id),
    ).fetchone()
    return int(row[0]) if row else 0


def test_each_pending_item_says_why_it_waits(riverside: Coop) -> None:
    assert pending_by_what(riverside, "alice@riverside") == {
        "300 g aluminium at bin-1": ("awaiting_collection", 6_000_000),
        "500 g steel at bin-2": ("awaiting_watermark", 3_000_000),
        "Lamp (fixed) at rc-1, you as owner": ("awaiting_watermark", 4_000_000),
        "riverside late readings of hours already settled: the co-op's meters credited 8850 Wh so far "
        "(8.850000 GRN in all)": ("ready", 3_982_500),
        "riverside hour 2025-06-01T14:00Z: the co-op's meters credited 4500 Wh so far "
        "(4.500000 GRN in all)": ("hour_open", 2_025_000),
    }


def test_estimates_are_what_the_engine_mints_once_the_watermark_passes(
    riverside: Coop, data: RewardsData
) -> None:
    data.watermark(T0 + 10 * HOUR)  # everything received has cleared; the school meter is idle
    estimates = {p.what: p for p in statement_of(riverside, "alice@riverside").pending}
    assert {p.status for w, p in estimates.items() if "bin-1" not in w} == {"ready"}
    run_cycle(riverside.settings, drain=False)
    assert (
        minted(data, "alice@riverside", "deposit:bin-2:c-2")
        == estimates["500 g steel at bin-2"].estimate_micro
    )
    assert (
        minted(data, "alice@riverside", "repair:rc-1:r-2")
        == estimates["Lamp (fixed) at rc-1, you as owner"].estimate_micro
    )
    green = {p.what.split(":")[0]: p.estimate_micro for p in estimates.values() if p.kind == "green"}
    assert (
        minted(data, "alice@riverside", "green:riverside:2025-06-01T14:00Z")
        == green["riverside hour 2025-06-01T14"]
    )
    late = data.conn.execute(
        "SELECT sum(amount_micro) FROM ledger_entry WHERE account = 'alice@riverside' "
        "AND settlement_id LIKE 'green-late:riverside:%%'"
    ).fetchone()
    assert late is not None and late[0] == green["riverside late readings of hours already settled"]
    assert [p.what for p in statement_of(riverside, "alice@riverside").pending] == [
        "300 g aluminium at bin-1"
    ]


def test_a_contaminated_deposit_and_a_late_one_are_pending_for_nothing(
    riverside: Coop, data: RewardsData
) -> None:
    minute = HOUR / 60
    dirty_at, late_at = T0 + 4 * HOUR + 3 * minute, T0 + 30 * minute  # bin-1's collection settled at T0 + 1 h
    data.deposit(
        "bin-1", "d-dirty", dirty_at, 200, material="pet", account="alice@riverside", contaminated=True
    )
    data.deposit("bin-1", "d-late", late_at, 150, material="glass", account="alice@riverside")
    items = {p.what: p for p in statement_of(riverside, "alice@riverside").pending}
    dirty, late = items["200 g pet at bin-1"], items["150 g glass at bin-1"]
    assert (dirty.status, dirty.estimate_micro, dirty.note) == (
        "awaiting_collection",
        0,
        "marked contaminated: it will mint nothing",
    )
    assert (late.status, late.estimate_micro) == ("late", 0)
    assert "mints nothing" in late.why


def test_a_member_without_shares_has_no_green_estimates(riverside: Coop, data: RewardsData) -> None:
    data.member("bob@riverside", 0, "riverside")
    assert not [p for p in statement_of(riverside, "bob@riverside").pending if p.kind == "green"]
