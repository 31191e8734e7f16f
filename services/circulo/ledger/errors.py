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


class InsufficientFunds(Conflict):
    """A burn would take an account below zero; nothing was written.

    Carries the account, token, what it holds and what the burn needs, so the message names
    the shortfall (e.g. a correction of a mint whose tokens were transferred on).
    """

    def __init__(self, account: str, token: str, held_micro: int, needed_micro: int, what: str) -> None:
        shortfall = needed_micro - held_micro
        super().__init__(
            f"{what}: {account} holds {held_micro} µ{token}, {needed_micro} µ{token} are needed "
            f"(shortfall {shortfall} µ{token})"
        )
        self.account = account
        self.token = token
        self.held_micro = held_micro
        self.needed_micro = needed_micro
        self.shortfall_micro = shortfall
