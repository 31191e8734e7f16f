"""The registry's bundles in EnergyTag GC Registry API v2 form (pure), validated before use.

Field names and types are those of Future Energy Associates' reference registry (see
``circulo_schemas/energytag/README.md``). The reference's foreign keys are integers: the
export carries the accounts and devices they name, numbered within the document (the
strings beside them — ``account_name``, ``device_name`` — are the stable identifiers);
``metadata_id`` is the registry's own, stable row id. A bundle past its expiry that was never
cancelled is ``Expired`` (derived at export time: the ledger records no expiry event).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from functools import cache
from importlib import resources
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker

from circulo.certificates.hours import HOUR
from circulo.certificates.records import ENERGY_CARRIER, FACE_VALUE_WH
from circulo.errors import CirculoError
from circulo.ledger.entries import format_ts

FORMAT = "energytag-gc-registry-v2"
SCHEMA_FILE = "gc-registry-export.schema.json"
FIELD_NAMES_FROM = (
    "Future-Energy-Associates/granular_certificate_registry@111858cfa3912cf23e0680e641cdf7892ea6b26c"
)
STATUS = {"active": "Active", "cancelled": "Cancelled", "claimed": "Claimed", "withdrawn": "Withdrawn"}
# The columns of ``queries.EXPORT_BUNDLES``, in order.
COLUMNS = (
    "bundle_id", "range_start", "range_end", "holder", "status", "beneficiary", "issuance_id", "coop_id",
    "device_id", "production_start", "production_end", "issued_at", "expires_at", "hash", "capacity_w",
    "location", "location_name", "issued_seq", "last_seq", "metadata_id", "issuing_body",
    "country_of_issuance", "connected_grid_identification", "issue_market_zone", "energy_source",
    "commissioned_at", "registered_at", "period_start", "period_end",
)  # fmt: skip


class InvalidExport(CirculoError):
    """The export does not meet the schema or a rule it cannot state (a bug: nothing is written)."""

    exit_code = 6


@cache
def schema() -> dict[str, Any]:
    """The export's JSON Schema (``circulo_schemas/energytag``)."""
    text = resources.files("circulo_schemas").joinpath("energytag", SCHEMA_FILE).read_text("utf-8")
    loaded: dict[str, Any] = json.loads(text)
    return loaded


def validator() -> Draft202012Validator:
    """A validator of the schema that checks formats too (date-time, date)."""
    return Draft202012Validator(schema(), format_checker=FormatChecker())


def iso(moment: datetime) -> str:
    """RFC 3339 in UTC with a ``Z`` (as the reference's pydantic renders aware datetimes)."""
    return format_ts(moment)


def gps(location: str | None) -> list[float] | None:
    """``[lat, lon]`` from the ``"lat,lon"`` text a bundle was issued with."""
    if not location:
        return None
    lat, lon = location.split(",")
    return [float(lat), float(lon)]


def status_of(row: Mapping[str, Any], now: datetime) -> str:
    """The reference status name; an active bundle past its expiry is Expired."""
    if row["status"] == "active" and now >= row["expires_at"]:
        return "Expired"
    return STATUS[row["status"]]


def bundle(row: Mapping[str, Any], account_id: int, device_id: int, now: datetime) -> dict[str, Any]:
    """One bundle in GranularCertificateBundleRead form, plus Circulo's additions."""
    period = (
        {"start": iso(row["period_start"]), "end": iso(row["period_end"])} if row["period_start"] else None
    )
    return {
        "id": row["bundle_id"],
        "issuance_id": row["issuance_id"],
        "hash": row["hash"],
        "certificate_bundle_status": status_of(row, now),
        "account_id": account_id,
        "metadata_id": row["metadata_id"],
        "certificate_bundle_id_range_start": row["range_start"],
        "certificate_bundle_id_range_end": row["range_end"],
        "bundle_quantity": row["range_end"] - row["range_start"] + 1,
        "beneficiary": row["beneficiary"],
        "energy_carrier": ENERGY_CARRIER,
        "energy_source": row["energy_source"],
        "face_value": FACE_VALUE_WH,
        "issuance_post_energy_carrier_conversion": False,
        "emissions_factor_production_device": None,
        "emissions_factor_source": None,
        "device_id": device_id,
        "production_starting_interval": iso(row["production_start"]),
        "production_ending_interval": iso(row["production_end"]),
        "expiry_datestamp": iso(row["expires_at"]),
        "is_storage": 0,
        "sdr_allocation_id": None,
        "storage_efficiency_factor": None,
        "is_deleted": False,
        "issuance_datestamp": row["issued_at"].date().isoformat(),
        "account_name": row["holder"],
        "device_name": row["device_id"],
        "device_capacity": row["capacity_w"],
        "device_location": gps(row["location"]),
        "reporting_period": period,
        "ledger": {"issued_seq": row["issued_seq"], "last_seq": row["last_seq"]},
    }


def document(rows: Sequence[Mapping[str, Any]], *, coop_id: str | None, now: datetime) -> dict[str, Any]:
    """The whole export of ``rows`` (``COLUMNS`` mappings), checked (:func:`check`)."""
    treasuries = {f"treasury@{r['coop_id']}" for r in rows}
    accounts = {name: i for i, name in enumerate(sorted({r["holder"] for r in rows} | treasuries), start=1)}
    devices: dict[str, Mapping[str, Any]] = {}
    for row in rows:
        devices.setdefault(row["device_id"], row)
    device_ids = {name: i for i, name in enumerate(sorted(devices), start=1)}
    metadata = {row["metadata_id"]: row for row in rows}
    doc = {
        "format": FORMAT,
        "registry": {"name": "Circulo", "field_names_from": FIELD_NAMES_FROM, "coop_id": coop_id},
        "generated_at": iso(now),
        "accounts": [{"id": i, "account_name": name, "is_deleted": False} for name, i in accounts.items()],
        "devices": [device(devices[name], i, accounts) for name, i in device_ids.items()],
        "issuance_metadata": [issuance_metadata(metadata[k]) for k in sorted(metadata)],
        "granular_certificate_bundles": [
            bundle(r, accounts[r["holder"]], device_ids[r["device_id"]], now) for r in rows
        ],
    }
    check(doc)
    return doc


def device(row: Mapping[str, Any], device_id: int, accounts: Mapping[str, int]) -> dict[str, Any]:
    """A meter in the reference's Device form (capacity in W)."""
    capacity = row["capacity_w"] or 0
    return {
        "id": device_id,
        "device_name": row["device_id"],
        "meter_data_id": row["device_id"],
        "grid": row["connected_grid_identification"],
        "energy_source": row["energy_source"],
        "technology_type": row["energy_source"],
        "operational_date": iso(row["commissioned_at"] or row["registered_at"]),
        "capacity": capacity,
        "peak_demand": capacity,
        "location": row["location_name"] or row["location"] or "unspecified",
        "is_storage": False,
        "account_id": accounts[f"treasury@{row['coop_id']}"],
        "is_deleted": False,
    }


def issuance_metadata(row: Mapping[str, Any]) -> dict[str, Any]:
    """An issuer's attributes in the reference's IssuanceMetaData form."""
    return {
        "id": row["metadata_id"],
        "country_of_issuance": row["country_of_issuance"],
        "connected_grid_identification": row["connected_grid_identification"],
        "issuing_body": row["issuing_body"],
        "legal_status": None,
        "issuance_purpose": None,
        "support_received": None,
        "quality_scheme_reference": None,
        "dissemination_level": None,
        "issue_market_zone": row["issue_market_zone"],
    }


def check(doc: Mapping[str, Any]) -> None:
    """The schema, then what it cannot state: quantity = end − start + 1, interval in (0, 1 h]."""
    errors = sorted(validator().iter_errors(doc), key=lambda e: list(e.absolute_path))
    if errors:
        where = "/".join(str(p) for p in errors[0].absolute_path)
        raise InvalidExport(f"export breaks its schema at {where or '(root)'}: {errors[0].message}")
    for b in doc["granular_certificate_bundles"]:
        ids = b["certificate_bundle_id_range_end"] - b["certificate_bundle_id_range_start"] + 1
        start = datetime.fromisoformat(b["production_starting_interval"])
        end = datetime.fromisoformat(b["production_ending_interval"])
        if b["bundle_quantity"] != ids or not start < end <= start + HOUR:
            raise InvalidExport(f"bundle {b['id']}: quantity or production interval is inconsistent")
