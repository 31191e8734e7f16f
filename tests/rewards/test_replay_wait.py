"""The engine waits for pending replays (SPEC §11): recovered data settles as if never late.

Gaps are inserted the way the ingest records them (``replay_gap``, migration 0014); the
replayed messages are inserted and their gap marked ``recovered``, as the ingest does when
the device republishes them. Each recovered run is compared with a clean run of the same
data, uninterrupted, in a second database.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from tests.rewards.conftest import Engine
from tests.rewards.rewards_factories import MINUTE, T0, RewardsData

from circulo.rewards.plans.deposits import PendingCollection, collection_cleared
from circulo.rewards.plans.green import PendingGap, replay_bound
from circulo.rewards.rules import Collection
from circulo.rewards.settings import RewardsSettings

SECOND = timedelta(seconds=1)
H10 = "green:coop1:2025-06-01T10:00Z"

# A meter reading every minute from 10:00 to 11:10 (+10 Wh a minute); the broker crash loses
# 10:56 .. 11:01 (seq 57..62), across the hour's end.
MISSING = [T0 + i * MINUTE for i in range(56, 62)]
BEFORE, AFTER = T0 + 55 * MINUTE, T0 + 62 * MINUTE
GIVE_UP = AFTER + 10 * MINUTE


def outcome(data: RewardsData) -> dict[str, Any]:
    """What the engine settled, as comparable data (no times of the run itself)."""
    entries = data.conn.execute(
        "SELECT settlement_id, kind, account, token, amount_micro, reason, sources FROM ledger_entry "
        "ORDER BY settlement_id, account, kind"
    ).fetchall()
    settlements = data.conn.execute(
        "SELECT settlement_id, kind, credited_wh FROM reward_settlement ORDER BY settlement_id"
    ).fetchall()
    flags = data.conn.execute(
        "SELECT flag, device_id, ts, account, excluded_micro FROM reward_flag ORDER BY ts, device_id, flag"
    ).fetchall()
    return {"settlements": settlements, "entries": entries, "flags": flags}


def reference(reference_url: str, key_path: Path, fill: Callable[[RewardsData], None]) -> dict[str, Any]:
    """A clean run in a second database: ``fill`` writes the data and runs its cycles."""
    data = RewardsData(reference_url)
    try:
        fill(data)
        return outcome(data)
    finally:
        data.close()


def engine_for(url: str, key_path: Path) -> Engine:
    return Engine(RewardsSettings(database_url=url, signing_key_path=key_path, lock_poll_s=0.05))


def meter_minutes(data: RewardsData, minutes: range, *, received_at: datetime | None = None) -> None:
    data.readings("m1", [(T0 + i * MINUTE, i * 10) for i in minutes], received_at=received_at)


def meter_with_gap(data: RewardsData) -> None:
    data.member("alice", 3)
    data.member("bob", 1)
    data.meter("m1")
    meter_minutes(data, range(0, 56))
    meter_minutes(data, range(62, 71))
    data.gap("m1", 57, 62, before_ts=BEFORE, after_ts=AFTER, after_received_at=AFTER, give_up_at=GIVE_UP)


def test_a_meter_with_a_pending_gap_in_an_hour_is_not_done_with_it(data: RewardsData, engine: Engine) -> None:
    meter_with_gap(data)
    data.watermark(T0 + 68 * MINUTE)  # without the gap, 11:07 would make m1 done with hour 10
    assert engine.cycle().settled == 0
    data.close_gap("m1", 57, "lost", T0 + 68 * MINUTE)  # lost: the hour no longer waits
    engine.cycle()
    assert data.settlement_ids() == [H10]


def test_replayed_readings_settle_the_hour_as_an_uninterrupted_stream_would(
    data: RewardsData, engine: Engine, reference_url: str, key_path: Path
) -> None:
    w_recovered = T0 + 70 * MINUTE

    def uninterrupted(ref: RewardsData) -> None:
        ref.member("alice", 3)
        ref.member("bob", 1)
        ref.meter("m1")
        ref.readings("m1", [(T0 + i * MINUTE, i * 10) for i in range(71)])
        ref.watermark(w_recovered)
        engine_for(ref.db_url, key_path).cycle()

    expected = reference(reference_url, key_path, uninterrupted)
    assert [s[0] for s in expected["settlements"]] == [H10]

    meter_with_gap(data)
    data.watermark(T0 + 68 * MINUTE)
    assert engine.cycle().settled == 0
    # the device republishes seq 57..62; the ingest stores them and marks the gap recovered
    meter_minutes(data, range(56, 62), received_at=T0 + 69 * MINUTE)
    data.close_gap("m1", 57, "recovered", T0 + 69 * MINUTE)
    data.watermark(w_recovered)
    engine.cycle()
    assert outcome(data) == expected
    assert data.scalar("SELECT credited_wh FROM reward_settlement") == 590  # 59 pairs of 10 Wh in hour 10


def test_a_gap_past_its_give_up_time_no_longer_holds_the_hour(data: RewardsData, engine: Engine) -> None:
    meter_with_gap(data)
    data.watermark(GIVE_UP)  # W at the give-up time: still waiting
    assert engine.cycle().settled == 0
    data.watermark(GIVE_UP + SECOND)
    engine.cycle()
    assert data.settlement_ids() == [H10]
    # the pair 10:55 → 11:02 spans the gap and belongs to hour 11: hour 10 credits 55 pairs
    assert data.scalar("SELECT credited_wh FROM reward_settlement") == 550


def test_a_gap_after_an_hour_or_of_another_meter_does_not_hold_it(data: RewardsData, engine: Engine) -> None:
    data.member("alice")
    data.meter("m1")
    data.meter("m2", coop_id="coop2")
    meter_minutes(data, range(0, 71))
    later = T0 + 61 * MINUTE
    data.gap(
        "m1", 80, 81, before_ts=later, after_ts=later + MINUTE, after_received_at=later, give_up_at=GIVE_UP
    )
    data.gap("m2", 5, 6, before_ts=T0, after_ts=T0 + MINUTE, after_received_at=later, give_up_at=GIVE_UP)
    data.watermark(T0 + 68 * MINUTE)
    engine.cycle()
    assert data.settlement_ids() == [H10]
    # a gap found now but lying wholly in the settled hour 10 does not hold hour 11
    meter_minutes(data, range(71, 126))
    data.gap("m1", 20, 22, before_ts=T0 + 19 * MINUTE, after_ts=T0 + 23 * MINUTE,
             after_received_at=T0 + 124 * MINUTE, give_up_at=T0 + 134 * MINUTE)  # fmt: skip
    data.watermark(T0 + 125 * MINUTE)
    engine.cycle()
    assert data.settlement_ids() == [H10, "green:coop1:2025-06-01T11:00Z"]


def test_a_gap_without_a_known_start_holds_every_hour_until_its_give_up_time(
    data: RewardsData, engine: Engine
) -> None:
    data.member("alice")
    data.meter("m1")
    meter_minutes(data, range(0, 71))
    data.gap("m1", 0, 3, before_ts=None, after_ts=T0, after_received_at=T0 + 60 * MINUTE, give_up_at=None)
    data.watermark(T0 + 68 * MINUTE)
    assert engine.cycle().settled == 0
    data.watermark(T0 + 70 * MINUTE + SECOND)  # receipt + the default replay_timeout (10 min)
    engine.cycle()
    assert data.settlement_ids() == [H10]


# --- bins --------------------------------------------------------------------------------------

C1_AT = T0 + 60 * MINUTE
BIN_GIVE_UP = T0 + 65 * MINUTE


def bin_with_gap(data: RewardsData) -> None:
    """Deposits at 10:40 and 10:55 arrived; the one at 10:50 (seq 11) was lost by the broker."""
    data.member("alice")
    data.device("bin1", "bin")
    data.deposit("bin1", "d1", T0 + 40 * MINUTE, 1000, material="aluminium")
    data.deposit("bin1", "d3", T0 + 55 * MINUTE, 300)
    data.collection("bin1", "c1", C1_AT, 2000, received_at=C1_AT + 5 * SECOND)
    data.gap(
        "bin1", 11, 11, before_ts=T0 + 40 * MINUTE, after_ts=T0 + 55 * MINUTE,
        after_received_at=T0 + 55 * MINUTE, give_up_at=BIN_GIVE_UP,
    )  # fmt: skip


def replayed_deposit(data: RewardsData, received_at: datetime) -> None:
    data.deposit("bin1", "d2", T0 + 50 * MINUTE, 500, material="aluminium", received_at=received_at)


def test_a_collection_waits_for_a_pending_gap_and_settles_the_replayed_deposit_as_if_never_late(
    data: RewardsData, engine: Engine, reference_url: str, key_path: Path
) -> None:
    def uninterrupted(ref: RewardsData) -> None:
        ref.member("alice")
        ref.device("bin1", "bin")
        ref.deposit("bin1", "d1", T0 + 40 * MINUTE, 1000, material="aluminium")
        replayed_deposit(ref, T0 + 50 * MINUTE)
        ref.deposit("bin1", "d3", T0 + 55 * MINUTE, 300)
        ref.collection("bin1", "c1", C1_AT, 2000, received_at=C1_AT + 5 * SECOND)
        ref.watermark(C1_AT + 2 * MINUTE)
        engine_for(ref.db_url, key_path).cycle()

    expected = reference(reference_url, key_path, uninterrupted)
    assert [s[0] for s in expected["settlements"]] == ["deposit:bin1:c1"]

    bin_with_gap(data)
    data.watermark(C1_AT + 30 * SECOND)  # past receipt + grace: without the gap it would settle
    assert engine.cycle().settled == 0
    replayed_deposit(data, C1_AT + MINUTE)
    data.close_gap("bin1", 11, "recovered", C1_AT + MINUTE)
    data.watermark(C1_AT + 2 * MINUTE)
    engine.cycle()
    assert outcome(data) == expected
    assert data.balances("RCY") == {("alice", "RCY"): 33_000_000}  # 1.5 kg aluminium + 0.3 kg PET


def test_a_bin_gap_past_its_give_up_time_no_longer_holds_the_collection_and_the_deposit_is_late(
    data: RewardsData, engine: Engine
) -> None:
    bin_with_gap(data)
    data.watermark(BIN_GIVE_UP)
    assert engine.cycle().settled == 0
    data.watermark(BIN_GIVE_UP + SECOND)
    engine.cycle()
    assert data.settlement_ids() == ["deposit:bin1:c1"]
    # the replay came after the give-up time: the deposit is late, as any deposit after its collection
    replayed_deposit(data, BIN_GIVE_UP + 2 * SECOND)
    engine.cycle()
    assert data.settlement_ids() == ["deposit:bin1:c1", "deposit-late:bin1:d2"]
    assert [f for f, *_ in data.flags()] == ["late"]
    assert data.balances("RCY") == {("alice", "RCY"): 23_000_000}


def test_a_bin_gap_after_the_collection_or_before_the_settled_one_does_not_hold_it(
    data: RewardsData, engine: Engine
) -> None:
    data.member("alice")
    data.device("bin1", "bin")
    data.deposit("bin1", "d1", T0, 1000, material="aluminium")
    data.collection("bin1", "c0", T0 + 10 * MINUTE, 1000)
    data.deposit("bin1", "d2", T0 + 40 * MINUTE, 300)
    data.collection("bin1", "c1", C1_AT, 300, received_at=C1_AT + 5 * SECOND)
    data.watermark(T0 + 11 * MINUTE)
    engine.cycle()
    assert data.settlement_ids() == ["deposit:bin1:c0"]
    # a gap before the settled collection c0 (its deposits would be late anyway) and one after c1
    data.gap(
        "bin1", 2, 2, before_ts=T0, after_ts=T0 + 5 * MINUTE, after_received_at=C1_AT, give_up_at=BIN_GIVE_UP
    )
    data.gap(
        "bin1", 9, 9, before_ts=C1_AT + SECOND, after_ts=None, after_received_at=C1_AT + 6 * SECOND,
        give_up_at=BIN_GIVE_UP,
    )  # fmt: skip
    data.watermark(C1_AT + 30 * SECOND)
    engine.cycle()
    assert data.settlement_ids() == ["deposit:bin1:c0", "deposit:bin1:c1"]


def test_drain_settles_everything_whatever_is_pending(data: RewardsData, engine: Engine) -> None:
    meter_with_gap(data)
    bin_with_gap(data)
    engine.cycle(drain=True)
    assert "deposit:bin1:c1" in data.settlement_ids()
    assert H10 in data.settlement_ids()


# --- the pure rules ---------------------------------------------------------------------------


def test_replay_bound_cuts_at_the_hour_of_the_first_pending_gap_until_w_passes_its_give_up_time() -> None:
    end = T0 + timedelta(hours=3)
    gap = PendingGap("m1", T0 + 75 * MINUTE, T0 + 80 * MINUTE, held_until=T0 + 90 * MINUTE)
    assert replay_bound(end, [gap], T0 + 80 * MINUTE) == T0 + timedelta(hours=1)
    assert replay_bound(end, [gap], T0 + 90 * MINUTE) == T0 + timedelta(hours=1)
    assert replay_bound(end, [gap], T0 + 91 * MINUTE) == end
    assert replay_bound(T0, [gap], T0 + 80 * MINUTE) == T0
    unbounded = PendingGap("m1", None, T0 + 80 * MINUTE, T0 + 90 * MINUTE)
    assert replay_bound(end, [unbounded], T0 + 80 * MINUTE) is None
    assert replay_bound(None, [gap], T0) is None


def test_a_gap_that_ends_before_the_settled_hours_holds_nothing() -> None:
    end = T0 + timedelta(hours=3)
    gap = PendingGap("m1", T0 + 75 * MINUTE, T0 + 80 * MINUTE, held_until=T0 + 200 * MINUTE)
    w = T0 + 170 * MINUTE
    assert replay_bound(end, [gap], w, settled=T0 + timedelta(hours=2)) == end  # its readings change nothing
    assert replay_bound(end, [gap], w, settled=T0 + 80 * MINUTE) == end
    assert replay_bound(end, [gap], w, settled=T0 + 79 * MINUTE) == T0 + timedelta(hours=1)
    open_ended = PendingGap("m1", T0 + 75 * MINUTE, None, held_until=T0 + 200 * MINUTE)
    assert replay_bound(end, [open_ended], w, settled=T0 + timedelta(hours=2)) == T0 + timedelta(hours=1)


def test_a_collection_is_cleared_only_once_w_passes_its_hold() -> None:
    item = PendingCollection(Collection("bin1", "c1", C1_AT, 100), C1_AT, "coop1", held_until=BIN_GIVE_UP)
    assert not collection_cleared(item, watermark=C1_AT + MINUTE, grace_s=10, drain=False)
    assert not collection_cleared(item, watermark=BIN_GIVE_UP, grace_s=10, drain=False)
    assert collection_cleared(item, watermark=BIN_GIVE_UP + SECOND, grace_s=10, drain=False)
    assert collection_cleared(item, watermark=None, grace_s=10, drain=True)
