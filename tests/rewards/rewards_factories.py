"""Factories for rewards tests: co-ops, members, devices, readings, events and W, by SQL.

Rows go straight into the tables the ingest fills (for tests of the engine's rules and
timing); tests against data written by the real ingest use the ingest's own fixtures.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

T0 = datetime(2025, 6, 1, 10, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)
_seq = itertools.count(1)


def digest(*parts: Any) -> bytes:
    return hashlib.sha256(repr(parts).encode()).digest()


class RewardsData:
    """Writes test data into one database (autocommit: each call is visible at once)."""

    def __init__(self, db_url: str) -> None:
        self.db_url = db_url
        self.conn = psycopg.connect(db_url, autocommit=True)

    def close(self) -> None:
        self.conn.close()

    # --- registry -------------------------------------------------------------------------

    def coop(self, coop_id: str = "coop1") -> str:
        self.conn.execute(
            "INSERT INTO coop (coop_id, name) VALUES (%s, %s) ON CONFLICT DO NOTHING", (coop_id, coop_id)
        )
        return coop_id

    def member(self, account: str, shares: int = 1, coop_id: str = "coop1") -> str:
        self.coop(coop_id)
        self.conn.execute(
            "INSERT INTO member (coop_id, account, shares) VALUES (%s, %s, %s) "
            "ON CONFLICT (coop_id, account) DO UPDATE SET shares = EXCLUDED.shares",
            (coop_id, account, shares),
        )
        return account

    def device(
        self, device_id: str, kind: str, coop_id: str = "coop1", *, rated_power_w: int | None = None
    ) -> str:
        self.coop(coop_id)
        self.conn.execute(
            "INSERT INTO device (device_id, kind, coop_id, status, rated_power_w, registered_at) "
            "VALUES (%s, %s, %s, 'active', %s, %s)",
            (device_id, kind, coop_id, rated_power_w, T0 - timedelta(days=1)),
        )
        return device_id

    def meter(self, device_id: str, coop_id: str = "coop1", rated_power_w: int = 5000) -> str:
        return self.device(device_id, "meter", coop_id, rated_power_w=rated_power_w)

    def retire(self, device_id: str) -> None:
        self.conn.execute(
            "UPDATE device SET status = 'retired', retired_at = now() WHERE device_id = %s", (device_id,)
        )

    # --- data -----------------------------------------------------------------------------

    def readings(
        self, device_id: str, values: Iterable[tuple[datetime, int]], *, received_at: datetime | None = None
    ) -> None:
        """Meter readings (ts, energy_wh); received at ``received_at`` (default: their ts)."""
        rows = [
            (device_id, ts, received_at or ts, next(_seq), wh, 100.0, digest(device_id, ts, wh))
            for ts, wh in values
        ]
        with (
            self.conn.cursor() as cur,
            cur.copy(
                "COPY meter_reading (device_id, ts, received_at, seq, energy_wh, power_w, payload_sha256) "
                "FROM STDIN"
            ) as copy,
        ):
            for row in rows:
                copy.write_row(row)

    def minutely(
        self, device_id: str, start: datetime, minutes: int, *, wh_per_minute: int = 10, first_wh: int = 0
    ) -> list[tuple[datetime, int]]:
        """A reading every minute from ``start`` (inclusive); returns the values written."""
        values = [(start + i * MINUTE, first_wh + i * wh_per_minute) for i in range(minutes)]
        self.readings(device_id, values)
        return values

    def deposit(
        self,
        device_id: str,
        event_id: str,
        ts: datetime,
        weight_g: int,
        *,
        material: str = "pet",
        account: str | None = "alice",
        contaminated: bool = False,
        received_at: datetime | None = None,
    ) -> None:
        self.conn.execute(
            "INSERT INTO bin_event (device_id, event_id, type, ts, received_at, seq, material, "
            "weight_g, account, contaminated, payload_sha256) "
            "VALUES (%s, %s, 'deposit', %s, %s, %s, %s, %s, %s, %s, %s)",
            (device_id, event_id, ts, received_at or ts, next(_seq), material, weight_g, account,
             contaminated, digest(device_id, event_id)),
        )  # fmt: skip

    def collection(
        self,
        device_id: str,
        event_id: str,
        ts: datetime,
        weight_g: int,
        *,
        received_at: datetime | None = None,
    ) -> None:
        self.conn.execute(
            "INSERT INTO bin_event (device_id, event_id, type, ts, received_at, seq, weight_g, "
            "payload_sha256) VALUES (%s, %s, 'collection', %s, %s, %s, %s, %s)",
            (device_id, event_id, ts, received_at or ts, next(_seq), weight_g, digest(device_id, event_id)),
        )

    def repair(
        self,
        device_id: str,
        event_id: str,
        ts: datetime,
        weight_g: int,
        *,
        category: str = "Kettle",
        status: str = "fixed",
        owner: str | None = "olga",
        repairer: str | None = "rita",
        received_at: datetime | None = None,
    ) -> None:
        self.conn.execute(
            "INSERT INTO repair_event (device_id, event_id, ts, received_at, seq, category, status, "
            "weight_g, owner, repairer, payload_sha256) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (device_id, event_id, ts, received_at or ts, next(_seq), category, status, weight_g, owner,
             repairer, digest(device_id, event_id)),
        )  # fmt: skip

    def gap(
        self,
        device_id: str,
        from_seq: int,
        to_seq: int,
        *,
        before_ts: datetime | None,
        after_ts: datetime | None,
        after_received_at: datetime,
        give_up_at: datetime | None,
        state: str = "requested",
        epoch: int = 1,
    ) -> None:
        """A replay gap as the ingest records it (SPEC §11, migration 0014)."""
        self.conn.execute(
            "INSERT INTO replay_gap (device_id, epoch, from_seq, to_seq, missing, before_ts, after_ts, "
            "after_received_at, state, requests, give_up_at) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (device_id, epoch, from_seq, to_seq, to_seq - from_seq + 1, before_ts, after_ts,
             after_received_at, state, 1 if state == "requested" else 0, give_up_at),
        )  # fmt: skip

    def close_gap(self, device_id: str, from_seq: int, state: str, at: datetime, epoch: int = 1) -> None:
        """The gap recovered (every message arrived) or lost (reason ``timeout``)."""
        self.conn.execute(
            "UPDATE replay_gap SET state = %s, closed_at = %s, missing = CASE WHEN %s = 'recovered' "
            "THEN 0 ELSE missing END, lost_reason = CASE WHEN %s = 'lost' THEN 'timeout' END "
            "WHERE device_id = %s AND epoch = %s AND from_seq = %s",
            (state, at, state, state, device_id, epoch, from_seq),
        )

    def watermark(self, w: datetime, worker_id: str = "test-worker") -> None:
        """Publish W as a live ingest worker's low watermark."""
        self.conn.execute(
            "INSERT INTO ingest_worker (worker_id, low_watermark, heartbeat_at, started_at) "
            "VALUES (%s, %s, now(), now()) ON CONFLICT (worker_id) DO UPDATE "
            "SET low_watermark = EXCLUDED.low_watermark, heartbeat_at = now()",
            (worker_id, w),
        )

    # --- reading results ------------------------------------------------------------------

    def balances(self, token: str | None = None) -> dict[tuple[str, str], int]:
        """Minted per (account, token), from the journal itself."""
        rows = self.conn.execute(
            "SELECT account, token, sum(amount_micro) FROM ledger_entry "
            "WHERE %(token)s::text IS NULL OR token = %(token)s GROUP BY account, token",
            {"token": token},
        )
        return {(account, tok): int(total) for account, tok, total in rows}

    def minted(self, token: str) -> int:
        return sum(v for (_, tok), v in self.balances(token).items())

    def settlement_ids(self) -> list[str]:
        return [r[0] for r in self.conn.execute("SELECT settlement_id FROM reward_settlement ORDER BY id")]

    def flags(self) -> list[tuple[str, str, datetime, str]]:
        return [
            (flag, device_id, ts, account)
            for flag, device_id, ts, account in self.conn.execute(
                "SELECT flag, device_id, ts, account FROM reward_flag ORDER BY ts, device_id, flag, account"
            )
        ]

    def entries(self, settlement_id: str) -> list[tuple[str, int, Sequence[Any]]]:
        return [
            (account, amount, sources)
            for account, amount, sources in self.conn.execute(
                "SELECT account, amount_micro, sources FROM ledger_entry "
                "WHERE settlement_id = %s ORDER BY seq",
                (settlement_id,),
            )
        ]

    def scalar(self, sql: str, params: Any = None) -> Any:
        row = self.conn.execute(sql, params).fetchone()
        return None if row is None else row[0]
