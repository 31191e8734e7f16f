"""`circulo rewards run` refreshes the dashboards' rollups after its cycle."""

from __future__ import annotations

from pathlib import Path

from tests.rewards.engine_process import run_engine_once
from tests.rewards.rewards_factories import MINUTE, T0, RewardsData
from tests.support import scalar


def test_the_rewards_command_brings_the_dashboards_rollups_up_to_the_watermark(
    db_url: str, key_path: Path, data: RewardsData, tmp_path: Path
) -> None:
    data.member("alice")
    data.meter("m1")
    data.minutely("m1", T0, 75, wh_per_minute=10)
    data.watermark(T0 + 80 * MINUTE)
    assert scalar(db_url, "SELECT count(*) FROM rollup_meter_hourly") == 0

    done = run_engine_once(db_url, key_path, tmp_path, "--drain")

    assert done.returncode == 0, done.stderr
    # 75 readings 10 Wh apart: 74 deltas, 740 Wh, the same energy the engine credited
    assert scalar(db_url, "SELECT sum(energy_wh) FROM rollup_meter_hourly WHERE device_id = 'm1'") == 740
    assert scalar(db_url, "SELECT sum(energy_wh) FROM rollup_coop_hourly") == 740
