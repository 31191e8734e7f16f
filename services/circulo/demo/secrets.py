"""The demo's broker passwords: generated once, kept 0600 in the state folder, never printed."""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from pathlib import Path

from circulo.demo.paths import write_private

# Service accounts of the demo broker: name -> (username, dynamic-security role).
SERVICE_ACCOUNTS: dict[str, tuple[str, str]] = {
    "ingest": ("demo-ingest", "circulo-ingest"),
    "rewards": ("demo-rewards", "circulo-rewards"),
    "simulator": ("demo-simulator", "circulo-simulator"),
    "operator": ("demo-operator", "circulo-operator"),
}
ADMIN = "broker_admin"


@dataclass(frozen=True)
class DemoSecrets:
    """Passwords by account name (``broker_admin`` and each service account); ``created``: new this run."""

    passwords: dict[str, str]
    created: bool = False

    def password(self, name: str) -> str:
        return self.passwords[name]


def new_passwords() -> dict[str, str]:
    """A fresh password for the broker admin and every service account."""
    return {name: secrets.token_urlsafe(24) for name in (ADMIN, *SERVICE_ACCOUNTS)}


def load_or_create(path: Path) -> DemoSecrets:
    """The passwords in ``path``, or new ones written there (0600) when it is missing or unreadable."""
    stored = read_passwords(path)
    if stored is not None:
        return DemoSecrets(stored)
    passwords = new_passwords()
    write_private(path, json.dumps(passwords, indent=2) + "\n")
    return DemoSecrets(passwords, created=True)


def read_passwords(path: Path) -> dict[str, str] | None:
    """The stored passwords, or None when the file is missing, unreadable or incomplete."""
    try:
        stored = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(stored, dict) or not all(isinstance(stored.get(k), str) for k in new_passwords()):
        return None
    return {str(k): str(v) for k, v in stored.items()}
