"""Words and tables for the registry's commands (pure; the CLI prints what these return)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from circulo.registry.brokerlog import BrokerView, Transport
from circulo.registry.check import CheckReport, Verdict
from circulo.registry.model import Device, Member, ReplayState
from circulo.registry.reconcile import Step, SyncAction

VERDICT_MARK = {Verdict.PASS: "PASS", Verdict.WARN: "WARN", Verdict.FAIL: "FAIL"}


def table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    """Left-aligned columns, two spaces apart; None shows as '-'."""
    cells = [list(header), *[[_cell(v) for v in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    return ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells]


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, datetime):
        return when(value)
    return str(value)


def when(moment: datetime | None) -> str:
    """A timestamp in UTC to the second: ``2025-06-01 12:00:05Z``."""
    return "-" if moment is None else moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def device_rows(devices: Sequence[Device], view: BrokerView | None = None) -> list[str]:
    """The device table; with the broker's log, how each device last connected (PLAIN: still on
    the migration window's plaintext listener)."""
    rows = [
        (
            d.device_id,
            d.kind,
            d.spec.profile,
            d.spec.coop_id,
            d.status,
            d.broker_state,
            d.spec.location_name,
            d.registered_at,
        )
        for d in devices
    ]
    header = ("DEVICE", "KIND", "PROFILE", "CO-OP", "STATUS", "BROKER", "LOCATION", "REGISTERED")
    if view is None:
        return table(header, rows)
    marks = [transport_mark(view.transport(d.device_id)) for d in devices]
    return table((*header, "TRANSPORT"), [(*row, mark) for row, mark in zip(rows, marks, strict=True)])


def transport_mark(transport: Transport | None) -> str:
    """``TLS+cert``, ``TLS``, ``PLAIN`` or ``-`` (no connection in the log)."""
    if transport is None:
        return "-"
    if transport.tls is None:
        return f"port {transport.connection.port}?"
    if not transport.tls:
        return "PLAIN"
    return "TLS+cert" if transport.certificate_required else "TLS"


def device_detail(device: Device) -> list[str]:
    """Every field of a device, one per line."""
    fields = device.as_dict()
    width = max(len(name) for name in fields)
    return [f"{name.ljust(width)}  {_cell(value)}" for name, value in fields.items()]


def replay_lines(state: ReplayState) -> list[str]:
    """A device's pending replay gaps as a table, and its final loss counted (SPEC §11)."""
    if state.pending:
        rows = [
            (g.epoch, g.seq_range, g.missing, g.state, g.requests, g.opened_at, g.give_up_at)
            for g in state.pending
        ]
        lines = [f"replay gaps pending: {len(rows)}"]
        lines += table(("EPOCH", "RANGE", "MISSING", "STATE", "REQUESTS", "FOUND", "GIVES UP"), rows)
    else:
        lines = ["replay gaps pending: none"]
    if state.lost_total:
        reasons = ", ".join(f"{reason} {count}" for reason, count in sorted(state.lost_messages.items()))
        lines.append(f"final loss: {state.lost_total} messages in {state.lost_gaps} gaps ({reasons})")
    else:
        lines.append("final loss: none")
    lines.append(f"gaps recovered by replay: {state.recovered_gaps}")
    return lines


def member_rows(members: Sequence[Member]) -> list[str]:
    rows = [(m.coop_id, m.account, m.shares, m.joined_at) for m in members]
    return table(("CO-OP", "ACCOUNT", "SHARES", "JOINED"), rows)


def plan_lines(plan: Sequence[SyncAction], *, dry_run: bool) -> list[str]:
    """One line per change (or a line saying the broker agrees with the registry)."""
    if not plan:
        return ["broker and registry agree: nothing to do"]
    done = "would" if dry_run else "done"
    rows = [("CONFLICT" if a.step is Step.CONFLICT else done, str(a.step), a.target, a.detail) for a in plan]
    conflicts = sum(1 for a in plan if a.step is Step.CONFLICT)
    changes = len(plan) - conflicts
    summary = f"{changes} change(s) {'would apply' if dry_run else 'applied'}"
    if conflicts:
        summary += f"; {conflicts} conflict(s) need a person (see above)"
    return [*table(("", "STEP", "TARGET", "DETAIL"), rows)[1:], summary]


def report_lines(report: CheckReport, kind: str, coop_id: str) -> list[str]:
    """The commissioning report an installer reads on site."""
    width = max((len(c.name) for c in report.checks), default=0)
    lines = [f"device {report.device_id} ({kind}, co-op {coop_id}): {VERDICT_MARK[report.verdict]}"]
    lines += [f"  {VERDICT_MARK[c.status]}  {c.name.ljust(width)}  {c.summary}" for c in report.checks]
    lines += [f"next: {step}" for step in report.next_steps]
    return lines
