"""SQL of the rollup refresh and of retention (the rollup_* table family), parameterised.

Every refresh statement takes ``since`` and ``until`` (receipt times): it recomputes,
from the raw hypertables, every bucket that a row received in ``(since, until]`` falls
in, so running it twice, or over an overlapping window, writes the same rows. Rows can
only be late by the ingest's ``too_old`` limit (30 days), which bounds the ``ts`` scans
so TimescaleDB can skip old chunks.
"""

from __future__ import annotations

# What a raw row's ts can lag its receipt by (SPEC §3 too_old, with a day of slack).
LATE_BOUND = "interval '31 days'"

TOUCHED_METER_HOURS = f"""
CREATE TEMPORARY TABLE touched_meter_hour ON COMMIT DROP AS
WITH touched AS (
    SELECT device_id, min(ts) AS first_ts, max(ts) AS last_ts
    FROM meter_reading
    WHERE received_at > %(since)s AND received_at <= %(until)s AND ts > %(since)s - {LATE_BOUND}
    GROUP BY device_id
)
SELECT t.device_id,
       time_bucket(interval '1 hour', t.first_ts) AS first_bucket,
       time_bucket(interval '1 hour', COALESCE(next_reading.ts, t.last_ts)) AS last_bucket,
       baseline.ts AS baseline_ts
FROM touched t
LEFT JOIN LATERAL (
    SELECT r.ts FROM meter_reading r WHERE r.device_id = t.device_id AND r.ts > t.last_ts
    ORDER BY r.ts LIMIT 1
) next_reading ON true
LEFT JOIN LATERAL (
    SELECT r.ts FROM meter_reading r
    WHERE r.device_id = t.device_id AND r.ts < time_bucket(interval '1 hour', t.first_ts)
    ORDER BY r.ts DESC LIMIT 1
) baseline ON true
"""

# Each reading's delta to the reading before it (a baseline before the span is included
# so the first delta of the span is right); negative deltas are counter resets.
UPSERT_METER_HOURLY = """
WITH steps AS (
    SELECT s.device_id, s.first_bucket, r.ts, r.energy_wh, r.power_w, d.rated_power_w,
           r.energy_wh - lag(r.energy_wh) OVER w AS delta_wh,
           (extract(epoch FROM r.ts - lag(r.ts) OVER w) * 1000)::numeric AS dt_ms
    FROM touched_meter_hour s
    JOIN meter_reading r ON r.device_id = s.device_id
     AND r.ts >= COALESCE(s.baseline_ts, s.first_bucket)
     AND r.ts < s.last_bucket + interval '1 hour'
    JOIN device d ON d.device_id = s.device_id
    WINDOW w AS (PARTITION BY r.device_id ORDER BY r.ts)
),
-- The plausibility rule of SPEC §4 (110 % of rated power over the interval, plus 1 Wh):
-- a step no panel could have produced (a reading with a wrong clock or a swapped meter)
-- counts no energy here either, as it mints none.
pairs AS (
    SELECT device_id, first_bucket, ts, energy_wh, power_w,
           CASE WHEN delta_wh::numeric * 360000000 > rated_power_w::numeric * dt_ms * 110 + 360000000
                THEN 0 ELSE delta_wh END AS delta_wh
    FROM steps
)
INSERT INTO rollup_meter_hourly AS h (device_id, bucket, energy_wh, readings, counter_resets,
    power_sum_w, max_power_w, last_power_w, last_energy_wh, last_reading_at)
SELECT device_id, time_bucket(interval '1 hour', ts), COALESCE(sum(delta_wh) FILTER (WHERE delta_wh > 0), 0),
       count(*), count(*) FILTER (WHERE delta_wh < 0), sum(power_w), max(power_w),
       last(power_w, ts), last(energy_wh, ts), max(ts)
FROM pairs WHERE ts >= first_bucket
GROUP BY device_id, time_bucket(interval '1 hour', ts)
ON CONFLICT (device_id, bucket) DO UPDATE SET
    energy_wh = EXCLUDED.energy_wh, readings = EXCLUDED.readings,
    counter_resets = EXCLUDED.counter_resets, power_sum_w = EXCLUDED.power_sum_w,
    max_power_w = EXCLUDED.max_power_w, last_power_w = EXCLUDED.last_power_w,
    last_energy_wh = EXCLUDED.last_energy_wh, last_reading_at = EXCLUDED.last_reading_at
"""

UPSERT_METER_DAILY = """
WITH days AS (
    SELECT DISTINCT device_id, time_bucket(interval '1 day', b) AS day
    FROM touched_meter_hour, generate_series(first_bucket, last_bucket, interval '1 hour') AS b
)
INSERT INTO rollup_meter_daily (device_id, bucket, energy_wh, readings, counter_resets, max_power_w,
    last_reading_at)
SELECT h.device_id, days.day, sum(h.energy_wh), sum(h.readings), sum(h.counter_resets),
       max(h.max_power_w), max(h.last_reading_at)
FROM days JOIN rollup_meter_hourly h
  ON h.device_id = days.device_id AND h.bucket >= days.day AND h.bucket < days.day + interval '1 day'
GROUP BY h.device_id, days.day
ON CONFLICT (device_id, bucket) DO UPDATE SET
    energy_wh = EXCLUDED.energy_wh, readings = EXCLUDED.readings,
    counter_resets = EXCLUDED.counter_resets, max_power_w = EXCLUDED.max_power_w,
    last_reading_at = EXCLUDED.last_reading_at
"""

UPSERT_COOP_HOURLY = """
WITH hours AS (
    SELECT DISTINCT d.coop_id, b AS hour
    FROM touched_meter_hour t JOIN device d USING (device_id),
         generate_series(t.first_bucket, t.last_bucket, interval '1 hour') AS b
)
INSERT INTO rollup_coop_hourly (coop_id, bucket, energy_wh, meters_reporting, readings)
SELECT hours.coop_id, hours.hour, sum(h.energy_wh), count(*), sum(h.readings)
FROM hours
JOIN device d ON d.coop_id = hours.coop_id AND d.kind = 'meter'
JOIN rollup_meter_hourly h ON h.device_id = d.device_id AND h.bucket = hours.hour
GROUP BY hours.coop_id, hours.hour
ON CONFLICT (coop_id, bucket) DO UPDATE SET
    energy_wh = EXCLUDED.energy_wh, meters_reporting = EXCLUDED.meters_reporting,
    readings = EXCLUDED.readings
"""

UPSERT_COOP_DAILY = """
WITH days AS (
    SELECT DISTINCT d.coop_id, time_bucket(interval '1 day', b) AS day
    FROM touched_meter_hour t JOIN device d USING (device_id),
         generate_series(t.first_bucket, t.last_bucket, interval '1 hour') AS b
)
INSERT INTO rollup_coop_daily (coop_id, bucket, energy_wh, meters_reporting, readings)
SELECT days.coop_id, days.day, sum(h.energy_wh), count(DISTINCT h.device_id), sum(h.readings)
FROM days
JOIN device d ON d.coop_id = days.coop_id AND d.kind = 'meter'
JOIN rollup_meter_daily h ON h.device_id = d.device_id AND h.bucket = days.day
GROUP BY days.coop_id, days.day
ON CONFLICT (coop_id, bucket) DO UPDATE SET
    energy_wh = EXCLUDED.energy_wh, meters_reporting = EXCLUDED.meters_reporting,
    readings = EXCLUDED.readings
"""

UPSERT_BIN_HOURLY = f"""
WITH touched AS (
    SELECT DISTINCT device_id, time_bucket(interval '1 hour', ts) AS bucket
    FROM bin_reading
    WHERE received_at > %(since)s AND received_at <= %(until)s AND ts > %(since)s - {LATE_BOUND}
)
INSERT INTO rollup_bin_hourly (device_id, bucket, readings, fill_pct_last, fill_pct_max, weight_g_last,
    battery_pct_min, battery_pct_last, rssi_dbm_avg, last_reading_at)
SELECT r.device_id, t.bucket, count(*), last(r.fill_pct, r.ts), max(r.fill_pct), last(r.weight_g, r.ts),
       min(r.battery_pct), last(r.battery_pct, r.ts), avg(r.rssi_dbm), max(r.ts)
FROM touched t JOIN bin_reading r
  ON r.device_id = t.device_id AND r.ts >= t.bucket AND r.ts < t.bucket + interval '1 hour'
GROUP BY r.device_id, t.bucket
ON CONFLICT (device_id, bucket) DO UPDATE SET
    readings = EXCLUDED.readings, fill_pct_last = EXCLUDED.fill_pct_last,
    fill_pct_max = EXCLUDED.fill_pct_max, weight_g_last = EXCLUDED.weight_g_last,
    battery_pct_min = EXCLUDED.battery_pct_min, battery_pct_last = EXCLUDED.battery_pct_last,
    rssi_dbm_avg = EXCLUDED.rssi_dbm_avg, last_reading_at = EXCLUDED.last_reading_at
"""

# (stream name, table, ts expression or NULL when the stream has no measurement time)
INGEST_STREAMS = (
    ("meter", "meter_reading", "ts"),
    ("bin", "bin_reading", "ts"),
    ("event", "bin_event", "ts"),
    ("repair", "repair_event", "ts"),
    ("status", "device_status", "ts"),
    ("quarantine", "quarantine", "NULL::timestamptz"),
)


def upsert_ingest_minute(stream: str, table: str, ts_expression: str) -> str:
    """Messages per receipt minute of one stream, recomputed for the minutes touched."""
    return f"""
WITH minutes AS (
    SELECT DISTINCT time_bucket(interval '1 minute', received_at) AS bucket FROM {table}
    WHERE received_at > %(since)s AND received_at <= %(until)s
)
INSERT INTO rollup_ingest_minute (bucket, stream, messages, lag_ms_sum, lag_ms_max)
SELECT m.bucket, '{stream}', count(*),
       sum(extract(epoch FROM r.received_at - {ts_expression}) * 1000),
       max(extract(epoch FROM r.received_at - {ts_expression}) * 1000)
FROM minutes m JOIN {table} r
  ON r.received_at >= m.bucket AND r.received_at < m.bucket + interval '1 minute'
GROUP BY m.bucket
ON CONFLICT (bucket, stream) DO UPDATE SET
    messages = EXCLUDED.messages, lag_ms_sum = EXCLUDED.lag_ms_sum, lag_ms_max = EXCLUDED.lag_ms_max
"""


COUNT_TOUCHED_METER_HOURS = """
SELECT count(*), COALESCE(sum(1 + extract(epoch FROM last_bucket - first_bucket) / 3600), 0)::bigint
FROM touched_meter_hour
"""

DROP_TOUCHED = "DROP TABLE IF EXISTS touched_meter_hour"

# Everything received before W is committed (SPEC §3); with no ingest worker at all
# (data loaded by other means) everything committed so far is.
REFRESH_UNTIL = "SELECT LEAST(now(), COALESCE(ingest_low_watermark(), now()))"

READ_WATERMARK = "SELECT watermark FROM rollup_state WHERE name = %(name)s FOR UPDATE"

WRITE_WATERMARK = """
INSERT INTO rollup_state (name, watermark, refreshed_at) VALUES (%(name)s, %(watermark)s, now())
ON CONFLICT (name) DO UPDATE SET watermark = EXCLUDED.watermark, refreshed_at = now()
"""

LOCK_REFRESH = "SELECT pg_advisory_xact_lock(hashtext('circulo.dashboards.refresh_rollups'))"

LICENSE = "SELECT current_setting('timescaledb.license', true)"

BIN_CAGG_EXISTS = "SELECT to_regclass('cagg_bin_hourly') IS NOT NULL"
