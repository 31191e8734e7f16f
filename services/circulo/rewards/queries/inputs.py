"""What a cycle reads from outside the rewards tables: schema, W, co-ops and their members."""

from __future__ import annotations

from typing import LiteralString

SCHEMA_READY: LiteralString = "SELECT to_regclass('reward_settlement') IS NOT NULL"

WATERMARK: LiteralString = "SELECT ingest_low_watermark()"

MEMBER_ACCOUNTS: LiteralString = "SELECT DISTINCT account FROM member"

COOP_SHARES: LiteralString = "SELECT account, shares FROM member WHERE coop_id = %(coop_id)s"

COOPS_WITH_METERS: LiteralString = "SELECT DISTINCT coop_id FROM device WHERE kind = 'meter' ORDER BY coop_id"
