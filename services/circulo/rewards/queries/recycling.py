"""SQL of deposit and repair settlement: bins' collections and progress, repair events, CO2e reports."""

from __future__ import annotations

from typing import LiteralString

# Collections not yet settled, per bin in ts order (readiness is judged in Python), each with
# the latest time until which a pending replay gap of its bin (SPEC §11) may hold it back: a
# gap that may hide a message with ts up to the collection's and after the last settled one
# (a gap without a give-up time yet: its receipt plus replay_timeout).
PENDING_COLLECTIONS: LiteralString = """
SELECT e.device_id, e.event_id, e.ts, e.received_at, e.weight_g, d.coop_id,
       p.last_collection_ts,
       (SELECT max(coalesce(g.give_up_at,
                            g.after_received_at + %(replay_timeout_s)s * interval '1 second'))
          FROM replay_gap g
         WHERE g.device_id = e.device_id AND g.state IN ('open', 'requested')
           AND (g.before_ts IS NULL OR g.before_ts <= e.ts)
           AND (g.after_ts IS NULL OR p.last_collection_ts IS NULL OR g.after_ts > p.last_collection_ts))
           AS held_until
  FROM bin_event e
  JOIN device d ON d.device_id = e.device_id
  LEFT JOIN reward_bin_progress p ON p.device_id = e.device_id
 WHERE e.type = 'collection'
   AND NOT EXISTS (SELECT 1 FROM reward_event_claim c
                    WHERE c.device_id = e.device_id AND c.event_id = e.event_id)
 ORDER BY e.device_id, e.ts, e.event_id
"""

# Deposits that arrived after the collection covering their ts had settled.
LATE_DEPOSITS: LiteralString = """
SELECT e.device_id, e.event_id, e.ts, e.received_at, e.material, e.weight_g, e.account,
       e.contaminated, d.coop_id, p.last_collection_id
  FROM bin_event e
  JOIN reward_bin_progress p ON p.device_id = e.device_id
  JOIN device d ON d.device_id = e.device_id
 WHERE e.type = 'deposit' AND e.ts <= p.last_collection_ts
   AND NOT EXISTS (SELECT 1 FROM reward_event_claim c
                    WHERE c.device_id = e.device_id AND c.event_id = e.event_id)
 ORDER BY e.ts, e.device_id, e.event_id
"""

BIN_PROGRESS: LiteralString = """
SELECT last_collection_ts, last_collection_id FROM reward_bin_progress
 WHERE device_id = %(device_id)s FOR UPDATE
"""

# The deposits of one collection window: after the previous settled collection (or
# since the bin began), up to and including this collection's ts.
WINDOW_DEPOSITS: LiteralString = """
SELECT e.device_id, e.event_id, e.ts, e.material, e.weight_g, e.account, e.contaminated
  FROM bin_event e
 WHERE e.device_id = %(device_id)s AND e.type = 'deposit'
   AND (%(after)s::timestamptz IS NULL OR e.ts > %(after)s) AND e.ts <= %(until)s
   AND NOT EXISTS (SELECT 1 FROM reward_event_claim c
                    WHERE c.device_id = e.device_id AND c.event_id = e.event_id)
 ORDER BY e.ts, e.device_id, e.event_id
"""

ADVANCE_BIN: LiteralString = """
INSERT INTO reward_bin_progress (device_id, last_collection_ts, last_collection_id)
VALUES (%(device_id)s, %(ts)s, %(event_id)s)
ON CONFLICT (device_id) DO UPDATE
   SET last_collection_ts = EXCLUDED.last_collection_ts,
       last_collection_id = EXCLUDED.last_collection_id, updated_at = now()
 WHERE reward_bin_progress.last_collection_ts < EXCLUDED.last_collection_ts
"""

# Repairs not yet settled (readiness is judged in Python: plans.repairs.ready_repairs);
# ``account`` (when given) keeps only that account's repairs, as owner or repairer.
UNCLAIMED_REPAIRS: LiteralString = """
SELECT e.device_id, e.event_id, e.ts, e.category, e.status, e.weight_g, e.owner, e.repairer,
       d.coop_id, e.received_at
  FROM repair_event e
  JOIN device d ON d.device_id = e.device_id
 WHERE NOT EXISTS (SELECT 1 FROM reward_event_claim c
                    WHERE c.device_id = e.device_id AND c.event_id = e.event_id)
   AND (%(account)s::text IS NULL OR %(account)s IN (e.owner, e.repairer))
 ORDER BY e.ts, e.device_id, e.event_id
"""

INSERT_REPAIR_REPORT: LiteralString = """
INSERT INTO reward_repair_report (device_id, event_id, ts, category, weight_g, co2e_avoided_g,
                                  factor_table_version, settlement)
VALUES (%(device_id)s, %(event_id)s, %(ts)s, %(category)s, %(weight_g)s, %(co2e_avoided_g)s,
        %(factor_table_version)s, %(settlement)s)
"""
