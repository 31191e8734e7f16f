"""The Open Repair Data Standard (ORDS) v0.3 vocabularies that repair events use (pure).

Source: ``standard.rst`` of openrepair/datastandard at commit c1a1f29 (2024-05-30; the
standard's version 0.3, published 2021-12-07), sections "Repair status values" and
"Repair barrier values". The wire uses short snake-case codes, as for ``status``; the
open-data export (``circulo repairs export --format ords``) writes the standard's texts,
spelled exactly as its code lists spell them (the published data uses the same strings).
"""

from __future__ import annotations

from typing import Literal, get_args

# The repair barrier codelist, in the standard's order (codes 1-6). Only relevant where the
# repair status is "End of life".
RepairBarrier = Literal[
    "spare_parts_not_available",
    "spare_parts_too_expensive",
    "no_way_to_open",
    "repair_information_not_available",
    "lack_of_equipment",
    "too_worn_out",
]
BARRIERS: tuple[str, ...] = get_args(RepairBarrier)

BARRIER_TEXT: dict[str, str] = {
    "spare_parts_not_available": "Spare parts not available",
    "spare_parts_too_expensive": "Spare parts too expensive",
    "no_way_to_open": "No way to open product",
    "repair_information_not_available": "Repair information not available",
    "lack_of_equipment": "Lack of equipment",
    "too_worn_out": "Item too worn out",
}

# The repair status codelist (code 0 "Unknown" is what an empty value means; a Circulo repair
# always has a status).
STATUS_TEXT: dict[str, str] = {
    "fixed": "Fixed",
    "repairable": "Repairable",
    "end_of_life": "End of life",
}
END_OF_LIFE = "end_of_life"

# Years a repair event may name as the item's year of manufacture (ORDS: YYYY).
EARLIEST_YEAR = 1850
