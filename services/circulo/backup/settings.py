"""Backup settings (``[backup]``): which files besides the database, where the passphrase is.

The passphrase is never a flag (it would land in shell history and ``ps``): it comes from
``passphrase_file`` (``CIRCULO_BACKUP_PASSPHRASE_FILE``) or ``CIRCULO_BACKUP_PASSPHRASE``.
The ledger's signing key is found by the ledger's own settings (``state_dir``,
``signing_key_path``). Paths are where the files live on this host, both when backing up
and when restoring, so the same config file serves both.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import ConfigDict, Field, SecretStr, field_validator

from circulo.settings import CommonSettings


class BackupSettings(CommonSettings):
    """Database, broker state, optional CA folder and extra files, passphrase, PostgreSQL tools."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    dynsec_file: Path | None = None
    pki_dir: Path | None = None
    extra_files: dict[str, Path] = Field(default_factory=dict)
    passphrase_file: Path | None = None
    passphrase: SecretStr | None = Field(default=None, repr=False)
    pg_bindir: Path | None = None
    broker_checkpoint_wait_s: float = Field(default=3.0, ge=0)

    @field_validator("extra_files", mode="before")
    @classmethod
    def extra_files_from_json(cls, value: Any) -> Any:
        """``CIRCULO_BACKUP_EXTRA_FILES`` is a JSON object ``{"name": "/path"}``."""
        return json.loads(value) if isinstance(value, str) else value
