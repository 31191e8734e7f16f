"""Reading and writing the PKI's files: clear errors, atomic replacement, 0600 for every key.

Every write goes to a temporary file in the same directory and is renamed over the old
one, so a reader (the broker on SIGHUP) never sees half a file and a crash leaves the old
one. Operations read and check everything they need before they write anything.
"""

from __future__ import annotations

import contextlib
import fcntl
import grp
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from circulo.pki.certs import PrivateKey
from circulo.pki.errors import PkiError, PkiNotInitialised
from circulo.pki.layout import PkiLayout
from circulo.pki.model import Index, PkiConfig

PUBLIC_MODE = 0o644
SECRET_MODE = 0o600
GROUP_SECRET_MODE = 0o640


@contextlib.contextmanager
def exclusive(layout: PkiLayout) -> Iterator[None]:
    """Hold the PKI's lock: one operation at a time changes it (a second waits)."""
    try:
        layout.root.mkdir(parents=True, exist_ok=True)
        handle = layout.lock_file.open("a")
    except OSError as e:
        raise PkiError(f"PKI directory {layout.root}: {e.strerror or e}") from e
    with handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def read_bytes(path: Path, what: str) -> bytes:
    """A file's content, or one clear line saying why it cannot be read."""
    try:
        return path.read_bytes()
    except FileNotFoundError as e:
        raise PkiError(f"{what} {path}: no such file") from e
    except OSError as e:
        raise PkiError(f"{what} {path}: cannot read ({e.strerror or e})") from e


def read_certs(path: Path, what: str) -> list[x509.Certificate]:
    """Every PEM certificate in a file (at least one)."""
    data = read_bytes(path, what)
    try:
        found = x509.load_pem_x509_certificates(data)
    except ValueError as e:
        raise PkiError(f"{what} {path}: not a PEM certificate") from e
    return found


def read_cert(path: Path, what: str) -> x509.Certificate:
    """The first PEM certificate of a file."""
    return read_certs(path, what)[0]


def read_key(path: Path, what: str, passphrase: str | None = None) -> PrivateKey:
    """An RSA or EC private key (PEM, optionally encrypted)."""
    data = read_bytes(path, what)
    try:
        key = serialization.load_pem_private_key(data, passphrase.encode() if passphrase else None)
    except TypeError as e:
        raise PkiError(f"{what} {path}: encrypted; give its passphrase") from e
    except ValueError as e:
        raise PkiError(f"{what} {path}: not a PEM private key (or a wrong passphrase)") from e
    if not isinstance(key, PrivateKey):
        raise PkiError(f"{what} {path}: only RSA and EC keys are supported")
    return key


def write_file(path: Path, content: bytes, *, mode: int = PUBLIC_MODE, group: str | None = None) -> None:
    """Replace ``path`` atomically with ``content`` (mode set before the first byte is written)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    temporary = path.with_name(f".{path.name}.tmp")
    try:
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, SECRET_MODE)
        with os.fdopen(fd, "wb") as out:
            if group is not None:
                os.fchown(out.fileno(), -1, grp.getgrnam(group).gr_gid)
            os.fchmod(out.fileno(), mode)
            out.write(content)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except (OSError, KeyError) as e:
        temporary.unlink(missing_ok=True)
        raise PkiError(f"cannot write {path}: {getattr(e, 'strerror', None) or e}") from e


def write_key(path: Path, key: PrivateKey, *, group: str | None = None) -> None:
    """A private key, PKCS#8 PEM, mode 0600 (0640 to ``group`` when the broker must read it)."""
    content = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    write_file(path, content, mode=GROUP_SECRET_MODE if group else SECRET_MODE, group=group)


def write_json(path: Path, document: dict[str, Any], *, mode: int = PUBLIC_MODE) -> None:
    write_file(path, (json.dumps(document, indent=2, sort_keys=True) + "\n").encode(), mode=mode)


def read_json(path: Path, what: str) -> dict[str, Any]:
    try:
        document = json.loads(read_bytes(path, what))
    except ValueError as e:
        raise PkiError(f"{what} {path}: not valid JSON ({e})") from e
    if not isinstance(document, dict):
        raise PkiError(f"{what} {path}: not a JSON object")
    return document


def load_config(layout: PkiLayout) -> PkiConfig:
    """The PKI's settings; PkiNotInitialised when there is no PKI in the directory."""
    if not layout.config_file.exists():
        raise PkiNotInitialised(f"no PKI in {layout.root}: run `circulo pki init` (or set pki_dir)")
    try:
        return PkiConfig.from_json(read_json(layout.config_file, "PKI settings"))
    except (KeyError, TypeError, ValueError) as e:
        raise PkiError(f"PKI settings {layout.config_file}: missing or bad field {e}") from e


def load_index(layout: PkiLayout) -> Index:
    if not layout.index_file.exists():
        return Index()
    try:
        return Index.from_json(read_json(layout.index_file, "certificate index"))
    except (KeyError, TypeError, ValueError) as e:
        raise PkiError(f"certificate index {layout.index_file}: missing or bad field {e}") from e


def save_index(layout: PkiLayout, index: Index) -> None:
    write_json(layout.index_file, index.as_json())


def prepare_directory(layout: PkiLayout) -> None:
    """Create the directory tree: the root traversable (the broker reaches ``broker/``), not listable."""
    try:
        layout.root.mkdir(parents=True, exist_ok=True)
        os.chmod(layout.root, 0o711)  # noqa: S103 - traversal only; every secret inside is 0600
        for sub in ("root", "issuing", "servers", "devices"):
            (layout.root / sub).mkdir(mode=0o700, exist_ok=True)
        layout.broker_dir.mkdir(mode=0o711, exist_ok=True)
        os.chmod(layout.broker_dir, 0o711)  # noqa: S103 - the broker's user reads its files by name
    except OSError as e:
        raise PkiError(f"PKI directory {layout.root}: {e.strerror or e}") from e
