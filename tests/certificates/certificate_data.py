"""A co-op day for the certificate tests: two meters, minutely readings, settled by the engine."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from tests.rewards.conftest import Engine
from tests.rewards.rewards_factories import MINUTE, T0, RewardsData

H10, H11, H12 = T0, T0 + timedelta(hours=1), T0 + timedelta(hours=2)


def sunny_coop(data: RewardsData, *, minutes: int = 126) -> None:
    """coop1: alice (3 shares), bob (1); meters m1, m2 reading +10 Wh a minute from 10:00."""
    data.member("alice", 3)
    data.member("bob", 1)
    for meter in ("m1", "m2"):
        data.meter(meter)
        data.minutely(meter, T0, minutes)
    data.watermark(T0 + minutes * MINUTE)


def settle(engine: Engine) -> None:
    engine.cycle(drain=True)


def bundles(data: RewardsData, where: str = "TRUE") -> list[dict[str, Any]]:
    """Live bundles with their issuance facts, in id order."""
    rows = data.conn.execute(
        "SELECT b.range_start, b.range_end, i.device_id, i.production_start, b.holder, b.status, "
        "       s.settlement_id, b.beneficiary "
        "  FROM certificate_bundle b JOIN certificate_issuance i ON i.id = b.issuance "
        "  JOIN reward_settlement s ON s.id = i.settlement "
        f" WHERE b.status <> 'split' AND {where} ORDER BY b.range_start"
    ).fetchall()
    names = ("start", "end", "device", "hour", "holder", "status", "settlement", "beneficiary")
    return [dict(zip(names, row, strict=True)) for row in rows]


def ts(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
