"""SQL of settlement rows, their flags and event claims (``reward_settlement``, ``reward_flag``,
``reward_event_claim``): unique constraints make every source settle exactly once."""

from __future__ import annotations

from typing import LiteralString

INSERT_SETTLEMENT: LiteralString = """
INSERT INTO reward_settlement (settlement_id, kind, coop_id, device_id, hour, token, credited_wh,
                               minted_micro, excluded_micro, mints, sources, policy, engine,
                               period_start)
VALUES (%(settlement_id)s, %(kind)s, %(coop_id)s, %(device_id)s, %(hour)s, %(token)s,
        %(credited_wh)s, %(minted_micro)s, %(excluded_micro)s, %(mints)s, %(sources)s,
        %(policy)s, %(engine)s, %(period_start)s)
RETURNING id
"""

INSERT_FLAG: LiteralString = """
INSERT INTO reward_flag (flag, device_id, ts, detail, token, account, excluded_micro, source_key,
                         settlement)
VALUES (%(flag)s, %(device_id)s, %(ts)s, %(detail)s, %(token)s, %(account)s, %(excluded_micro)s,
        %(source_key)s, %(settlement)s)
"""

LIST_FLAGS: LiteralString = """
SELECT f.flag, f.device_id, f.ts, f.detail, f.token, f.account, f.excluded_micro,
       s.settlement_id, f.created_at
  FROM reward_flag f JOIN reward_settlement s ON s.id = f.settlement
 WHERE (%(flag)s::text IS NULL OR f.flag = %(flag)s)
   AND (%(device_id)s::text IS NULL OR f.device_id = %(device_id)s)
   AND (%(since)s::timestamptz IS NULL OR f.ts >= %(since)s)
 ORDER BY f.ts, f.device_id, f.id
 LIMIT %(limit)s
"""

CLAIM_EVENTS: LiteralString = """
INSERT INTO reward_event_claim (device_id, event_id, kind, settlement)
SELECT device_id, event_id, %(kind)s, %(settlement)s
  FROM unnest(%(devices)s::text[], %(events)s::text[]) AS v(device_id, event_id)
"""
