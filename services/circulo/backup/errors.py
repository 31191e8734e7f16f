"""Errors of backup and restore: each one clear line, raised before anything is changed."""

from __future__ import annotations

from circulo.errors import CirculoError, VerificationFailed


class BackupError(CirculoError):
    """A backup cannot be made or read (a missing file, a tool that failed)."""


class WrongPassphrase(BackupError):
    """The passphrase does not open the archive."""


class ArchiveDamaged(VerificationFailed):
    """The archive is not a Circulo backup, is truncated, or a byte of it changed."""


class RestoreRefused(BackupError):
    """The restore would leave the stack in a state nobody should accept silently."""

    exit_code = 5
