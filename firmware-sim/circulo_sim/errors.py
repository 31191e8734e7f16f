"""The simulator's own small error hierarchy (it stands alone: only ``circulo_schemas`` besides).

Each error carries a message for one clear line; ``circulo sim run`` prints it and exits with
``exit_code`` (the same codes as the service's errors), never a traceback.
"""

from __future__ import annotations


class SimError(Exception):
    """Base of every error the simulator raises on purpose."""

    exit_code: int = 1

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class ConfigError(SimError):
    """A setting, flag, fleet file or bundle is missing or invalid; the message names it."""

    exit_code = 2


class ServiceUnavailable(SimError):
    """The registry database or the broker could not be reached."""

    exit_code = 3


class NotFound(SimError):
    """A named thing (a co-op) does not exist."""

    exit_code = 4
