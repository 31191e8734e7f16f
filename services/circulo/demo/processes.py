"""The demo's child processes: ``python -m circulo …`` with the demo's config, one log file each.

Daemons run in their own session, so a Ctrl-C at the terminal reaches only the demo, which
then stops them in order (simulator, then ingest and rewards with SIGTERM, which flush).
The children get the demo's config file and none of the caller's ``CIRCULO_*`` variables
(the environment would win over the file and point them at another stack).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from circulo.errors import CirculoError

# Variables that describe this machine, not a stack: children keep them.
KEPT_VARIABLES = ("CIRCULO_DEPLOY_DIR", "CIRCULO_PG_BINDIR")
STOP_TIMEOUT_S = 30.0


class DemoStepFailed(CirculoError):
    """A step of the demo (a command or a daemon) failed; the message names it and why."""


def child_environment(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The caller's environment without Circulo settings (the config file is explicit)."""
    source = os.environ if environ is None else environ
    return {k: v for k, v in source.items() if not k.startswith("CIRCULO_") or k in KEPT_VARIABLES} | {
        "PYTHONUNBUFFERED": "1"
    }


def circulo_argv(config_file: Path, *args: str) -> list[str]:
    """``python -m circulo --config FILE ARGS…`` with this interpreter."""
    return [sys.executable, "-m", "circulo", "--config", str(config_file), *args]


def last_lines(text: str, count: int = 3) -> str:
    """The end of a command's output, on one line (for an error message)."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return " | ".join(lines[-count:]) or "no output"


def run_circulo(
    config_file: Path, args: Sequence[str], *, what: str, timeout: float = 300, ok_codes: Sequence[int] = (0,)
) -> str:
    """Run one ``circulo`` command to completion; its stdout, or DemoStepFailed with its error."""
    try:
        done = subprocess.run(
            circulo_argv(config_file, *args),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            env=child_environment(),
        )
    except subprocess.TimeoutExpired as e:
        raise DemoStepFailed(f"{what}: no answer after {timeout:.0f} s") from e
    if done.returncode not in ok_codes:
        raise DemoStepFailed(
            f"{what} failed (exit {done.returncode}): {last_lines(done.stderr or done.stdout)}"
        )
    return done.stdout


@dataclass
class Daemon:
    """A long-running ``circulo`` child whose output goes to ``log_path``."""

    name: str
    argv: list[str]
    log_path: Path
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    def start(self) -> Daemon:
        with self.log_path.open("wb") as log:  # one log per run
            self.process = subprocess.Popen(
                self.argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=child_environment(),
                start_new_session=True,
            )
        return self

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    @property
    def returncode(self) -> int | None:
        return None if self.process is None else self.process.poll()

    def wait(self, timeout: float | None = None) -> int:
        """Wait for it to exit on its own; its exit status."""
        if self.process is None:
            raise DemoStepFailed(f"{self.name} was never started")
        return self.process.wait(timeout)

    def terminate(self) -> None:
        """SIGTERM: the daemons finish their batch or cycle, flush and exit."""
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(signal.SIGTERM)

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> int | None:
        """SIGTERM, then SIGKILL when it has not exited after ``timeout``."""
        if self.process is None:
            return None
        self.terminate()
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)
        return self.process.returncode

    def failure(self) -> str:
        """Why it stopped, from the end of its log."""
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            text = ""
        return f"{self.name} exited with {self.returncode}: {last_lines(text)} (log {self.log_path})"
