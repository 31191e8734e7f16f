"""Errors of the PKI: one clear line each, and nothing written when one is raised."""

from __future__ import annotations

from circulo.errors import CirculoError, ConfigError


class PkiError(CirculoError):
    """A PKI operation cannot go ahead (missing CA, unreadable file, a key that does not match)."""

    exit_code = 2


class PkiNotInitialised(ConfigError):
    """No PKI in the configured directory."""
