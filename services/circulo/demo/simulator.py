"""How the demo drives ``circulo sim run`` and reads what it reports.

The simulator runs as its own process, one MQTT connection per device with the
credentials of its provisioning bundle. Its live progress line (on stderr, in its log)
gives the simulated clock and the messages the broker acknowledged; its summary file
gives the final counts per fault and per delivery fate, which the demo reconciles with
the ingest's outcomes.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from circulo.demo.options import DemoOptions, DemoWindow
from circulo.demo.paths import DemoPaths
from circulo.demo.processes import DemoStepFailed
from circulo_schemas.encode import format_timestamp

# The simulator's flag of each fault whose flag is not the fault's name.
FAULT_FLAGS = {"duplicate": "--duplicates", "counter_reset": "--counter-resets", "glitch": "--glitches"}
# "sim 2026-05-01 13:45Z  58/58 connected  sent 12,345  buffered 0  faults 12"
PROGRESS_LINE = re.compile(r"sim (\d{4}-\d\d-\d\d \d\d:\d\d)Z .*?sent ([\d,]+)")


def sim_args(options: DemoOptions, paths: DemoPaths, window: DemoWindow, speed: float | None) -> list[str]:
    """The ``circulo sim run`` arguments for the demo's day (config file gives URLs and bundles)."""
    size = options.fleet
    args = [
        "sim",
        "run",
        "--coop",
        options.coop_id,
        "--meters",
        str(size.meters),
        "--bins",
        str(size.bins),
        "--repairs",
        str(size.repairs),
        "--from",
        format_timestamp(window.start),
        "--to",
        format_timestamp(window.end),
        "--seed",
        str(options.seed),
        "--bundles",
        str(paths.bundle_dir),
        "--summary-file",
        str(paths.sim_summary_file),
    ]
    if speed is not None:
        args += ["--speed", f"{speed:g}"]
    for fault, rate in sorted(options.fault_rates.items()):
        if rate:
            args += [FAULT_FLAGS.get(fault, "--" + fault.replace("_", "-")), f"{rate:g}"]
    return args


@dataclass(frozen=True)
class SimProgress:
    """The simulator's latest progress line: simulated clock and messages acknowledged."""

    clock: datetime | None = None
    published: int = 0


def parse_progress(text: str) -> SimProgress:
    """The last progress line in the simulator's output (pure)."""
    matches = PROGRESS_LINE.findall(text)
    if not matches:
        return SimProgress()
    clock, sent = matches[-1]
    return SimProgress(
        datetime.strptime(clock, "%Y-%m-%d %H:%M").replace(tzinfo=UTC), int(sent.replace(",", ""))
    )


def read_progress(log_path: Path, tail_bytes: int = 4096) -> SimProgress:
    """The latest progress from the end of the simulator's log."""
    try:
        with log_path.open("rb") as log:
            log.seek(0, 2)
            log.seek(max(0, log.tell() - tail_bytes))
            text = log.read().decode("utf-8", errors="replace")
    except OSError:
        return SimProgress()
    return parse_progress(text.replace("\r", "\n"))


@dataclass(frozen=True)
class SimTotals:
    """The final counts of the simulator's summary that the demo reconciles.

    ``acked``: publishes the broker accepted; ``refused``: publishes it refused (0x87,
    impersonation), which never reach the ingest; ``wills``: offline statuses the broker
    published for devices whose connection dropped, which do. A connection drops in an
    outage (``offline`` fault) and also when Mosquitto closes it after refusing an
    impersonation, so there is one will per reconnection, not per outage. ``lost``:
    dropped from a full buffer or never acknowledged.
    """

    acked: int
    refused: int
    wills: int
    lost: int
    faults: Mapping[str, int] = field(default_factory=dict)
    expected_stored: int = 0
    expected_duplicate: int = 0
    expected_quarantine: Mapping[str, int] = field(default_factory=dict)
    statuses: int = 0
    expected_ignored: int = 0

    @property
    def published(self) -> int:
        return self.acked + self.refused

    @property
    def reached_ingest(self) -> int:
        return self.acked + self.wills


def totals_from_summary(summary: Mapping[str, Any]) -> SimTotals:
    """The counts the demo needs from the simulator's summary document (pure)."""
    delivery, expected = summary["delivery"], summary.get("expected", {})
    faults = {str(k): int(v) for k, v in summary.get("faults", {}).items()}
    quarantine = {str(k): int(v) for k, v in expected.get("quarantined", {}).items()}
    return SimTotals(
        acked=int(delivery["acked"]),
        refused=int(delivery["refused"]),
        wills=int(delivery.get("reconnects", 0)),
        lost=int(delivery.get("dropped", 0)) + int(delivery.get("unacked", 0)),
        faults=faults,
        expected_stored=int(expected.get("stored", 0)),
        expected_duplicate=int(expected.get("duplicate", 0)),
        expected_quarantine=quarantine,
        statuses=int(expected.get("status", 0)),
        expected_ignored=int(expected.get("ignored", 0)),
    )


def read_totals(path: Path) -> SimTotals:
    """The simulator's summary file, read into :class:`SimTotals`."""
    try:
        return totals_from_summary(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise DemoStepFailed(f"simulator summary {path}: {e}") from e
