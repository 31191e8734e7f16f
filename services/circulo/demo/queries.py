"""The demo's SQL, in one place: database set-up, live progress and the summary (read-only)."""

from __future__ import annotations

from psycopg import sql


# --- set-up ------------------------------------------------------------------------------------
def create_login(login: str) -> sql.Composed:
    """A login role (the cluster is shared by every run, so it may exist already)."""
    return sql.SQL(
        "DO $$ BEGIN CREATE ROLE {} LOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$"
    ).format(sql.Identifier(login))


def grant_group(group: str, login: str) -> sql.Composed:
    """Make a login a member of a SPEC §6 group role."""
    return sql.SQL("GRANT {} TO {}").format(sql.Identifier(group), sql.Identifier(login))


# --- live progress (cheap: a few aggregates over small tables) ----------------------------------
PROGRESS = """
SELECT
    (SELECT COALESCE(sum(amount_micro), 0) FROM ledger_balance WHERE token = 'GRN')::bigint,
    (SELECT COALESCE(sum(amount_micro), 0) FROM ledger_balance WHERE token = 'RCY')::bigint,
    (SELECT seq FROM ledger_head),
    (SELECT COALESCE(sum(credited_wh), 0) FROM reward_settlement WHERE token = 'GRN')::bigint,
    (SELECT count(*) FROM reward_settlement),
    GREATEST((SELECT max(ts) FROM meter_reading), (SELECT max(ts) FROM bin_reading))
"""

METERS_REPORTING = "SELECT count(DISTINCT device_id) FROM meter_reading"

INGEST_READY = """
SELECT count(*) FROM ingest_worker
WHERE worker_id = %(worker_id)s AND stopped_at IS NULL AND heartbeat_at > now() - interval '5 seconds'
"""

# --- summary --------------------------------------------------------------------------------------
STORED_ROWS = """
SELECT 'meter_reading', count(*) FROM meter_reading
UNION ALL SELECT 'bin_reading', count(*) FROM bin_reading
UNION ALL SELECT 'bin_event', count(*) FROM bin_event
UNION ALL SELECT 'repair_event', count(*) FROM repair_event
UNION ALL SELECT 'device_status', count(*) FROM device_status
UNION ALL SELECT 'quarantine', count(*) FROM quarantine
"""

QUARANTINE_BY_REASON = """
SELECT reason, count(*), min(detail) FROM quarantine GROUP BY reason ORDER BY count(*) DESC, reason
"""

FLAGS_BY_FLAG = """
SELECT flag, token, count(*), COALESCE(sum(excluded_micro), 0)::bigint, min(detail)
FROM reward_flag GROUP BY flag, token ORDER BY count(*) DESC, flag
"""

GREEN_CREDITED = """
SELECT COALESCE(sum(credited_wh), 0)::bigint, COALESCE(sum(minted_micro), 0)::bigint, count(*)
FROM reward_settlement WHERE kind IN ('green', 'green-late')
"""

LEDGER_BY_ACCOUNT = """
SELECT account, token, reason,
       sum(CASE kind WHEN 'mint' THEN amount_micro ELSE -amount_micro END)::bigint
FROM ledger_entry GROUP BY account, token, reason ORDER BY account, token, reason
"""

LEDGER_HEAD = "SELECT seq, hash FROM ledger_head"

TREASURY_BALANCE = """
SELECT COALESCE((SELECT amount_micro FROM ledger_balance WHERE account = %(account)s AND token = 'GRN'), 0)
"""

MEMBERS = "SELECT account, shares FROM member WHERE coop_id = %(coop_id)s ORDER BY account"

DEPOSITS_BY_MATERIAL = """
SELECT material, count(*), sum(weight_g)::bigint,
       count(*) FILTER (WHERE contaminated), count(*) FILTER (WHERE account IS NULL)
FROM bin_event WHERE type = 'deposit' GROUP BY material ORDER BY sum(weight_g) DESC, material
"""

COLLECTIONS = "SELECT count(*), COALESCE(sum(weight_g), 0)::bigint FROM bin_event WHERE type = 'collection'"

REPAIRS = """
SELECT category, status, count(*), sum(weight_g)::bigint
FROM repair_event GROUP BY category, status ORDER BY category, status
"""

CO2E_AVOIDED = "SELECT COALESCE(sum(co2e_avoided_g), 0)::bigint, count(*) FROM reward_repair_report"

# The co-op's generation as the rewards engine credited it, per UTC hour: readings in ts
# order, counter resets and implausible pairs excluded (SPEC §4). (The dashboards' rollups
# count every positive register step, so a reading with a wrong clock can add a whole
# lifetime register to an hour there.)
GENERATION_PER_HOUR = """
SELECT hour, sum(credited_wh)::bigint FROM reward_settlement
WHERE token = 'GRN' AND coop_id = %(coop_id)s AND hour >= %(start)s AND hour < %(end)s
GROUP BY hour ORDER BY hour
"""

GRN_PER_HOUR = """
SELECT s.hour,
       COALESCE(sum(e.amount_micro) FILTER (WHERE e.account NOT LIKE 'treasury@%%'), 0)::bigint,
       COALESCE(sum(e.amount_micro) FILTER (WHERE e.account LIKE 'treasury@%%'), 0)::bigint
FROM ledger_entry e JOIN reward_settlement s ON s.settlement_id = e.settlement_id
WHERE e.token = 'GRN' AND e.kind = 'mint' AND s.coop_id = %(coop_id)s
  AND s.hour >= %(start)s AND s.hour < %(end)s
GROUP BY s.hour ORDER BY s.hour
"""
