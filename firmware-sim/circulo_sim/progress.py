"""The live progress line: devices connected, messages sent, buffered, faults injected."""

from __future__ import annotations

import sys
import time
from datetime import datetime
from typing import TextIO

from circulo_sim.summary import Progress


def progress_line(progress: Progress, sim_now: datetime) -> str:
    """One status line (pure)."""
    line = (
        f"sim {sim_now:%Y-%m-%d %H:%M}Z  {progress.connected}/{progress.devices} connected"
        f"  sent {progress.sent:,}  buffered {progress.buffered:,}  faults {progress.faults:,}"
    )
    if progress.dropped:
        line += f"  dropped {progress.dropped:,}"
    if progress.refused:
        line += f"  refused {progress.refused:,}"
    return line


class ProgressPrinter:
    """Redraws one line on a terminal; elsewhere prints a line every ``every_s`` seconds."""

    def __init__(self, stream: TextIO | None = None, *, every_s: float = 5.0) -> None:
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.every_s = every_s
        self._last = float("-inf")  # the first line prints at once, however young the clock
        self._width = 0
        self._pending = ""
        self._printed = ""

    def __call__(self, progress: Progress, sim_now: datetime) -> None:
        line = progress_line(progress, sim_now)
        self._pending = line
        if self.tty:
            self.stream.write("\r" + line.ljust(self._width))
            self._width = len(line)
        elif time.monotonic() - self._last >= self.every_s:
            self._print(line)
        self.stream.flush()

    def _print(self, line: str) -> None:
        self.stream.write(line + "\n")
        self._last, self._printed = time.monotonic(), line

    def finish(self) -> None:
        """End the line on a terminal; elsewhere make sure the final counts are printed."""
        if self.tty and self._width:
            self.stream.write("\n")
        elif not self.tty and self._pending and self._pending != self._printed:
            self._print(self._pending)
        self.stream.flush()
