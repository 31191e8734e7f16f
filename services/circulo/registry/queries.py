"""SQL of the registry (co-ops, members, devices, credential state, commissioning checks)."""

from __future__ import annotations

# --- co-ops and members -------------------------------------------------------------------
INSERT_COOP = """
INSERT INTO coop (coop_id, name) VALUES (%s, %s)
ON CONFLICT (coop_id) DO NOTHING
RETURNING coop_id, name, created_at
"""
SELECT_COOP = "SELECT coop_id, name, created_at FROM coop WHERE coop_id = %s"
SELECT_COOPS = "SELECT coop_id, name, created_at FROM coop ORDER BY coop_id"
SELECT_COOP_IDS = "SELECT coop_id FROM coop WHERE coop_id = ANY(%s)"

# What a co-op publishes as open repair data (SPEC §12).
UPSERT_OPEN_DATA = """
INSERT INTO coop_open_data (coop_id, data_provider, country, publish_problems)
VALUES (%(coop_id)s, %(data_provider)s, %(country)s, %(publish_problems)s)
ON CONFLICT (coop_id) DO UPDATE
   SET data_provider = EXCLUDED.data_provider, country = EXCLUDED.country,
       publish_problems = EXCLUDED.publish_problems, updated_at = now()
RETURNING coop_id, data_provider, country, publish_problems
"""
SELECT_OPEN_DATA = """
SELECT coop_id, data_provider, country, publish_problems FROM coop_open_data WHERE coop_id = %s
"""

INSERT_MEMBER = """
INSERT INTO member (coop_id, account, shares) VALUES (%s, %s, %s)
ON CONFLICT (coop_id, account) DO NOTHING
RETURNING coop_id, account, shares, joined_at, updated_at
"""
SELECT_MEMBER = """
SELECT coop_id, account, shares, joined_at, updated_at FROM member WHERE coop_id = %s AND account = %s
"""
UPDATE_SHARES = """
UPDATE member SET shares = %s, updated_at = now() WHERE coop_id = %s AND account = %s
RETURNING coop_id, account, shares, joined_at, updated_at
"""
SELECT_MEMBERS = """
SELECT coop_id, account, shares, joined_at, updated_at FROM member
WHERE %(coop_id)s::text IS NULL OR coop_id = %(coop_id)s
ORDER BY coop_id, account
"""

# --- devices ------------------------------------------------------------------------------
DEVICE_COLUMNS = """
d.kind, d.device_id, d.coop_id, d.lat, d.lon, d.location_name, d.rated_power_w, d.capacity_kg,
d.installer, d.notes, d.profile, d.status, d.registered_at, d.commissioned_at, d.retired_at, d.updated_at,
COALESCE(c.version, 0), c.issued_at, COALESCE(c.broker_state, 'pending')
"""
DEVICE_FROM = "device d LEFT JOIN device_credentials c USING (device_id)"

SELECT_DEVICE = f"SELECT {DEVICE_COLUMNS} FROM {DEVICE_FROM} WHERE d.device_id = %s"

# A device's replay gaps (SPEC §11, migration 0014): the pending ones, and the closed ones counted.
SELECT_PENDING_GAPS = """
SELECT epoch, from_seq, to_seq, missing, state, requests, opened_at, requested_at, give_up_at
  FROM replay_gap WHERE device_id = %s AND state IN ('open', 'requested')
 ORDER BY opened_at, epoch, from_seq
"""
SELECT_CLOSED_GAPS = """
SELECT state, coalesce(lost_reason, ''), count(*), coalesce(sum(missing), 0)
  FROM replay_gap WHERE device_id = %s AND state IN ('recovered', 'lost')
 GROUP BY 1, 2 ORDER BY 1, 2
"""
SELECT_DEVICE_FOR_UPDATE = f"{SELECT_DEVICE} FOR UPDATE OF d"
SELECT_DEVICES_FOR_UPDATE = f"""
SELECT {DEVICE_COLUMNS} FROM {DEVICE_FROM} WHERE d.device_id = ANY(%s) ORDER BY d.device_id FOR UPDATE OF d
"""
SELECT_DEVICES = f"""
SELECT {DEVICE_COLUMNS} FROM {DEVICE_FROM}
WHERE (%(coop_id)s::text IS NULL OR d.coop_id = %(coop_id)s)
  AND (%(kind)s::text IS NULL OR d.kind = %(kind)s)
  AND (%(status)s::text IS NULL OR d.status = %(status)s)
ORDER BY d.coop_id, d.kind, d.device_id
"""
SELECT_ALL_DEVICES = f"SELECT {DEVICE_COLUMNS} FROM {DEVICE_FROM} ORDER BY d.device_id"

INSERT_DEVICE = """
INSERT INTO device (kind, device_id, coop_id, lat, lon, location_name, rated_power_w, capacity_kg,
                    installer, notes, profile)
VALUES (%(kind)s, %(device_id)s, %(coop_id)s, %(lat)s, %(lon)s, %(location_name)s, %(rated_power_w)s,
        %(capacity_kg)s, %(installer)s, %(notes)s, %(profile)s)
"""
INSERT_CREDENTIALS_STATE = "INSERT INTO device_credentials (device_id) VALUES (%s) ON CONFLICT DO NOTHING"

UPDATE_DEVICE = """
UPDATE device SET coop_id = %(coop_id)s, lat = %(lat)s, lon = %(lon)s, location_name = %(location_name)s,
    rated_power_w = %(rated_power_w)s, capacity_kg = %(capacity_kg)s, installer = %(installer)s,
    notes = %(notes)s, profile = %(profile)s, updated_at = now()
WHERE device_id = %(device_id)s
"""

RETIRE_DEVICE = """
UPDATE device SET status = 'retired', retired_at = now(), updated_at = now()
WHERE device_id = %s AND status <> 'retired'
"""

# Recorded after the broker confirmed the new password; ``version`` counts the issues.
RECORD_ISSUE = """
INSERT INTO device_credentials AS c (device_id, version, issued_at, broker_state, broker_checked_at)
VALUES (%(device_id)s, 1, %(issued_at)s, 'provisioned', now())
ON CONFLICT (device_id) DO UPDATE
SET version = c.version + 1, issued_at = EXCLUDED.issued_at, broker_state = 'provisioned',
    broker_checked_at = now()
RETURNING version
"""

SET_BROKER_STATE = """
INSERT INTO device_credentials AS c (device_id, broker_state, broker_checked_at)
VALUES (%s, %s, now())
ON CONFLICT (device_id) DO UPDATE SET broker_state = EXCLUDED.broker_state, broker_checked_at = now()
"""

# The first PASS of `device check` commissions a registered device.
RECORD_COMMISSIONED = """
UPDATE device SET status = 'active', commissioned_at = now(), updated_at = now()
WHERE device_id = %s AND status = 'registered'
RETURNING commissioned_at
"""

# --- commissioning check ------------------------------------------------------------------
NOW = "SELECT now()"

DEVICE_STATE = """
SELECT online, state_changed_at, last_seen_at, fw, seq_received, seq_missing, last_clock_skew_ms
FROM device_state WHERE device_id = %s
"""

# Stored rows have ts within 30 days before receipt (older ones are quarantined too_old),
# so a bound on ts lets TimescaleDB skip old chunks when counting the last hour.
RECENT = "received_at > now() - interval '1 hour' AND ts > now() - interval '30 days 1 hour'"

LAST_MESSAGE = {
    "meter_reading": """
        SELECT received_at, ts, energy_wh, power_w, NULL::float8, NULL::bigint, NULL::float8, NULL::float8
        FROM meter_reading WHERE device_id = %s ORDER BY ts DESC LIMIT 1""",
    "bin_reading": """
        SELECT received_at, ts, NULL::bigint, NULL::float8, fill_pct, weight_g, battery_pct, rssi_dbm
        FROM bin_reading WHERE device_id = %s ORDER BY ts DESC LIMIT 1""",
    "bin_event": """
        SELECT received_at, ts FROM bin_event WHERE device_id = %s ORDER BY received_at DESC LIMIT 1""",
    "repair_event": """
        SELECT received_at, ts FROM repair_event WHERE device_id = %s ORDER BY received_at DESC LIMIT 1""",
    "device_status": """
        SELECT received_at, ts, state, fw FROM device_status WHERE device_id = %s ORDER BY ts DESC LIMIT 1""",
}
COUNT_RECENT = {
    table: f"SELECT count(*) FROM {table} WHERE device_id = %s AND {RECENT}"
    for table in ("meter_reading", "bin_reading", "bin_event", "repair_event", "device_status")
}

LAST_REJECTION = """
SELECT received_at, reason, detail, topic FROM quarantine
WHERE device_id = %s ORDER BY received_at DESC LIMIT 1
"""
COUNT_RECENT_REJECTIONS = """
SELECT count(*) FROM quarantine WHERE device_id = %s AND received_at > now() - interval '1 hour'
"""

# --- broker credentials served to EMQX (migration 0015; never a password) ---------------------
HASH_COLUMNS = "(username, password_hash, salt, mac_fun, iterations, source, updated_at"
HASH_VALUES = "(%(username)s, %(password_hash)s, %(salt)s, %(mac_fun)s, %(iterations)s, %(source)s, now()"
HASH_UPDATE = """
SET password_hash = EXCLUDED.password_hash, salt = EXCLUDED.salt, mac_fun = EXCLUDED.mac_fun,
    iterations = EXCLUDED.iterations, source = EXCLUDED.source, updated_at = now()
"""
INSERT_DEVICE_HASH = f"""
INSERT INTO broker_credential {HASH_COLUMNS}, device_id) VALUES {HASH_VALUES}, %(username)s)
ON CONFLICT (username) DO NOTHING
"""
UPSERT_DEVICE_HASH = f"""
INSERT INTO broker_credential {HASH_COLUMNS}, device_id) VALUES {HASH_VALUES}, %(username)s)
ON CONFLICT (username) DO UPDATE {HASH_UPDATE}
WHERE broker_credential.device_id IS NOT NULL
"""
INSERT_SERVICE_HASH = f"""
INSERT INTO broker_credential {HASH_COLUMNS}, service_role) VALUES {HASH_VALUES}, %(role)s)
ON CONFLICT (username) DO NOTHING
"""
UPSERT_SERVICE_HASH = f"""
INSERT INTO broker_credential {HASH_COLUMNS}, service_role) VALUES {HASH_VALUES}, %(role)s)
ON CONFLICT (username) DO UPDATE {HASH_UPDATE}, service_role = EXCLUDED.service_role
WHERE broker_credential.device_id IS NULL
"""
DELETE_DEVICE_HASH = "DELETE FROM broker_credential WHERE device_id = %s"
DELETE_ROLE_ACL = "DELETE FROM broker_role_acl WHERE role = %s"
INSERT_ROLE_ACL = """
INSERT INTO broker_role_acl (role, position, permission, action, topic) VALUES (%s, %s, %s, %s, %s)
"""
SELECT_DEVICE_STATUSES = "SELECT device_id, status FROM device"
# The broker accounts as the registry's EMQX mode lists them (registry.emqx_broker).
SELECT_BROKER_ACCOUNTS = """
SELECT c.username, c.device_id, d.kind, d.coop_id, c.service_role
FROM broker_credential c LEFT JOIN device d ON d.device_id = c.device_id
ORDER BY c.username
"""
SELECT_DEVICE_KINDS = "SELECT device_id, kind FROM device ORDER BY device_id"
