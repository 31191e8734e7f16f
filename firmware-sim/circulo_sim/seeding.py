"""Stable random streams: every random choice is a pure function of the seed and a name.

Python's ``hash()`` changes between processes, so streams are keyed by BLAKE2b of the
seed and the parts that name the stream (device, purpose, day, hour). The same seed and
the same parts give the same numbers in every run, whatever else the run contains.
"""

from __future__ import annotations

import hashlib
from datetime import date, datetime

import numpy as np

_SEPARATOR = "\x1f"


def _part_text(part: object) -> str:
    if isinstance(part, datetime | date):
        return part.isoformat()
    return str(part)


def derive_seed(seed: int, *parts: object) -> int:
    """A 64-bit seed for the stream named by ``parts`` under ``seed``."""
    text = _SEPARATOR.join([str(seed), *(_part_text(p) for p in parts)])
    return int.from_bytes(hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest(), "big")


def stream(seed: int, *parts: object) -> np.random.Generator:
    """A numpy generator for the stream named by ``parts`` under ``seed``."""
    return np.random.default_rng(derive_seed(seed, *parts))


def unit_interval(seed: int, *parts: object) -> float:
    """One uniform number in [0, 1) for the stream named by ``parts`` (cheap, no generator)."""
    return derive_seed(seed, *parts) / 2.0**64
