"""One settlement cycle: green hours per co-op, then deposits, late deposits and repairs, then floors.

Each settlement commits in its own transaction (:mod:`circulo.rewards.settlement`). A
conflict (another engine settled the same sources) rolls that settlement back and ends
the family's work for this cycle; the next cycle starts again from the committed
progress marks. :func:`run_cycle` is the one-shot entry point (``rewards run --once``,
the demo); the daemon (:mod:`circulo.rewards.daemon`) calls :meth:`RewardsEngine.cycle`.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial

import psycopg

from circulo.errors import ConfigError, ServiceUnavailable
from circulo.governance.service import load_state
from circulo.ledger.journal import ensure_signer_matches
from circulo.ledger.keys import Signer, load_signer
from circulo.logs import get_logger
from circulo.rewards import deposits, green, moves, repairs
from circulo.rewards.leader import Leadership
from circulo.rewards.plans.deposits import ready_collections
from circulo.rewards.policy import Policy, load_policy
from circulo.rewards.queries import inputs
from circulo.rewards.records import CycleContext, Settlement
from circulo.rewards.settings import RewardsSettings, collection_grace_s, idle_timeout_s
from circulo.rewards.settlement import SettlementConflict
from circulo.store.db import connect

WORK_APPLICATION = "circulo-rewards"
# Settlements that move tokens between accounts rather than mint new ones.
MOVE_KINDS = frozenset({"transfer", "dividend", "floor"})

log = get_logger("rewards.engine")

RollupRefresh = Callable[[psycopg.Connection], object]


@dataclass(frozen=True)
class EngineHooks:
    """Cross-cutting work the engine calls at fixed points of a cycle.

    ``refresh_rollups`` runs after the cycle's settlements (the dashboards' rollup refresh,
    ``circulo.dashboards.rollups.refresh_rollups``, wired by whoever starts the engine).
    ``on_settlement`` sees every committed settlement.
    """

    refresh_rollups: RollupRefresh | None = None
    on_settlement: Callable[[Settlement], None] | None = None


@dataclass(frozen=True)
class CycleReport:
    """What one cycle did."""

    started_at: float
    duration_s: float
    watermark: datetime | None
    drain: bool
    settlements: Mapping[str, int]
    mints: Mapping[str, int]
    minted_micro: Mapping[str, int]
    flags: Mapping[str, int]
    conflicts: int

    @property
    def settled(self) -> int:
        """How many settlements committed."""
        return sum(self.settlements.values())


@dataclass
class CycleTally:
    """The running totals of a cycle (turned into a frozen :class:`CycleReport`)."""

    settlements: Counter[str] = field(default_factory=Counter)
    mints: Counter[str] = field(default_factory=Counter)
    minted_micro: Counter[str] = field(default_factory=Counter)
    flags: Counter[str] = field(default_factory=Counter)
    conflicts: int = 0

    def add(self, settlement: Settlement) -> None:
        """Count one committed settlement (a floor moves tokens: it mints nothing new)."""
        self.settlements[settlement.kind] += 1
        if settlement.kind not in MOVE_KINDS:
            self.mints[settlement.token] += sum(1 for e in settlement.entries if e.kind == "mint")
            self.minted_micro[settlement.token] += settlement.minted_micro
        for flag in settlement.flags:
            self.flags[flag.flag] += 1

    def report(self, started_at: float, watermark: datetime | None, drain: bool) -> CycleReport:
        """The frozen report of the cycle so far."""
        return CycleReport(
            started_at=started_at,
            duration_s=time.monotonic() - started_at,
            watermark=watermark,
            drain=drain,
            settlements=dict(self.settlements),
            mints=dict(self.mints),
            minted_micro=dict(self.minted_micro),
            flags=dict(self.flags),
            conflicts=self.conflicts,
        )


def default_engine_id() -> str:
    """``host:pid``: who settled what, in the settlement rows and the logs."""
    return f"{socket.gethostname()}:{os.getpid()}"


class RewardsEngine:
    """Policy, key and settings bound together; runs cycles on a given connection."""

    def __init__(
        self,
        settings: RewardsSettings,
        policy: Policy,
        signer: Signer,
        *,
        hooks: EngineHooks | None = None,
        engine_id: str | None = None,
    ) -> None:
        self.settings = settings
        self.policy = policy
        self.signer = signer
        self.hooks = hooks or EngineHooks()
        self.engine_id = engine_id or default_engine_id()

    def context(self, conn: psycopg.Connection, epoch: int, *, drain: bool) -> CycleContext:
        """The cycle's context, with the low watermark W read now."""
        row = conn.execute(inputs.WATERMARK).fetchone()
        governance = load_state(conn)
        return CycleContext(
            policy=self.policy,
            signer=self.signer,
            engine_id=self.engine_id,
            epoch=epoch,
            watermark=row[0] if row else None,
            drain=drain,
            grace_s=collection_grace_s(self.settings, self.policy),
            idle_timeout_s=idle_timeout_s(self.settings, self.policy),
            governance=governance,
            replay_timeout_s=self.settings.replay_timeout_s,
        )

    def cycle(self, conn: psycopg.Connection, epoch: int, *, drain: bool = False) -> CycleReport:
        """Settle everything ready now; LostLeadership ends the cycle early."""
        started = time.monotonic()
        ctx = self.context(conn, epoch, drain=drain)
        tally = CycleTally()
        self.settle_green(conn, ctx, tally)
        self.settle_recycling(conn, ctx, tally)
        self.settle_floors(conn, ctx, tally)
        self.after_settlements(conn)
        report = tally.report(started, ctx.watermark, drain)
        log.info(
            "cycle",
            settled=report.settled,
            minted_micro=report.minted_micro,
            flags=report.flags,
            conflicts=report.conflicts,
            watermark=ctx.watermark.isoformat() if ctx.watermark else None,
            drain=drain,
            duration_s=round(report.duration_s, 3),
        )
        return report

    def settle_green(self, conn: psycopg.Connection, ctx: CycleContext, tally: CycleTally) -> None:
        """Green hours and late pairs of every co-op."""
        for coop_id in green.coops_with_meters(conn):
            try:
                for settlement in green.settle_coop(conn, coop_id, ctx):
                    self.committed(settlement, tally)
            except SettlementConflict as e:
                self.conflicted(f"green:{coop_id}", e, tally)

    def settle_recycling(self, conn: psycopg.Connection, ctx: CycleContext, tally: CycleTally) -> None:
        """Collections, late deposits and repairs, in ``(ts, device_id, event_id)`` order."""
        work: list[tuple[tuple[datetime, str, str], Callable[[], Settlement]]] = []
        pending = deposits.pending_collections(conn, ctx.replay_timeout_s)
        for item in ready_collections(pending, watermark=ctx.watermark, grace_s=ctx.grace_s, drain=ctx.drain):
            work.append((item.order_key, partial(deposits.commit_collection, conn, item, ctx)))
        for late in deposits.late_deposits(conn):
            work.append((late.order_key, partial(deposits.commit_late_deposit, conn, late, ctx)))
        for repair in repairs.pending_repairs(conn, ctx):
            work.append((repair.order_key, partial(repairs.commit_repair, conn, repair, ctx)))
        for key, settle in sorted(work, key=lambda w: w[0]):
            try:
                self.committed(settle(), tally)
            except SettlementConflict as e:
                self.conflicted(f"rcy:{key[1]}", e, tally)
                return

    def settle_floors(self, conn: psycopg.Connection, ctx: CycleContext, tally: CycleTally) -> None:
        """The basic-token floor of every co-op for each month that is complete (SPEC §13)."""
        try:
            for settlement in moves.settle_floors(conn, ctx):
                self.committed(settlement, tally)
        except SettlementConflict as e:
            self.conflicted("floor", e, tally)

    def committed(self, settlement: Settlement, tally: CycleTally) -> None:
        """Count and log a committed settlement."""
        tally.add(settlement)
        log.info(
            "settled",
            settlement_id=settlement.settlement_id,
            kind=settlement.kind,
            token=settlement.token,
            minted_micro=settlement.minted_micro,
            entries=len(settlement.entries),
            flags=len(settlement.flags),
            sources=settlement.sources,
        )
        if self.hooks.on_settlement is not None:
            self.hooks.on_settlement(settlement)

    def conflicted(self, what: str, error: SettlementConflict, tally: CycleTally) -> None:
        """A settlement another engine got to first: rolled back, retried next cycle."""
        tally.conflicts += 1
        log.warning("settlement_conflict", what=what, error=error.message)

    def after_settlements(self, conn: psycopg.Connection) -> None:
        """Hook point after a cycle's settlements: refresh the dashboards' rollups."""
        if self.hooks.refresh_rollups is None:
            return
        try:
            self.hooks.refresh_rollups(conn)
        except psycopg.Error as e:
            log.error("rollup_refresh_failed", error=str(e).strip().splitlines()[0])


def open_work_connection(database_url: str) -> psycopg.Connection:
    """The engine's work connection: autocommit (settlements open their own transactions), UTC."""
    conn = connect(database_url, autocommit=True, application_name=WORK_APPLICATION)
    conn.execute("SET TIME ZONE 'UTC'")
    # a day of a co-op's pairs sorts in memory rather than spilling to disk
    conn.execute("SET work_mem = '64MB'")
    return conn


def check_ready(conn: psycopg.Connection, signer: Signer) -> None:
    """Refuse to run on an unmigrated database or with a key that does not continue the chain."""
    row = conn.execute(inputs.SCHEMA_READY).fetchone()
    if not (row and row[0]):
        raise ConfigError("the database has no rewards tables; run circulo db upgrade")
    ensure_signer_matches(conn, signer)


def load_engine(settings: RewardsSettings, *, hooks: EngineHooks | None = None) -> RewardsEngine:
    """Policy and signing key loaded and checked: the engine refuses to start without them."""
    return RewardsEngine(
        settings, load_policy(settings.policy_path), load_signer(settings.signing_key_path), hooks=hooks
    )


def run_cycle(settings: RewardsSettings, *, drain: bool, hooks: EngineHooks | None = None) -> CycleReport:
    """One cycle as the leader: wait for the lock, settle, give the lock back."""
    engine = load_engine(settings, hooks=hooks)
    leadership = Leadership(settings.database_url, engine.engine_id)
    try:
        leadership.acquire(threading.Event(), settings.lock_poll_s)
        epoch = leadership.epoch
        if epoch is None:
            raise ServiceUnavailable("could not take the rewards leader lock")
        with open_work_connection(settings.database_url) as conn:
            check_ready(conn, engine.signer)
            return engine.cycle(conn, epoch, drain=drain)
    finally:
        leadership.release()
