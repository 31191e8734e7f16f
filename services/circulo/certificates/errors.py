"""The certificate registry's errors: each one clear line on the command line, nothing written."""

from __future__ import annotations

from circulo.errors import CirculoError, Conflict


class InvalidAction(CirculoError):
    """An action names no bundle, a bad quantity, account or reporting period."""

    exit_code = 2


class WrongState(Conflict):
    """A bundle is not in the state (or not held by the account) the action needs."""


class CertificatesClaimed(Conflict):
    """A correction would withdraw certificates that were already claimed: it is refused."""
