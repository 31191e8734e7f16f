"""SQL of member statements: a member's co-ops, unsettled deposits, cap usage, and the co-ops' members.

Read-only, and never ``FOR UPDATE``: a statement must not hold a lock the rewards engine waits on.
"""

from __future__ import annotations

from typing import LiteralString

MEMBERS: LiteralString = """
SELECT coop_id, account FROM member
 WHERE %(coop_id)s::text IS NULL OR coop_id = %(coop_id)s
 ORDER BY coop_id, account
"""

COOPS: LiteralString = """
SELECT coop_id, name FROM coop WHERE %(coop_id)s::text IS NULL OR coop_id = %(coop_id)s ORDER BY coop_id
"""

MEMBER_COOPS: LiteralString = "SELECT coop_id FROM member WHERE account = %(account)s ORDER BY coop_id"

# The account's deposits no settlement has claimed yet, with the bin's last settled collection.
UNSETTLED_DEPOSITS: LiteralString = """
SELECT e.device_id, e.event_id, e.ts, e.material, e.weight_g, e.account, e.contaminated,
       e.received_at, d.coop_id, p.last_collection_ts
  FROM bin_event e
  JOIN device d ON d.device_id = e.device_id
  LEFT JOIN reward_bin_progress p ON p.device_id = e.device_id
 WHERE e.type = 'deposit' AND e.account = %(account)s
   AND NOT EXISTS (SELECT 1 FROM reward_event_claim c
                    WHERE c.device_id = e.device_id AND c.event_id = e.event_id)
 ORDER BY e.ts, e.device_id, e.event_id
"""

BIN_PROGRESS: LiteralString = """
SELECT device_id, last_collection_ts FROM reward_bin_progress WHERE device_id = ANY(%(devices)s)
"""

CAP_USAGE: LiteralString = """
SELECT account, day, used_micro FROM reward_cap_usage WHERE account = %(account)s
"""

BALANCES_OF_ACCOUNT: LiteralString = """
SELECT token, amount_micro FROM ledger_balance WHERE account = %(account)s ORDER BY token
"""
