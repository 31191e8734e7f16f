"""The ledger's Ed25519 signing key: created once, kept outside the database, mode 0600.

The key file is the raw 32-byte private key in PKCS#8 PEM (unencrypted: the rewards
daemon must start unattended; the file's permissions are its protection). Beside it,
``<key>.pub`` holds the public key as 64 hex digits, the form auditors are given.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from circulo.ledger.entries import key_id as compute_key_id
from circulo.ledger.errors import SigningKeyError

KEY_FILE_MODE = 0o600
KEY_DIR_MODE = 0o700


@dataclass(frozen=True)
class Signer:
    """A loaded signing key: its ``key_id``, public key (hex) and a ``sign`` method."""

    private_key: Ed25519PrivateKey = field(repr=False)

    @property
    def public_key_bytes(self) -> bytes:
        """The raw 32-byte public key."""
        return self.private_key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )

    @property
    def public_key_hex(self) -> str:
        """The public key as 64 lowercase hex digits."""
        return self.public_key_bytes.hex()

    @property
    def key_id(self) -> str:
        """First 16 hex digits of SHA-256 of the raw public key (SPEC §8)."""
        return compute_key_id(self.public_key_bytes)

    def sign(self, message: bytes) -> bytes:
        """The 64-byte Ed25519 signature of ``message``."""
        return self.private_key.sign(message)


def public_key_from_hex(public_key_hex: str) -> Ed25519PublicKey:
    """An Ed25519 public key from 64 hex digits; SigningKeyError when it is not one."""
    try:
        return Ed25519PublicKey.from_public_bytes(bytes.fromhex(public_key_hex))
    except ValueError as e:
        raise SigningKeyError(f"not an Ed25519 public key: {public_key_hex!r}") from e


def signature_holds(public_key_hex: str, signature_hex: str, message: bytes) -> bool:
    """Whether ``signature_hex`` is a valid Ed25519 signature of ``message`` by the key."""
    try:
        key = Ed25519PublicKey.from_public_bytes(bytes.fromhex(public_key_hex))
        key.verify(bytes.fromhex(signature_hex), message)
    except (ValueError, InvalidSignature):
        return False
    return True


def public_key_path(key_path: Path) -> Path:
    """Where the public half of ``key_path`` is written (``<key>.pub``)."""
    return key_path.with_name(key_path.name + ".pub")


def generate_key(path: Path) -> Signer:
    """Create a new signing key at ``path`` (0600, parent 0700), never overwriting one."""
    path = Path(path).expanduser()
    path.parent.mkdir(mode=KEY_DIR_MODE, parents=True, exist_ok=True)
    signer = Signer(Ed25519PrivateKey.generate())
    pem = signer.private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    try:
        # O_EXCL: refuse to overwrite, even when two keygens race.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, KEY_FILE_MODE)
    except FileExistsError as e:
        raise SigningKeyError(f"a signing key already exists at {path}; refusing to overwrite it") from e
    except OSError as e:
        raise SigningKeyError(f"cannot create signing key {path}: {e.strerror}") from e
    with os.fdopen(fd, "wb") as out:
        out.write(pem)
        out.flush()
        os.fsync(out.fileno())
    os.chmod(path, KEY_FILE_MODE)  # the umask may have narrowed it further; make it exact
    public_key_path(path).write_text(signer.public_key_hex + "\n", encoding="ascii")
    return signer


def load_signer(path: Path) -> Signer:
    """The signer stored at ``path``; refuses a missing or group/world-readable key file."""
    path = Path(path).expanduser()
    try:
        mode = path.stat().st_mode
    except FileNotFoundError as e:
        raise SigningKeyError(f"no signing key at {path}; run circulo ledger keygen") from e
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise SigningKeyError(
            f"signing key {path} is accessible to other users (mode {stat.S_IMODE(mode):04o}); chmod 600 it"
        )
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as e:
        raise SigningKeyError(f"cannot read signing key {path}: {e}") from e
    if not isinstance(key, Ed25519PrivateKey):
        raise SigningKeyError(f"{path} is not an Ed25519 private key")
    return Signer(key)
