"""SQL of moves (transfers, dividends, the floor): who may send and receive, treasuries, a month's mints."""

from __future__ import annotations

from typing import LiteralString

COOP_EXISTS: LiteralString = "SELECT 1 FROM coop WHERE coop_id = %(coop_id)s"
IS_MEMBER: LiteralString = "SELECT 1 FROM member WHERE coop_id = %(coop_id)s AND account = %(account)s"
COOP_MEMBERS: LiteralString = "SELECT account FROM member WHERE coop_id = %(coop_id)s ORDER BY account"
COOPS_WITH_MEMBERS: LiteralString = "SELECT DISTINCT coop_id FROM member ORDER BY coop_id"

# The member's key in force (one active key per member of a co-op, SPEC §14).
ACTIVE_MEMBER_KEY: LiteralString = """
SELECT key_id, public_key FROM member_key
 WHERE coop_id = %(coop_id)s AND account = %(account)s AND revoked_at IS NULL
"""

# Read under the ledger head lock: no append can change it before this transaction commits.
BALANCE: LiteralString = """
SELECT COALESCE((SELECT amount_micro FROM ledger_balance
                  WHERE account = %(account)s AND token = %(token)s), 0)
"""

ENTRY_OF_SETTLEMENT: LiteralString = (
    "SELECT min(seq) FROM ledger_entry WHERE settlement_id = %(settlement_id)s"
)

# --- the floor ------------------------------------------------------------------------------

# The earliest period any settlement of the co-op is attributed to (the floor starts there at
# the earliest).
FIRST_PERIOD: LiteralString = "SELECT min(period_start) FROM reward_settlement WHERE coop_id = %(coop_id)s"

FLOORS_DONE: LiteralString = """
SELECT settlement_id FROM reward_settlement
 WHERE kind = 'floor' AND coop_id = %(coop_id)s AND token = %(token)s
"""

# Green hours of the co-op settled through (None: nothing yet), and whether it has meters.
GREEN_SETTLED: LiteralString = """
SELECT (SELECT settled_through FROM reward_green_progress WHERE coop_id = %(coop_id)s),
       EXISTS (SELECT 1 FROM device WHERE coop_id = %(coop_id)s AND kind = 'meter')
"""

# Collections and repairs of the co-op's devices with ts before the month's end not yet
# settled: while one remains, the month's RCY is not complete.
RECYCLING_PENDING: LiteralString = """
SELECT EXISTS (
    SELECT 1 FROM bin_event e JOIN device d ON d.device_id = e.device_id
     WHERE d.coop_id = %(coop_id)s AND e.type = 'collection' AND e.ts < %(end)s
       AND NOT EXISTS (SELECT 1 FROM reward_event_claim c
                        WHERE c.device_id = e.device_id AND c.event_id = e.event_id)
    UNION ALL
    SELECT 1 FROM repair_event e JOIN device d ON d.device_id = e.device_id
     WHERE d.coop_id = %(coop_id)s AND e.ts < %(end)s
       AND NOT EXISTS (SELECT 1 FROM reward_event_claim c
                        WHERE c.device_id = e.device_id AND c.event_id = e.event_id)
)
"""

# Each account's reward mints of one token from the co-op's settlements attributed to the
# month, less the corrections of those mints (a corrected mint was not earned).
MONTH_MINTS: LiteralString = """
SELECT e.account, (sum(e.amount_micro) - COALESCE(sum(c.amount_micro), 0))::bigint
  FROM ledger_entry e
  JOIN reward_settlement s ON s.settlement_id = e.settlement_id
  LEFT JOIN ledger_entry c ON c.corrects_seq = e.seq
 WHERE s.coop_id = %(coop_id)s AND e.kind = 'mint' AND e.token = %(token)s
   AND e.reason IN ('green.energy', 'recycle.deposit', 'repair')
   AND s.period_start >= %(start)s AND s.period_start < %(end)s
 GROUP BY e.account
"""
