"""The EnergyTag export validates against the schema derived from the reference models; a buyer's check."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator, FormatChecker
from tests.certificates.certificate_data import settle, sunny_coop
from tests.certificates.conftest import Cli
from tests.rewards.conftest import Engine
from tests.rewards.rewards_factories import RewardsData

from circulo.certificates import energytag
from circulo.ledger.entries import canonical_json, sha256_hex

SCHEMA = (
    Path(__file__).resolve().parents[2] / "schemas/circulo_schemas/energytag/gc-registry-export.schema.json"
)


@pytest.fixture
def traded(data: RewardsData, engine: Engine, certs: Cli) -> RewardsData:
    """Hour 10 issued with a location and issuer; some bundles transferred, cancelled, claimed, withdrawn."""
    sunny_coop(data, minutes=60)
    data.conn.execute(
        "UPDATE device SET lat = 52.37, lon = 4.89, location_name = 'School roof' WHERE device_id = 'm1'"
    )
    certs.ok("certificates", "issuer", "coop1", "--issuing-body", "Sunny Roofs Co-op", "--country", "NL",
             "--grid", "Liander", "--market-zone", "10YNL----------L")  # fmt: skip
    settle(engine)
    certs.ok(
        "certificates", "transfer", "1", "--holder", "treasury@coop1", "--to", "buyer@grid", "--wh", "300"
    )
    certs.ok("certificates", "cancel", "1", "--holder", "buyer@grid", "--period", "2025-06-01",
             "--beneficiary", "Acme Bakery", "--wh", "200")  # fmt: skip
    certs.ok("certificates", "claim", "1", "--holder", "buyer@grid")
    certs.ok("certificates", "withdraw", "591", "--why", "test", "--wh", "10")
    return data


def exported(certs: Cli, tmp_path: Path, *args: str) -> dict[str, Any]:
    out = tmp_path / "gc.json"
    certs.ok("certificates", "export", "--format", "energytag", "-o", str(out), *args)
    return dict(json.loads(out.read_text(encoding="utf-8")))


def test_the_export_validates_against_the_schema_in_the_repository_with_formats_checked(
    traded: RewardsData, certs: Cli, tmp_path: Path
) -> None:
    doc = exported(certs, tmp_path)
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    errors = list(Draft202012Validator(schema, format_checker=FormatChecker()).iter_errors(doc))
    assert errors == []
    statuses = {(b["certificate_bundle_id_range_start"], b["certificate_bundle_id_range_end"]):
                b["certificate_bundle_status"] for b in doc["granular_certificate_bundles"]}  # fmt: skip
    assert statuses == {
        (1, 200): "Claimed", (201, 300): "Active", (301, 590): "Active", (591, 600): "Withdrawn",
        (601, 1180): "Active",
    }  # fmt: skip
    for b in doc["granular_certificate_bundles"]:
        assert (
            b["bundle_quantity"]
            == b["certificate_bundle_id_range_end"] - b["certificate_bundle_id_range_start"] + 1
        )
        start = datetime.fromisoformat(b["production_starting_interval"])
        assert datetime.fromisoformat(b["production_ending_interval"]) - start == timedelta(hours=1)
        assert (b["face_value"], b["energy_carrier"], b["is_storage"]) == (1, "electricity", 0)
    claimed = next(
        b for b in doc["granular_certificate_bundles"] if b["certificate_bundle_status"] == "Claimed"
    )
    assert (claimed["beneficiary"], claimed["account_name"], claimed["device_location"]) == (
        "Acme Bakery", "buyer@grid", [52.37, 4.89]
    )  # fmt: skip
    accounts = {a["id"]: a["account_name"] for a in doc["accounts"]}
    assert accounts[claimed["account_id"]] == "buyer@grid"
    assert doc["issuance_metadata"][0]["issuing_body"] == "Sunny Roofs Co-op"
    assert {d["device_name"]: d["capacity"] for d in doc["devices"]} == {"m1": 5000, "m2": 5000}


def test_a_document_that_breaks_the_schema_is_refused_before_anything_is_written() -> None:
    with pytest.raises(energytag.InvalidExport, match="breaks its schema"):
        energytag.check({"format": "energytag-gc-registry-v2"})


def test_an_export_of_a_co_op_and_period_holds_only_those_bundles(
    traded: RewardsData, certs: Cli, tmp_path: Path
) -> None:
    assert exported(certs, tmp_path, "--coop", "coop2")["granular_certificate_bundles"] == []
    later = exported(certs, tmp_path, "--from", "2025-06-01T11:00:00Z")
    assert later["granular_certificate_bundles"] == []
    assert len(exported(certs, tmp_path, "--to", "2025-06-02")["granular_certificate_bundles"]) == 5


def test_a_buyer_checks_a_claim_from_its_record_to_a_signed_checkpoint(
    traded: RewardsData, certs: Cli, tmp_path: Path
) -> None:
    """docs/certificates.md, 'What a buyer checks', step by step."""
    shown = certs.json("certificates", "show", "1")
    claim = next(h for h in shown["history"] if h["reason"] == "certificate.claim")
    record = next(
        e for e in certs.json("ledger", "history", "--account", "buyer@grid") if e["seq"] == claim["seq"]
    )
    source = record["sources"][0]
    # 1. the record names the ids, the beneficiary and the period, and its settlement id is its digest
    assert (source["ranges"][0]["range_start"], source["ranges"][0]["range_end"], source["beneficiary"]) == (
        1, 200, "Acme Bakery"
    )  # fmt: skip
    assert record["settlement_id"] == f"certificate-claim:{sha256_hex(canonical_json(source))}"
    # 2. the record is in the ledger the co-op signed: an inclusion proof against a checkpoint
    checkpoint = tmp_path / "checkpoint.json"
    certs.ok("ledger", "checkpoint", "--no-publish", "--file", str(checkpoint))
    proof = tmp_path / "proof.json"
    proof.write_text(certs.ok("ledger", "prove", str(record["seq"]), "--json").stdout, encoding="utf-8")
    public_key = certs.key_path.with_name(certs.key_path.name + ".pub")
    verdict = certs.ok("ledger", "verify-proof", str(proof), "--entry-hash", record["hash"],
                       "--checkpoint", str(checkpoint), "--public-key", str(public_key))  # fmt: skip
    assert verdict.stdout.startswith("proof OK")
    # 3. the ids were issued for that meter and hour, by the issue record (also provable)
    issue = certs.json("ledger", "history", "--account", "treasury@coop1")
    issued = next(e for e in issue if e["seq"] == shown["issued_seq"])
    bundle = next(b for b in issued["sources"][-1]["bundles"] if b["range_start"] == 1)
    assert (bundle["device_id"], bundle["hour"], bundle["range_end"]) == (
        "m1",
        "2025-06-01T10:00:00.000000Z",
        590,
    )
    # 4. no other claim of the same ids: only a replay of the whole ledger shows absence
    export = tmp_path / "ledger.jsonl"
    certs.ok("ledger", "export", "-o", str(export))
    assert certs.ok(
        "ledger", "verify", "--export", str(export), "--public-key", str(public_key)
    ).stdout.startswith("ledger OK")
