"""Repair events as Open Repair Data Standard (ORDS) v0.3 rows (pure).

The standard is ``standard.rst`` of openrepair/datastandard (commit c1a1f29, 2024-05-30;
version 0.3, published 2021-12-07). It sets the field names and codelists but no column
order; :data:`COLUMNS` is the order of the Open Repair Alliance's published v0.3 files
(openrepair/data, ``aggregated/202507/tableschema.json``), with the standard's optional
``record_date`` last. The standard's age field is ``product_age`` (an early draft of the v0.3
table, 2021-11-18, called it ``product_age_estimate``; the published standard and data do not).

What never leaves the co-op: the owner and the repairer (no column carries them), and the
free-text ``problem`` unless the co-op opted in — and then with e-mail addresses, phone
numbers and the event's own account ids removed, as the standard asks ("Personal data
should be removed").
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Decimal

from circulo_schemas.ords import BARRIER_TEXT, STATUS_TEXT
from circulo_schemas.repair_categories import category

COLUMNS = (
    "id", "data_provider", "country", "partner_product_category", "product_category",
    "product_category_id", "brand", "year_of_manufacture", "product_age", "repair_status",
    "repair_barrier_if_end_of_life", "group_identifier", "event_date", "problem", "record_date",
)  # fmt: skip
REMOVED = "[removed]"
EMAIL_RE = re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+")
PHONE_RE = re.compile(r"\+?\d[\d ()./-]{6,}\d")
AGE_QUANTUM = Decimal("0.1")  # ORDS: "Float (0 to 1 dec places, e.g. 1, 1.5)"


@dataclass(frozen=True)
class Publisher:
    """What a co-op publishes under: its ORDS data provider name, country, and the problem opt-in."""

    coop_id: str
    data_provider: str
    country: str
    publish_problems: bool = False


@dataclass(frozen=True)
class StoredRepair:
    """A repair event as stored (``owner`` and ``repairer`` only to scrub them from ``problem``)."""

    device_id: str
    event_id: str
    ts: datetime
    received_at: datetime
    category: str
    status: str
    age_years: Decimal | None
    problem: str | None
    brand: str | None
    year_of_manufacture: int | None
    barrier: str | None
    owner: str | None
    repairer: str | None
    coop_id: str


def record_id(repair: StoredRepair) -> str:
    """``{device_id}:{event_id}``: stable across exports and unambiguous (no device id has a colon)."""
    return f"{repair.device_id}:{repair.event_id}"


def group_identifier(repair: StoredRepair) -> str:
    """The repair station that did the repair, named within its co-op: ``{coop_id}/{device_id}``."""
    return f"{repair.coop_id}/{repair.device_id}"


def utc_date(moment: datetime) -> str:
    """``YYYY-MM-DD`` of the moment in UTC."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d")


def product_age(repair: StoredRepair) -> str:
    """The item's age in years with at most one decimal; derived from the year when only that is known."""
    if repair.age_years is not None:
        age = repair.age_years.quantize(AGE_QUANTUM, rounding=ROUND_HALF_EVEN)
        return str(int(age)) if age == age.to_integral_value() else str(age)
    if repair.year_of_manufacture is not None:
        return str(repair.ts.astimezone(UTC).year - repair.year_of_manufacture)
    return ""


def scrub_problem(text: str, accounts: Iterable[str | None]) -> str:
    """The problem on one line, without e-mail addresses, phone numbers or the given account ids."""
    scrubbed = EMAIL_RE.sub(REMOVED, text)
    for account in sorted({a for a in accounts if a}, key=len, reverse=True):
        scrubbed = scrubbed.replace(account, REMOVED)
    scrubbed = PHONE_RE.sub(REMOVED, scrubbed)
    return " ".join(scrubbed.split())


def published_problem(repair: StoredRepair, publisher: Publisher) -> str:
    """The problem as published: empty unless the co-op opted in."""
    if not publisher.publish_problems or repair.problem is None:
        return ""
    return scrub_problem(repair.problem, (repair.owner, repair.repairer))


def ords_row(repair: StoredRepair, publisher: Publisher) -> dict[str, str]:
    """One repair as an ORDS v0.3 row (every value a string; empty when not known)."""
    return {
        "id": record_id(repair),
        "data_provider": publisher.data_provider,
        "country": publisher.country,
        "partner_product_category": repair.category,
        "product_category": repair.category,
        "product_category_id": str(category(repair.category).ords_id),
        "brand": repair.brand or "",
        "year_of_manufacture": "" if repair.year_of_manufacture is None else str(repair.year_of_manufacture),
        "product_age": product_age(repair),
        "repair_status": STATUS_TEXT[repair.status],
        "repair_barrier_if_end_of_life": BARRIER_TEXT[repair.barrier] if repair.barrier else "",
        "group_identifier": group_identifier(repair),
        "event_date": utc_date(repair.ts),
        "problem": published_problem(repair, publisher),
        "record_date": utc_date(repair.received_at),
    }


def csv_text(rows: Iterable[dict[str, str]]) -> str:
    """The CSV document: a header row of :data:`COLUMNS`, then the rows (RFC 4180 quoting, CRLF)."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS, extrasaction="raise")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()
