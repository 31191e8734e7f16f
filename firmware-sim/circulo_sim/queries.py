"""The registry reads of the simulator (read-only, parameterised)."""

from __future__ import annotations

# Devices a co-op has in service: registered (not yet commissioned) or active, never retired.
COOP_DEVICES = """
SELECT device_id, kind, lat, lon, rated_power_w, capacity_kg, profile
FROM device
WHERE coop_id = %(coop_id)s AND status <> 'retired'
ORDER BY kind, device_id
"""

COOP_MEMBERS = "SELECT account FROM member WHERE coop_id = %(coop_id)s ORDER BY account"

COOP_EXISTS = "SELECT 1 FROM coop WHERE coop_id = %(coop_id)s"
