"""SQL of the daily RCY cap's usage per account and UTC day (``reward_cap_usage``), locked in key order."""

from __future__ import annotations

from typing import LiteralString

LOCK_CAP_USAGE: LiteralString = """
SELECT account, day, used_micro FROM reward_cap_usage
 WHERE (account, day) IN (SELECT * FROM unnest(%(accounts)s::text[], %(days)s::date[]))
 ORDER BY account, day FOR UPDATE
"""

SAVE_CAP_USAGE: LiteralString = """
INSERT INTO reward_cap_usage (account, day, used_micro)
SELECT * FROM unnest(%(accounts)s::text[], %(days)s::date[], %(added)s::bigint[])
ON CONFLICT (account, day) DO UPDATE
   SET used_micro = reward_cap_usage.used_micro + EXCLUDED.used_micro
"""
