"""Read the day's facts from the database into a :class:`~circulo.demo.summary.DemoSummary`.

Everything here is a read through :mod:`circulo.demo.queries`; the arithmetic and the
checks are in :mod:`circulo.demo.summary` and :mod:`circulo.demo.checks`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from decimal import Decimal

import psycopg

from circulo.demo import queries
from circulo.demo.checks import (
    dividend_check,
    green_check,
    ledger_check,
    outcome_check,
    quarantine_check,
    stored_rows_check,
    vote_check,
)
from circulo.demo.options import DemoOptions, DemoWindow
from circulo.demo.simulator import SimTotals
from circulo.demo.summary import (
    CountLine,
    DemoSummary,
    Dividend,
    Energy,
    HourSplit,
    HourValue,
    LedgerAmount,
    LedgerCheck,
    LedgerState,
    MaterialLine,
    RepairLine,
    Traffic,
    Vote,
    account_line,
    member_lines,
    treasury_account,
)
from circulo.store.db import connect

GRN = "GRN"


@dataclass(frozen=True)
class RunFacts:
    """What the run knows outside the database: the options, the traffic, the verify result."""

    options: DemoOptions
    window: DemoWindow
    sim: SimTotals
    outcomes: Mapping[str, int]
    ledger_check: LedgerCheck
    grn_per_kwh: Decimal
    dividend: Dividend | None = None
    vote: Vote | None = None


def read_summary(database_url: str, facts: RunFacts) -> DemoSummary:
    """The summary of the day, with its reconciliation checks."""
    with connect(database_url, application_name="circulo-demo") as conn:
        summary = _read(conn, facts)
    ledger_grn = sum(m.grn_micro for m in (*summary.members, summary.treasury))
    checks = (
        outcome_check(summary.traffic),
        stored_rows_check(summary.traffic),
        quarantine_check(summary.traffic, summary.quarantine),
        green_check(summary.energy, ledger_grn),
        dividend_check(facts.dividend, summary.members, summary.treasury),
        vote_check(facts.vote),
        ledger_check(summary.ledger),
    )
    return replace(summary, checks=checks, dividend=facts.dividend, vote=facts.vote)


def _read(conn: psycopg.Connection, facts: RunFacts) -> DemoSummary:
    options, window = facts.options, facts.window
    amounts = [LedgerAmount(*row) for row in conn.execute(queries.LEDGER_BY_ACCOUNT)]
    members = [(str(a), int(s)) for a, s in conn.execute(queries.MEMBERS, {"coop_id": options.coop_id})]
    coop = {"coop_id": options.coop_id, "start": window.start, "end": window.end}
    generation = tuple(HourValue(h, int(v)) for h, v in conn.execute(queries.GENERATION_PER_HOUR, coop))
    flags = tuple(CountLine(f, n, d or "", t, x) for f, t, n, x, d in conn.execute(queries.FLAGS_BY_FLAG))
    collections, collected_g = _one(conn, queries.COLLECTIONS)
    return DemoSummary(
        coop_id=options.coop_id,
        coop_name=options.coop_name,
        window_start=window.start,
        window_end=window.end,
        fleet={"meter": options.fleet.meters, "bin": options.fleet.bins, "repair": options.fleet.repairs},
        profiles=options.fleet.profiled,
        traffic=_traffic(conn, facts),
        energy=_energy(conn, facts.grn_per_kwh, withheld_micro(flags, GRN), glitches(flags)),
        members=member_lines(members, amounts, facts.grn_per_kwh),
        treasury=account_line(treasury_account(options.coop_id), 0, amounts, facts.grn_per_kwh),
        materials=tuple(MaterialLine(*row) for row in conn.execute(queries.DEPOSITS_BY_MATERIAL)),
        collections=collections,
        collected_g=collected_g,
        repairs=tuple(RepairLine(*row) for row in conn.execute(queries.REPAIRS)),
        co2e_avoided_g=_one(conn, queries.CO2E_AVOIDED)[0],
        quarantine=tuple(CountLine(r, n, d or "") for r, n, d in conn.execute(queries.QUARANTINE_BY_REASON)),
        flags=tuple(CountLine(f, n, d or "", t, x) for f, t, n, x, d in conn.execute(queries.FLAGS_BY_FLAG)),
        ledger=_ledger(conn, facts),
        generation_per_hour=generation,
        grn_per_hour=tuple(
            HourSplit(h, int(m), int(t)) for h, m, t in conn.execute(queries.GRN_PER_HOUR, coop)
        ),
    )


def withheld_micro(flags: tuple[CountLine, ...], token: str) -> int:
    """µ of ``token`` the rewards engine withheld, over every flag."""
    return sum(f.excluded_micro for f in flags if f.token == token)


def glitches(flags: tuple[CountLine, ...]) -> int:
    """Readings the engine flagged as glitches (their spans were credited)."""
    return sum(f.count for f in flags if f.name == "glitch")


def _one(conn: psycopg.Connection, query: str) -> tuple[int, int]:
    row = conn.execute(query).fetchone()
    return (int(row[0]), int(row[1])) if row else (0, 0)


def _traffic(conn: psycopg.Connection, facts: RunFacts) -> Traffic:
    rows = {str(name): int(count) for name, count in conn.execute(queries.STORED_ROWS)}
    sim = facts.sim
    return Traffic(
        published=sim.published,
        refused=sim.refused,
        wills=sim.wills,
        lost=sim.lost,
        faults=dict(sim.faults),
        expected_stored=sim.expected_stored,
        expected_duplicate=sim.expected_duplicate,
        expected_quarantine=dict(sim.expected_quarantine),
        statuses=sim.statuses,
        outcomes=dict(facts.outcomes),
        stored_rows=rows,
        expected_ignored=sim.expected_ignored,
    )


def _energy(conn: psycopg.Connection, grn_per_kwh: Decimal, excluded_micro: int, glitch_count: int) -> Energy:
    row = conn.execute(queries.GREEN_CREDITED).fetchone()
    credited, minted, settlements = (int(v) for v in row) if row else (0, 0, 0)
    return Energy(credited, minted, grn_per_kwh, settlements, excluded_micro, glitch_count)


def _ledger(conn: psycopg.Connection, facts: RunFacts) -> LedgerState:
    row = conn.execute(queries.LEDGER_HEAD).fetchone()
    seq, head = (int(row[0]), str(row[1])) if row else (0, "")
    check = facts.ledger_check
    return LedgerState(seq, head, check.verified, check.detail, check.checkpoint_size, check.checkpoint_root)
