"""The archive's manifest: what it holds, with SHA-256 hashes, and the dumped ledger's state (pure)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

from circulo.backup.database import DumpInfo, LedgerState
from circulo.backup.errors import ArchiveDamaged
from circulo.backup.files import FileEntry

FORMAT = 1
MANIFEST = "manifest.json"
DUMP = "database.dump"
LEAVES = "ledger-entry-hashes.bin"


@dataclass(frozen=True)
class Manifest:
    """Everything a restore checks before it changes anything."""

    format: int
    created_at: str
    circulo_version: str
    host: str
    audit_invocation: str | None
    database: DumpInfo
    dump_sha256: str
    leaves_sha256: str
    files: tuple[FileEntry, ...]

    def to_json(self) -> bytes:
        """The manifest file's bytes."""
        return json.dumps(asdict(self), indent=2, sort_keys=True).encode() + b"\n"

    @property
    def ledger(self) -> LedgerState:
        """The dumped ledger's state."""
        return self.database.ledger

    def members(self) -> dict[str, str]:
        """Every archive member besides the manifest, and its SHA-256."""
        return {
            DUMP: self.dump_sha256,
            LEAVES: self.leaves_sha256,
            **{f.member: f.sha256 for f in self.files},
        }


def manifest_from_json(data: bytes) -> Manifest:
    """Read a manifest; ArchiveDamaged when it is not one this version understands."""
    try:
        raw: dict[str, Any] = json.loads(data)
        database = dict(raw["database"])
        database["ledger"] = LedgerState(**database["ledger"])
        manifest = Manifest(**{**raw, "database": DumpInfo(**database),
                               "files": tuple(FileEntry(**f) for f in raw["files"])})  # fmt: skip
    except (ValueError, KeyError, TypeError) as e:
        raise ArchiveDamaged(f"the archive's manifest is not readable: {e}") from e
    if manifest.format != FORMAT:
        raise ArchiveDamaged(f"archive format {manifest.format} is not supported by this version of Circulo")
    return manifest
