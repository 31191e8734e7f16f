"""Reconnect backoff: exponential with full jitter, capped (pure).

A fleet that lost its broker must not reconnect in lockstep when it returns (a
thundering herd), so each attempt waits a random time up to the exponential bound
("full jitter", as in AWS's architecture blog and dramatiq's ``compute_backoff``).
"""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class Backoff:
    """Waits (seconds) between reconnect attempts."""

    base_s: float = 0.5
    cap_s: float = 10.0

    def bound(self, attempt: int) -> float:
        """The upper bound of the wait before attempt number ``attempt`` (1-based)."""
        return min(self.cap_s, self.base_s * 2.0 ** max(0, attempt - 1))

    def wait(self, attempt: int, rng: random.Random) -> float:
        """A wait in [base/2, bound]: jittered, but never a busy loop."""
        bound = self.bound(attempt)
        return float(rng.uniform(min(self.base_s / 2, bound), bound))
