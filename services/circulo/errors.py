"""One small error hierarchy for every Circulo service.

Each error carries the data a caller needs; the command line turns any of them into one
clear line and a non-zero exit status (SPEC §7), never a traceback.
"""

from __future__ import annotations


class CirculoError(Exception):
    """Base of every error Circulo raises on purpose."""

    exit_code: int = 1

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class ConfigError(CirculoError):
    """A setting is missing or invalid; the message names the setting."""

    exit_code = 2


class ServiceUnavailable(CirculoError):
    """The database or the broker could not be reached."""

    exit_code = 3


class NotFound(CirculoError):
    """A named thing (device, co-op, ledger entry) does not exist."""

    exit_code = 4


class Conflict(CirculoError):
    """The request contradicts what is already recorded."""

    exit_code = 5


class VerificationFailed(CirculoError):
    """An integrity check failed; the message names the first bad item."""

    exit_code = 6
