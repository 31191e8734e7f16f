"""SQL of green settlement: meter readings, their pairs, progress marks and claims.

Green credits are computed where the data is: window functions pair each meter's
readings in ``ts`` order (with policy v2's glitch rule, each with the last reading before
it that is not a glitch), the plausibility rule of
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

# Replay gaps (SPEC §11) of the co-op's meters still pending: where each begins and until when
# (W) it may hold the meter back (its give-up time; before the ingest set one, its gap's
# receipt plus replay_timeout).
PENDING_GAPS: LiteralString = """
SELECT g.device_id, g.before_ts, g.after_ts,
       coalesce(g.give_up_at, g.after_received_at + %(replay_timeout_s)s * interval '1 second') AS held_until
  FROM replay_gap g JOIN device d ON d.device_id = g.device_id
 WHERE d.coop_id = %(coop_id)s AND d.kind = 'meter' AND g.state IN ('open', 'requested')
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
    device_id    text NOT NULL,
    prev_ts      timestamptz,
    prev_wh      bigint,
    ts           timestamptz NOT NULL,
    energy_wh    bigint NOT NULL,
    delta_wh     bigint,
    flag         text,
    hour         timestamptz NOT NULL,
    late         boolean NOT NULL,
    follower_ts  timestamptz,
    follower_wh  bigint,
    at_stake_wh  bigint NOT NULL DEFAULT 0
) ON COMMIT PRESERVE ROWS
"""

CLEAR_PAIRS: LiteralString = "TRUNCATE pg_temp.reward_green_pairs"

INDEX_PAIRS: LiteralString = (
    "CREATE INDEX IF NOT EXISTS reward_green_pairs_hour_idx ON pg_temp.reward_green_pairs (late, hour)"
)

# The plausibility rule of SPEC §4 (rules.pair_flag) for a pair (a_ts, a_wh) → (b_ts, b_wh)
# of a meter rated r W, × 1000 to use Δt in exact microseconds; and its limit in whole Wh
# (rules.plausible_limit_wh), what a flagged pair withholds at most.
_IMPLAUSIBLE = """({b_wh} - {a_wh})::numeric * 360000000000
    > {r}::numeric * ((extract(epoch FROM {b_ts}) - extract(epoch FROM {a_ts})) * 1000000)
      * %(plausibility_pct)s + 360000000000"""
_LIMIT_WH = """floor(({r}::numeric * ((extract(epoch FROM {b_ts}) - extract(epoch FROM {a_ts})) * 1000000)
    * %(plausibility_pct)s + 360000000000) / 360000000000)"""

# Every reading of the co-op's meters after their baselines, up to ``window_end``, with
# what it credits (rules.credit_readings): each reading pairs with the last one before it
# that is not a glitch (the baseline row from progress only starts the chain).
#
# A dip is a reading below the one before it. Its follower is the first later reading,
# within the glitch window, at or above the reading before the dip (looked up in
# meter_reading, so it may lie beyond the window). A dip whose follower exists and whose
# span (reading before → follower) is plausible covers [dip, follower): every reading in
# it is a glitch, settled in the follower's hour with the follower as evidence. (A dip
# inside another's cover has a follower no later than the outer one's, so "covered by
# any such dip" is exactly the left-to-right rule.) An uncovered dip is a counter reset,
# unless it may still be a glitch: no follower yet, no reading W passed beyond its window,
# and its receipt less than the window before W; such a dip is flagged 'pending' and the
# engine settles nothing of that meter from it on (rewards.green.take_pending).
FILL_PAIRS: LiteralString = (
    """
INSERT INTO pg_temp.reward_green_pairs
WITH meters AS (
    SELECT d.device_id, d.rated_power_w, p.last_ts, p.last_energy_wh
      FROM device d LEFT JOIN reward_meter_progress p ON p.device_id = d.device_id
     WHERE d.coop_id = %(coop_id)s AND d.kind = 'meter'
), chain AS (
    SELECT r.device_id, r.ts, r.energy_wh, r.received_at, m.rated_power_w, m.last_ts
      FROM meter_reading r JOIN meters m ON m.device_id = r.device_id
     WHERE r.ts >= %(lower)s AND r.ts < %(window_end)s
       AND r.ts > coalesce(m.last_ts, '-infinity'::timestamptz)
    UNION ALL
    SELECT device_id, last_ts, last_energy_wh, NULL, rated_power_w, last_ts
      FROM meters WHERE last_ts IS NOT NULL
), lagged AS (
    SELECT *, lag(ts) OVER w AS lag_ts, lag(energy_wh) OVER w AS lag_wh
      FROM chain WINDOW w AS (PARTITION BY device_id ORDER BY ts)
), dips AS (
    -- a dip's follower, looked up for dips only (the lateral's filter is on the outer row)
    SELECT l.*, f.ts AS own_follower_ts,
           f.ts IS NOT NULL AND NOT ("""
    + _IMPLAUSIBLE.format(
        a_ts="l.lag_ts", a_wh="l.lag_wh", b_ts="f.ts", b_wh="f.energy_wh", r="l.rated_power_w"
    )
    + """) AS covers
      FROM lagged l
      LEFT JOIN LATERAL (
          SELECT r.ts, r.energy_wh FROM meter_reading r
           WHERE %(glitch_window_us)s > 0 AND l.lag_ts IS NOT NULL AND l.energy_wh < l.lag_wh
             AND r.device_id = l.device_id AND r.ts > l.ts
             AND r.ts <= l.ts + %(glitch_window_us)s * interval '1 microsecond'
             AND r.energy_wh >= l.lag_wh
           ORDER BY r.ts LIMIT 1
      ) f ON true
), covered AS (
    -- the outermost cover so far, as [follower µs, −reference µs, reference Wh]: a dip inside
    -- another ends no later and starts from a later reference, so max() picks the outer one
    SELECT *,
           max(CASE WHEN covers THEN ARRAY[
                   (extract(epoch FROM own_follower_ts) * 1000000)::bigint,
                   -(extract(epoch FROM lag_ts) * 1000000)::bigint, lag_wh] END) OVER w AS cover
      FROM dips
    WINDOW w AS (PARTITION BY device_id ORDER BY ts ROWS UNBOUNDED PRECEDING)
), marked AS (
    SELECT *, coalesce((extract(epoch FROM ts) * 1000000)::bigint < cover[1], false) AS glitch
      FROM covered
), paired AS (
    -- a glitch, and the reading right after glitches, pair with their cover's reference;
    -- any other reading with the one before it
    SELECT *,
           CASE WHEN glitch OR lag(glitch) OVER w
                THEN 'epoch'::timestamptz - cover[2] * interval '1 microsecond' ELSE lag_ts END AS prev_ts,
           CASE WHEN glitch OR lag(glitch) OVER w THEN cover[3] ELSE lag_wh END AS prev_wh,
           'epoch'::timestamptz + cover[1] * interval '1 microsecond' AS cover_end
      FROM marked WINDOW w AS (PARTITION BY device_id ORDER BY ts)
), flagged AS (
    SELECT *, CASE
                WHEN prev_ts IS NULL THEN NULL
                WHEN glitch THEN 'glitch'
                WHEN energy_wh < prev_wh THEN CASE
                    WHEN %(glitch_window_us)s > 0 AND own_follower_ts IS NULL
                     AND received_at
                         > %(watermark)s::timestamptz - %(glitch_window_us)s * interval '1 microsecond'
                     AND NOT EXISTS (
                         SELECT 1 FROM meter_reading r
                          WHERE r.device_id = paired.device_id AND r.received_at < %(watermark)s
                            AND r.ts > paired.ts + %(glitch_window_us)s * interval '1 microsecond')
                    THEN 'pending' ELSE 'counter_reset' END
                WHEN """
    + _IMPLAUSIBLE.format(a_ts="prev_ts", a_wh="prev_wh", b_ts="ts", b_wh="energy_wh", r="rated_power_w")
    + """
                  THEN 'implausible'
              END AS flag
      FROM paired
)
SELECT device_id, prev_ts, prev_wh, ts, energy_wh,
       CASE WHEN NOT glitch THEN energy_wh - prev_wh END,
       flag,
       time_bucket('1 hour', CASE WHEN glitch THEN cover_end ELSE ts END),
       coalesce(time_bucket('1 hour', CASE WHEN glitch THEN cover_end ELSE ts END)
                < %(settled_through)s::timestamptz, false),
       CASE WHEN glitch THEN cover_end END,
       CASE WHEN glitch THEN (SELECT f.energy_wh FROM meter_reading f
                               WHERE f.device_id = flagged.device_id AND f.ts = flagged.cover_end) END,
       CASE flag
         WHEN 'implausible' THEN least(energy_wh - prev_wh, """
    + _LIMIT_WH.format(a_ts="prev_ts", b_ts="ts", r="rated_power_w")
    + """)
         WHEN 'counter_reset' THEN least(energy_wh, """
    + _LIMIT_WH.format(a_ts="prev_ts", b_ts="ts", r="rated_power_w")
    + """)
         ELSE 0
       END
  FROM flagged
 WHERE last_ts IS NULL OR ts > last_ts
"""
)

# The first dip of each meter that may still be a glitch; nothing of that meter from it
# on settles in this cycle (its rows are taken out of the pair table).
PENDING_DIPS: LiteralString = """
SELECT device_id, min(ts) FROM pg_temp.reward_green_pairs WHERE flag = 'pending' GROUP BY device_id
"""
DROP_PENDING: LiteralString = """
DELETE FROM pg_temp.reward_green_pairs p
 USING (SELECT device_id, min(ts) AS ts FROM pg_temp.reward_green_pairs WHERE flag = 'pending'
         GROUP BY device_id) d
 WHERE p.device_id = d.device_id AND p.ts >= d.ts
"""

# One row per (late, hour, meter): the claims, the registers before the first pair and
# after the last reading that is not a glitch, and the credited and excluded deltas
# (credited = to − from − excluded; a glitch moves nothing).
METER_HOURS: LiteralString = """
SELECT late, hour, device_id,
       count(*) AS claims,
       count(prev_ts) AS pairs,
       min(ts) AS first_ts,
       min(prev_ts) AS from_ts,
       first(prev_wh, ts) FILTER (WHERE prev_ts IS NOT NULL) AS from_wh,
       coalesce(max(ts) FILTER (WHERE flag IS DISTINCT FROM 'glitch'), min(prev_ts)) AS last_ts,
       coalesce(last(energy_wh, ts) FILTER (WHERE flag IS DISTINCT FROM 'glitch'),
                first(prev_wh, ts)) AS last_wh,
       coalesce(sum(delta_wh) FILTER (WHERE flag IS NULL), 0)::bigint AS credited_wh,
       coalesce(sum(delta_wh) FILTER (WHERE flag IN ('counter_reset', 'implausible')), 0)::bigint
           AS excluded_wh
  FROM pg_temp.reward_green_pairs
 GROUP BY late, hour, device_id
 ORDER BY late DESC, hour, device_id
"""

FLAGGED_PAIRS: LiteralString = """
SELECT late, device_id, hour, prev_ts, prev_wh, ts, energy_wh, flag, follower_ts, follower_wh, at_stake_wh
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
