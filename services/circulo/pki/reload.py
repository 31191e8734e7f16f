"""Tell the broker to re-read its certificate, key and CRL (SIGHUP), and wait until it did.

What Mosquitto 2.0.11 does on SIGHUP (verified in tests/pki/test_broker_reload.py and
docs/deployment.md): it re-reads ``certfile``, ``keyfile`` and ``crlfile`` from the same
paths; with ``require_certificate true`` and a ``crlfile`` it rebuilds the listener's TLS
context, so ``cafile`` is re-read and the new CRL replaces the old one. Listener options
(ports, paths, ``require_certificate``) are not reloaded, and sessions already connected
are never checked again: a revoked device's session is cut through dynamic security.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import time
from pathlib import Path

from circulo.pki.errors import PkiError
from circulo.pki.settings import BrokerReloadSettings

RELOADED_LINE = b"Reloading config."
WAIT_S = 10.0
# the line is logged as the reload starts; re-reading files and rebuilding the TLS context
# follows in the same step of the broker's loop (milliseconds)
SETTLE_S = 0.2
NOT_TOLD = "broker not told (no broker_pid_file or broker_reload_command): it reads them on its next reload"


def log_size(settings: BrokerReloadSettings) -> int | None:
    """The broker log's size now (to find the reload line written after it), None without a log."""
    if not settings.broker_log_file:
        return None
    try:
        return Path(settings.broker_log_file).stat().st_size
    except OSError:
        return 0


def reload_broker(settings: BrokerReloadSettings) -> str:
    """Signal or run what the settings say; what was done, in words."""
    before = log_size(settings)
    if settings.broker_reload_command:
        _run(settings.broker_reload_command)
        done = f"ran `{settings.broker_reload_command}`"
    elif settings.broker_pid_file:
        pid = _signal_pid(Path(settings.broker_pid_file))
        done = f"sent SIGHUP to the broker (pid {pid})"
    else:
        return NOT_TOLD
    if before is not None:
        _wait_for_reload(Path(str(settings.broker_log_file)), before)
        done += "; the broker reloaded"
    return done


def _run(command: str) -> None:
    try:
        done = subprocess.run(shlex.split(command), capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise PkiError(f"broker_reload_command `{command}`: {e}") from e
    if done.returncode != 0:
        output = (done.stderr or done.stdout).strip().splitlines()
        detail = " | ".join(output[-2:])
        raise PkiError(f"broker_reload_command `{command}`: exit {done.returncode}: {detail}")


def _signal_pid(pid_file: Path) -> int:
    try:
        pid = int(pid_file.read_text(encoding="utf-8").split()[0])
    except (OSError, ValueError, IndexError) as e:
        raise PkiError(f"broker_pid_file {pid_file}: no pid in it ({e})") from e
    try:
        os.kill(pid, signal.SIGHUP)
    except ProcessLookupError as e:
        raise PkiError(f"broker_pid_file {pid_file}: no process {pid} (is the broker running?)") from e
    except PermissionError as e:
        raise PkiError(
            f"broker_pid_file {pid_file}: not allowed to signal pid {pid}; "
            "set broker_reload_command (e.g. `sudo systemctl reload mosquitto`)"
        ) from e
    return pid


def _wait_for_reload(log_file: Path, offset: int) -> None:
    """Until the broker logs ``Reloading config.`` after ``offset``."""
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        try:
            with log_file.open("rb") as log:
                log.seek(offset)
                if RELOADED_LINE in log.read():
                    time.sleep(SETTLE_S)
                    return
        except OSError:
            pass
        time.sleep(0.05)
    raise PkiError(f"the broker did not log a reload within {WAIT_S:g} s (log {log_file})")
