"""`circulo demo` end to end: a short day on its own stack, the summary checked against the database.

The demo runs as a newcomer runs it (a subprocess of the real command) in a temporary
state folder, with a small fleet, two hours of the previous day and the faults scaled up
so every outcome occurs. ``--keep`` leaves the stack up so the test can read the database
the summary describes; a second run reuses the cluster and then stops everything.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from circulo.demo.stack import read_state
from circulo.localstack.procs import port_open

SMALL_DAY = ["--hours", "2", "--meters", "4", "--bins", "3", "--repairs", "1", "--members", "12"]
# The demo plays yesterday, so the faults drawn differ from day to day; at 15x a two-hour
# day of 8 devices drew no outage on 2026-11-23. At 40x every kind the test asserts on
# comes up several times on any day (offline: ~6 expected, P(none) ~ 0.3 %).
FAULTS = ["--faults", "40"]
DATA_TABLES = ("meter_reading", "bin_reading", "bin_event", "repair_event", "device_status")


def environment(config: Path | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CIRCULO_")}
    if config is not None:
        env["CIRCULO_CONFIG"] = str(config)
    return env


def circulo(*args: str, config: Path | None = None, timeout: float = 480) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "circulo", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env=environment(config),
    )


def explain(done: subprocess.CompletedProcess[str]) -> str:
    return f"exit {done.returncode}\nstdout:\n{done.stdout[-4000:]}\nstderr:\n{done.stderr[-4000:]}"


@pytest.fixture
def state_dir(tmp_path: Path) -> Iterator[Path]:
    """The demo's state folder; whatever the test leaves running is stopped afterwards."""
    folder = tmp_path / "demo"
    yield folder
    circulo("demo", "--down", "--dir", str(folder), timeout=120)


def count(conn: psycopg.Connection, query: str) -> int:
    row = conn.execute(query).fetchone()  # type: ignore[call-overload]
    assert row is not None
    return int(row[0] or 0)


def check_outcomes(summary: dict[str, Any], sim: dict[str, Any], conn: psycopg.Connection) -> None:
    """Every published message has one outcome, reconciled with the simulator's own counts.

    What reaches the ingest: the publishes the broker acknowledged (refused ones, 0x87,
    never do), plus one Last Will per dropped connection, plus the QoS 1 copies a device
    re-sends after a dropped connection, which can only be duplicates. After the day, the
    post-vote bin publishes its deposit and collection (stored once each).
    """
    outcomes = summary["traffic"]["outcomes"]
    post_vote = 2 if summary["vote"] and summary["vote"]["device_id"] else 0
    delivery, expected = sim["delivery"], sim["expected"]
    acked, refused, wills = delivery["acked"], delivery["refused"], delivery["reconnects"]
    # the broker refuses impersonations and every Tasmota's empty cmnd/POWER at connect (SPEC §10)
    commands = sim["messages"]["firmware_command"]["refused"]
    assert commands > 0 and sim["messages"]["firmware_command"]["acked"] == 0
    assert refused == sim["faults"]["impersonate"] + commands and sim["faults"]["impersonate"] > 0
    # offline windows may overlap on one device (one reconnection for both): at least one
    assert sim["faults"]["offline"] > 0 and wills > 0
    assert delivery["dropped"] == delivery["unacked"] == 0
    quarantined = sum(expected["quarantined"].values())
    assert (
        acked
        == expected["stored"] + expected["duplicate"] + quarantined + expected["status"] + expected["ignored"]
    )
    received = outcomes["stored"] + outcomes["duplicate"] + outcomes["quarantined"] + outcomes["ignored"]
    resent = received - (acked + post_vote + wills)
    assert resent >= 0
    data_rows = sum(count(conn, f"SELECT count(*) FROM {t}") for t in DATA_TABLES if t != "device_status")
    status_rows = count(conn, "SELECT count(*) FROM device_status")
    assert data_rows == expected["stored"] + post_vote  # each data message stored exactly once
    assert data_rows + status_rows == outcomes["stored"]
    assert status_rows <= expected["status"] + wills
    status_repeats = expected["status"] + wills - status_rows
    # a re-sent copy is a duplicate, or ignored again when it was a firmware's non-data message
    assert outcomes["ignored"] >= expected["ignored"] > 0
    assert outcomes["duplicate"] + outcomes["ignored"] == (
        expected["duplicate"] + expected["ignored"] + resent + status_repeats
    )
    # duplicates: the fault's second copies, and a Shelly's reading on its second topic
    assert expected["duplicate"] >= sim["faults"]["duplicate"] > 0
    assert count(conn, "SELECT count(*) FROM quarantine") == outcomes["quarantined"]
    reasons = dict(conn.execute("SELECT reason, count(*) FROM quarantine GROUP BY reason").fetchall())
    assert reasons == {k: v for k, v in expected["quarantined"].items() if v}
    assert reasons.get("clock_skew", 0) == sim["faults"]["clock_ahead"] > 0
    assert summary["traffic"]["redelivered"] == resent
    profiled = count(conn, "SELECT count(*) FROM meter_reading WHERE raw_payload IS NOT NULL")
    assert profiled > 0 and profiled == count(conn, "SELECT count(*) FROM meter_reading WHERE seq IS NULL")


def check_rewards(summary: dict[str, Any], conn: psycopg.Connection) -> None:
    """GRN minted = credited energy × rate (1 GRN/kWh), and every meter settled to its newest reading."""
    credited = count(conn, "SELECT sum(credited_wh) FROM reward_settlement WHERE token = 'GRN'")
    grn = count(conn, "SELECT sum(amount_micro) FROM ledger_entry WHERE reason = 'green.energy'")
    assert credited > 0
    assert grn == credited * 1000 == summary["energy"]["grn_minted_micro"]
    assert summary["energy"]["credited_wh"] == credited
    # drained: every meter settled up to its newest reading; a reading left unclaimed is one
    # that arrived after a later one had settled (a late clock), which changes no amount
    behind = count(
        conn,
        "SELECT count(*) FROM (SELECT device_id, max(ts) AS newest FROM meter_reading GROUP BY device_id) m "
        "LEFT JOIN reward_meter_progress p USING (device_id) WHERE p.last_ts IS DISTINCT FROM m.newest",
    )
    assert behind == 0
    unclaimed_after_progress = count(
        conn,
        "SELECT count(*) FROM meter_reading r JOIN reward_meter_progress p USING (device_id) "
        "WHERE r.ts >= p.last_ts AND NOT EXISTS "
        "(SELECT 1 FROM reward_meter_claim c WHERE c.device_id = r.device_id AND c.ts = r.ts)",
    )
    assert unclaimed_after_progress == 0
    assert count(conn, "SELECT count(*) FROM ledger_entry") == summary["ledger"]["entries"] > 0


def check_members(summary: dict[str, Any], config: Path) -> None:
    """The summary's balances are the ledger's, as `circulo ledger balances` reads them."""
    done = circulo("ledger", "balances", "--json", config=config, timeout=120)
    assert done.returncode == 0, explain(done)
    balances = {(b["account"], b["token"]): b["amount_micro"] for b in json.loads(done.stdout)}
    for member in [*summary["members"], summary["treasury"]]:
        assert balances.get((member["account"], "GRN"), 0) == member["grn_micro"] + member["dividend_micro"]
        rcy = member["rcy_deposit_micro"] + member["rcy_repair_micro"]
        assert balances.get((member["account"], "RCY"), 0) == rcy
    assert all(m["grn_micro"] > 0 for m in summary["members"])
    # the treasury shared half its GRN: the members received exactly what it paid, by shares
    dividend = summary["dividend"]
    assert dividend["settlement_id"].startswith(f"dividend:{summary['coop_id']}:GRN:demo-")
    assert sum(m["dividend_micro"] for m in summary["members"]) == dividend["paid_micro"] > 0
    assert summary["treasury"]["dividend_micro"] == -dividend["paid_micro"]
    assert dividend["paid_micro"] == summary["treasury"]["grn_micro"] // 2


def check_vote(summary: dict[str, Any], conn: psycopg.Connection) -> None:
    """The members voted aluminium up; the post-vote collection minted at the adopted rate, naming it."""
    vote = summary["vote"]
    records = dict(conn.execute(
        "SELECT reason, count(*) FROM ledger_entry WHERE kind = 'record' AND reason LIKE 'governance.%%' "
        "OR reason = 'member.key' GROUP BY reason"
    ).fetchall())  # fmt: skip
    members = len(summary["members"])
    assert records == {"governance.secretary": 1, "member.key": members, "governance.enabled": 1,
                       "governance.proposal": 1, "governance.ballot": vote["ballots"] + vote["superseded"],
                       "governance.tally": 1}  # fmt: skip
    assert (vote["yes"], vote["no"], vote["abstain"], vote["adopted"]) == (8, 2, 1, True)
    rows = conn.execute(
        "SELECT account, amount_micro, policy, adopted_by FROM ledger_entry "
        "WHERE settlement_id LIKE %s AND kind = 'mint'",
        (f"deposit:{vote['device_id']}:%",),
    ).fetchall()
    assert rows == [(m["account"], m["amount_micro"], m["policy"], m["adopted_by"]) for m in vote["after"]]
    assert [r[1:] for r in rows] == [(1500 * 30 * 1000, "rewards-v2-alu30", "alu-30")]
    # and the day's deposits, collected before the vote, stayed at the old rate
    old = conn.execute(
        "SELECT DISTINCT policy, adopted_by FROM ledger_entry WHERE reason = 'recycle.deposit' "
        "AND settlement_id NOT LIKE %s",
        (f"deposit:{vote['device_id']}:%",),
    ).fetchall()
    assert old in ([], [("rewards-v2", None)])


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_the_demo_runs_a_short_day_and_its_summary_matches_the_database(
    state_dir: Path, tmp_path: Path
) -> None:
    summary_path = tmp_path / "summary.json"
    args = [
        "demo",
        "--dir",
        str(state_dir),
        *SMALL_DAY,
        *FAULTS,
        "--keep",
        "--json-summary",
        str(summary_path),
    ]
    done = circulo(*args)
    assert done.returncode == 0, explain(done)
    summary = json.loads(summary_path.read_text(encoding="utf-8"))
    sim = json.loads((state_dir / "sim-summary.json").read_text(encoding="utf-8"))
    config = state_dir / "circulo.toml"
    assert summary["ok"] is True, summary["checks"]
    assert oct(config.stat().st_mode & 0o777) == "0o600"
    assert oct((state_dir / "secrets.json").stat().st_mode & 0o777) == "0o600"
    passwords = json.loads((state_dir / "secrets.json").read_text(encoding="utf-8")).values()
    assert not any(p in done.stdout + done.stderr for p in passwords)

    with psycopg.connect(tomllib.loads(config.read_text(encoding="utf-8"))["database_url"]) as conn:
        check_outcomes(summary, sim, conn)
        check_rewards(summary, conn)
        check_vote(summary, conn)
    check_members(summary, config)
    verify = circulo("ledger", "verify", config=config, timeout=120)
    assert verify.returncode == 0 and "ledger OK" in verify.stdout, explain(verify)

    report = (state_dir / "report.html").read_text(encoding="utf-8")
    assert report.count('<img alt="') == 6 and report.count('src="data:image/svg+xml;base64,') == 6
    for text in ("Members", "Checks", "verify OK", "The co-op voted", "adopted by alu-30"):
        assert text in report
    assert "export CIRCULO_CONFIG=" in done.stdout and "demo --down" in done.stdout

    # a second run reuses the running cluster, starts a fresh day, and stops everything after
    again = circulo(
        "demo",
        "--dir",
        str(state_dir),
        "--hours",
        "1",
        "--meters",
        "2",
        "--bins",
        "1",
        "--repairs",
        "0",
        "--members",
        "2",
        "--faults",
        "0",
    )
    assert again.returncode == 0, explain(again)
    assert "(reused)" in again.stdout
    second = json.loads((state_dir / "summary.json").read_text(encoding="utf-8"))
    # no fault is injected, but the day before left a retained status per device on the broker, and
    # one handed to the ingest again comes back duplicate (seen once in CI under load): at most one each
    assert second["ok"] is True
    vote_bin = 1
    day_before = sum(summary["fleet"].values()) + sum((summary["profiles"] or {}).values()) + vote_bin
    assert second["traffic"]["outcomes"].get("duplicate", 0) <= day_before
    stack = read_state(state_dir / "stack.json")
    assert stack.postgres_port is not None and stack.broker_port is not None
    assert not port_open(stack.postgres_port) and not port_open(stack.broker_port)


def test_down_with_nothing_running_says_so(tmp_path: Path) -> None:
    done = circulo("demo", "--down", "--dir", str(tmp_path / "nothing"), timeout=120)
    assert done.returncode == 0, explain(done)
    assert "was running" in done.stdout
