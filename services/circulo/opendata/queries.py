"""SQL of the open-data exports: repair events with their co-op, and the co-ops' publishing settings."""

from __future__ import annotations

from typing import LiteralString

# Repair events by event date (UTC), oldest first; owner and repairer are read only to scrub
# them from a published problem, never exported.
REPAIRS: LiteralString = """
SELECT e.device_id, e.event_id, e.ts, e.received_at, e.category, e.status, e.age_years, e.problem,
       e.brand, e.year_of_manufacture, e.barrier, e.owner, e.repairer, d.coop_id
  FROM repair_event e
  JOIN device d ON d.device_id = e.device_id
 WHERE (%(coop_id)s::text IS NULL OR d.coop_id = %(coop_id)s)
   AND (%(from_date)s::date IS NULL OR e.ts >= (%(from_date)s::date)::timestamp AT TIME ZONE 'UTC')
   AND (%(to_date)s::date IS NULL OR e.ts < (%(to_date)s::date + 1)::timestamp AT TIME ZONE 'UTC')
 ORDER BY e.ts, e.device_id, e.event_id
"""

PUBLISHERS: LiteralString = """
SELECT coop_id, data_provider, country, publish_problems FROM coop_open_data ORDER BY coop_id
"""

COOP_EXISTS: LiteralString = "SELECT 1 FROM coop WHERE coop_id = %s"
