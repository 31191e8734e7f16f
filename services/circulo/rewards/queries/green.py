"""SQL of green settlement: meter readings, their pairs, progress marks and claims.

Green credits are computed where the data is: a window function (``lag``) pairs each
meter's readings in ``ts`` order, the plausibility rule of
:func:`circulo.rewards.rules.pair_flag` is evaluated in exact ``numeric`` arithmetic,
``time_bucket('1 hour', ts)`` attributes each pair to its hour, and the pairs land in a
per-session temporary table. Python then reads only per-hour summaries (runs of credited
pairs, the few flagged pairs) and claims the pairs with one ``INSERT … SELECT`` per
settlement.
"""

from __future__ import annotations

from typing import LiteralString

# Meters that sent anything since ``since`` (receipt time): the others are idle.
RECENT_METERS: LiteralString = """
SELECT DISTINCT r.device_id FROM meter_reading r
  JOIN device d ON d.device_id = r.device_id
 WHERE d.coop_id = %(coop_id)s AND r.received_at > %(since)s
"""

# For each active meter of a co-op: its latest reading whose receipt W has passed.
METER_FRONTIER: LiteralString = """
SELECT d.device_id,
       (SELECT max(r.ts) FROM meter_reading r
         WHERE r.device_id = d.device_id AND r.received_at < %(watermark)s) AS done_ts
  FROM device d
 WHERE d.coop_id = %(coop_id)s AND d.kind = 'meter' AND d.status <> 'retired'
"""

COUNT_METERS: LiteralString = "SELECT count(*) FROM device WHERE coop_id = %(coop_id)s AND kind = 'meter'"

GREEN_PROGRESS: LiteralString = (
    "SELECT settled_through FROM reward_green_progress WHERE coop_id = %(coop_id)s"
)

METER_BASELINES: LiteralString = """
SELECT p.device_id, p.last_ts, p.last_energy_wh
  FROM reward_meter_progress p JOIN device d ON d.device_id = p.device_id
 WHERE d.coop_id = %(coop_id)s AND d.kind = 'meter'
"""

CREATE_PAIRS_TABLE: LiteralString = """
CREATE TEMPORARY TABLE IF NOT EXISTS reward_green_pairs (
    device_id  text NOT NULL,
    prev_ts    timestamptz,
    prev_wh    bigint,
    ts         timestamptz NOT NULL,
    energy_wh  bigint NOT NULL,
    delta_wh   bigint,
    flag       text,
    hour       timestamptz NOT NULL,
    late       boolean NOT NULL
) ON COMMIT PRESERVE ROWS
"""

CLEAR_PAIRS: LiteralString = "TRUNCATE pg_temp.reward_green_pairs"

INDEX_PAIRS: LiteralString = (
    "CREATE INDEX IF NOT EXISTS reward_green_pairs_hour_idx ON pg_temp.reward_green_pairs (late, hour)"
)

# Every pair of the co-op's meters after their baselines, up to ``window_end``: the
# baseline row itself (from progress) only starts the chain. Δt is exact microseconds;
# the comparison is SPEC §4's plausibility rule × 1000 (see rules.pair_flag).
FILL_PAIRS: LiteralString = """
INSERT INTO pg_temp.reward_green_pairs
WITH meters AS (
    SELECT d.device_id, d.rated_power_w, p.last_ts, p.last_energy_wh
      FROM device d LEFT JOIN reward_meter_progress p ON p.device_id = d.device_id
     WHERE d.coop_id = %(coop_id)s AND d.kind = 'meter'
), chain AS (
    SELECT r.device_id, r.ts, r.energy_wh, m.rated_power_w, m.last_ts
      FROM meter_reading r JOIN meters m ON m.device_id = r.device_id
     WHERE r.ts >= %(lower)s AND r.ts < %(window_end)s
       AND r.ts > coalesce(m.last_ts, '-infinity'::timestamptz)
    UNION ALL
    SELECT device_id, last_ts, last_energy_wh, rated_power_w, last_ts
      FROM meters WHERE last_ts IS NOT NULL
), paired AS (
    SELECT device_id, ts, energy_wh, rated_power_w, last_ts,
           lag(ts) OVER w AS prev_ts, lag(energy_wh) OVER w AS prev_wh
      FROM chain WINDOW w AS (PARTITION BY device_id ORDER BY ts)
), flagged AS (
    SELECT *, CASE
                WHEN prev_ts IS NULL THEN NULL
                WHEN energy_wh < prev_wh THEN 'counter_reset'
                WHEN (energy_wh - prev_wh)::numeric * 360000000000
                     > rated_power_w::numeric
                       * ((extract(epoch FROM ts) - extract(epoch FROM prev_ts)) * 1000000)
                       * %(plausibility_pct)s + 360000000000
                  THEN 'implausible'
              END AS flag
      FROM paired
)
SELECT device_id, prev_ts, prev_wh, ts, energy_wh, energy_wh - prev_wh, flag,
       time_bucket('1 hour', ts),
       coalesce(time_bucket('1 hour', ts) < %(settled_through)s::timestamptz, false)
  FROM flagged
 WHERE last_ts IS NULL OR ts > last_ts
"""

# One row per (late, hour, meter): the claims, the registers before the first pair and
# after the last, and the credited and excluded deltas (credited = to − from − excluded).
METER_HOURS: LiteralString = """
SELECT late, hour, device_id,
       count(*) AS claims,
       count(prev_ts) AS pairs,
       min(ts) AS first_ts,
       min(prev_ts) AS from_ts,
       first(prev_wh, ts) FILTER (WHERE prev_ts IS NOT NULL) AS from_wh,
       max(ts) AS last_ts,
       last(energy_wh, ts) AS last_wh,
       coalesce(sum(delta_wh) FILTER (WHERE flag IS NULL), 0)::bigint AS credited_wh,
       coalesce(sum(delta_wh) FILTER (WHERE flag IS NOT NULL), 0)::bigint AS excluded_wh
  FROM pg_temp.reward_green_pairs
 GROUP BY late, hour, device_id
 ORDER BY late DESC, hour, device_id
"""

FLAGGED_PAIRS: LiteralString = """
SELECT late, hour, device_id, prev_ts, prev_wh, ts, energy_wh, flag
  FROM pg_temp.reward_green_pairs WHERE flag IS NOT NULL
 ORDER BY late DESC, hour, device_id, ts
"""

# Credited pairs whose earlier reading lies before their hour: their energy is certified in the
# hours it was produced in (circulo.certificates.hours). At most one per meter and hour.
SPANNING_PAIRS: LiteralString = """
SELECT device_id, prev_ts, prev_wh, ts, energy_wh
  FROM pg_temp.reward_green_pairs WHERE flag IS NULL AND prev_ts < hour
 ORDER BY late DESC, hour, device_id
"""

CLAIM_HOUR_PAIRS: LiteralString = """
INSERT INTO reward_meter_claim (device_id, ts, prev_ts, settlement)
SELECT device_id, ts, prev_ts, %(settlement)s FROM pg_temp.reward_green_pairs
 WHERE NOT late AND hour = %(hour)s
"""

CLAIM_LATE_PAIRS: LiteralString = """
INSERT INTO reward_meter_claim (device_id, ts, prev_ts, settlement)
SELECT device_id, ts, prev_ts, %(settlement)s FROM pg_temp.reward_green_pairs WHERE late
"""

# Compare-and-set of meter progress: a row moves only from the baseline this engine read.
ADVANCE_METERS: LiteralString = """
UPDATE reward_meter_progress p
   SET last_ts = v.last_ts, last_energy_wh = v.last_wh, updated_at = now()
  FROM unnest(%(devices)s::text[], %(expected)s::timestamptz[], %(last_ts)s::timestamptz[],
              %(last_wh)s::bigint[]) AS v(device_id, expected, last_ts, last_wh)
 WHERE p.device_id = v.device_id AND p.last_ts = v.expected
"""

START_METERS: LiteralString = """
INSERT INTO reward_meter_progress (device_id, last_ts, last_energy_wh)
SELECT * FROM unnest(%(devices)s::text[], %(last_ts)s::timestamptz[], %(last_wh)s::bigint[])
ON CONFLICT (device_id) DO NOTHING
"""

ADVANCE_GREEN: LiteralString = """
UPDATE reward_green_progress SET settled_through = %(settled_through)s, updated_at = now()
 WHERE coop_id = %(coop_id)s AND settled_through = %(expected)s
"""

START_GREEN: LiteralString = """
INSERT INTO reward_green_progress (coop_id, settled_through) VALUES (%(coop_id)s, %(settled_through)s)
ON CONFLICT (coop_id) DO NOTHING
"""
