-- The meters that generated most in the range, with their share of the co-op's energy. Whole
-- days inside the range are read from the daily rollup and the hours at its ends from the
-- hourly one (a day's energy is the sum of its hours), so a year reads 365 rows per meter,
-- not 8,760: days [first, last) where first is the first midnight at or after the range's start
-- and every hour of a day before last lies in the range.
WITH span AS (
    SELECT first_day, greatest(first_day, time_bucket(interval '1 day', $__timeTo()::timestamptz
                                                      - interval '23 hours') + interval '1 day') AS last_day
    FROM (SELECT time_bucket(interval '1 day', $__timeFrom()::timestamptz + interval '1 day'
                             - interval '1 microsecond') AS first_day) f
),
energy AS (
    SELECT d.device_id, d.location_name, d.coop_id, d.energy_wh
    FROM dashboards.meter_daily d, span
    WHERE d.coop_id IN ($coop) AND d.bucket >= span.first_day AND d.bucket < span.last_day
    UNION ALL
    SELECT h.device_id, h.location_name, h.coop_id, h.energy_wh
    FROM dashboards.meter_hourly h, span
    WHERE h.coop_id IN ($coop) AND $__timeFilter(h.bucket) AND h.bucket < span.first_day
    UNION ALL
    SELECT h.device_id, h.location_name, h.coop_id, h.energy_wh
    FROM dashboards.meter_hourly h, span
    WHERE h.coop_id IN ($coop) AND $__timeFilter(h.bucket) AND h.bucket >= span.last_day
)
SELECT device_id AS "Meter", location_name AS "Site", coop_id AS "Co-op",
       sum(energy_wh) / 1000.0 AS "kWh",
       round(100.0 * sum(energy_wh) / NULLIF(sum(sum(energy_wh)) OVER (PARTITION BY coop_id), 0), 1)
           AS "Share of co-op %"
FROM energy
GROUP BY device_id, location_name, coop_id
ORDER BY "kWh" DESC, "Meter"
LIMIT 10
