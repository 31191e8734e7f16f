"""The ledger's errors: each a CirculoError subclass the command line prints as one line."""

from __future__ import annotations

from circulo.errors import CirculoError, ConfigError, Conflict


class InvalidEntry(CirculoError):
    """An entry (or its sources) breaks a rule of SPEC §5/§8 before it reaches the journal."""

    exit_code = 2


class SigningKeyError(ConfigError):
    """The signing key is missing, unreadable, exposed to other users, or would be overwritten."""


class KeyMismatch(Conflict):
    """The signing key is not the key of the ledger's latest entry and no rotation is recorded."""


class DuplicateEntry(Conflict):
    """An idempotency key (reason, settlement, account) is already in the journal."""


class InvalidProof(CirculoError):
    """A proof or checkpoint document is malformed (as opposed to well-formed but false)."""

    exit_code = 2
