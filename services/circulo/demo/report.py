"""The static HTML report of the day: charts and tables in one self-contained file (pure).

For people without a Grafana server: every chart is drawn with matplotlib as SVG and
embedded as a ``data:`` image, so the file opens anywhere, offline, on its own.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from circulo.demo.summary import DemoSummary, HourSplit, HourValue
from circulo.demo.text import kg, kwh, micro_units

STATUS_COLOURS = {"fixed": "#2e7d32", "repairable": "#f9a825", "end_of_life": "#9e9e9e"}
DEFAULT_HEIGHT = 3.2  # inches
GREEN, BLUE, ORANGE, RED = "#43a047", "#1e88e5", "#fb8c00", "#e53935"


def _pyplot() -> Any:
    """matplotlib's pyplot on the file-only backend (imported late: it is slow to import)."""
    import matplotlib  # noqa: PLC0415

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    return plt


def figure_svg(draw: Callable[[Any], None], *, width: float = 7.0, height: float = DEFAULT_HEIGHT) -> str:
    """Draw on one axes and return the figure as SVG text."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(width, height), layout="constrained")
    try:
        draw(ax)
        ax.spines[["top", "right"]].set_visible(False)
        out = io.StringIO()
        fig.savefig(out, format="svg", metadata={"Date": None})
    finally:
        plt.close(fig)
    return out.getvalue()


def _empty(ax: Any, what: str) -> None:
    ax.text(0.5, 0.5, f"no {what} in this run", ha="center", va="center", transform=ax.transAxes)
    ax.set_xticks([])
    ax.set_yticks([])


def window_hours(summary: DemoSummary) -> list[datetime]:
    """Every UTC hour of the simulated window, so the hourly charts share their axis."""
    hours, hour = [], summary.window_start
    while hour < summary.window_end:
        hours.append(hour)
        hour += timedelta(hours=1)
    return hours


def filled(points: Sequence[HourValue], hours: Sequence[datetime]) -> list[HourValue]:
    """One point per hour of the window (0 where nothing was credited)."""
    values = {p.hour: p.value for p in points}
    return [HourValue(h, values.get(h, 0)) for h in hours]


def filled_splits(points: Sequence[HourSplit], hours: Sequence[datetime]) -> list[HourSplit]:
    found = {p.hour: p for p in points}
    return [found.get(h, HourSplit(h, 0, 0)) for h in hours]


def hourly_bars(
    points: Sequence[HourValue], scale: Decimal, label: str, colour: str
) -> Callable[[Any], None]:
    """Bars per UTC hour (``value / scale``)."""

    def draw(ax: Any) -> None:
        if not any(p.value for p in points):
            _empty(ax, label)
            return
        hours = [f"{p.hour:%H:00}" for p in points]
        ax.bar(hours, [float(Decimal(p.value) / scale) for p in points], color=colour)
        ax.set_ylabel(label)
        ax.set_xlabel("hour (UTC)")
        ax.tick_params(axis="x", labelrotation=60, labelsize=7)

    return draw


def grn_bars(points: Sequence[HourSplit]) -> Callable[[Any], None]:
    """GRN minted per UTC hour, stacked: the members' part and the treasury's."""

    def draw(ax: Any) -> None:
        if not any(p.members_micro or p.treasury_micro for p in points):
            _empty(ax, "GRN")
            return
        hours = [f"{p.hour:%H:00}" for p in points]
        members = [p.members_micro / 1_000_000 for p in points]
        treasury = [p.treasury_micro / 1_000_000 for p in points]
        ax.bar(hours, members, color=GREEN, label="members")
        ax.bar(hours, treasury, bottom=members, color="#a5d6a7", label="treasury")
        ax.set_ylabel("GRN")
        ax.set_xlabel("hour (UTC)")
        ax.legend(frameon=False, fontsize=8)
        ax.tick_params(axis="x", labelrotation=60, labelsize=7)

    return draw


def horizontal_bars(
    names: Sequence[str], values: Sequence[float], label: str, colour: str
) -> Callable[[Any], None]:
    def draw(ax: Any) -> None:
        if not names:
            _empty(ax, label)
            return
        ax.barh(list(names), list(values), color=colour)
        ax.invert_yaxis()
        ax.set_xlabel(label)

    return draw


def repairs_chart(summary: DemoSummary) -> Callable[[Any], None]:
    """Repairs per category, stacked by outcome."""

    def draw(ax: Any) -> None:
        categories = sorted({r.category for r in summary.repairs})
        if not categories:
            _empty(ax, "repairs")
            return
        left = [0] * len(categories)
        for status, colour in STATUS_COLOURS.items():
            counts = [
                sum(r.count for r in summary.repairs if r.category == c and r.status == status)
                for c in categories
            ]
            ax.barh(categories, counts, left=left, color=colour, label=status.replace("_", " "))
            left = [a + b for a, b in zip(left, counts, strict=True)]
        ax.invert_yaxis()
        ax.set_xlabel("repairs")
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.legend(frameon=False, fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
        ax.tick_params(axis="y", labelsize=7)

    return draw


def balances_chart(summary: DemoSummary) -> Callable[[Any], None]:
    """GRN and RCY per member (and the treasury), side by side."""

    def draw(ax: Any) -> None:
        lines = [*summary.members, summary.treasury]
        names = [m.account.split("@")[0] for m in lines]
        grn = [(m.grn_micro + m.dividend_micro) / 1_000_000 for m in lines]
        rcy = [(m.rcy_deposit_micro + m.rcy_repair_micro) / 1_000_000 for m in lines]
        xs = list(range(len(lines)))
        ax.bar([x - 0.2 for x in xs], grn, width=0.4, color=GREEN, label="GRN")
        ax.bar([x + 0.2 for x in xs], rcy, width=0.4, color=BLUE, label="RCY")
        ax.set_xticks(xs, names, rotation=45, fontsize=8)
        ax.set_ylabel("balance")
        ax.legend(frameon=False)

    return draw


def bars_height(rows: int) -> float:
    """A horizontal bar chart tall enough for its rows' labels."""
    return max(DEFAULT_HEIGHT, 0.8 + 0.24 * rows)


def charts(summary: DemoSummary) -> list[tuple[str, str]]:
    """(title, SVG) of every chart of the report."""
    materials = summary.materials
    categories = len({r.category for r in summary.repairs})
    hours = window_hours(summary)
    drawers: list[tuple[str, Callable[[Any], None], float]] = [
        (
            "Co-op generation per hour (credited)",
            hourly_bars(filled(summary.generation_per_hour, hours), Decimal(1000), "kWh", ORANGE),
            DEFAULT_HEIGHT,
        ),
        ("GRN minted per hour", grn_bars(filled_splits(summary.grn_per_hour, hours)), DEFAULT_HEIGHT),
        (
            "Deposits by material",
            horizontal_bars(
                [m.material for m in materials], [m.weight_g / 1000 for m in materials], "kg", BLUE
            ),
            bars_height(len(materials)),
        ),
        ("Repairs by category and outcome", repairs_chart(summary), bars_height(categories)),
        (
            "Quarantine by reason",
            horizontal_bars(
                [q.name for q in summary.quarantine], [q.count for q in summary.quarantine], "messages", RED
            ),
            DEFAULT_HEIGHT,
        ),
        ("Balances per member", balances_chart(summary), DEFAULT_HEIGHT),
    ]
    return [(title, figure_svg(draw, height=height)) for title, draw, height in drawers]


def data_uri(svg: str) -> str:
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode("utf-8")).decode("ascii")


STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 70rem; color: #222; }
h1 { font-size: 1.5rem; } h2 { font-size: 1.1rem; margin-top: 2rem; }
.grid { display: grid; grid-template-columns: repeat(auto-fit, minmax(30rem, 1fr)); gap: 1rem; }
figure { margin: 0; border: 1px solid #ddd; border-radius: 6px; padding: .5rem; }
figcaption { font-weight: 600; margin-bottom: .3rem; } img { width: 100%; height: auto; }
table { border-collapse: collapse; font-size: .9rem; } td, th { padding: .2rem .6rem; text-align: right; }
td:first-child, th:first-child { text-align: left; } tr:nth-child(even) { background: #f6f6f6; }
.ok { color: #2e7d32; } .fail { color: #c62828; font-weight: 600; }
"""


def _table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _members_table(summary: DemoSummary) -> str:
    rows = [
        (
            m.account,
            m.shares,
            kwh(m.energy_wh),
            micro_units(m.grn_micro),
            micro_units(m.dividend_micro),
            micro_units(m.rcy_deposit_micro),
            micro_units(m.rcy_repair_micro),
        )
        for m in (*summary.members, summary.treasury)
    ]
    columns = ("account", "shares", "energy", "GRN earned", "GRN dividend", "RCY deposits", "RCY repairs")
    note = ""
    if summary.dividend is not None:
        d = summary.dividend
        note = (
            f"<p>At the end of the day the treasury shared {micro_units(d.paid_micro)} GRN with "
            f"{d.members_paid} members, pro rata to their shares ({html.escape(d.settlement_id)}).</p>"
        )
    return _table(columns, rows) + note


def _vote_section(summary: DemoSummary) -> str:
    """The co-op's vote and the settlement after it."""
    v = summary.vote
    if v is None:
        return ""
    verdict = f"adopted, in force from {v.effective_from}" if v.adopted else "not adopted"
    ballots = (
        f"{v.ballots} of {v.voters} members; {v.by_secretary} recorded at the assembly, "
        f"{v.superseded} superseded by the member's own signed ballot"
    )
    rows = [
        (
            "proposal",
            f"{v.proposal_id} ({v.proposal[:16]}…): {v.material} {v.old_rate} → {v.new_rate} RCY/kg",
        ),
        ("ballots", ballots),
        ("yes / no / abstain", f"{v.yes} / {v.no} / {v.abstain}"),
        ("result", verdict),
    ]
    for m in v.after:
        minted = f"{micro_units(m.amount_micro)} RCY for {v.deposit_g / 1000:g} kg from {v.device_id}"
        rows.append(
            (f"after the vote: {m.account}", f"{minted}; policy {m.policy}, adopted by {m.adopted_by}")
        )
    note = (
        "<p>Every key, ballot and the tally are ledger records: <code>circulo ledger verify</code> "
        "re-counts the vote and checks each mint names the policy the members adopted.</p>"
    )
    return f"<h2>The co-op voted</h2>{_table(('', ''), rows)}{note}"


def _checks_list(summary: DemoSummary) -> str:
    items = "".join(
        f'<li class="{"ok" if c.ok else "fail"}">{"✔" if c.ok else "✘"} {html.escape(c.name)}: '
        f"{html.escape(c.detail)}</li>"
        for c in summary.checks
    )
    return f"<ul>{items}</ul>"


def _facts(summary: DemoSummary) -> str:
    t, e = summary.traffic, summary.energy
    firmware = ", ".join(f"{n} {name}" for name, n in summary.profiles.items() if n) or "none"
    rows = [
        ("meters on Shelly / Tasmota firmware", firmware),
        ("messages published", f"{t.published:,}"),
        (
            "stored / duplicate / quarantined / ignored",
            f"{t.outcome('stored'):,} / {t.outcome('duplicate'):,} / {t.outcome('quarantined'):,} / "
            f"{t.outcome('ignored'):,}",
        ),
        ("refused by the broker", f"{t.refused:,}"),
        ("co-op generation credited", kwh(e.credited_wh)),
        ("GRN minted", micro_units(e.grn_minted_micro)),
        ("glitch readings (spans credited)", f"{e.glitches:,}"),
        ("materials deposited", kg(sum(m.weight_g for m in summary.materials))),
        ("CO2e avoided by repairs", kg(summary.co2e_avoided_g)),
        (
            "ledger entries",
            f"{summary.ledger.entries:,} (verify {'OK' if summary.ledger.verified else 'FAILED'})",
        ),
    ]
    return _table(("", ""), rows)


def render_report(summary: DemoSummary, chart_svgs: Sequence[tuple[str, str]]) -> str:
    """The whole report as one HTML document."""
    title = f"{summary.coop_name}: {summary.window_start:%Y-%m-%d}"
    figures = "".join(
        f'<figure><figcaption>{html.escape(name)}</figcaption><img alt="{html.escape(name)}" '
        f'src="{data_uri(svg)}"></figure>'
        for name, svg in chart_svgs
    )
    flags = _table(
        ("flag", "count", "withheld (energy at stake over excluded intervals)"),
        [(f.name, f.count, f"{micro_units(f.excluded_micro)} {f.token}") for f in summary.flags],
    )
    window = f"{summary.window_start:%Y-%m-%d %H:%M} to {summary.window_end:%Y-%m-%d %H:%M} UTC"
    return (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        f"<style>{STYLE}</style></head><body>"
        f"<h1>{html.escape(title)}</h1><p>Simulated {html.escape(window)} by <code>circulo demo</code>.</p>"
        f'{_facts(summary)}<h2>Charts</h2><div class="grid">{figures}</div>'
        f"<h2>Members</h2>{_members_table(summary)}"
        f"{_vote_section(summary)}"
        f"<h2>Excluded from rewards</h2>{flags}"
        f"<h2>Checks</h2>{_checks_list(summary)}</body></html>\n"
    )
