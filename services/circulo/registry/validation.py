"""Rules a device specification, a co-op and a member must follow (pure).

The database has the same constraints; checking here first lets an installer see every
problem of a survey row in words, with its line number, before anything is written.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal, InvalidOperation

import pycountry

from circulo.registry.model import DeviceSpec
from circulo_schemas.profiles import CIRCULO, PROFILED_KINDS, PROFILES
from circulo_schemas.topics import ACCOUNT_RE, DEVICE_ID_RE, KINDS

COOP_ID_RE = DEVICE_ID_RE
MAX_TEXT = {"location_name": 200, "installer": 128, "notes": 2000}
MAX_RATED_POWER_W = 2**31 - 1
MAX_CAPACITY_KG = Decimal("9999999.999")  # numeric(10, 3)
# a printable line: no control characters (these end up in terminals and dashboards)
_PRINTABLE = re.compile(r"^[^\x00-\x1f\x7f]*$")


class InvalidValue(ValueError):
    """One field of a device specification cannot be read."""


def spec_problems(spec: DeviceSpec) -> list[str]:
    """Everything wrong with a device specification, in words (empty when it is valid)."""
    return [
        *_identity_problems(spec),
        *_location_problems(spec.lat, spec.lon),
        *_rating_problems(spec),
        *_profile_problems(spec),
        *_text_problems(spec),
    ]


def _profile_problems(spec: DeviceSpec) -> list[str]:
    if spec.profile not in PROFILES:
        return [f"profile {spec.profile!r} is not one of {', '.join(PROFILES)}"]
    if spec.profile != CIRCULO and spec.kind not in PROFILED_KINDS:
        return [f"profile {spec.profile} is for meters only ({spec.kind}s run Circulo's own firmware)"]
    return []


def _identity_problems(spec: DeviceSpec) -> list[str]:
    problems = []
    if spec.kind not in KINDS:
        problems.append(f"kind {spec.kind!r} is not one of {', '.join(KINDS)}")
    if not DEVICE_ID_RE.fullmatch(spec.device_id):
        problems.append(f"device_id {spec.device_id!r} {ID_RULE}")
    if not COOP_ID_RE.fullmatch(spec.coop_id):
        problems.append(f"coop_id {spec.coop_id!r} {ID_RULE}")
    return problems


ID_RULE = "must be 1-64 letters, digits, '_' or '-', starting with a letter or digit"


def _location_problems(lat: float | None, lon: float | None) -> list[str]:
    if (lat is None) != (lon is None):
        return ["lat and lon go together: give both or neither"]
    problems = []
    if lat is not None and not -90 <= lat <= 90:
        problems.append(f"lat {lat} is outside -90..90")
    if lon is not None and not -180 <= lon <= 180:
        problems.append(f"lon {lon} is outside -180..180")
    return problems


def _rating_problems(spec: DeviceSpec) -> list[str]:
    problems = []
    if spec.kind == "meter" and spec.rated_power_w is None:
        problems.append("a meter needs rated_power_w (the rewards plausibility rule uses it)")
    if spec.rated_power_w is not None:
        if spec.kind != "meter":
            problems.append("rated_power_w is for meters only")
        elif not 0 < spec.rated_power_w <= MAX_RATED_POWER_W:
            problems.append(f"rated_power_w {spec.rated_power_w} must be a whole number of watts > 0")
    if spec.capacity_kg is not None:
        if spec.kind != "bin":
            problems.append("capacity_kg is for bins only")
        elif not Decimal(0) < spec.capacity_kg <= MAX_CAPACITY_KG:
            problems.append(f"capacity_kg {spec.capacity_kg} must be > 0 and at most {MAX_CAPACITY_KG}")
        elif decimal_places(spec.capacity_kg) > 3:
            problems.append(f"capacity_kg {spec.capacity_kg} has more than 3 decimals")
    return problems


def decimal_places(number: Decimal) -> int:
    """How many digits a finite decimal has after the point."""
    exponent = number.as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


def _text_problems(spec: DeviceSpec) -> list[str]:
    problems = []
    for name, limit in MAX_TEXT.items():
        value: str | None = getattr(spec, name)
        if value is None:
            continue
        if len(value) > limit:
            problems.append(f"{name} is longer than {limit} characters")
        if name != "notes" and not _PRINTABLE.fullmatch(value):
            problems.append(f"{name} has control characters (line breaks, tabs)")
    return problems


def coop_problems(coop_id: str, name: str) -> list[str]:
    """What is wrong with a new co-op."""
    problems = [] if COOP_ID_RE.fullmatch(coop_id) else [f"coop_id {coop_id!r} {ID_RULE}"]
    if not name.strip() or len(name) > 200 or not _PRINTABLE.fullmatch(name):
        problems.append("name must be one printable line of 1-200 characters")
    return problems


def member_problems(account: str, shares: int) -> list[str]:
    """What is wrong with a member account and its shares."""
    problems = []
    if not ACCOUNT_RE.fullmatch(account):
        problems.append(
            f"account {account!r} must be 1-128 letters, digits, '@', '.', '_' or '-', "
            "starting with a letter or digit"
        )
    if account.startswith("treasury@"):
        problems.append("treasury@… accounts are the co-ops' own; they are not members")
    if not 0 <= shares <= 2**63 - 1:
        problems.append(f"shares {shares} must be a whole number ≥ 0")
    return problems


# --- reading text cells (a survey's CSV, where every value is a string) ---------------------
def text_or_none(name: str, cell: str) -> str | None:
    """A trimmed text cell, or None when empty (``name`` for the signature every parser shares)."""
    value = cell.strip()
    return value or None


def parse_profile(name: str, cell: str) -> str | None:
    """A device profile cell; empty means the default (``circulo``)."""
    return text_or_none(name, cell.lower())


def parse_coordinate(name: str, cell: str) -> float | None:
    """A latitude or longitude in decimal degrees."""
    value = text_or_none(name, cell)
    if value is None:
        return None
    try:
        number = float(value)
    except ValueError as e:
        raise InvalidValue(f"{name} {value!r} is not a number (decimal degrees, e.g. 52.3702)") from e
    if not math.isfinite(number):
        raise InvalidValue(f"{name} {value!r} is not a finite number")
    return number


def parse_watts(name: str, cell: str) -> int | None:
    """A whole number of watts."""
    value = text_or_none(name, cell)
    if value is None:
        return None
    if not re.fullmatch(r"[0-9]{1,10}", value):
        raise InvalidValue(f"{name} {value!r} must be a whole number of watts, e.g. 5000")
    return int(value)


def parse_kilograms(name: str, cell: str) -> Decimal | None:
    """A mass in kilograms, read as an exact decimal."""
    value = text_or_none(name, cell)
    if value is None:
        return None
    try:
        number = Decimal(value)
    except InvalidOperation as e:
        raise InvalidValue(f"{name} {value!r} is not a number of kilograms, e.g. 240.5") from e
    if not number.is_finite():
        raise InvalidValue(f"{name} {value!r} is not a finite number")
    return number


def open_data_problems(data_provider: str, country: str) -> list[str]:
    """What is wrong with a co-op's open-data settings (country: an ISO 3166-1 alpha-3 code)."""
    problems = []
    if not data_provider.strip() or len(data_provider) > 200 or not _PRINTABLE.fullmatch(data_provider):
        problems.append("data provider must be one printable line of 1-200 characters")
    if not (len(country) == 3 and country.isupper() and pycountry.countries.get(alpha_3=country)):
        problems.append(f"country {country!r} is not an ISO 3166-1 alpha-3 code (e.g. GBR, DEU, CAN)")
    return problems
