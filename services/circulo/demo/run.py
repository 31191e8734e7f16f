"""The demo's orchestration: set up, run the day, settle, summarise; stop everything on the way out.

Steps, each printed as it starts:

1. the local stack (TimescaleDB cluster and Mosquitto, started or reused) and a fresh database;
2. provisioning: service accounts, the co-op and its members, the fleet through the
   registry's survey import (bundles), the ledger key;
3. the day: the ingest and rewards daemons and the simulator as separate processes, with
   the live progress view, until the simulator is done and the ingest has settled every
   message it was sent;
4. settlement: the rewards daemon stops and ``circulo rewards run --once --drain`` settles
   every hour (the ingest keeps running);
5. a dividend from the treasury, then the co-op's vote (:mod:`circulo.demo.vote`) and a bin
   reporting a deposit under the adopted policy; the ingest stops (its final counts) and a
   second drain settles that collection;
6. the summary: rollups refreshed, dashboards checked, ``circulo ledger verify``, the
   summary (text and JSON) and the HTML report.

Ctrl-C (or SIGTERM) at any point stops the children and, unless ``--keep``, the stack.
"""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import FrameType
from typing import Any, TextIO

from circulo.dashboards import build as dashboards_build
from circulo.dashboards.rollups import refresh_rollups
from circulo.demo import queries, simulator, vote
from circulo.demo.collect import RunFacts, read_summary
from circulo.demo.config import INGEST_WORKER_ID, ConfigValues, write_config
from circulo.demo.fleet import survey_devices
from circulo.demo.live import fetch_metrics, healthy, outcome_counts, stopped_outcomes
from circulo.demo.options import DemoOptions, DemoWindow, demo_window, member_accounts
from circulo.demo.paths import DemoPaths, exclusive, write_private
from circulo.demo.processes import Daemon, DemoStepFailed, circulo_argv, run_circulo
from circulo.demo.progress import ProgressView
from circulo.demo.provision import (
    ensure_signing_key,
    import_fleet,
    provision_coop,
    provision_service_accounts,
)
from circulo.demo.report import charts, render_report
from circulo.demo.secrets import ADMIN, SERVICE_ACCOUNTS, DemoSecrets, load_or_create
from circulo.demo.stack import DemoStack, fresh_database, start_stack, stop_stack
from circulo.demo.summary import DemoSummary, Dividend, LedgerCheck, Vote, summary_json, treasury_account
from circulo.demo.text import micro_units
from circulo.demo.watch import Watch, WatchSources
from circulo.errors import VerificationFailed
from circulo.ledger.settings import KEY_FILE_NAME
from circulo.localstack.mosquitto import deploy_dir
from circulo.localstack.procs import free_port, wait_until
from circulo.rewards.policy import load_policy
from circulo.store.db import connect

INGEST_READY_S = 60.0
DRAIN_TIMEOUT_S = 90.0
STALL_S = 90.0  # the simulator sent nothing and its clock stood still this long: it is stuck
FLEET_REPORTS_S = 60.0  # every meter's first reading is stored within this (or the engine starts anyway)
SHUTDOWN_TIMEOUT_S = 15.0
POST_VOTE_EVENTS = 2  # the post-vote bin's deposit and collection


@dataclass
class Console:
    """Where the demo writes: step headings and notes on stdout."""

    stream: TextIO
    started: float = field(default_factory=time.monotonic)

    def step(self, text: str) -> None:
        self.line(f"==> {text}")

    def line(self, text: str = "") -> None:
        self.stream.write(text + "\n")
        self.stream.flush()


@dataclass
class DemoRun:
    """One run's state: where things are, the stack, the daemons started so far."""

    options: DemoOptions
    paths: DemoPaths
    secrets: DemoSecrets
    console: Console
    window: DemoWindow
    stack: DemoStack | None = None
    database_url: str = ""
    metrics_port: int = 0
    daemons: dict[str, Daemon] = field(default_factory=dict)

    @property
    def config_file(self) -> Path:
        return self.paths.config_file

    def live_stack(self) -> DemoStack:
        """The running stack (the first step starts it)."""
        if self.stack is None:
            raise DemoStepFailed("the local stack is not running")
        return self.stack

    def service_url(self, name: str) -> str:
        """A service account's broker URL (with its password: for the config file only)."""
        username, _ = SERVICE_ACCOUNTS[name]
        return self.live_stack().broker_url(username, self.secrets.password(name))


# --- entry point --------------------------------------------------------------------------------
def run_demo(options: DemoOptions, console: Console) -> DemoSummary:
    """Run the whole demo; the summary (also written as JSON and rendered as the report)."""
    paths = DemoPaths(options.state_dir)
    paths.make()
    run = DemoRun(
        options,
        paths,
        load_or_create(paths.secrets_file),
        console,
        demo_window(datetime.now(UTC), options.hours, options.day),
    )
    with exclusive(paths), stop_on_sigterm():
        try:
            start_local_stack(run)
            provision(run)
            sim_totals = run_day(run)
            dividend = pay_dividend(run)
            outcome = run_vote(run)
            outcomes = stop_ingest(run)
            if outcome is not None and outcome.device_id:
                outcome = settle_after_vote(run, outcome)
                sim_totals = with_post_vote_events(sim_totals)
            return summarise(run, outcomes, sim_totals, dividend, outcome)
        finally:
            shut_down(run)


@contextmanager
def stop_on_sigterm() -> Iterator[None]:
    """SIGTERM behaves like Ctrl-C: the run unwinds and stops what it started."""

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def shut_down(run: DemoRun) -> None:
    """Stop the daemons still running, then the stack unless ``--keep``; Ctrl-C is ignored meanwhile."""
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        running = [d for d in run.daemons.values() if d.running()]
        if running:
            run.console.line(f"stopping {', '.join(d.name for d in running)} …")
        for daemon in running:  # all at once: each flushes on its own
            daemon.terminate()
        for daemon in running:
            daemon.stop(timeout=SHUTDOWN_TIMEOUT_S)
        if run.stack is not None and not run.options.keep:
            stop_stack(run.stack, run.paths)
            run.console.line("local stack stopped (run with --keep to explore it afterwards)")
    finally:
        signal.signal(signal.SIGINT, previous)


# --- 1. stack -----------------------------------------------------------------------------------
def start_local_stack(run: DemoRun) -> None:
    run.console.step(f"Local stack in {run.paths.root}")
    run.stack = stack = start_stack(run.paths, run.secrets)
    how = "reused" if stack.postgres_reused else "started"
    run.console.line(
        f"    TimescaleDB on 127.0.0.1:{stack.postgres.port} ({how}), "
        f"Mosquitto on 127.0.0.1:{stack.broker.port} (devices) and :{stack.broker.service_port} "
        "(services), TLS with the stack's own CA, dynamic security, no anonymous access"
    )
    run.database_url = fresh_database(stack)
    run.metrics_port = free_port()
    write_config(run.config_file, config_values(run))
    # for `mosquitto_sub -L "$(cat operator.url)circulo/v1/#" --cafile pki/broker-ca.pem`
    write_private(run.paths.operator_url_file, run.service_url("operator").split("?", 1)[0] + "/")
    run.console.line(f"    database 'circulo' migrated to head; config {run.config_file}")


def config_values(run: DemoRun) -> ConfigValues:
    stack = run.live_stack()
    return ConfigValues(
        database_url=run.database_url,
        ingest_database_url=stack.service_database_url("ingest"),
        rewards_database_url=stack.service_database_url("rewards"),
        operator_mqtt_url=run.service_url("operator"),
        ingest_mqtt_url=run.service_url("ingest"),
        rewards_mqtt_url=run.service_url("rewards"),
        simulator_mqtt_url=run.service_url("simulator"),
        broker_admin_url=stack.broker_url(stack.broker.admin_username, run.secrets.password(ADMIN)),
        ledger_dir=run.paths.ledger_dir,
        bundle_dir=run.paths.bundle_dir,
        ingest_metrics_port=run.metrics_port,
        device_broker_url=stack.broker.url(listener="devices").split("?", 1)[0],
        pki_dir=run.paths.pki_dir,
        broker_pid_file=stack.broker.pid_file,
        broker_log_file=stack.broker.log_file,
        broker_config_file=stack.broker.conf_file,
    )


# --- 2. provisioning ----------------------------------------------------------------------------
def provision(run: DemoRun) -> None:
    options = run.options
    run.console.step(f"Provisioning co-op {options.coop_id} through the registry")
    provision_service_accounts(config_values(run).broker_admin_url, run.secrets)
    accounts = provision_coop(run.database_url, options)
    run.console.line(
        f"    {len(accounts)} members with {sum(s for _, s in accounts)} shares; "
        f"service accounts {', '.join(u for u, _ in SERVICE_ACCOUNTS.values())}"
    )
    devices = survey_devices(options.coop_id, options.fleet, options.seed)
    import_fleet(run.paths, run.config_file, devices)
    size = options.fleet
    run.console.line(
        f"    {size.meters} meters, {size.bins} bins, {size.repairs} repair stations registered "
        f"(survey {run.paths.survey_file}); bundles in {run.paths.bundle_dir}"
    )
    key = ensure_signing_key(run.paths, run.config_file)
    run.console.line(f"    ledger signing key {key}")


# --- 3. the day ---------------------------------------------------------------------------------
def start_daemon(run: DemoRun, name: str, *args: str) -> Daemon:
    daemon = Daemon(name, circulo_argv(run.config_file, *args), run.paths.log_dir / f"{name}.log").start()
    run.daemons[name] = daemon
    return daemon


def ingest_ready(run: DemoRun, daemon: Daemon) -> Callable[[], bool]:
    def ready() -> bool:
        if not daemon.running():
            raise DemoStepFailed(daemon.failure())
        with connect(run.database_url, application_name="circulo-demo") as conn:
            row = conn.execute(queries.INGEST_READY, {"worker_id": INGEST_WORKER_ID}).fetchone()
        # healthy: subscribed too, so nothing the simulator sends misses a new session
        return bool(row and row[0]) and healthy(run.metrics_port)

    return ready


def run_day(run: DemoRun) -> simulator.SimTotals:
    """Daemons and simulator until every message sent has an outcome; then settle (the ingest runs on)."""
    window = run.window
    speed = window.speed(run.options.day_minutes)
    pace = "as fast as it goes" if speed is None else f"at {speed:,.0f}x"
    run.console.step(f"Simulating {window.describe()} ({pace}); logs in {run.paths.log_dir}")
    ingest = start_daemon(run, "ingest", "ingest")
    wait_until(ingest_ready(run, ingest), timeout=INGEST_READY_S, what="the ingest daemon", interval=0.2)
    sim = start_daemon(run, "sim", *simulator.sim_args(run.options, run.paths, window, speed))
    view = ProgressView(window, run.console.stream)
    watch = Watch(WatchSources(run.database_url, run.metrics_port, sim.log_path), view)
    rewards = start_rewards_when_fleet_reports(run, watch, ingest, sim)
    watch.until(lambda: not sim.running(), daemons=(ingest, rewards), stall_s=STALL_S)
    if sim.returncode != 0:
        raise DemoStepFailed(sim.failure())
    totals = simulator.read_totals(run.paths.sim_summary_file)
    short = (
        f"{DRAIN_TIMEOUT_S:.0f} s after the simulator finished, the ingest still has outcomes for fewer "
        f"than the {totals.reached_ingest:,} messages it sent (logs in {run.paths.log_dir})"
    )
    settled = watch.settled(totals.reached_ingest)
    watch.until(settled, daemons=(ingest, rewards), timeout=DRAIN_TIMEOUT_S, timeout_error=short)
    watch.finish()
    settle(run)
    return totals


def start_rewards_when_fleet_reports(run: DemoRun, watch: Watch, ingest: Daemon, sim: Daemon) -> Daemon:
    """The rewards daemon, started once every meter has a stored reading.

    A meter never heard from counts as idle, done with every hour up to W (SPEC §4): an
    engine started before the replayed day arrives would settle its hours empty and then
    credit the whole day as late pairs. Started once the fleet reports, it settles the day
    hour by hour, as it does for a live fleet.
    """
    reported = watch.meters_reported(run.options.fleet.meters, sim)
    watch.until(reported, daemons=(ingest,), timeout=FLEET_REPORTS_S)
    return start_daemon(run, "rewards", "rewards", "run")


def settle(run: DemoRun) -> None:
    """Stop the rewards daemon, then settle every hour (the ingest, idle now, keeps running)."""
    run.console.step("Settling every hour: circulo rewards run --once --drain")
    run.daemons["rewards"].stop()
    drain(run)


def drain(run: DemoRun) -> Mapping[str, Any]:
    """``circulo rewards run --once --drain``: settle everything received; its report."""
    report: Mapping[str, Any] = json.loads(
        run_circulo(
            run.config_file,
            ["rewards", "run", "--once", "--drain", "--json"],
            what="circulo rewards run --once --drain",
        )
    )
    run.console.line(f"    {drain_line(report)}")
    return report


def stop_ingest(run: DemoRun) -> dict[str, int]:
    """Stop the ingest daemon; its final outcome counts (from its last metrics if it logged none)."""
    last = outcome_counts(fetch_metrics(run.metrics_port) or "")
    ingest = run.daemons["ingest"]
    ingest.stop()
    return stopped_outcomes(ingest.log_path) or last


def drain_line(report: Mapping[str, Any]) -> str:
    """What the draining cycle settled, in words (from ``rewards run --json``)."""
    settlements: Mapping[str, int] = report.get("settlements") or {}
    minted: Mapping[str, int] = report.get("minted_micro") or {}
    kinds = ", ".join(f"{n} {kind}" for kind, n in sorted(settlements.items())) or "nothing left"
    tokens = ", ".join(f"{micro_units(int(m))} {t}" for t, m in sorted(minted.items())) or "nothing"
    return f"settled {kinds}; minted {tokens}"


# --- 4. the treasury shares its surplus ---------------------------------------------------------
def pay_dividend(run: DemoRun) -> Dividend | None:
    """Half of the treasury's GRN to the members by their shares: ``circulo treasury dividend``."""
    coop_id = run.options.coop_id
    with connect(run.database_url, application_name="circulo-demo") as conn:
        row = conn.execute(queries.TREASURY_BALANCE, {"account": treasury_account(coop_id)}).fetchone()
    half = (int(row[0]) if row else 0) // 2
    if half == 0:
        run.console.step("No dividend: the treasury holds no GRN")
        return None
    dividend_id = f"demo-{run.window.start:%Y-%m-%d}"
    run.console.step(f"The treasury shares half its GRN: circulo treasury dividend --id {dividend_id}")
    args = ["treasury", "dividend", "--coop", coop_id, "--token", "GRN", "--amount", micro_units(half),
            "--id", dividend_id, "--json"]  # fmt: skip
    paid = json.loads(run_circulo(run.config_file, args, what="circulo treasury dividend"))
    mints = [e for e in paid["entries"] if e["kind"] == "mint"]
    dividend = Dividend(paid["settlement_id"], "GRN", sum(e["amount_micro"] for e in mints), len(mints))
    run.console.line(
        f"    {micro_units(dividend.paid_micro)} GRN from {treasury_account(coop_id)} to "
        f"{dividend.members_paid} members, pro rata to their shares ({dividend.settlement_id})"
    )
    return dividend


# --- 5. the co-op votes -------------------------------------------------------------------------
def with_post_vote_events(totals: simulator.SimTotals) -> simulator.SimTotals:
    """The day's totals plus the post-vote bin's events (acknowledged, to be stored once)."""
    n = POST_VOTE_EVENTS
    return replace(totals, acked=totals.acked + n, expected_stored=totals.expected_stored + n)


def run_vote(run: DemoRun) -> Vote | None:
    """The members vote to raise aluminium's rate; adopted, a new bin reports a deposit under it."""
    accounts = tuple(a for a, _ in member_accounts(run.options.coop_id, run.options.fleet.members))
    run.console.step(f"The co-op votes: raise {vote.MATERIAL} to {vote.NEW_RATE} RCY/kg (circulo governance)")
    setup = vote.VoteSetup(run.config_file, run.database_url, run.paths.ledger_dir / KEY_FILE_NAME,
                           run.paths.root / "members", run.options.coop_id, accounts)  # fmt: skip
    outcome = vote.hold_vote(setup, run.console.line)
    verdict = f"adopted, in force from {outcome.effective_from}" if outcome.adopted else "not adopted"
    run.console.line(
        f"    tally: yes {outcome.yes}, no {outcome.no}, abstain {outcome.abstain} of {outcome.voters} "
        f"({outcome.by_secretary} recorded at the assembly, {outcome.superseded} superseded by the "
        f"member's own ballot): {verdict}"
    )
    if not outcome.adopted:
        return outcome
    return report_post_vote_deposit(run, outcome, accounts[min(1, len(accounts) - 1)])


def report_post_vote_deposit(run: DemoRun, outcome: Vote, depositor: str) -> Vote:
    """Commission a bin and have it report one deposit and its collection after the adoption."""
    device_id = f"{run.options.coop_id}-bin-vote"
    args = ["device", "add", "bin", device_id, "--coop", run.options.coop_id, "--location", "community hall",
            "--bundle-dir", str(run.paths.bundle_dir), "--json"]  # fmt: skip
    run_circulo(run.config_file, args, what="circulo device add")
    bundle = json.loads((run.paths.bundle_dir / f"{device_id}.json").read_text(encoding="utf-8"))
    at = datetime.now(UTC) - timedelta(seconds=1)
    vote.publish_events(bundle, vote.deposit_messages(depositor, at, vote.DEPOSIT_G))
    vote.wait_for_events(run.database_url, device_id, POST_VOTE_EVENTS)
    run.console.line(
        f"    {device_id} commissioned; {depositor} deposits {vote.DEPOSIT_G / 1000:g} kg of "
        f"{vote.MATERIAL}, collected: stored by the ingest"
    )
    return replace(outcome, device_id=device_id, deposit_g=vote.DEPOSIT_G)


def settle_after_vote(run: DemoRun, outcome: Vote) -> Vote:
    """The next settlement: the post-vote collection at the adopted rate."""
    run.console.step("Settling after the vote: circulo rewards run --once --drain")
    drain(run)
    after = vote.post_vote_mints(run.database_url, outcome.device_id)
    for mint in after:
        run.console.line(
            f"    {mint.account}: {micro_units(mint.amount_micro)} RCY under {mint.policy} "
            f"(adopted by {mint.adopted_by})"
        )
    return replace(outcome, after=after)


# --- 6. summary ---------------------------------------------------------------------------------
def summarise(
    run: DemoRun,
    outcomes: dict[str, int],
    totals: simulator.SimTotals,
    dividend: Dividend | None = None,
    outcome: Vote | None = None,
) -> DemoSummary:
    run.console.step("Summary")
    with connect(run.database_url, application_name="circulo-demo") as conn:
        refresh_rollups(conn)
        conn.commit()
    dashboards, dashboards_note = dashboards_state()
    grn_per_kwh = load_policy(None).green.grn_per_kwh
    facts = RunFacts(
        run.options, run.window, totals, outcomes, verify_ledger(run), grn_per_kwh, dividend, outcome
    )
    summary = read_summary(run.database_url, facts)
    files = {
        "report": str(run.paths.report_file),
        "summary": str(run.paths.summary_file),
        "dashboards": f"{dashboards} ({dashboards_note})",
        "config": str(run.config_file),
        "database_url": run.database_url,
    }
    summary = replace(summary, files=files, wall_s=round(time.monotonic() - run.console.started, 1))
    write_outputs(run, summary)
    return summary


def dashboards_state() -> tuple[Path, str]:
    """The committed Grafana dashboards and whether they are what the code builds now."""
    out = deploy_dir() / "grafana" / "dashboards"
    stale = dashboards_build.stale_files(out)
    if stale:
        return out, f"stale: {', '.join(stale)}; run `circulo dashboards build`"
    return out, f"{len(dashboards_build.BOARDS)} dashboards, current; `circulo dashboards push` loads them"


def verify_ledger(run: DemoRun) -> LedgerCheck:
    """Sign and publish a checkpoint, then ``circulo ledger verify``: every hash, link and signature."""
    checkpoint = json.loads(
        run_circulo(run.config_file, ["ledger", "checkpoint", "--json"], what="circulo ledger checkpoint")
    )
    output = run_circulo(
        run.config_file,
        ["ledger", "verify", "--json"],
        what="circulo ledger verify",
        ok_codes=(0, VerificationFailed.exit_code),
    )
    return LedgerCheck.from_outputs(json.loads(output), checkpoint)


def write_outputs(run: DemoRun, summary: DemoSummary) -> None:
    document = json.dumps(summary_json(summary), indent=2) + "\n"
    run.paths.summary_file.write_text(document, encoding="utf-8")
    if run.options.json_summary is not None:
        run.options.json_summary.write_text(document, encoding="utf-8")
    run.paths.report_file.write_text(render_report(summary, charts(summary)), encoding="utf-8")
