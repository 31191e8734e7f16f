"""The rewards policy (SPEC §4): a versioned TOML file, validated on load.

Every mint records :attr:`Policy.version`, so an amount can always be traced to the rules
that produced it. The default policy ships inside the package (``policy-v2.toml``, read
with :func:`default_policy`); ``deploy/policy/rewards-policy-v2.toml`` is the same file for
operators to copy and edit. An edited policy must carry a new ``version``. Policy v2 adds
``green.glitch_window_s`` (SPEC §10's glitch readings); a v1 file still loads, with the
glitch rule off (window 0), so its mints are what v1 minted.

Rates are exact decimals: the file is parsed with ``parse_float=Decimal``, so ``2.5`` is
2.5, never a binary float, and every amount is computed by integer arithmetic from it.
"""

from __future__ import annotations

import tomllib
from datetime import UTC, datetime
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from circulo.errors import ConfigError
from circulo_schemas.payloads import MATERIALS

DEFAULT_POLICY_FILE = "policy-v2.toml"
MICRO = 1_000_000


class PolicyError(ConfigError):
    """The policy file is missing, not TOML, or a key is missing, unknown or out of range."""


def exact_number(value: Any) -> Any:
    """Accept TOML integers and exact decimals only (no booleans, strings or floats)."""
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        raise ValueError("expected a number")
    return Decimal(value)


def whole_number(value: Any) -> Any:
    """Accept TOML integers only (a boolean is not a number)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError("expected an integer")
    return value


ExactNumber = Annotated[Decimal, BeforeValidator(exact_number), Field(ge=0, allow_inf_nan=False)]
WholeNumber = Annotated[int, BeforeValidator(whole_number)]


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class GreenPolicy(_Section):
    """Green credits for metered renewable energy."""

    grn_per_kwh: ExactNumber
    treasury_bp: Annotated[WholeNumber, Field(ge=0, le=10_000)]
    plausibility_pct: Annotated[WholeNumber, Field(gt=0)]
    idle_timeout_s: Annotated[WholeNumber, Field(gt=0)]
    # policy v2: 0 (a v1 file, which has no such key) keeps every dip a counter reset
    glitch_window_s: Annotated[WholeNumber, Field(ge=0, le=86_400)] = 0

    @property
    def glitch_window_us(self) -> int:
        """The glitch window in microseconds (the pair rules' unit)."""
        return self.glitch_window_s * 1_000_000


class RecyclingPolicy(_Section):
    """Recycling tokens for deposits, settled at the bin's collection."""

    daily_cap_rcy: ExactNumber
    tolerance_pct: Annotated[WholeNumber, Field(ge=0)]
    collection_grace_s: Annotated[WholeNumber, Field(ge=0)]
    rates_rcy_per_kg: dict[str, ExactNumber]

    @field_validator("rates_rcy_per_kg")
    @classmethod
    def every_material_has_a_rate(cls, rates: dict[str, Decimal]) -> dict[str, Decimal]:
        """Exactly the SPEC §2 materials: a missing or unknown one is named."""
        unknown = sorted(set(rates) - set(MATERIALS))
        missing = [m for m in MATERIALS if m not in rates]
        if unknown:
            raise ValueError(f"unknown material {unknown[0]!r} (materials: {', '.join(MATERIALS)})")
        if missing:
            raise ValueError(f"no rate for material {missing[0]!r}")
        return rates

    @property
    def daily_cap_micro(self) -> int:
        """The daily cap in µRCY (rounded down to a whole micro-unit)."""
        numerator, denominator = self.daily_cap_rcy.as_integer_ratio()
        return numerator * MICRO // denominator


class RepairPolicy(_Section):
    """Recycling tokens for fixed repairs."""

    rcy_per_kg: ExactNumber
    owner_pct: Annotated[WholeNumber, Field(ge=0, le=100)]
    max_weight_factor: Annotated[WholeNumber, Field(gt=0)]
    max_weight_g_without_reference: Annotated[WholeNumber, Field(gt=0)]


MONTH_PATTERN = r"^\d{4}-(0[1-9]|1[0-2])$"


class FloorPolicy(_Section):
    """The basic-token floor (SPEC §13): µ per member per month of each token (0 = none).

    ``floor_from`` (``YYYY-MM``) is the first month topped up: switching a floor on never pays
    for the months before it. It is required when any floor is above 0.
    """

    floor_micro_per_month: dict[str, Annotated[WholeNumber, Field(ge=0, le=2**53 - 1)]] = Field(
        default_factory=lambda: {"GRN": 0, "RCY": 0}
    )
    floor_from: Annotated[str, Field(pattern=MONTH_PATTERN)] | None = None

    @field_validator("floor_micro_per_month")
    @classmethod
    def known_tokens(cls, floors: dict[str, int]) -> dict[str, int]:
        """Only GRN and RCY have a floor."""
        unknown = sorted(set(floors) - {"GRN", "RCY"})
        if unknown:
            raise ValueError(f"unknown token {unknown[0]!r} (tokens: GRN, RCY)")
        return {"GRN": 0, "RCY": 0, **floors}

    @model_validator(mode="after")
    def starts_somewhere(self) -> FloorPolicy:
        """A floor above 0 says from which month it applies."""
        if any(self.floor_micro_per_month.values()) and self.floor_from is None:
            raise ValueError("floor_from (YYYY-MM) is required when a floor is above 0")
        return self

    @property
    def first_month(self) -> datetime | None:
        """The first month topped up (its first instant, UTC)."""
        if self.floor_from is None:
            return None
        year, month = (int(part) for part in self.floor_from.split("-"))
        return datetime(year, month, 1, tzinfo=UTC)


class Policy(_Section):
    """A whole rewards policy; ``version`` is recorded on every mint."""

    version: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$")]
    green: GreenPolicy
    recycling: RecyclingPolicy
    repair: RepairPolicy
    floor: FloorPolicy = Field(default_factory=FloorPolicy)


def parse_policy(text: str, *, origin: str) -> Policy:
    """Validate a policy document; PolicyError names ``origin`` and the first bad key."""
    try:
        data = tomllib.loads(text, parse_float=Decimal)
    except tomllib.TOMLDecodeError as e:
        raise PolicyError(f"policy {origin}: not valid TOML: {e}") from e
    try:
        return Policy.model_validate(data)
    except ValidationError as e:
        # A misspelt key shows up as "unknown" and as "missing": name the misspelling.
        first = min(e.errors(), key=lambda err: err["type"] != "extra_forbidden")
        key = ".".join(str(part) for part in first["loc"]) or "(document)"
        message = "unknown key" if first["type"] == "extra_forbidden" else first["msg"]
        raise PolicyError(f"policy {origin}: key {key!r}: {message.removeprefix('Value error, ')}") from e


def load_policy(path: Path | None = None) -> Policy:
    """The policy at ``path``, or the packaged default policy when ``path`` is None."""
    if path is None:
        return default_policy()
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as e:
        raise PolicyError(f"policy {path}: {e.strerror or e}") from e
    return parse_policy(text, origin=str(path))


def default_policy_text() -> str:
    """The text of the packaged default policy (SPEC §4 defaults)."""
    return resources.files("circulo.rewards").joinpath(DEFAULT_POLICY_FILE).read_text("utf-8")


def default_policy() -> Policy:
    """The packaged default policy (SPEC §4 defaults)."""
    return parse_policy(default_policy_text(), origin=f"(default) {DEFAULT_POLICY_FILE}")


def governed_policy(policy_toml: str, deployment: Policy) -> Policy:
    """A co-op's adopted policy with the deployment-wide rules kept from ``deployment``.

    The RCY daily cap counts across co-ops, and the engine's timing (idle timeout, collection
    grace) fits the installation's ingest: none of them is votable per co-op (SPEC §14).
    Parsed once per (policy text, deployment version): a version names its rules.
    """
    key = (policy_toml, deployment.version)
    if key not in _GOVERNED:
        adopted = parse_policy(policy_toml, origin="(adopted by the co-op)")
        _GOVERNED[key] = adopted.model_copy(
            update={
                "green": adopted.green.model_copy(update={"idle_timeout_s": deployment.green.idle_timeout_s}),
                "recycling": adopted.recycling.model_copy(
                    update={
                        "daily_cap_rcy": deployment.recycling.daily_cap_rcy,
                        "collection_grace_s": deployment.recycling.collection_grace_s,
                    }
                ),
            }
        )
    return _GOVERNED[key]


_GOVERNED: dict[tuple[str, str], Policy] = {}

DEPLOYMENT_WIDE = (
    ("recycling", "daily_cap_rcy"),
    ("green", "idle_timeout_s"),
    ("recycling", "collection_grace_s"),
)


def deployment_wide_differences(proposed: Policy, deployment: Policy) -> list[str]:
    """The deployment-wide rules a proposed co-op policy would change (not votable per co-op)."""
    return [
        f"{section}.{name}"
        for section, name in DEPLOYMENT_WIDE
        if getattr(getattr(proposed, section), name) != getattr(getattr(deployment, section), name)
    ]
