"""Why a message was refused, as data: the SPEC §3 reason code and a short detail.

Kept free of the ``circulo`` service package so that firmware tools and third parties
can use the wire contract on its own.
"""

from __future__ import annotations

# The SPEC §3 quarantine reason codes; the wire contract itself raises only the first
# five, the ingest service the rest.
REASONS = (
    "topic",
    "too_large",
    "not_utf8",
    "not_json",
    "schema",
    "unknown_device",
    "retired_device",
    "kind_mismatch",
    "clock_skew",
    "too_old",
    "conflict",
)


class Rejection(Exception):
    """A message that breaks the wire contract; ``reason`` is a SPEC §3 reason code."""

    def __init__(self, reason: str, detail: str) -> None:
        if reason not in REASONS:
            raise ValueError(f"unknown rejection reason {reason!r}")
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


class UnknownRepairCategory(KeyError):
    """A name that is not a product category of the repair factor table."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name

    def __str__(self) -> str:
        return f"unknown repair category {self.name!r}"
