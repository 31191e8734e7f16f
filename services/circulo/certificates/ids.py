"""Certificate id ranges (pure): allocation at issuance and exact partial takes.

One certificate is one Wh (face value 1 Wh), so a bundle's quantity is its Wh. A bundle holds
the ids ``start … end`` inclusive, ``quantity = end − start + 1`` always (the reference
registry's split sets ``end = start + size`` and breaks that; Circulo does not). A settlement
allocates one contiguous block from the registry's counter and gives each bundle its part in
order; a partial action takes the first ids of a bundle and leaves the rest as a second one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from circulo.certificates.errors import InvalidAction


@dataclass(frozen=True, order=True)
class IdRange:
    """Certificate ids ``start … end``, both included (``start ≤ end``)."""

    start: int
    end: int

    def __post_init__(self) -> None:
        if not 1 <= self.start <= self.end:
            raise ValueError(f"bad id range {self.start}-{self.end}")

    @property
    def quantity(self) -> int:
        """How many certificates (Wh) it holds."""
        return self.end - self.start + 1

    def __str__(self) -> str:
        return f"{self.start}-{self.end}"


def allocate(first_id: int, quantities: Sequence[int]) -> tuple[IdRange, ...]:
    """Contiguous ranges from ``first_id`` on, one per quantity (each ≥ 1), in order."""
    ranges, start = [], first_id
    for quantity in quantities:
        if quantity < 1:
            raise ValueError(f"a bundle holds at least 1 Wh, not {quantity}")
        ranges.append(IdRange(start, start + quantity - 1))
        start += quantity
    return tuple(ranges)


@dataclass(frozen=True)
class Take:
    """What an action takes of one bundle: ``taken``; ``rest`` is what stays behind (a split)."""

    bundle: IdRange
    taken: IdRange
    rest: IdRange | None


def split(bundle: IdRange, quantity: int) -> Take:
    """The first ``quantity`` ids of ``bundle`` (all of it when it holds no more)."""
    if quantity < 1:
        raise InvalidAction(f"a quantity must be at least 1 Wh, not {quantity}")
    if quantity >= bundle.quantity:
        return Take(bundle, bundle, None)
    cut = bundle.start + quantity
    return Take(bundle, IdRange(bundle.start, cut - 1), IdRange(cut, bundle.end))


def take(bundles: Sequence[IdRange], wh: int | None) -> tuple[Take, ...]:
    """The first ``wh`` Wh of ``bundles`` in the order given (None: all of them).

    Whole bundles are taken until the last one needed, which is split. Asking for more than
    the bundles hold, or for less than 1 Wh, is an error.
    """
    if wh is None:
        return tuple(Take(b, b, None) for b in bundles)
    held = sum(b.quantity for b in bundles)
    if wh < 1 or wh > held:
        raise InvalidAction(f"asked for {wh} Wh; the bundles named hold {held} Wh")
    takes, left = [], wh
    for bundle in bundles:
        if left == 0:
            break
        takes.append(split(bundle, left))
        left -= takes[-1].taken.quantity
    return tuple(takes)
