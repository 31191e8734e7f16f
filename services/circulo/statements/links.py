"""Where each statement lives: unguessable, stable paths derived from a secret (capability URLs).

A member's page is at ``m/{token}/``, a co-op's index at ``c/{token}/``, each token the first
128 bits of HMAC-SHA256 over a domain-separated name under the site's link secret. The same
secret gives the same paths at every build (a member's bookmark keeps working); without it a
path cannot be guessed. A new secret (delete the file) moves every page: old links die.
The secret file is created once, 0600, never overwritten, and never published.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import stat
from pathlib import Path

from circulo.errors import ConfigError

SECRET_BYTES = 32
TOKEN_BYTES = 16  # 128 bits: far beyond guessing
SECRET_MODE = 0o600


def token(secret: bytes, *parts: str) -> str:
    """The hex token naming ``parts`` (NUL-separated, so the encoding is injective)."""
    if any("\x00" in part for part in parts):
        raise ConfigError("names in statement links may not contain NUL")
    message = "\x00".join(("circulo-statements/1", *parts)).encode("utf-8")
    return hmac.new(secret, message, hashlib.sha256).hexdigest()[: 2 * TOKEN_BYTES]


def member_path(secret: bytes, account: str) -> str:
    """``m/{token}/``: the member's page (one per account, linked from each of its co-ops' indexes)."""
    return f"m/{token(secret, 'member', account)}/"


def index_path(secret: bytes, coop_id: str) -> str:
    """``c/{token}/``: the co-op's index of its members' pages."""
    return f"c/{token(secret, 'coop', coop_id)}/"


def load_or_create_secret(path: Path) -> bytes:
    """The site's link secret: read it, or create it once (0600; refuses a readable-by-others file)."""
    path = path.expanduser()
    if not path.exists():
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, SECRET_MODE)
        except FileExistsError:
            return load_or_create_secret(path)  # another build created it first
        with os.fdopen(fd, "w", encoding="ascii") as out:
            out.write(secrets.token_hex(SECRET_BYTES) + "\n")
    if path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(f"statement link secret {path} is readable by other users; chmod 600 it")
    try:
        secret = bytes.fromhex(path.read_text(encoding="ascii").strip())
    except (OSError, ValueError) as e:
        raise ConfigError(f"statement link secret {path} is not 64 hex digits") from e
    if len(secret) != SECRET_BYTES:
        raise ConfigError(f"statement link secret {path} is not 64 hex digits")
    return secret


def existing_secret(path: Path) -> bytes | None:
    """The site's link secret if a build created it (None otherwise; a read never creates one)."""
    return load_or_create_secret(path) if path.expanduser().exists() else None
