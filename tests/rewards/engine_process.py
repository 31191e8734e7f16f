"""The rewards engine as a real subprocess (``python -m circulo rewards run``) for crash tests."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

_names = itertools.count(1)


@dataclass
class EngineProcess:
    """A running ``circulo rewards run`` with its log file."""

    proc: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL: a crash at whatever point the engine is."""
        if self.alive():
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)

    def terminate(self, timeout: float = 60) -> int:
        """SIGTERM and the exit status once it has finished its cycle."""
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=timeout)


def engine_env(
    db_url: str, key_path: Path, *, interval_s: float = 0.05, metrics_port: int = 0
) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CIRCULO_")}
    env.update(
        CIRCULO_DATABASE_URL=db_url,
        CIRCULO_SIGNING_KEY_PATH=str(key_path),
        CIRCULO_INTERVAL_S=str(interval_s),
        CIRCULO_METRICS_PORT=str(metrics_port),
        CIRCULO_LOCK_POLL_S="0.05",
    )
    return env


def start_engine(
    db_url: str,
    key_path: Path,
    log_dir: Path,
    *args: str,
    interval_s: float = 0.05,
    metrics_port: int = 0,
) -> EngineProcess:
    """Start ``circulo rewards run ARGS`` against ``db_url``; stdout and stderr go to a log file."""
    log_path = log_dir / f"engine-{next(_names)}.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "circulo", "rewards", "run", *args],
            env=engine_env(db_url, key_path, interval_s=interval_s, metrics_port=metrics_port),
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=log_dir,
        )
    return EngineProcess(proc, log_path)


def run_engine_once(
    db_url: str, key_path: Path, log_dir: Path, *args: str
) -> subprocess.CompletedProcess[str]:
    """``circulo rewards run --once ARGS`` to completion."""
    return subprocess.run(
        [sys.executable, "-m", "circulo", "rewards", "run", "--once", *args],
        env=engine_env(db_url, key_path),
        capture_output=True,
        text=True,
        timeout=300,
        cwd=log_dir,
        check=False,
    )
