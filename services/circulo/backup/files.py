"""The files a backup carries besides the database, and putting them back.

An :class:`Item` is one named file or folder and where it lives on this host. The set is
a table of sources (:data:`ITEM_SOURCES`): the broker's dynamic-security state (every
device's and service's salted password, roles, ACLs), the ledger's signing key and its
public half, the CA folder when one is configured (``pki_dir``), and any ``extra_files``.
Another kind of file is one more source in the table.
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from circulo.backup.errors import BackupError
from circulo.backup.settings import BackupSettings
from circulo.errors import ConfigError
from circulo.ledger.keys import public_key_path
from circulo.ledger.settings import LedgerSettings


@dataclass(frozen=True)
class Item:
    """A file or folder to back up: its name in the archive and its path on this host."""

    name: str
    path: Path
    directory: bool = False


def broker_items(backup: BackupSettings, ledger: LedgerSettings) -> list[Item]:
    """Mosquitto's dynamic-security file (plugin_opt_config_file in mosquitto.conf)."""
    if backup.dynsec_file is None:
        raise ConfigError("dynsec_file: set CIRCULO_BACKUP_DYNSEC_FILE (the broker's dynamic-security.json)")
    return [Item("broker/dynamic-security.json", backup.dynsec_file)]


def ledger_items(backup: BackupSettings, ledger: LedgerSettings) -> list[Item]:
    """The ledger's signing key and its public key file."""
    key = ledger.signing_key_path
    return [
        Item("ledger/ledger-signing.key", key),
        Item("ledger/ledger-signing.key.pub", public_key_path(key)),
    ]


def pki_items(backup: BackupSettings, ledger: LedgerSettings) -> list[Item]:
    """The co-op's CA folder, when there is one."""
    return [Item("pki", backup.pki_dir, directory=True)] if backup.pki_dir else []


def extra_items(backup: BackupSettings, ledger: LedgerSettings) -> list[Item]:
    """Whatever else the operator names (``extra_files``)."""
    return [Item(f"extra/{name}", path) for name, path in sorted(backup.extra_files.items())]


ITEM_SOURCES: tuple[Callable[[BackupSettings, LedgerSettings], list[Item]], ...] = (
    broker_items, ledger_items, pki_items, extra_items,
)  # fmt: skip


def items(backup: BackupSettings, ledger: LedgerSettings) -> list[Item]:
    """Every item of this host's configuration."""
    return [item for source in ITEM_SOURCES for item in source(backup, ledger)]


@dataclass(frozen=True)
class FileEntry:
    """One file in the archive: its member name, where it came from, hash, size and mode."""

    member: str
    item: str
    relative: str
    sha256: str
    size: int
    mode: int


def sha256_of(path: Path) -> str:
    """The file's SHA-256, hex."""
    digest = hashlib.sha256()
    with path.open("rb") as data:
        for block in iter(lambda: data.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def files_of(item: Item) -> Iterator[tuple[str, Path]]:
    """(path relative to the item, file) for each file of the item; BackupError when it is missing."""
    if item.directory:
        if not item.path.is_dir():
            raise BackupError(f"{item.name}: {item.path} is not a folder")
        for path in sorted(p for p in item.path.rglob("*") if p.is_file()):
            yield path.relative_to(item.path).as_posix(), path
        return
    if not item.path.is_file():
        raise BackupError(f"{item.name}: {item.path} does not exist")
    yield "", item.path


def collect(all_items: list[Item], into: Path) -> list[FileEntry]:
    """Copy every item's files under ``into`` (a snapshot, so hashes and archive agree)."""
    entries = []
    for item in all_items:
        for relative, path in files_of(item):
            member = f"files/{item.name}" + (f"/{relative}" if relative else "")
            copy = into / member
            copy.parent.mkdir(parents=True, exist_ok=True)
            try:
                copy.write_bytes(path.read_bytes())
                mode = stat.S_IMODE(path.stat().st_mode)
            except OSError as e:
                raise BackupError(f"{item.name}: cannot read {path}: {e.strerror}") from e
            entries.append(FileEntry(member, item.name, relative, sha256_of(copy), copy.stat().st_size, mode))
    return entries


def target_path(entry: FileEntry, by_name: dict[str, Item]) -> Path:
    """Where a restored file goes on this host (the item's configured path)."""
    item = by_name.get(entry.item)
    if item is None:
        raise ConfigError(f"the archive holds {entry.item}, which this host's configuration does not name")
    return item.path / entry.relative if item.directory else item.path


def put_back(source: Path, target: Path, mode: int, stamp: datetime | None = None) -> Path | None:
    """Write ``target`` atomically with ``mode``; a different file already there is kept aside, never lost."""
    kept = None
    if target.exists():
        if target.read_bytes() == source.read_bytes():
            os.chmod(target, mode)
            return None
        moment = (stamp or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
        kept = target.with_name(f"{target.name}.before-restore-{moment}")
        os.replace(target, kept)
    target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".restoring")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as out:
        out.write(source.read_bytes())
        out.flush()
        os.fsync(out.fileno())
    os.chmod(partial, mode)
    os.replace(partial, target)
    return kept
