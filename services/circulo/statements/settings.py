"""Statement settings: one frozen model (``load_settings(StatementsSettings, section="statements")``).

``ledger_public_key`` is the co-op's ledger public key the pages pin: 64 hex digits, or the
path of a ``.pub`` file (``circulo ledger keygen`` writes one beside the signing key). It
defaults to ``$state_dir/ledger-signing.key.pub``. It comes from configuration only, never
from the ledger or its export: a page must not trust the data it checks to name the key.
``link_secret_path`` holds the secret the pages' unguessable paths derive from (created on
the first build, 0600; default ``$state_dir/statements-link.key``). The pending estimates use
the rewards engine's own policy and timing settings (``[rewards]``), read by the command.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from pydantic import ConfigDict, model_validator

from circulo.errors import ConfigError
from circulo.ledger.keys import public_key_from_hex
from circulo.ledger.settings import KEY_FILE_NAME, default_state_dir
from circulo.settings import CommonSettings
from circulo.statements.model import PinnedKey

LINK_SECRET_FILE = "statements-link.key"
HEX_KEY_RE = re.compile(r"[0-9a-f]{64}")


class StatementsSettings(CommonSettings):
    """Database, the pinned ledger key and the link secret of ``circulo statements``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    state_dir: Path | None = None
    ledger_public_key: str
    link_secret_path: Path

    @model_validator(mode="before")
    @classmethod
    def default_paths(cls, values: Any) -> Any:
        """Fill the key and secret from ``state_dir`` (or ~/.config/circulo)."""
        if not isinstance(values, dict):
            return values
        base = Path(values["state_dir"]).expanduser() if values.get("state_dir") else default_state_dir()
        values = dict(values)
        values.setdefault("ledger_public_key", str(base / f"{KEY_FILE_NAME}.pub"))
        values["link_secret_path"] = Path(
            values.get("link_secret_path") or base / LINK_SECRET_FILE
        ).expanduser()
        return values

    def pinned_key(self) -> PinnedKey:
        """The configured key (hex, or read from the named file); ConfigError when there is none."""
        text = self.ledger_public_key.strip()
        if re.fullmatch(r"[0-9a-fA-F]+", text) and not HEX_KEY_RE.fullmatch(text):
            raise ConfigError(f"ledger_public_key {text[:80]!r} is not 64 lowercase hex digits")
        if not HEX_KEY_RE.fullmatch(text):
            path = Path(text).expanduser()
            try:
                text = path.read_text(encoding="ascii").strip()
            except OSError as e:
                raise ConfigError(
                    f"no ledger public key to pin: {path} is not readable; set ledger_public_key "
                    "(64 hex digits or a .pub file) in [statements] or CIRCULO_LEDGER_PUBLIC_KEY"
                ) from e
        if not HEX_KEY_RE.fullmatch(text):
            raise ConfigError(f"ledger_public_key {text[:80]!r} is not 64 lowercase hex digits")
        public_key_from_hex(text)
        return PinnedKey(text)
