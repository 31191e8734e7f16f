"""Issuance in the green settlement's transaction: per meter and production hour, ids from the counter."""

from __future__ import annotations

import psycopg
import pytest
from tests.certificates.certificate_data import H10, H11, H12, bundles, settle, sunny_coop, ts
from tests.certificates.conftest import Cli
from tests.rewards.conftest import Engine
from tests.rewards.rewards_factories import MINUTE, T0, RewardsData

from circulo.rewards.engine import run_cycle

G10 = "green:coop1:2025-06-01T10:00Z"
G11 = "green:coop1:2025-06-01T11:00Z"


def issue_record(data: RewardsData, settlement_id: str) -> list[dict]:
    row = data.conn.execute(
        "SELECT sources FROM ledger_entry WHERE settlement_id = %s AND reason = 'certificate.issue'",
        (settlement_id,),
    ).fetchone()
    return list(row[0])


def test_each_settlement_issues_one_bundle_per_meter_and_production_hour_with_contiguous_ids(
    data: RewardsData, engine: Engine
) -> None:
    sunny_coop(data)  # 10:00 .. 12:05, +10 Wh a minute per meter
    settle(engine)
    found = [(b["start"], b["end"], b["device"], b["hour"], b["settlement"]) for b in bundles(data)]
    # hour 10: 59 pairs of 10 Wh (10:00 is the baseline). The pair 10:59 -> 11:00 is credited (GRN)
    # in hour 11 but was produced in hour 10: hour 11's settlement issues it for hour 10.
    assert found == [
        (1, 590, "m1", H10, G10), (591, 1180, "m2", H10, G10),
        (1181, 1190, "m1", H10, G11), (1191, 1780, "m1", H11, G11),
        (1781, 1790, "m2", H10, G11), (1791, 2380, "m2", H11, G11),
        (2381, 2390, "m1", H11, "green:coop1:2025-06-01T12:00Z"),
        (2391, 2440, "m1", H12, "green:coop1:2025-06-01T12:00Z"),
        (2441, 2450, "m2", H11, "green:coop1:2025-06-01T12:00Z"),
        (2451, 2500, "m2", H12, "green:coop1:2025-06-01T12:00Z"),
    ]  # fmt: skip
    assert {b["holder"] for b in bundles(data)} == {"treasury@coop1"}
    assert data.scalar("SELECT next_id FROM certificate_counter") == 2501
    credited = data.scalar("SELECT sum(credited_wh) FROM reward_settlement")
    assert credited == 2500  # every credited Wh certified, exactly once


def test_the_issue_record_lists_the_bundles_beside_the_evidence_its_digest_binds(
    data: RewardsData, engine: Engine
) -> None:
    sunny_coop(data)
    settle(engine)
    sources = issue_record(data, G11)
    header, certificates = sources[0], sources[-1]
    assert [s["type"] for s in sources[1 : 1 + header["sources"]]] == ["meter_hour", "meter_hour"]
    assert certificates["type"] == "certificates"
    assert (certificates["certified_wh"], certificates["uncertified_wh"]) == (1200, 0)
    assert certificates["bundles"][:2] == [
        {"range_start": 1181, "range_end": 1190, "wh": 10, "device_id": "m1", "hour": ts(H10),
         "holder": "treasury@coop1"},
        {"range_start": 1191, "range_end": 1780, "wh": 590, "device_id": "m1", "hour": ts(H11),
         "holder": "treasury@coop1"},
    ]  # fmt: skip
    assert certificates["spans"][0] == {
        "device_id": "m1", "from_ts": ts(H10 + 59 * MINUTE), "from_wh": 590, "to_ts": ts(H11), "to_wh": 600,
        "parts": [{"hour": ts(H10), "wh": 10}],
    }  # fmt: skip
    assert certificates["issuer"]["issuing_body"] == "Circulo co-op coop1"
    assert certificates["devices"][0] == {
        "device_id": "m1",
        "capacity_w": 5000,
        "location": None,
        "location_name": None,
    }


def test_a_pair_spanning_hours_is_split_by_time_and_one_longer_than_two_hours_is_not_certified(
    data: RewardsData, engine: Engine, certs: Cli
) -> None:
    data.member("alice", 1)
    data.meter("m1", rated_power_w=100_000)
    # 10:30 -> 11:30 (101 Wh: 50 + 51); 11:30 -> 14:00 (2 h 30 min, 250 Wh: not certified)
    data.readings("m1", [(T0 + 30 * MINUTE, 0), (H11 + 30 * MINUTE, 101), (T0 + 240 * MINUTE, 351),
                         (T0 + 245 * MINUTE, 356)])  # fmt: skip
    data.watermark(T0 + 250 * MINUTE)
    settle(engine)
    found = [(b["end"] - b["start"] + 1, b["hour"]) for b in bundles(data)]
    assert found == [(50, H10), (51, H11), (5, T0 + 4 * 60 * MINUTE)]
    flags = data.conn.execute("SELECT flag, device_id, ts, detail FROM reward_flag").fetchall()
    assert [(f[0], f[1], f[2]) for f in flags] == [("uncertified_span", "m1", T0 + 240 * MINUTE)]
    assert "+250 Wh over 9000 s (more than 2 h)" in flags[0][3]
    assert data.minted("GRN") == 356 * 1000  # GRN still credits every Wh
    record = issue_record(data, "green:coop1:2025-06-01T14:00Z")[-1]
    assert (record["certified_wh"], record["uncertified_wh"]) == (5, 250)
    assert record["uncertified"] == [
        {"device_id": "m1", "from_ts": ts(H11 + 30 * MINUTE), "from_wh": 101,
         "to_ts": ts(T0 + 240 * MINUTE), "to_wh": 351}
    ]  # fmt: skip
    assert certs.ok("ledger", "verify").stdout.startswith("ledger OK")  # the replay recomputes the split


def test_a_meter_assigned_to_its_owner_issues_to_the_owner(
    data: RewardsData, engine: Engine, certs: Cli
) -> None:
    sunny_coop(data, minutes=60)
    assert certs.json("certificates", "assign", "m2", "--to", "bob") == {"device_id": "m2", "holder": "bob"}
    assert "not a member" in certs.error("certificates", "assign", "m1", "--to", "mallory")
    settle(engine)
    assert {(b["device"], b["holder"]) for b in bundles(data)} == {("m1", "treasury@coop1"), ("m2", "bob")}
    certs.ok("certificates", "assign", "m2", "--treasury")
    assert data.scalar("SELECT count(*) FROM certificate_assignment") == 0


def test_the_co_ops_issuer_settings_are_what_its_bundles_carry(
    data: RewardsData, engine: Engine, certs: Cli
) -> None:
    sunny_coop(data, minutes=30)
    shown = certs.json("certificates", "issuer", "coop1", "--issuing-body", "Sunny Roofs Co-op",
                       "--country", "NL", "--grid", "Liander", "--market-zone", "10YNL----------L",
                       "--expiry-days", "365")  # fmt: skip
    assert (shown["country_of_issuance"], shown["expiry_days"], shown["energy_source"]) == (
        "NL",
        365,
        "solar_pv",
    )
    settle(engine)
    record = issue_record(data, G10)[-1]
    assert record["issuer"] == {
        "issuing_body": "Sunny Roofs Co-op", "country_of_issuance": "NL",
        "connected_grid_identification": "Liander", "issue_market_zone": "10YNL----------L",
    }  # fmt: skip
    expires = data.scalar("SELECT DISTINCT expires_at FROM certificate_issuance")
    assert expires == H10 + 365 * 24 * 60 * MINUTE  # from the production hour
    assert "not registered" in certs.error("certificates", "issuer", "nocoop", "--country", "NL")


def test_a_settlement_that_fails_gives_its_certificate_ids_back(
    data: RewardsData, engine: Engine, db_url: str
) -> None:
    sunny_coop(data, minutes=60)
    # the settlement's transaction fails after its ids were allocated: at its first ledger insert
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute(
            "CREATE FUNCTION fail_append() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION 'disk full (test)'; END $$"
        )
        conn.execute(
            "CREATE TRIGGER fail_append BEFORE INSERT ON ledger_entry EXECUTE FUNCTION fail_append()"
        )
    with pytest.raises(psycopg.errors.RaiseException):
        run_cycle(engine.settings, drain=True)
    assert data.scalar("SELECT next_id FROM certificate_counter") == 1
    assert data.scalar("SELECT count(*) FROM certificate_bundle") == 0
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("DROP TRIGGER fail_append ON ledger_entry")
    settle(engine)
    assert [(b["start"], b["end"]) for b in bundles(data)] == [(1, 590), (591, 1180)]  # no gap
    assert data.scalar("SELECT next_id FROM certificate_counter") == 1181


def test_the_engine_ledger_with_certificates_verifies(data: RewardsData, engine: Engine, certs: Cli) -> None:
    sunny_coop(data)
    settle(engine)
    assert certs.ok("ledger", "verify").stdout.startswith("ledger OK")
