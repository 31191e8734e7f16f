"""The live progress view: one sample of the run, rendered as a small block or a plain line.

A sample combines the simulator's progress (simulated clock, messages published), the
ingest's outcome counters (its ``/metrics``) and the ledger (the database). On a terminal
the block is redrawn in place a few times a second; otherwise a plain line is printed
every few seconds, so logs and CI output stay readable.
"""

from __future__ import annotations

import shutil
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TextIO

from circulo.demo.options import DemoWindow
from circulo.demo.text import kwh

BAR_WIDTH = 24
PLAIN_EVERY_S = 5.0
OUTCOMES = ("stored", "duplicate", "quarantined", "ignored")


@dataclass(frozen=True)
class ProgressSample:
    """What the run looks like at one moment (``at``: seconds since the day started)."""

    at: float
    sim_clock: datetime | None = None
    published: int = 0
    outcomes: Mapping[str, int] = field(default_factory=dict)
    credited_wh: int = 0
    grn_micro: int = 0
    rcy_micro: int = 0
    ledger_entries: int = 0

    @property
    def accounted(self) -> int:
        return sum(self.outcomes.get(k, 0) for k in OUTCOMES)


def message_rate(previous: ProgressSample | None, current: ProgressSample) -> float:
    """Messages per second the ingest settled between two samples."""
    if previous is None or current.at <= previous.at:
        return 0.0
    return max(0, current.accounted - previous.accounted) / (current.at - previous.at)


def clock_fraction(window: DemoWindow, clock: datetime | None) -> float:
    """How far through the window the simulated clock is (0 to 1)."""
    if clock is None:
        return 0.0
    return min(1.0, max(0.0, (clock - window.start) / (window.end - window.start)))


def progress_bar(fraction: float, width: int = BAR_WIDTH) -> str:
    filled = round(fraction * width)
    return "[" + "#" * filled + "." * (width - filled) + "]"


def elapsed(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes}:{secs:02d}"


def _tokens(micro: int) -> str:
    return f"{micro / 1_000_000:,.3f}"


def render_block(sample: ProgressSample, rate: float, window: DemoWindow) -> list[str]:
    """Three lines: simulated clock, message outcomes, energy and tokens."""
    fraction = clock_fraction(window, sample.sim_clock)
    clock = f"{sample.sim_clock:%Y-%m-%d %H:%M} UTC" if sample.sim_clock else "starting…"
    o = sample.outcomes
    return [
        f"  sim clock {clock}  {progress_bar(fraction)} {fraction:4.0%}   elapsed {elapsed(sample.at)}",
        f"  messages  {sample.published:>8,} sent  {rate:>7,.0f}/s   stored {o.get('stored', 0):,}  "
        f"duplicate {o.get('duplicate', 0):,}  quarantined {o.get('quarantined', 0):,}  "
        f"ignored {o.get('ignored', 0):,}",
        f"  rewards   {kwh(sample.credited_wh)} settled   GRN {_tokens(sample.grn_micro)}   "
        f"RCY {_tokens(sample.rcy_micro)}   ledger {sample.ledger_entries:,} entries",
    ]


def render_line(sample: ProgressSample, rate: float, window: DemoWindow) -> str:
    """The same facts on one plain line (no terminal)."""
    clock = f"{sample.sim_clock:%H:%M}" if sample.sim_clock else "--:--"
    o = sample.outcomes
    return (
        f"[{elapsed(sample.at)}] sim {clock} UTC ({clock_fraction(window, sample.sim_clock):.0%}) "
        f"sent {sample.published:,} ({rate:,.0f}/s) stored {o.get('stored', 0):,} "
        f"dup {o.get('duplicate', 0):,} quarantined {o.get('quarantined', 0):,} "
        f"ignored {o.get('ignored', 0):,} | "
        f"{kwh(sample.credited_wh)} GRN {_tokens(sample.grn_micro)} RCY {_tokens(sample.rcy_micro)} "
        f"ledger {sample.ledger_entries:,}"
    )


class ProgressView:
    """Draws samples: a block redrawn in place on a terminal, a line every few seconds otherwise."""

    def __init__(self, window: DemoWindow, stream: TextIO | None = None, *, tty: bool | None = None) -> None:
        self.window = window
        self.stream = stream or sys.stdout
        self.tty = self.stream.isatty() if tty is None else tty
        self._drawn = 0
        self._last_plain = -PLAIN_EVERY_S
        self._previous: ProgressSample | None = None
        self._rate = 0.0
        self._last_line = ""

    def show(self, sample: ProgressSample) -> None:
        if self._previous is None or sample.at - self._previous.at >= 1.0:
            self._rate = message_rate(self._previous, sample) if self._previous else 0.0
            self._previous = sample
        if self.tty:
            self._redraw(render_block(sample, self._rate, self.window))
        elif sample.at - self._last_plain >= PLAIN_EVERY_S:
            self._last_plain = sample.at
            self._plain(render_line(sample, self._rate, self.window))

    def _plain(self, line: str) -> None:
        if line != self._last_line:  # the same facts twice in a row say nothing new
            self.stream.write(line + "\n")
            self.stream.flush()
            self._last_line = line

    def _redraw(self, lines: list[str]) -> None:
        # a line wider than the terminal would wrap and the block would no longer redraw in place
        width = shutil.get_terminal_size((120, 24)).columns - 1
        up = f"\x1b[{self._drawn}F" if self._drawn else ""
        self.stream.write(up + "".join(f"{line[:width]}\x1b[K\n" for line in lines))
        self.stream.flush()
        self._drawn = len(lines)

    def finish(self, sample: ProgressSample) -> None:
        """The last sample, always shown (and left on screen)."""
        self._last_plain = -PLAIN_EVERY_S
        self.show(sample)
        self._drawn = 0


def monotonic() -> float:
    return time.monotonic()
