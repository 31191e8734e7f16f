"""Errors of the registry (subclasses of the project's small hierarchy)."""

from __future__ import annotations

from circulo.errors import CirculoError


class InvalidInput(CirculoError):
    """A device, co-op or member specification breaks a rule; the message lists every problem."""

    exit_code = 2

    def __init__(self, what: str, problems: list[str]) -> None:
        super().__init__(f"{what}: " + "; ".join(problems))
        self.problems = problems


class BrokerStepFailed(CirculoError):
    """The registry was updated but a broker step failed; ``device sync`` repairs it."""

    exit_code = 3
