"""A deterministic co-op history delivered in rounds, for the exactly-once tests.

Two co-ops, seven meters (one counter reset, one implausible jump), two bins (one failed
mass balance), a repair station; data arrives in time order and W follows it, so the
result is the same however the settlements are spread over cycles.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from tests.rewards.rewards_factories import MINUTE, T0, RewardsData

ROUND = timedelta(minutes=20)
COOP1_METERS = ("m1", "m2", "m3", "m4", "m5", "m6")


def round_window(k: int) -> tuple[datetime, datetime]:
    start = T0 + k * ROUND
    return start, start + ROUND


def registry(data: RewardsData) -> None:
    for account, shares in (("alice", 2), ("bob", 1), ("carol", 1)):
        data.member(account, shares, "coop1")
    data.member("dave", 1, "coop2")
    for meter in COOP1_METERS:
        data.meter(meter, "coop1")
    data.meter("n1", "coop2")
    data.device("b1", "bin", "coop1")
    data.device("b2", "bin", "coop2")
    data.device("rs1", "repair", "coop1")


def energy(meter: str, minute: int) -> int:
    """The register of a meter at a minute after T0 (with one reset and one jump)."""
    rate = 10 + int(meter[1:])
    if meter == "m3" and minute >= 7 * 20 + 5:
        return (minute - 145) * rate  # reset to 0 at round 7
    if meter == "m5" and minute >= 11 * 20 + 3:
        return minute * rate + 100_000  # an implausible jump in round 11
    return minute * rate


def deliver_round(data: RewardsData, k: int, *, with_registry: bool = True) -> None:
    """Everything measured in round ``k``'s window, then W at its end."""
    if k == 0 and with_registry:
        registry(data)
    start, end = round_window(k)
    for meter in (*COOP1_METERS, "n1"):
        data.readings(meter, [(start + i * MINUTE, energy(meter, k * 20 + i)) for i in range(20)])
    data.deposit("b1", f"a{k}", start + 2 * MINUTE, 150, material="aluminium", account="alice")
    data.deposit("b1", f"b{k}", start + 3 * MINUTE, 300, material="pet", account="bob")
    data.deposit("b2", f"d{k}", start + 4 * MINUTE, 500, material="glass", account="dave")
    if k % 3 == 0:
        data.deposit("b1", f"x{k}", start + 5 * MINUTE, 100, contaminated=True)
        data.deposit("b1", f"y{k}", start + 6 * MINUTE, 100, account=None)
        data.repair("rs1", f"r{k}", start + 7 * MINUTE, 1000, owner="alice", repairer="carol",
                    status="repairable" if k == 9 else "fixed")  # fmt: skip
    if k % 4 == 3:
        data.collection("b1", f"c{k}", end - MINUTE, 4 * 700)
        data.collection("b2", f"c{k}", end - MINUTE, 4 * 500 if k != 7 else 1000)
    data.watermark(end)
