"""Every panel's and variable's SQL, expanded as Grafana would, runs as the read-only role.

The queries are taken from the built dashboard JSON, interpolated with the variables
(``templating``) and expanded with the TimescaleDB-mode macros (``macros``) for a fixed
day, then executed in real TimescaleDB as a login role that is a member of
``circulo_reader`` — so a panel that read a raw table would fail here.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import psycopg
import pytest
from tests.dashboards import dashboard_data as data
from tests.dashboards.panel_runner import (
    MODELS,
    TARGETS,
    as_reader,
    grafana_sql,
    panel_sql,
    resolutions,
    run,
    scope,
    single_value,
)

from circulo.dashboards.rollups import refresh_rollups
from circulo.dashboards.templating import ALL

NUMERIC = (int, float, Decimal)


@pytest.fixture
def loaded_db(db_url: str) -> str:
    """The fixture day with ledger and rewards rows, rollups refreshed."""
    with psycopg.connect(db_url) as conn:
        data.insert_all(conn, with_ledger=True)
        refresh_rollups(conn)
    return db_url


@pytest.mark.parametrize(
    ("uid", "title", "fmt", "raw_sql"), TARGETS, ids=[f"{u}:{t}" for u, t, _f, _s in TARGETS]
)
def test_every_panel_query_runs_as_the_reader_and_time_series_come_sorted_and_numeric(
    loaded_db: str, reader_role: str, uid: str, title: str, fmt: str, raw_sql: str
) -> None:
    with as_reader(loaded_db, reader_role) as conn:
        for resolution in resolutions(MODELS[uid]):
            for coops in ((ALL,), ("sunny",)):
                names, rows = run(conn, grafana_sql(raw_sql, scope(resolution, coops)))
                if fmt == "time_series":
                    assert "time" in names, title
                    times = [row[names.index("time")] for row in rows]
                    assert all(isinstance(t, datetime) for t in times)
                    assert times == sorted(times), f"{title}: time column not sorted"
                    values = [
                        v
                        for row in rows
                        for n, v in zip(names, row, strict=True)
                        if n not in {"time", "metric"}
                    ]
                    assert all(v is None or isinstance(v, NUMERIC) for v in values), title


def test_the_coop_variable_lists_every_coop_as_value_and_text(loaded_db: str, reader_role: str) -> None:
    queries = {
        str(v["query"]) for m in MODELS.values() for v in m["templating"]["list"] if v["type"] == "query"
    }
    with as_reader(loaded_db, reader_role) as conn:
        for query in queries:
            names, rows = run(conn, grafana_sql(query, scope("hour")))
            assert names == ["__value", "__text"]
            assert dict(rows) == data.COOPS


def test_reading_a_raw_table_as_the_reader_is_refused(loaded_db: str, reader_role: str) -> None:
    for table in ("meter_reading", "ledger_entry", "reward_flag", "rollup_meter_hourly", "member"):
        with as_reader(loaded_db, reader_role) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(f"SELECT 1 FROM {table} LIMIT 1")


def test_energy_totals_come_out_exact_in_kwh(loaded_db: str, reader_role: str) -> None:
    total_kwh = Decimal(sum(data.EXPECTED_COOP_WH.values())) / 1000
    with as_reader(loaded_db, reader_role) as conn:
        assert single_value(conn, "circulo-energy", "Energy in range", scope("hour")) == total_kwh
        sunny = single_value(conn, "circulo-energy", "Energy in range", scope("hour", ("sunny",)))
        assert sunny == Decimal(data.EXPECTED_COOP_WH["sunny"]) / 1000
        for resolution in ("hour", "day"):
            _names, rows = run(
                conn,
                grafana_sql(panel_sql("circulo-energy", "Co-op energy per $resolution"), scope(resolution)),
            )
            per_coop: dict[str, Decimal] = {}
            for row in rows:
                per_coop[row[1]] = per_coop.get(row[1], Decimal(0)) + row[2]
            assert per_coop == {c: Decimal(wh) / 1000 for c, wh in data.EXPECTED_COOP_WH.items()}, resolution
            _names, rows = run(
                conn,
                grafana_sql(
                    panel_sql("circulo-energy", "Energy per meter per $resolution"), scope(resolution)
                ),
            )
            per_meter: dict[str, Decimal] = {}
            for row in rows:
                per_meter[row[1]] = per_meter.get(row[1], Decimal(0)) + row[2]
            assert per_meter == {m: Decimal(wh) / 1000 for m, wh in data.EXPECTED_WH.items()}, resolution


def test_token_totals_come_out_exact_with_corrections_subtracted(loaded_db: str, reader_role: str) -> None:
    with as_reader(loaded_db, reader_role) as conn:
        for coop, micro in data.EXPECTED_GRN.items():
            grn = single_value(conn, "circulo-energy", "GRN minted in range", scope("hour", (coop,)))
            assert grn == Decimal(micro) / 1_000_000
        rcy = single_value(conn, "circulo-recycling", "RCY minted", scope("hour", ("sunny",)))
        assert rcy == Decimal(data.EXPECTED_RCY["sunny"]) / 1_000_000
        _names, members = run(
            conn,
            grafana_sql(panel_sql("circulo-energy", "Members' GRN this month"), scope("day", ("sunny",))),
        )
        assert {row[0]: row[2] for row in members} == {
            "ana@sunny": Decimal("9.55125"),
            "ben@sunny": Decimal("3.18375"),
            "treasury@sunny": Decimal("1.415"),
        }


def test_recycling_panels_show_diverted_mass_and_the_failed_mass_balance(
    loaded_db: str, reader_role: str
) -> None:
    with as_reader(loaded_db, reader_role) as conn:
        diverted = single_value(conn, "circulo-recycling", "Diverted from waste", scope("hour", ("sunny",)))
        assert diverted == Decimal(1200 + 800 + 5000 + 1500 + 2200) / 1000  # clean deposits + fixed repairs
        names, rows = run(
            conn, grafana_sql(panel_sql("circulo-recycling", "Collections and mass balance"), scope("hour"))
        )
        balance = {row[names.index("Bin")]: row[names.index("Mass balance")] for row in rows}
        assert balance == {"b-sunny-1": "ok", "b-sunny-2": "mass_balance"}
        names, rows = run(conn, grafana_sql(panel_sql("circulo-recycling", "Bin fill levels"), scope("hour")))
        fill = {(r[names.index("Bin")], r[names.index("Fill %")]) for r in rows}
        assert fill == {("b-sunny-1", 46.0), ("b-sunny-2", 46.0)}
        assert {"latitude", "longitude"} <= set(names)


def test_fleet_and_ledger_status_panels_report_loss_and_an_intact_chain(
    loaded_db: str, reader_role: str
) -> None:
    with as_reader(loaded_db, reader_role) as conn:
        loss = single_value(conn, "circulo-fleet", "Message loss", scope("hour"))
        assert round(loss, 9) == round(Decimal(3 * 100) / (3 * 97 + 3), 9)  # 3 of 294 messages lost
        assert single_value(conn, "circulo-pipeline", "Chain links", scope("minute")) == 1
        assert single_value(conn, "circulo-pipeline", "Ledger length", scope("minute")) == len(data.LEDGER)


def test_certificate_panels_show_what_was_issued_claimed_and_is_held_per_co_op(
    loaded_db: str, reader_role: str
) -> None:
    with as_reader(loaded_db, reader_role) as conn:
        for coop, (issued, claimed, held) in data.EXPECTED_CERTIFICATES_KWH.items():
            found = tuple(
                single_value(conn, "circulo-energy", title, scope("hour", (coop,)))
                for title in ("Certificates issued", "Certificates claimed", "Certificates held")
            )
            assert found == (issued, claimed, held), coop
        names, rows = run(
            conn,
            grafana_sql(panel_sql("circulo-energy", "Certificates by holder"), scope("hour", ("sunny",))),
        )
        by_holder = {row[names.index("Holder")]: row for row in rows}
        assert set(by_holder) == {"ana@sunny", "buyer@grid", "treasury@sunny"}
        assert by_holder["buyer@grid"][names.index("Claimed kWh")] == Decimal("0.1")
        assert by_holder["treasury@sunny"][names.index("Active kWh")] == Decimal("0.3")


def test_the_security_row_shows_days_left_and_the_crl_age_for_the_co_op_in_view(
    loaded_db: str, reader_role: str
) -> None:
    with as_reader(loaded_db, reader_role) as conn:
        assert 19 < single_value(conn, "circulo-fleet", "Broker certificate", scope("hour")) <= 20
        assert single_value(conn, "circulo-fleet", "Revocation list", scope("hour")) == Decimal("3.0")
        sql = grafana_sql(panel_sql("circulo-fleet", "Certificates: days left"), scope("hour", ("sunny",)))
        names, rows = run(conn, sql)
    listed = [(r[names.index("Kind")], r[names.index("Name")]) for r in rows]
    # soonest first; the other co-op's device and the revoked certificate are not listed
    assert listed == [("server", "broker"), ("device", "m-sunny-1"), ("device", "m-sunny-2"),
                      ("issuing", "Sunny Issuing CA"), ("root", "Sunny Root CA")]  # fmt: skip
    days = [r[names.index("Days left")] for r in rows]
    assert days == sorted(days) and days[2] > 1000  # m-sunny-2's current certificate, not the revoked one


def test_the_replay_row_shows_pending_gaps_recovered_messages_and_final_loss_per_day(
    loaded_db: str, reader_role: str
) -> None:
    with as_reader(loaded_db, reader_role) as conn:
        pending = {
            coops: run(
                conn, grafana_sql(panel_sql("circulo-pipeline", "Replay gaps pending"), scope("hour", coops))
            )
            for coops in ((ALL,), ("sunny",))
        }
        assert pending[(ALL,)] == (["Open", "Requested", "Messages missing"], [(1, 1, 6)])
        assert pending[("sunny",)][1] == [(0, 1, 5)]
        names, rows = run(
            conn, grafana_sql(panel_sql("circulo-pipeline", "Final loss per day"), scope("hour"))
        )
        assert [(r[1], r[2]) for r in rows] == [("timeout", 2), ("unavailable", 4)]
        assert {r[0] for r in rows} == {data.DAY}
        names, rows = run(
            conn,
            grafana_sql(panel_sql("circulo-pipeline", "Replay: messages recovered and lost"), scope("hour")),
        )
        assert [(r[0].hour, r[1], r[2]) for r in rows] == [
            (11, "recovered", 10), (12, "lost (unavailable)", 4),
            (13, "lost (timeout)", 2), (13, "recovered", 1),
        ]  # fmt: skip
        names, rows = run(
            conn, grafana_sql(panel_sql("circulo-pipeline", "Pending replay gaps"), scope("hour", ("windy",)))
        )
    assert [(r[names.index("Device")], r[names.index("Range")], r[names.index("State")]) for r in rows] == [
        ("m-windy-1", "50..50", "open")
    ]
