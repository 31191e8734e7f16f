"""Where a demo keeps its state: one folder (``var/demo/`` in the repository by default)."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from circulo.errors import Conflict

# The repository root when running from a checkout (services/circulo/demo/paths.py).
REPO_ROOT = Path(__file__).resolve().parents[3]


def default_state_dir() -> Path:
    """``var/demo`` in the checkout (git-ignored as ``/var/``), else in the current folder."""
    root = REPO_ROOT if (REPO_ROOT / "pyproject.toml").is_file() else Path.cwd()
    return root / "var" / "demo"


@dataclass(frozen=True)
class DemoPaths:
    """The layout of a demo state folder."""

    root: Path

    @property
    def postgres_dir(self) -> Path:
        return self.root / "postgres"

    @property
    def broker_dir(self) -> Path:
        return self.root / "mosquitto"

    @property
    def pki_dir(self) -> Path:
        """The stack's throwaway CA: the broker's and PostgreSQL's certificates."""
        return self.root / "pki"

    @property
    def stack_file(self) -> Path:
        """Ports and the broker's pid, so a later run can reuse or stop the stack."""
        return self.root / "stack.json"

    @property
    def secrets_file(self) -> Path:
        """Broker passwords (0600), never printed."""
        return self.root / "secrets.json"

    @property
    def config_file(self) -> Path:
        """The Circulo config (0600) to export as CIRCULO_CONFIG."""
        return self.root / "circulo.toml"

    @property
    def operator_url_file(self) -> Path:
        """The operator account's broker URL (0600), for ``mosquitto_sub -L``."""
        return self.root / "operator.url"

    @property
    def ledger_dir(self) -> Path:
        """The ledger's state folder: its signing key and checkpoint file."""
        return self.root / "ledger"

    @property
    def bundle_dir(self) -> Path:
        return self.root / "bundles"

    @property
    def survey_file(self) -> Path:
        return self.root / "survey.csv"

    @property
    def log_dir(self) -> Path:
        return self.root / "logs"

    @property
    def sim_summary_file(self) -> Path:
        return self.root / "sim-summary.json"

    @property
    def sim_progress_file(self) -> Path:
        return self.root / "sim-progress.jsonl"

    @property
    def summary_file(self) -> Path:
        return self.root / "summary.json"

    @property
    def report_file(self) -> Path:
        return self.root / "report.html"

    @property
    def lock_file(self) -> Path:
        """Held while a run uses this folder."""
        return self.root / "demo.lock"

    def make(self) -> None:
        """Create the folders; the private ones (passwords, keys, logs) readable by us alone."""
        if not self.root.exists():
            # 0711: PostgreSQL and Mosquitto run as their own users when we are root and must
            # traverse it to reach their folders; nothing in it can be listed by others
            self.root.mkdir(parents=True)
            os.chmod(self.root, 0o711)  # noqa: S103
        for folder in (self.ledger_dir, self.bundle_dir, self.log_dir):
            folder.mkdir(mode=0o700, exist_ok=True)


@contextmanager
def exclusive(paths: DemoPaths) -> Iterator[None]:
    """Hold the folder's lock for a run; a second run on the same folder is refused."""
    with paths.lock_file.open("a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as e:
            raise Conflict(f"another circulo demo is running in {paths.root}") from e
        yield


def write_private(path: Path, text: str) -> None:
    """Write a file that only its owner can read (created 0600, never world-readable)."""
    partial = path.with_name(path.name + ".partial")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text)
    os.replace(partial, path)
