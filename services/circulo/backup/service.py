"""Backup and restore: the steps in order, each refusing before anything changes.

**Create** copies the configured files, dumps the database with the ledger's state read
in the dump's own snapshot, writes a manifest of SHA-256 hashes, and streams all of it as
one tar through the encryption into ``OUTPUT.partial``, renamed to ``OUTPUT`` (0600) when
complete. **Open** decrypts a whole archive into a private temporary folder, checks every
chunk, member and hash, and the entry hashes against the manifest's Merkle root.
**Restore** opens the archive, judges every published checkpoint it can find against the
archive's ledger, checks that the target database is empty and its TimescaleDB the same,
and only then restores the database (one transaction), puts the files back (a different
file already there is kept aside), verifies the restored ledger, and records the restore
in the audit trail.
"""

from __future__ import annotations

import io
import os
import socket
import tarfile
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from circulo import __version__
from circulo.audit import queries as audit_queries
from circulo.audit import trail
from circulo.backup import database
from circulo.backup.crypto import EncryptingWriter, decrypt_to
from circulo.backup.errors import ArchiveDamaged, BackupError, RestoreRefused
from circulo.backup.files import FileEntry, collect, items, put_back, sha256_of, target_path
from circulo.backup.manifest import DUMP, FORMAT, LEAVES, MANIFEST, Manifest, manifest_from_json
from circulo.backup.published import Judgement, Published, Verdict, from_broker, from_file, judge
from circulo.backup.settings import BackupSettings
from circulo.errors import ConfigError, VerificationFailed
from circulo.ledger import audit as ledger_audit
from circulo.ledger import merkle
from circulo.ledger.checkpoint import checkpoint_from_dict
from circulo.ledger.settings import LedgerSettings
from circulo.store.db import connect

MIN_PASSPHRASE = 12
HASH_SIZE = 32


def read_passphrase(settings: BackupSettings, *, creating: bool = False) -> bytes:
    """The passphrase from its file or the environment (never a flag); long enough when creating."""
    if settings.passphrase_file is not None:
        try:
            text = settings.passphrase_file.read_text(encoding="utf-8").rstrip("\r\n")
        except OSError as e:
            raise ConfigError(f"passphrase_file {settings.passphrase_file}: {e.strerror}") from e
    elif settings.passphrase is not None:
        text = settings.passphrase.get_secret_value()
    else:
        raise ConfigError("no passphrase: set CIRCULO_BACKUP_PASSPHRASE_FILE (a file only you can read) "
                          "or CIRCULO_BACKUP_PASSPHRASE")  # fmt: skip
    if creating and len(text) < MIN_PASSPHRASE:
        raise ConfigError(f"the passphrase must have at least {MIN_PASSPHRASE} characters")
    return text.encode("utf-8")


# --- create -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class CreateReport:
    """What went into the archive."""

    archive: Path
    files: list[str]
    ledger_size: int
    ledger_root: str
    bytes_written: int


def create(
    backup: BackupSettings, ledger: LedgerSettings, output: Path, *, audit_invocation: str | None = None
) -> CreateReport:
    """Write one encrypted archive of the files and a consistent database dump to ``output``."""
    passphrase = read_passphrase(backup, creating=True)
    if output.exists():
        raise BackupError(f"{output} exists; refusing to overwrite a backup")
    all_items = items(backup, ledger)
    output.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=output.parent, prefix=".circulo-backup-") as work_dir:
        work = Path(work_dir)
        entries = collect(all_items, work)
        info, hashes = database.dump(backup.database_url, work / DUMP, backup.pg_bindir)
        (work / LEAVES).write_bytes(b"".join(hashes))
        manifest = Manifest(FORMAT, datetime.now(UTC).isoformat(), __version__, socket.gethostname(),
                            audit_invocation, info, sha256_of(work / DUMP), sha256_of(work / LEAVES),
                            tuple(entries))  # fmt: skip
        write_archive(output, manifest, work, passphrase)
    return CreateReport(output, [e.item for e in entries], info.ledger.size, info.ledger.root,
                        output.stat().st_size)  # fmt: skip


def write_archive(output: Path, manifest: Manifest, work: Path, passphrase: bytes) -> None:
    """Manifest first, then every member, as one tar through the encryption; renamed when complete."""
    partial = output.with_name(output.name + ".partial")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "wb") as raw:
            writer = EncryptingWriter(raw, passphrase)
            with tarfile.open(fileobj=writer, mode="w|") as tar:  # type: ignore[call-overload]
                add_bytes(tar, MANIFEST, manifest.to_json())
                for member in manifest.members():
                    tar.add(work / member, arcname=member, recursive=False)
            writer.close()
            raw.flush()
            os.fsync(raw.fileno())
        os.replace(partial, output)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


def add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    """A member from bytes."""
    info = tarfile.TarInfo(name)
    info.size, info.mode = len(data), 0o600
    tar.addfile(info, io.BytesIO(data))


# --- open and verify ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Opened:
    """A decrypted, checked archive in a private folder."""

    manifest: Manifest
    folder: Path
    entry_hashes: list[bytes]

    def member(self, name: str) -> Path:
        """A member's extracted file."""
        return self.folder / name


def open_archive(archive: Path, passphrase: bytes, work: Path) -> Opened:
    """Decrypt and check the whole archive (every chunk, member and hash) into ``work``."""
    if not archive.is_file():
        raise BackupError(f"no archive at {archive}")
    plain = work / "archive.tar"
    with archive.open("rb") as source, plain.open("wb") as out:
        decrypt_to(source, out, passphrase)
    folder = work / "contents"
    manifest = extract(plain, folder)
    plain.unlink()
    for member, digest in manifest.members().items():
        if sha256_of(folder / member) != digest:
            raise ArchiveDamaged(f"{member}: SHA-256 does not match the manifest")
    return Opened(manifest, folder, checked_hashes(folder / LEAVES, manifest))


def extract(plain: Path, folder: Path) -> Manifest:
    """Extract the tar, refusing anything the manifest does not list or that is not a plain file."""
    try:
        with tarfile.open(plain, "r:") as tar:
            members = tar.getmembers()
            if not members or members[0].name != MANIFEST:
                raise ArchiveDamaged("the archive does not start with its manifest")
            manifest_file = tar.extractfile(members[0])
            manifest = manifest_from_json(manifest_file.read() if manifest_file else b"")
            names = [m.name for m in members[1:]]
            if sorted(names) != sorted(manifest.members()) or not all(m.isfile() for m in members):
                raise ArchiveDamaged("the archive's members are not those its manifest lists")
            tar.extractall(folder, filter="data")
    except tarfile.TarError as e:
        raise ArchiveDamaged(f"the archive's contents are damaged: {e}") from e
    return manifest


def checked_hashes(path: Path, manifest: Manifest) -> list[bytes]:
    """The dumped ledger's entry hashes, checked against the manifest's size and Merkle root."""
    data = path.read_bytes()
    hashes = [data[i : i + HASH_SIZE] for i in range(0, len(data), HASH_SIZE)]
    root = merkle.root_of_hashes([merkle.leaf_hash(h) for h in hashes]).hex()
    if len(hashes) != manifest.ledger.size or root != manifest.ledger.root:
        raise ArchiveDamaged("the archive's ledger entry hashes do not match its manifest")
    return hashes


def published_checkpoints(
    backup: BackupSettings, ledger: LedgerSettings, files: Iterable[Path], opened: Opened
) -> list[Published]:
    """The checkpoints to judge: given files, this host's checkpoint file, the broker's, the archive's."""
    found = [from_file(path) for path in files]
    if ledger.checkpoint_file.is_file():
        found.append(from_file(ledger.checkpoint_file))
    if backup.broker_checkpoint_wait_s > 0:
        retained = from_broker(backup.mqtt_url, backup.broker_checkpoint_wait_s)
        found += [retained] if retained else []
    latest = opened.manifest.ledger.latest_checkpoint
    if latest is not None:
        found.append(Published("archive (latest recorded)", checkpoint_from_dict(latest)))
    return found


def judge_all(found: list[Published], opened: Opened) -> list[Judgement]:
    """Each checkpoint against the archive's ledger."""
    return [judge(p, opened.entry_hashes, opened.manifest.ledger.public_keys) for p in found]


# --- restore ------------------------------------------------------------------------------------
@dataclass
class RestoreReport:
    """What the restore did and found."""

    archive: Path
    created_at: str
    ledger_size: int
    ledger_root: str
    checkpoints: list[Judgement]
    files: list[dict[str, Any]] = field(default_factory=list)
    accepted_older: bool = False

    def as_dict(self) -> dict[str, Any]:
        """The ``--json`` form."""
        return {"archive": str(self.archive), "created_at": self.created_at, "ledger_size": self.ledger_size,
                "ledger_root": self.ledger_root, "checkpoints": [j.as_dict() for j in self.checkpoints],
                "files": self.files, "accepted_older": self.accepted_older}  # fmt: skip


def refuse_unless_consistent(judgements: list[Judgement], *, accept_older: bool) -> bool:
    """RestoreRefused for an inconsistent or foreign checkpoint, and for an older archive unless accepted."""
    for j in judgements:
        if j.verdict in (Verdict.INCONSISTENT, Verdict.UNSIGNED):
            raise RestoreRefused(f"checkpoint from {j.published.source}: {j.verdict.value}: {j.detail}")
    older = [j for j in judgements if j.verdict is Verdict.OLDER]
    if older and not accept_older:
        j = max(older, key=lambda o: o.published.checkpoint.size)
        raise RestoreRefused(
            f"the archive's ledger is older than the last published checkpoint ({j.published.source}): "
            f"{j.detail}; members hold proofs of entries this restore would lose. Restore a newer archive, "
            "or accept the loss on purpose with --accept-older-ledger"
        )
    return bool(older)


def restore(
    backup: BackupSettings,
    ledger: LedgerSettings,
    archive: Path,
    *,
    checkpoint_files: Iterable[Path] = (),
    accept_older: bool = False,
    operator: str | None = None,
) -> RestoreReport:
    """Restore the archive onto this host's (fresh) stack; nothing changes unless every check passes."""
    passphrase = read_passphrase(backup)
    with tempfile.TemporaryDirectory(prefix="circulo-restore-") as work_dir:
        opened = open_archive(archive, passphrase, Path(work_dir))
        by_name = {item.name: item for item in items(backup, ledger)}
        targets = [(entry, target_path(entry, by_name)) for entry in opened.manifest.files]
        judgements = judge_all(published_checkpoints(backup, ledger, checkpoint_files, opened), opened)
        accepted = refuse_unless_consistent(judgements, accept_older=accept_older)
        database.check_target(backup.database_url, opened.manifest.database.timescaledb_version)
        database.restore(backup.database_url, opened.member(DUMP), backup.pg_bindir)
        report = RestoreReport(archive, opened.manifest.created_at, opened.manifest.ledger.size,
                               opened.manifest.ledger.root, judgements, accepted_older=accepted)  # fmt: skip
        report.files = put_files(opened, targets)
    verify_restored(backup.database_url)
    record_restore(backup.database_url, opened.manifest, report, operator)
    return report


def put_files(opened: Opened, targets: list[tuple[FileEntry, Path]]) -> list[dict[str, Any]]:
    """Every file to its configured place, with its original mode."""
    done = []
    for entry, target in targets:
        kept = put_back(opened.member(entry.member), target, entry.mode)
        done.append({"item": entry.item, "path": str(target), "kept_aside": str(kept) if kept else None})
    return done


def verify_restored(database_url: str) -> None:
    """``ledger verify`` of the restored database: every hash, link, signature and checkpoint."""
    with connect(database_url, application_name="circulo-restore") as conn:
        result = ledger_audit.verify_database(conn)
    if result.first_bad is not None:
        raise VerificationFailed(f"the restored ledger does not verify: {result.first_bad}")


def record_restore(
    database_url: str, manifest: Manifest, report: RestoreReport, operator: str | None
) -> None:
    """The backup's own outcome (it could not be in its dump) and the restore, in the restored audit trail."""
    if manifest.audit_invocation:
        with connect(database_url, application_name="circulo-restore") as conn:
            conn.execute(audit_queries.INSERT_OUTCOME_IF_MISSING, {
                "invocation": manifest.audit_invocation, "outcome": "ok",
                "detail": "archive written; recorded by the restore"})  # fmt: skip
    arguments = {"archive": str(report.archive), "accept_older_ledger": report.accepted_older,
                 "ledger_size": report.ledger_size}  # fmt: skip
    invocation = trail.Invocation.here("backup restore", arguments, operator)
    trail.record_start(database_url, invocation)
    detail = "accepted an archive older than the last published checkpoint" if report.accepted_older else ""
    trail.record_outcome(database_url, invocation, "ok", detail)


def verify(
    backup: BackupSettings, ledger: LedgerSettings, archive: Path, checkpoint_files: Iterable[Path] = ()
) -> tuple[Manifest, list[Judgement]]:
    """Open and check an archive without restoring it; its manifest and the checkpoints' verdicts."""
    passphrase = read_passphrase(backup)
    with tempfile.TemporaryDirectory(prefix="circulo-verify-") as work_dir:
        opened = open_archive(archive, passphrase, Path(work_dir))
        judgements = judge_all(published_checkpoints(backup, ledger, checkpoint_files, opened), opened)
    return opened.manifest, judgements


__all__ = ["BackupError", "create", "restore", "verify"]
