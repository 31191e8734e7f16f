"""Ledger settings: one frozen model, built with ``load_settings(LedgerSettings, section="ledger")``.

The signing key lives outside the database: ``signing_key_path`` defaults to
``$CIRCULO_STATE_DIR/ledger-signing.key`` when a state folder is set, else
``~/.config/circulo/ledger-signing.key``. The rewards engine reads the same setting.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import ConfigDict, model_validator

from circulo.settings import CommonSettings

CHECKPOINT_TOPIC = "circulo/ledger/v1/checkpoint"
KEY_FILE_NAME = "ledger-signing.key"
CHECKPOINT_FILE_NAME = "ledger-checkpoint.json"


def default_state_dir() -> Path:
    """Where the ledger keeps its files when no ``state_dir`` is set."""
    return Path("~/.config/circulo").expanduser()


class LedgerSettings(CommonSettings):
    """Database, broker, signing key file and checkpoint file of the ledger commands."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    state_dir: Path | None = None
    signing_key_path: Path
    checkpoint_file: Path
    publish_timeout_s: float = 10.0

    @model_validator(mode="before")
    @classmethod
    def default_paths(cls, values: Any) -> Any:
        """Fill the key and checkpoint paths from ``state_dir`` (or ~/.config/circulo)."""
        if not isinstance(values, dict):
            return values
        base = Path(values["state_dir"]).expanduser() if values.get("state_dir") else default_state_dir()
        values = dict(values)
        values.setdefault("signing_key_path", base / KEY_FILE_NAME)
        values.setdefault("checkpoint_file", base / CHECKPOINT_FILE_NAME)
        values["signing_key_path"] = Path(values["signing_key_path"]).expanduser()
        values["checkpoint_file"] = Path(values["checkpoint_file"]).expanduser()
        return values
