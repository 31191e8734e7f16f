"""The summary as text (pure): sections a co-op reads, amounts shown exactly."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from decimal import Decimal

from circulo.demo.summary import MICRO, Check, CountLine, DemoSummary, Traffic

REPAIR_STATUSES = ("fixed", "repairable", "end_of_life")
TOP_CATEGORIES = 5
KIND_NAMES = {
    "meter": ("meter", "meters"),
    "bin": ("bin", "bins"),
    "repair": ("repair station", "repair stations"),
}


def micro_units(amount: int) -> str:
    """µ as whole units with six decimals (display only; amounts stay integers elsewhere)."""
    sign = "-" if amount < 0 else ""
    whole, frac = divmod(abs(amount), MICRO)
    return f"{sign}{whole:,}.{frac:06d}"


def clip(text: str, width: int) -> str:
    """At most ``width`` characters, cut at a word with an ellipsis."""
    if len(text) <= width:
        return text
    return text[: width - 1].rsplit(" ", 1)[0] + "…"


def kwh(wh: int | Decimal) -> str:
    return f"{Decimal(wh) / 1000:,.3f} kWh"


def kg(grams: int) -> str:
    return f"{Decimal(grams) / 1000:,.3f} kg"


def render_summary(summary: DemoSummary) -> list[str]:
    """The summary as lines of text, section by section."""
    return [
        *_header_lines(summary),
        *_traffic_lines(summary.traffic),
        *_energy_lines(summary),
        *_member_lines(summary),
        *_recycling_lines(summary),
        *_repair_lines(summary),
        *_vote_lines(summary),
        *_count_lines("Quarantined (kept with raw bytes; `circulo quarantine list`)", summary.quarantine),
        *_flag_lines(summary.flags),
        *_ledger_lines(summary),
        *_check_lines(summary.checks),
    ]


PROFILE_NAMES = {"shelly-gen2": "Shelly Gen2+", "tasmota": "Tasmota"}


def _header_lines(s: DemoSummary) -> list[str]:
    fleet = ", ".join(f"{n} {KIND_NAMES[kind][n != 1]}" for kind, n in s.fleet.items())
    firmware = ", ".join(f"{n} {PROFILE_NAMES.get(p, p)}" for p, n in s.profiles.items() if n)
    if firmware:
        fleet = fleet.replace(" meters", f" meters ({firmware}; the rest Circulo's own)", 1)
    span = f"{s.window_start:%Y-%m-%d %H:%M}-{s.window_end:%H:%M} UTC"
    if s.window_end - s.window_start >= timedelta(days=1):
        span = f"{s.window_start:%A %Y-%m-%d} (the whole UTC day)"
    return [f"== {s.coop_name} ({s.coop_id}): {span} ==", f"fleet: {fleet}; {len(s.members)} members", ""]


def _traffic_lines(t: Traffic) -> list[str]:
    faults = ", ".join(f"{name} {n}" for name, n in sorted(t.faults.items()) if n) or "none"
    return [
        "Messages",
        f"  published {t.published:,} (refused by the broker: {t.refused:,}; lost: {t.lost:,}); "
        f"Last Wills {t.wills:,}; QoS 1 re-sends {t.redelivered:,}",
        f"  ingest: stored {t.outcome('stored'):,}, duplicate {t.outcome('duplicate'):,}, "
        f"quarantined {t.outcome('quarantined'):,}, ignored {t.outcome('ignored'):,} "
        "(Shelly and Tasmota boot and info messages)",
        f"  faults injected: {faults}",
        "",
    ]


def _energy_lines(s: DemoSummary) -> list[str]:
    e = s.energy
    return [
        "Energy",
        f"  co-op generation credited: {kwh(e.credited_wh)} in {e.green_settlements} settlements "
        f"-> {micro_units(e.grn_minted_micro)} GRN at {e.grn_per_kwh} GRN/kWh",
        f"  withheld: {micro_units(e.excluded_grn_micro)} GRN, the energy at stake over excluded "
        "intervals (counter resets, implausible readings)",
        f"  glitch readings: {e.glitches} (a meter misread its register and came back: spans credited)",
        f"  {s.treasury.account}: {micro_units(s.treasury.grn_micro)} GRN",
        *_dividend_lines(s),
        "",
    ]


def _vote_lines(s: DemoSummary) -> list[str]:
    """The co-op's vote and what the next settlement minted under it."""
    v = s.vote
    if v is None:
        return []
    verdict = f"adopted, in force from {v.effective_from}" if v.adopted else "not adopted"
    lines = [
        "Vote",
        f"  {v.proposal_id}: raise {v.material} from {v.old_rate} to {v.new_rate} RCY/kg; "
        f"yes {v.yes}, no {v.no}, abstain {v.abstain} of {v.voters} members ({v.ballots} ballots, "
        f"{v.by_secretary} recorded at the assembly, {v.superseded} superseded by the member's own): "
        f"{verdict}",
    ]
    lines += [
        f"  after the vote: {m.account} {micro_units(m.amount_micro)} RCY for {v.deposit_g / 1000:g} kg of "
        f"{v.material} from {v.device_id}, policy {m.policy} (adopted by {m.adopted_by})"
        for m in v.after
    ]
    return [*lines, ""]


def _dividend_lines(s: DemoSummary) -> list[str]:
    if s.dividend is None:
        return []
    return [
        f"  dividend {s.dividend.settlement_id}: {micro_units(s.dividend.paid_micro)} GRN from the "
        f"treasury to {s.dividend.members_paid} members, pro rata to their shares"
    ]


def _member_lines(s: DemoSummary) -> list[str]:
    lines = [
        "Members",
        f"  {'account':<24} {'shares':>6} {'energy':>14} {'GRN earned':>14} {'dividend':>14} {'RCY':>14}",
    ]
    for m in (*s.members, s.treasury):
        rcy = m.rcy_deposit_micro + m.rcy_repair_micro
        lines.append(
            f"  {m.account:<24} {m.shares:>6} {kwh(m.energy_wh):>14} "
            f"{micro_units(m.grn_micro):>14} {micro_units(m.dividend_micro):>14} {micro_units(rcy):>14}"
        )
    return [*lines, ""]


def _recycling_lines(s: DemoSummary) -> list[str]:
    total_g = sum(m.weight_g for m in s.materials)
    deposits = sum(m.deposits for m in s.materials)
    lines = [
        "Recycling",
        f"  {deposits:,} deposits, {kg(total_g)}; {s.collections} collections weighed {kg(s.collected_g)}",
    ]
    lines += [
        f"  {m.material:<10} {m.deposits:>5} deposits {kg(m.weight_g):>13}"
        f"  ({m.contaminated} contaminated, {m.anonymous} anonymous)"
        for m in s.materials
    ]
    return [*lines, ""]


def _repair_lines(s: DemoSummary) -> list[str]:
    by_status = {status: sum(r.count for r in s.repairs if r.status == status) for status in REPAIR_STATUSES}
    by_category: dict[str, int] = {}
    for r in s.repairs:
        by_category[r.category] = by_category.get(r.category, 0) + r.count
    top = sorted(by_category.items(), key=lambda item: (-item[1], item[0]))[:TOP_CATEGORIES]
    outcomes = ", ".join(f"{n} {status.replace('_', ' ')}" for status, n in by_status.items())
    return [
        "Repairs",
        f"  {sum(by_status.values())} repairs: {outcomes}; CO2e avoided {kg(s.co2e_avoided_g)} "
        "(reported, not minted)",
        f"  most repaired: {', '.join(f'{c} {n}' for c, n in top) or 'nothing'}",
        "",
    ]


def _count_lines(title: str, counts: Sequence[CountLine]) -> list[str]:
    if not counts:
        return [title, "  none", ""]
    return [title, *(f"  {c.name:<18} {c.count:>5}  e.g. {clip(c.detail, 70)}" for c in counts), ""]


def _flag_lines(flags: Sequence[CountLine]) -> list[str]:
    title = "Excluded from rewards (`circulo rewards flags`)"
    if not flags:
        return [title, "  none", ""]
    lines = [title]
    for f in flags:
        withheld = f", {micro_units(f.excluded_micro)} {f.token} withheld" if f.excluded_micro else ""
        lines.append(f"  {f.name:<18} {f.count:>5}{withheld}  e.g. {clip(f.detail, 60)}")
    return [*lines, ""]


def _ledger_lines(s: DemoSummary) -> list[str]:
    ledger = s.ledger
    verdict = "OK" if ledger.verified else "FAILED"
    head = f"head {ledger.head_hash[:16]}…"
    checkpoint = (
        f"  checkpoint: size {ledger.checkpoint_size}, root {ledger.checkpoint_root[:16]}…, signed and "
        "published (retained) on circulo/ledger/v1/checkpoint"
    )
    return [
        "Ledger",
        f"  {ledger.entries:,} entries, {head}; verify: {verdict} ({ledger.verify_detail})",
        checkpoint,
        "",
    ]


def _check_lines(checks: Sequence[Check]) -> list[str]:
    return ["Checks", *(f"  [{'ok' if c.ok else 'FAIL'}] {c.name}: {c.detail}" for c in checks)]
